"""`augment finetune` through click's CliRunner on a tiny model saved to a folder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from augment.cli import main
from tests.finetune.conftest import instruct_records, tiny_llama


@pytest.fixture
def tiny_dir(tokenizer, tmp_path):
    folder = tmp_path / "tiny"
    tiny_llama(tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _jsonl(path, records):
    path.write_text("\n".join(json.dumps(r) for r in records))
    return path


def test_cli_lora_instruct(tiny_dir, tmp_path):
    data = _jsonl(tmp_path / "train.jsonl", instruct_records())
    out = tmp_path / "adapters" / "x"
    result = CliRunner().invoke(main, ["finetune", "--model", str(tiny_dir), "--method", "lora", "--task", "instruct",
                                       "--data", str(data), "--out", str(out), "--max-steps", "3", "--batch-size", "4",
                                       "--lr", "0.01", "--option", "r=4", "--option", "target_modules=q_proj,v_proj",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["steps"] == 3 and 0 < summary["share"] < 0.05
    cfg = json.loads((out / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and set(cfg["target_modules"]) == {"q_proj", "v_proj"}
    assert json.loads((out / "augment_finetune.json").read_text())["method"] == "lora"
    assert "duplicates across splits" in result.output


def test_cli_dpo_and_errors(tiny_dir, tmp_path):
    pairs = _jsonl(tmp_path / "pairs.jsonl", [{"prompt": f"q{i}", "chosen": "good", "rejected": "bad"} for i in range(4)])
    result = CliRunner().invoke(main, ["finetune", "--model", str(tiny_dir), "--task", "dpo", "--data", str(pairs),
                                       "--out", str(tmp_path / "dpo"), "--max-steps", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "margin_after" in json.loads(result.output.strip().splitlines()[-1])

    bad = _jsonl(tmp_path / "bad.jsonl", [{"question_text": "x", "reply": "y"}])
    result = CliRunner().invoke(main, ["finetune", "--model", str(tiny_dir), "--data", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "needs a column 'instruction' or 'prompt'" in result.output
    result = CliRunner().invoke(main, ["finetune", "--model", str(tiny_dir), "--data", str(bad), "--out", str(tmp_path / "o"),
                                       "--option", "r"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = CliRunner().invoke(main, ["finetune", "--model", str(tmp_path / "missing"), "--data", str(pairs),
                                       "--task", "dpo", "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "no model at" in result.output
