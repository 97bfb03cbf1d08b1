"""`augment eval` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from augment.cli import main


def _data(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [{"input": "Is the review 'I loved it' positive or negative? Answer with one word.", "output": "positive"},
            {"input": "Is the review 'Awful, I hated it' positive or negative? Answer with one word.", "output": "negative"}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_eval_cli_bad_input(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["eval", "--data", str(tmp_path / "missing.jsonl")])
    assert r.exit_code != 0 and "does not exist" in r.output
    r = runner.invoke(main, ["eval", "--data", str(_data(tmp_path)), "--metric", "bleu"])
    assert r.exit_code != 0 and "unknown metric 'bleu'" in r.output
    assert "--adapter" in runner.invoke(main, ["eval", "--help"]).output


@pytest.mark.real_model
def test_eval_cli_real_model_writes_report(tmp_path, monkeypatch, default_llm):
    """The command loads through load_llm(model, adapter=...) (here: handed the session's default model)."""
    import augment.llm.loader as loader

    seen = {}

    def fake_load(spec=None, **kw):
        seen.update(spec=spec, **kw)
        return default_llm

    monkeypatch.setattr(loader, "load_llm", fake_load)
    out = tmp_path / "report.json"
    r = CliRunner().invoke(main, ["eval", "--data", str(_data(tmp_path)), "--metric", "accuracy", "--metric", "f1",
                                  "--labels", "positive,negative", "--max-tokens", "4", "--out", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["n"] == 2 and {"accuracy", "f1_macro", "f1_micro"} <= set(report["metrics"])
    assert all("raw" in p for p in report["predictions"])
    assert json.loads(r.output.strip().splitlines()[-1]) == report["metrics"]
    assert seen == {"spec": None}
    r = CliRunner().invoke(main, ["eval", "--model", "some/model", "--adapter", str(tmp_path / "adapters" / "x"),
                                  "--data", str(_data(tmp_path)), "--template", "classification", "--metric", "accuracy",
                                  "--limit", "1", "--max-tokens", "3"])
    assert seen == {"spec": "some/model", "adapter": str(tmp_path / "adapters" / "x")}
    assert r.exit_code != 0 and "labels" in r.output  # the packaged template needs {labels}, the data lacks it
