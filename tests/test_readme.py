"""Every ```python block of README.md runs, in order, and the table of contents lists every section.

How blocks run: in README order, in ONE shared namespace (a later block may use names an
earlier one defined, as a reader would), in a temporary working directory that holds links to
the repository's ``examples/`` and ``tests/`` (so relative paths such as ``examples/docs``
work and written files such as ``adapters/`` or ``report.json`` land in the temporary folder).
``load_llm()`` with no argument gives the session's real default model (loaded once, see
``tests/conftest.py``); any other spec loads for real. Indented blocks (inside a list) count.

Marker: a block that cannot run here (it needs a server, the network or files that do not
exist on this machine) is preceded, on the line right before its fence, by

    <!-- readme-test: skip REASON -->

The skipped blocks are reported with their reasons (``pytest -rs``) and checked by
``test_skips_are_few_and_explained``. Keep them few: prefer an example that runs offline.

Table of contents: between ``<!-- toc -->`` and ``<!-- /toc -->``, one ``- [Title](#anchor)``
line per ``## `` heading, in order. ``python tests/test_readme.py`` prints it.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP = re.compile(r"<!--\s*readme-test:\s*skip\s+(.+?)\s*-->")
MAX_SKIPS = 8  # placeholders, other engines, and blocks that need a running server (tested elsewhere)
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


def blocks(text: str | None = None) -> list[dict]:
    """``{"line", "heading", "code", "skip"}`` for every python block (indented ones dedented)."""
    lines = (text if text is not None else README.read_text()).splitlines()
    out, heading, i = [], "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#") and not line.startswith("#!"):
            heading = line.lstrip("#").strip()
        m = FENCE.match(line)
        if not m:
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        i += 1
        body = []
        while i < len(lines) and not re.match(rf"^{re.escape(indent)}```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        i += 1
        if lang != "python":
            continue
        prev = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.search(prev)
        out.append({"line": start + 1, "heading": heading, "code": "\n".join(body) + "\n",
                    "skip": skip.group(1) if skip else None})
    return out


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    found, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            found.append(line[3:].strip())
    return found


def make_toc(text: str | None = None) -> str:
    text = text if text is not None else README.read_text()
    return "\n".join(f"- [{h.replace('`', '')}](#{slug(h)})" for h in headings(text))


BLOCKS = blocks()
NAMESPACE: dict = {"__name__": "readme"}
OUTPUTS: dict[int, str] = {}


@pytest.fixture(scope="module")
def readme_dir(tmp_path_factory, default_llm):
    """A temporary cwd with examples/ and tests/ linked in; load_llm() -> the session's default model."""
    import augment
    import augment.llm
    import augment.llm.loader as loader

    folder = tmp_path_factory.mktemp("readme")
    for name in ("examples", "tests"):
        (folder / name).symlink_to(ROOT / name)
    real = loader.load_llm

    def load_llm(spec=None, **kwargs):
        return default_llm if spec in (None, "default") and not kwargs else real(spec, **kwargs)

    mp = pytest.MonkeyPatch()
    for module in (loader, augment, augment.llm):
        mp.setattr(module, "load_llm", load_llm, raising=False)
    mp.chdir(folder)
    yield folder
    mp.undo()


@pytest.mark.real_model
@pytest.mark.timeout(1800)  # the first block waits for the model; the fine-tuning blocks train (slow on a busy CPU)
@pytest.mark.parametrize("block", BLOCKS, ids=[f"line{b['line']}" for b in BLOCKS])
def test_readme_block_runs(block, readme_dir):
    if block["skip"]:
        pytest.skip(f"README.md:{block['line']} ({block['heading']}): {block['skip']}")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block["code"], f"README.md:{block['line']}", "exec"), NAMESPACE)
    OUTPUTS[block["line"]] = out.getvalue()
    sys.stdout.write(out.getvalue()[-2000:])


def test_readme_shows_what_it_says():
    """A few printed results the README states in its comments."""
    if not OUTPUTS:
        pytest.skip("run together with test_readme_block_runs")
    text = "".join(OUTPUTS.values())
    for expected in ["21 degrees C and sunny in Paris", "HELLO", "285", "'localhost' resolves to",
                     "not on the allowlist (docs.python.org)", "(26,)", "1 new"]:
        assert expected in text, f"the README's code no longer prints {expected!r}"


def test_skips_are_few_and_explained():
    skipped = [b for b in BLOCKS if b["skip"]]
    assert len(BLOCKS) >= 20 and len(skipped) <= MAX_SKIPS, [(b["line"], b["skip"]) for b in skipped]
    assert all(len(b["skip"].split()) >= 3 for b in skipped), "say why a block cannot run here"


def test_table_of_contents_lists_every_section():
    text = README.read_text()
    assert "<!-- toc -->" in text and "<!-- /toc -->" in text, "the README needs <!-- toc --> ... <!-- /toc -->"
    toc = text.split("<!-- toc -->", 1)[1].split("<!-- /toc -->", 1)[0].strip()
    assert toc == make_toc(text), ("the table of contents is out of date; replace it with the output of "
                                   "`python tests/test_readme.py`:\n" + make_toc(text))


def test_extraction_finds_indented_blocks_and_markers():
    """The extractor itself, on a small text (so the checks above cannot pass vacuously)."""
    text = ("## A\n\n```python\nx = 1\n```\n\n- item\n\n  ```python\n  y = x + 1\n  ```\n\n"
            "<!-- readme-test: skip needs a running vLLM server -->\n```python\nimport nothing\n```\n```bash\nls\n```\n")
    found = blocks(text)
    assert [b["code"] for b in found] == ["x = 1\n", "y = x + 1\n", "import nothing\n"]
    assert [b["skip"] for b in found] == [None, None, "needs a running vLLM server"]
    assert make_toc("## Local models: `load_llm`, complete\n```\n## not a heading\n```\n") == \
        "- [Local models: load_llm, complete](#local-models-load_llm-complete)"


if __name__ == "__main__":
    print(make_toc())
