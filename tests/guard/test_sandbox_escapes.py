"""The python tool's sandbox holds: every escape of the suite fails on Linux with bubblewrap."""

from __future__ import annotations

from pathlib import Path

import pytest

from augment.errors import ToolError
from augment.guard.escapes import load_cases, run_escape_suite
from augment.tools import builtin
from augment.tools.sandbox import Sandbox, available_level

CASES = load_cases(Path(__file__).parents[1] / "data" / "guard" / "sandbox_escapes.jsonl")
full = pytest.mark.skipif(available_level() != "bwrap", reason="needs Linux with bubblewrap (apt-get install bubblewrap)")


@full
def test_default_python_tool_holds_against_every_escape():
    tool = builtin("python", timeout=3)
    assert tool.sandbox.level == "bwrap"
    results = run_escape_suite(tool, CASES)
    assert len(results) == len(CASES) >= 20
    escaped = [(r["name"], r["evidence"]) for r in results if r["escaped"]]
    assert escaped == []


@full
def test_the_suite_detects_escapes_without_isolation():
    """The same checks report escapes when the sandbox is off: they can fail."""
    names = {"decoy_proc_environ", "loopback_metadata_stand_in", "write_next_to_project", "kill_decoy_host_process",
             "abstract_unix_socket"}
    results = run_escape_suite(builtin("python", timeout=10, sandbox="none"), [c for c in CASES if c["name"] in names])
    assert {r["name"] for r in results if r["escaped"]} == names


@full
def test_code_still_works_inside_and_can_write_its_work_folder():
    tool = builtin("python", timeout=5)
    out = tool.call({"code": "import json, os\nopen('a.txt', 'w').write('hi')\nprint(open('a.txt').read(), os.getpid() < 10)"})
    assert out == "hi True"


@full
def test_network_can_be_allowed_explicitly():
    assert Sandbox(network=True).guarantees.endswith("(network allowed by network=True)")
    assert "--share-net" in Sandbox(network=True).wrap(["python"], Path("/r"), Path("/r/w"))
    assert "--share-net" not in Sandbox().wrap(["python"], Path("/r"), Path("/r/w"))


def test_levels_are_validated_and_named():
    with pytest.raises(ToolError, match="sandbox level 'jail' is not known"):
        builtin("python", sandbox="jail")
    assert builtin("python", sandbox="none").sandbox.guarantees.startswith("scrubbed environment")
    if available_level() != "bwrap":
        with pytest.raises(ToolError, match="install bubblewrap"):
            builtin("python", sandbox="bwrap")
