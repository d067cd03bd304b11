"""The package's layout is its architecture: these tests keep it that way.

- no import cycles inside ``pneumolab`` (imports inside functions count too);
- inside the package a name is imported from the module that defines it, never
  through a subpackage's face, so the import graph below is the real one;
- no module over 350 lines;
- notebooks import only from the face (``pneumolab``) and the subpackages' faces;
- ``pneumolab.metrics`` works without TensorFlow or matplotlib, and ``import
  pneumolab`` loads neither.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pneumolab

PACKAGE = Path(pneumolab.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_LINES = 350


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if module in PACKAGES else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every pneumolab import in ``module``."""
    tree = ast.parse(MODULES[module].read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            found += [(source, alias.name, node.lineno) for alias in node.names]
    return [entry for entry in found if entry[0].split(".")[0] == "pneumolab"]


def _edges(module: str) -> set[str]:
    targets = set()
    for source, name, _ in _imports(module):
        submodule = f"{source}.{name}" if name else None
        targets.add(submodule if submodule in MODULES else source)
    return targets - {module}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_import_graph_has_no_cycles():
    graph = {module: _edges(module) for module in MODULES}
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_inside_the_package_names_come_from_their_defining_module():
    through_a_face = [
        f"{module} line {line}: from {source} import {name}"
        for module in MODULES
        for source, name, line in _imports(module)
        if source in PACKAGES and name and f"{source}.{name}" not in MODULES and name != "__version__"
    ]
    assert not through_a_face, "import the defining module instead:\n" + "\n".join(through_a_face)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_350_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(REPO)} has {lines} lines; split it by job"


def _notebook_imports(path: Path) -> list[tuple[str, list[str]]]:
    cells = json.loads(path.read_text())["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.Import):
                found += [(alias.name, []) for alias in node.names if alias.name.startswith("pneumolab")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pneumolab"):
                found.append((node.module, [alias.name for alias in node.names]))
    return found


NOTEBOOKS = sorted((REPO / "notebooks").rglob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: str(path.relative_to(REPO / "notebooks")))
def test_notebooks_import_only_from_the_faces(notebook):
    wrong = []
    for module, names in _notebook_imports(notebook):
        if module not in ("pneumolab", *PACKAGES) or module.split(".")[-1].startswith("_"):
            wrong.append(f"{module} is not a face (use pneumolab or one of its subpackages)")
            continue
        public = set(importlib.import_module(module).__all__)
        wrong += [f"{module}.{name} is not in its __all__" for name in names if name not in public]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_name_a_face_offers_exists(package):
    face = importlib.import_module(package)
    for name in getattr(face, "__all__", []):
        assert getattr(face, name) is not None, f"{package}.{name}"


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_metrics_work_without_tensorflow_or_matplotlib():
    loaded = _loaded_after(
        "import pneumolab.metrics as m\n"
        "for name in m.__all__: getattr(m, name)\n"
        "assert m.metrics_at([0, 1, 1], [0.2, 0.6, 0.9], 0.5)['recall'] == 1.0"
    )
    assert not loaded & {"tensorflow", "keras", "matplotlib"}


def test_the_face_is_lazy():
    loaded = _loaded_after("import pneumolab\npneumolab.__all__")
    assert not loaded & {"tensorflow", "keras", "matplotlib", "pandas"}


FOUNDATION = {"pneumolab", "pneumolab.config", "pneumolab.limits", "pneumolab.progress", "pneumolab._quiet",
              "pneumolab._browser"}


def _part(module: str) -> str:
    return "foundation" if module in FOUNDATION else module.split(".")[1]


def _rules() -> dict[str, set[str]]:
    """The "may import" column of docs/architecture.md's table, part by part."""
    rules = {}
    for line in (REPO / "docs" / "architecture.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`") and cells[0] != "`part`":
            allowed = cells[2]
            rules[cells[0].strip("`")] = (
                {"*"} if allowed == "every part" else set() if allowed == "—" else
                {name.strip() for name in allowed.split(",")}
            )
    return rules


def test_the_architecture_page_names_every_part():
    parts = {_part(module) for module in MODULES}
    assert parts == set(_rules())


def test_every_import_follows_the_architecture_page():
    rules = _rules()
    wrong = sorted(
        f"{module} imports {target} ({_part(module)} may import: {sorted(rules[_part(module)])})"
        for module in MODULES
        for target in _edges(module)
        if _part(target) != _part(module) and "*" not in rules[_part(module)]
        and _part(target) not in rules[_part(module)]
    )
    assert not wrong, "\n".join(wrong)
