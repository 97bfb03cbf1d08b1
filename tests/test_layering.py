"""No module of augment imports from a layer above its own (DESIGN.md, "Layers").

Every module under augment/ is parsed with ``ast`` and every import is checked,
including imports inside functions (that is where the heavy and the optional
ones live). Layers, lowest first:

    0 base      types, errors, tracing, paths, _lazy (and the package's lazy __init__)
    1 llm       augment.llm
    2 blocks    prompts, tools, retrieval, sessions
    3 compose   rag, agent, guard, rag_checks, rag_reader, feedback
    4 train     finetune, eval
    5 faces     cli, langchain, serve, mcp_server, __main__

A module may import its own layer and the layers below. A new module or package
must be given a layer in LAYERS below; the test fails until it is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "augment"
NAMES = ["base", "llm", "blocks", "compose", "train", "faces"]

# module (or package) -> layer; a module takes the layer of its longest listed prefix
LAYERS: dict[str, int] = {
    "augment": 0,  # the package __init__: lazy names only, checked through the modules they point to
    "augment._lazy": 0,
    "augment._cpu": 0,
    "augment.types": 0,
    "augment.errors": 0,
    "augment.tracing": 0,
    "augment.paths": 0,
    "augment.llm": 1,
    "augment.prompts": 2,
    "augment.tools": 2,
    "augment.retrieval": 2,
    "augment.sessions": 2,
    "augment.rag": 3,
    "augment.rag_checks": 3,
    "augment.rag_reader": 3,
    "augment.agent": 3,
    "augment.guard": 3,
    "augment.feedback": 3,
    "augment.finetune": 4,
    "augment.eval": 4,
    "augment.cli": 5,
    "augment.langchain": 5,
    "augment.serve": 5,
    "augment.mcp_server": 5,
    "augment.__main__": 5,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int | None:
    """The layer of ``module``: that of its longest prefix in LAYERS ("augment" alone only for the package itself)."""
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        found = LAYERS.get(".".join(parts[:n]))
        if found is not None:
            return found
    return LAYERS["augment"] if module == "augment" else None


def root_exports() -> dict[str, str]:
    """``from augment import X``: the module each lazy name of the package comes from."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            return ast.literal_eval(node.value)
    return {}


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every augment module ``path`` imports, at any depth of the file."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    exports = root_exports()
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "augment"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "augment":
                continue
            if module == "augment":  # from augment import X: the module that defines X
                found += [(node.lineno, exports.get(a.name, f"augment.{a.name}")) for a in node.names]
            else:
                found.append((node.lineno, module))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    unknown = [module_name(p) for p in MODULES if layer_of(module_name(p)) is None]
    assert not unknown, (
        f"no layer for {unknown}: add each (or its package) to LAYERS in tests/test_layering.py "
        f"with its layer number ({', '.join(f'{i} {n}' for i, n in enumerate(NAMES))}); see DESIGN.md 'Layers'"
    )


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_import_from_a_higher_layer(path):
    me = module_name(path)
    mine = layer_of(me)
    if mine is None:
        pytest.skip("no layer (reported by test_every_module_has_a_layer)")
    wrong = []
    for line, module in imports_of(path):
        theirs = layer_of(module)
        if theirs is None:
            wrong.append(f"line {line}: {module} has no layer: add it to LAYERS in tests/test_layering.py")
        elif theirs > mine:
            wrong.append(f"line {line}: imports {module} ({NAMES[theirs]}) from {me} ({NAMES[mine]})")
    assert not wrong, f"{path.relative_to(PACKAGE.parent)} imports from a layer above its own:\n" + "\n".join(wrong)


def test_the_check_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: a function-level import and a relative one are both found (so the test can fail)."""
    fake = tmp_path / "augment"
    (fake / "llm").mkdir(parents=True)
    (fake / "__init__.py").write_text("_LAZY = {'RAG': 'augment.rag'}\n")
    (fake / "llm" / "__init__.py").write_text("")
    (fake / "llm" / "x.py").write_text(
        "def f():\n    from augment.agent import Agent\n    from ..rag import RAG\n    from augment import RAG\n")
    globals()["PACKAGE"], saved = fake, PACKAGE
    try:
        found = imports_of(fake / "llm" / "x.py")
    finally:
        globals()["PACKAGE"] = saved
    assert found == [(2, "augment.agent"), (3, "augment.rag"), (4, "augment.rag")]
    assert [layer_of(m) for _, m in found] == [3, 3, 3] and layer_of("augment.llm.x") == 1
    assert layer_of("augment.newthing") is None
