"""The layers point one way: the domain, the procedure and the activities never import the endpoint,
the sandbox or the local tooling (a change there cannot break a running handover)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Each package, and what it must never import. The workflows name activities by method reference
# (the SDK's idiom), and the doctor's checks call the activities' clients: both allowed.
BELOW = {
    "handover": {"endpoint", "devstack", "sandbox", "workflows", "worker", "starter", "scripts", "tests"},
    "workflows": {"endpoint", "devstack", "sandbox", "worker", "starter", "scripts", "tests"},
    "activities": {"endpoint", "devstack", "sandbox", "workflows", "worker", "starter", "scripts", "tests"},
    "endpoint": {"devstack", "sandbox", "worker", "starter", "scripts", "tests"},
    "sandbox": {"endpoint", "devstack", "workflows", "activities", "worker", "starter", "scripts", "tests"},
}


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(BELOW))
def test_a_package_imports_nothing_above_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in imported(path) & BELOW[package]
    }
    assert not wrong, sorted(wrong)
