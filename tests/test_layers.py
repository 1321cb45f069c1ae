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


# --- the procedure is checked by the workflow sandbox ---------------------------------------------

WORKFLOWS = sorted((ROOT / "workflows").glob("*.py"))
NON_DETERMINISTIC = {"random", "uuid", "time", "os", "socket", "httpx", "requests", "threading"}


def passed_through(tree: ast.AST) -> list[ast.stmt]:
    """The statements inside `with workflow.unsafe.imports_passed_through():`."""
    return [
        statement
        for node in ast.walk(tree)
        if isinstance(node, ast.With)
        and any("imports_passed_through" in ast.unparse(item.context_expr) for item in node.items)
        for statement in node.body
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_the_procedures_modules_are_re_imported_by_the_sandbox_and_use_no_clock_or_io(path: Path):
    """A step module imported `passed through` would run unchecked: a clock or I/O in it would
    not fail the workflow task, it would break replay later. So workflows/ modules import each
    other normally, and none imports a clock, randomness or I/O (time is `workflow.now()`)."""
    tree = ast.parse(path.read_text(), str(path))
    through = [
        ast.unparse(statement)
        for statement in passed_through(tree)
        if isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("workflows")
    ]
    assert not through, f"{path.name} passes its own modules through the sandbox: {through}"
    assert not imported(path) & NON_DETERMINISTIC
    calls = {ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert not calls & {"datetime.now", "datetime.utcnow", "datetime.today", "date.today"}
