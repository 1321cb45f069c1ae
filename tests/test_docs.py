"""The documentation: a README a newcomer reads in five minutes, and pages under docs/ whose
relative links all lead somewhere (a file that exists and, for `page.md#part`, a heading there)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def links(page: Path) -> list[str]:
    """The relative link targets in `page`, outside code blocks."""
    text = FENCE.sub("", page.read_text())
    return [target for target in LINK.findall(text) if not re.match(r"[a-z]+:", target)]


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives `page`'s headings: lower case, punctuation dropped, spaces as dashes."""
    text = FENCE.sub("", page.read_text())
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_readme_is_at_most_250_lines():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= 250, f"README.md has {lines} lines: move the detail to a page under docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_points_at_a_file_that_exists(page: Path):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_every_patch_in_the_workflows_is_listed_as_in_force():
    """docs/patching.md's "In force now" is where an operator learns which handovers replay which
    way: every `workflow.patched` id the workflows define is there."""
    defined = {
        patch
        for module in sorted((ROOT / "workflows").glob("*.py"))
        for patch in re.findall(r'^[A-Z_]+_PATCH = "([a-z0-9-]+)"', module.read_text(), re.MULTILINE)
    }
    assert len(defined) >= 10, "the pattern no longer finds the patch ids"
    in_force = (ROOT / "docs" / "patching.md").read_text().partition("**In force now**")[2]
    missing = sorted(patch for patch in defined if f"`{patch}`" not in in_force)
    assert not missing, f"docs/patching.md's In force now does not list {missing}"
