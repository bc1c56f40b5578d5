"""The layers point one way: cli -> report -> experiment -> the library (features, encoding, learn,
data and the shared modules), never back; imports inside functions count too."""
import ast
from pathlib import Path

from conftest import REPO

LIBRARY = {"features", "encoding", "learn", "data", "peers", "backend", "io", "normalise", "validation"}
# what each layer may import (besides itself; "classic": the package itself, for its __version__);
# the library's packages may import one another
ALLOWED = {"cli": {"report", "experiment", "classic"} | LIBRARY, "report": {"experiment"} | LIBRARY,
           "experiment": LIBRARY | {"classic"}, **{name: LIBRARY for name in LIBRARY}}


def layer_of(module: str) -> str:
    """``classic.<layer>...``; the package itself (``classic``, ``classic.__version__``) is "classic"."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and not parts[1].startswith("__") else "classic"


def import_graph() -> dict[str, set[str]]:
    """Layer -> the layers its modules import (at any depth of the module)."""
    graph = {}
    for path in sorted((REPO / "classic").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("classic.") and layer_of(t) != layer_of(module):
                    graph.setdefault(layer_of(module), set()).add(layer_of(t))
    return graph


def test_no_layer_imports_one_above_it():
    graph = import_graph()
    wrong = {layer: sorted(targets - ALLOWED.get(layer, LIBRARY)) for layer, targets in graph.items() if layer != "classic"}
    assert not {k: v for k, v in wrong.items() if v}, graph
    assert "report" not in graph["experiment"] and not any("experiment" in graph.get(name, ()) for name in LIBRARY)
    assert Path(REPO / "classic" / "report" / "runs.py").exists() is False     # the run-folder reader is experiment's
