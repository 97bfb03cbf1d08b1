"""ToolRegistry, built-ins by name, plugins from entry points (a real dist-info) and from a folder."""

from __future__ import annotations

import textwrap
import warnings

import pytest

from augment.errors import ConfigError, ToolError
from augment.tools import BUILTINS, ToolPluginWarning, ToolRegistry, builtin, builtin_tools, tool


@tool
def greet(name: str) -> str:
    """Greet someone.

    Args:
        name: who to greet
    """
    return f"Hello, {name}!"


def test_registry_basics():
    reg = ToolRegistry([greet, builtin("calculator")])
    assert reg.names == ["greet", "calculator"] and len(reg) == 2 and "greet" in reg
    assert reg.get("greet") is greet and reg["calculator"].name == "calculator"
    assert [s["function"]["name"] for s in reg.specs()] == ["greet", "calculator"]
    assert reg.call("greet", {"name": "Ada"}) == "Hello, Ada!"
    assert [t.name for t in reg] == reg.names


def test_unknown_tool_lists_known_names():
    reg = ToolRegistry([greet, builtin("now")])
    with pytest.raises(ToolError, match=r"unknown tool 'wether'; the available tools are: greet, now"):
        reg.get("wether")


def test_two_tools_with_one_name_is_an_error():
    @tool(name="greet")
    def other(name: str) -> str:
        """Another greeting.

        Args:
            name: who
        """
        return name

    reg = ToolRegistry([greet])
    reg.add(greet)  # the same object again is harmless
    with pytest.raises(ToolError, match=r"two tools are named 'greet'.*rename one, e\.g\. @tool\(name='greet_2'\)"):
        reg.add(other)
    assert reg.get("greet") is greet


def test_add_plain_function_and_refuse_non_tools():
    def shout(text: str) -> str:
        """Shout.

        Args:
            text: the text
        """
        return text.upper()

    reg = ToolRegistry([shout])
    assert reg.call("shout", {"text": "a"}) == "A"
    with pytest.raises(ToolError, match="cannot add 42"):
        reg.add(42)


def test_builtin_by_name_and_config_errors():
    assert set(BUILTINS) == {"calculator", "python", "http_get", "now", "retrieve"}
    assert [t.name for t in builtin_tools()] == ["calculator", "python", "http_get", "now"]
    assert [t.name for t in builtin_tools("now, calculator")] == ["now", "calculator"]
    http = builtin_tools(["http_get"], http_get={"allowed_hosts": ["example.com"]})[0]
    assert http.allowed_hosts == ["example.com"]
    with pytest.raises(ToolError, match="unknown built-in tool 'shell'; the built-ins are: calculator, python"):
        builtin("shell")
    with pytest.raises(ConfigError, match=r"has no option 'max_len'; its options are: max_length, max_digits"):
        builtin("calculator", max_len=3)
    with pytest.raises(ConfigError, match="not among the requested tools"):
        builtin_tools(["now"], python={"timeout": 1})
    with pytest.raises(ToolError, match="has no retrieve"):
        builtin("retrieve", retriever=object())


PLUGIN_OK = '''
from augment.tools import Tool, tool

@tool
def reverse(text: str) -> str:
    """Reverse a text.

    Args:
        text: the text to reverse
    """
    return text[::-1]

class Twice(Tool):
    name = "twice"
    description = "Double a number."

    def forward(self, x: int) -> int:
        """Args:
            x: the number
        """
        return 2 * x

twice = Twice()
alias = reverse  # the same tool twice at module level counts once
helper = 42      # not a tool: ignored
'''


def test_tools_dir_loads_every_tool_and_reports_broken_files(tmp_path):
    (tmp_path / "good.py").write_text(PLUGIN_OK)
    (tmp_path / "broken.py").write_text("import no_such_module_xyz\n")
    (tmp_path / "bad_tool.py").write_text(
        "from augment.tools import tool\n@tool\ndef f(x):\n    'Do.'\n    return x\n"
    )
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    reg = ToolRegistry([builtin("calculator")])
    with pytest.warns(ToolPluginWarning) as record:
        added = reg.discover(entry_points=False, tools_dir=tmp_path)
    assert sorted(t.name for t in added) == ["reverse", "twice"]
    assert reg.call("reverse", {"text": "abc"}) == "cba" and reg.call("twice", {"x": 4}) == "8"
    messages = sorted(str(w.message) for w in record)
    assert len(messages) == 2
    assert "ToolError: tool 'f'" in messages[0] and "argument 'x' has no type hint" in messages[0]
    assert "ModuleNotFoundError" in messages[1] and "no_such_module_xyz" in messages[1]
    assert "bad_tool.py' failed to load (at line 2)" in messages[0] and "broken.py' failed to load (at line 1)" in messages[1]
    with pytest.raises(ToolError, match=r"bad_tool.py' failed to load"):
        ToolRegistry().discover(entry_points=False, tools_dir=tmp_path, strict=True)


def test_tools_dir_name_clash_is_reported_and_missing_dir_is_an_error(tmp_path):
    (tmp_path / "calc.py").write_text("from augment.tools import builtin\ncalculator = builtin('calculator')\n")
    reg = ToolRegistry([builtin("calculator")])
    with pytest.warns(ToolPluginWarning, match="two tools are named 'calculator'"):
        assert reg.discover(entry_points=False, tools_dir=tmp_path) == []
    with pytest.raises(ToolError, match="does not exist or is not a folder"):
        reg.discover(entry_points=False, tools_dir=tmp_path / "nope")


def _install_dist(root, entry_points: str) -> None:
    """A real installed distribution: a dist-info folder that importlib.metadata finds on sys.path."""
    info = root / "augment_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: augment-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[augment.tools]\n" + entry_points)
    (root / "augment_demo_plugin.py").write_text(PLUGIN_OK + "\nBOTH = [reverse, twice]\nclass Upper(Twice):\n    name = 'upper_twice'\n")


def test_entry_point_plugins(tmp_path, monkeypatch):
    _install_dist(tmp_path, textwrap.dedent("""\
        both = augment_demo_plugin:BOTH
        cls = augment_demo_plugin:Upper
        missing = augment_demo_plugin_missing:thing
        notatool = augment_demo_plugin:helper
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = ToolRegistry()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        added = reg.discover(entry_points=True)
    assert sorted(t.name for t in added) == ["reverse", "twice", "upper_twice"]
    assert reg.call("upper_twice", {"x": 5}) == "10"
    messages = " | ".join(str(w.message) for w in record if issubclass(w.category, ToolPluginWarning))
    assert "entry point 'missing = augment_demo_plugin_missing:thing' (group augment.tools, package augment-demo-plugin)" in messages
    assert "ModuleNotFoundError" in messages
    assert "entry point 'notatool = augment_demo_plugin:helper'" in messages and "gave 42, which is not a tool" in messages


def test_load_by_names_mixes_builtins_and_plugins(tmp_path):
    (tmp_path / "good.py").write_text(PLUGIN_OK)
    reg = ToolRegistry.load("calculator,reverse", tools_dir=tmp_path, entry_points=False)
    assert reg.names == ["calculator", "reverse"]
    everything = ToolRegistry.load(None, tools_dir=tmp_path, entry_points=False)
    assert everything.names == ["calculator", "python", "http_get", "now", "reverse", "twice"]
    with pytest.raises(ToolError, match=r"unknown tool 'revers'; available: calculator, http_get, now, python, retrieve, reverse, twice"):
        ToolRegistry.load(["revers"], tools_dir=tmp_path, entry_points=False)
