"""The library's modules import one another one way (DESIGN §3): no module reaches back up.

Every import between `metamorph` modules counts, including those inside functions (a lazy import
is still a dependency, only a deferred one). A package counts as its ``__init__`` module."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

import metamorph

PACKAGE = Path(metamorph.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> nx.DiGraph:
    """module -> the metamorph modules it imports (a package's own __init__ re-exports excluded)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                # the most specific module the import names (``from metamorph.env import VecEnv`` -> metamorph.env)
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph.add_edge(name, target)
                    break
    return graph


def test_library_imports_form_no_cycle():
    graph = import_graph()
    assert graph.number_of_edges() > 20  # the walk found the imports (a parse that found none would pass)
    cycles = list(nx.simple_cycles(graph))
    shortest = sorted(cycles, key=len)[:5]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in shortest)


def test_lower_layers_do_not_import_training_or_evaluation():
    """Loading, tokens, environments and the policy know nothing of how they are trained or judged."""
    graph = import_graph()
    below = ["metamorph.morphology", "metamorph.tokens", "metamorph.vocabulary", "metamorph.env.vec_env",
             "metamorph.env.tasks", "metamorph.policy", "metamorph.ppo", "metamorph.checkpoint"]  # fmt: skip
    above = {"metamorph.train", "metamorph.evaluate", "metamorph.sweep", "metamorph.suite", "metamorph.cli"}
    for module in below:
        reached = nx.descendants(graph, module) & above
        assert not reached, f"{module} imports {sorted(reached)}"
