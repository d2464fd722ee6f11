"""The package layout: dependencies point one way (pipelines <- roots_model <- roots_eval,
the demo and measurement on top) and no module imports, even from inside a function, a module
that imports it back; the worker package imports no measurement or training code; nothing
edits `sys.path`. Read from the source with `ast`, so a deferred import counts."""
import ast
import importlib.metadata
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "roots_model", "roots_eval", "roots_demo", "roots_measure")
# roots_measure is on top: it may import any package, none imports it (it judges them).
LAYER = {"pipelines": 0, "roots_model": 1, "roots_eval": 2, "roots_demo": 3, "roots_measure": 4}
# What a Dataflow worker installs: this package and the core dependencies.
WORKER_PACKAGE = "pipelines"
# The one place that may set sys.path: the extraction sandbox's child process, a fresh
# interpreter that must see the parent's import path to load the extractor factory.
SYS_PATH_ALLOWED = {"pipelines/web/extract/guard.py"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that `name` imports anywhere in its source (top level or deferred)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # `import a.b.c` needs a.b.c; a name imported from a package may be a submodule
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_deferred_imports_included():
    assert cycles(graph()) == []


def test_dependencies_point_one_way():
    wrong = sorted(f"{a} imports {b}" for a, targets in graph().items() for b in targets
                   if LAYER[b.split(".")[0]] > LAYER[a.split(".")[0]])
    assert wrong == []


# ------------------------------------------------------------------ worker install, sys.path
def _imports_with_lines(path: Path) -> list[tuple[str, int]]:
    """Every module name `path` imports (absolute and relative, top level or deferred, and
    the constant names given to importlib.import_module / __import__), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(("." * node.level + (node.module or ""), node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                out.append((node.args[0].value, node.lineno))
    return out


def training_only_modules() -> set[str]:
    """Import names of the `measure` extra's distributions (training, not scoring): from the
    installed distributions' own file lists, else the distribution name spelled as a module."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed metadata of pyproject.toml says the same
        reqs = [r for r in importlib.metadata.requires("roots") or [] if 'extra == "measure"' in r]
    else:
        reqs = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["measure"]
    dists = {re.split(r"[\[<>=!~; ]", req, maxsplit=1)[0].lower() for req in reqs}
    modules = {d.replace("-", "_") for d in dists}
    for module, owners in importlib.metadata.packages_distributions().items():
        if any(o.lower() in dists for o in owners):
            modules.add(module)
    return modules


def worker_imports_of_measurement(forbidden: set[str]) -> list[str]:
    """`file:line imports X` for every import of `forbidden` top-level modules from the worker package."""
    wrong = []
    for path in sorted((ROOT / WORKER_PACKAGE).rglob("*.py")):
        for name, line in _imports_with_lines(path):
            if name.split(".")[0] in forbidden:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return wrong


def test_training_only_dependencies_are_known():
    assert "fasttext_new" in training_only_modules()


def test_the_worker_package_imports_no_measurement_or_training():
    """roots_measure and the `measure` extra (fasttext-new) are not in a Dataflow worker's
    install: an import of them from pipelines, even deferred, would fail there."""
    assert worker_imports_of_measurement({"roots_measure"} | training_only_modules()) == []


def sys_path_edits(path: Path) -> list[int]:
    """Lines of `path` that change sys.path: a call of one of its mutating methods, an
    assignment to it or to a slice of it, or `from sys import path`."""
    def is_sys_path(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id == "sys")

    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_sys_path(node.func.value):
            if node.func.attr in ("insert", "append", "extend", "remove", "pop", "clear", "__setitem__"):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if is_sys_path(t) or (isinstance(t, ast.Subscript) and is_sys_path(t.value)):
                    lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_sys_path_finder_finds_edits(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import sys\nsys.path.insert(0, 'x')\nsys.path.append('y')\nsys.path[:] = []\n"
                 "sys.path += ['z']\nprint(sys.path)\ns = 'sys.path.insert(0, p)'\n", encoding="utf-8")
    assert sys_path_edits(f) == [2, 3, 4, 5]


def test_nothing_edits_sys_path():
    """tests/ and benchmarks/ import the installed packages (`pip install -e .`), never each
    other's folders by path; no package edits it either, but for the sandbox child."""
    files = [p for d in ("tests", "benchmarks", *PACKAGES) for p in sorted((ROOT / d).rglob("*.py"))]
    wrong = [f"{p.relative_to(ROOT)}:{line}" for p in files if p.relative_to(ROOT).as_posix() not in SYS_PATH_ALLOWED
             for line in sys_path_edits(p)]
    assert wrong == []
