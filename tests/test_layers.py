"""The package's folders follow the chain, and every import points down it: a stage uses the
leaf modules and the stages before it, never one after it, and no modules import each other in
a circle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "clusterage"

# Bottom to top. The leaf modules at the package's top (the grid of runs, the config, atomic
# writes, logs, the galaxies, the paper's metric) come first, the command last.
ORDER = ["", "survey", "synthetic", "train", "analysis", "report", "checks", "cluster", "cli"]


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known]
            found.update(names or ([module] if module in known else []))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
    return found - {name}


def stage(name: str) -> str:
    parts = name.split(".")
    if parts == ["clusterage", "cli"]:
        return "cli"
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else ""


def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_belongs_to_a_stage_of_the_chain():
    assert {stage(m) for m in modules()} <= set(ORDER)
    assert {"survey", "train", "analysis", "report", "checks", "cluster"} <= {stage(m) for m in modules()}


def test_no_import_points_up_the_chain():
    up = [f"{a} ({stage(a) or 'top'}) imports {b} ({stage(b)})"
          for a, targets in graph().items() for b in targets
          if b != "clusterage" and ORDER.index(stage(b)) > ORDER.index(stage(a))]
    assert up == []


def test_no_modules_import_each_other_in_a_circle():
    edges, state, circles = graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert circles == []


def test_the_check_sees_an_import_that_points_up(tmp_path):
    """The parser reads relative imports, lazy ones included, as the checks above rely on."""
    path = tmp_path / "training.py"
    path.write_text("def f():\n    from ..report import figures\n    from .model import x\n")
    known = {"clusterage.report.figures", "clusterage.train.model"}
    assert imports("clusterage.train.training", path, known) == known
    assert ORDER.index(stage("clusterage.report.figures")) > ORDER.index(stage("clusterage.train.training"))
