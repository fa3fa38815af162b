"""The house's floors (README, Layout): page -> request -> core -> models, training beside the page.
Read from the source (no imports), so a wrong arrow fails here before it fails anywhere else."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "fcn_demo"
# What each layer may import from fcn_demo (itself included); training and page never see each other.
MAY_IMPORT = {
    "models": {"models"},
    "core": {"core", "models"},
    "request": {"request", "core", "models"},
    "page": {"page", "request", "core", "models"},
    "training": {"training", "core", "models"},
}
MAX_LINES = 400


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PKG.parent).with_suffix("").parts): p for p in PKG.rglob("*.py")}


def imports_of(path: Path, name: str) -> set[str]:
    return imports_in(path.read_text(), name, path.name == "__init__.py")


def imports_in(source: str, name: str, is_package: bool = False) -> set[str]:
    """The fcn_demo modules a module's source imports (relative imports resolved), at any depth."""
    package = name if is_package else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("fcn_demo")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if base.startswith("fcn_demo"):
                out |= {f"{base}.{a.name}" for a in node.names} | {base}
    known = modules()
    return {m for m in out if m in known}


def layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in MAY_IMPORT) else None


def test_every_module_is_in_a_layer():
    loose = [n for n in modules() if n != "fcn_demo.__init__" and layer(n) not in MAY_IMPORT]
    assert not loose, f"modules outside the five packages: {loose}"


@pytest.mark.parametrize("floor", list(MAY_IMPORT))
def test_imports_run_down_the_floors(floor):
    wrong = {
        name: sorted(m for m in imports_of(path, name) if layer(m) not in MAY_IMPORT[floor])
        for name, path in modules().items()
        if layer(name) == floor
    }
    assert not {k: v for k, v in wrong.items() if v}, wrong


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` (module -> modules it imports), or None."""
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return trail + [node, nxt]
            if nxt not in state and (found := visit(nxt, trail + [node])):
                return found
        state[node] = 2
        return None

    return next((c for n in graph if n not in state and (c := visit(n, []))), None)


def test_no_import_circle():
    # a package's __init__ re-exporting its modules is not a circle: leave __init__ edges out
    graph = {n: {m for m in imports_of(p, n) if not m.endswith("__init__") and m != n} for n, p in modules().items()}
    assert find_circle(graph) is None, find_circle(graph)


def test_no_module_over_400_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}, sorted(long.items(), key=lambda x: -x[1])[:5]


def test_the_checks_can_fail():
    # an upward import is seen, relative ones resolved ...
    up = imports_in("from fcn_demo.page.state import Settings\nfrom ..request import analysis", "fcn_demo.core.x")
    assert "fcn_demo.page.state" in up and "fcn_demo.request.analysis" in up
    assert {layer(m) for m in up} - MAY_IMPORT["core"] == {"page", "request"}
    # ... and a circle is found
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) is None
