"""One validated training config (finetune, train_dpo, the CLI) and one model-spec resolver."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from augment.cli import main
from augment.errors import ConfigError
from augment.finetune import TrainConfig, finetune, train_dpo
from augment.finetune.io import resolve_model
from augment.llm.defaults import default_gguf_path
from augment.llm.loader import resolve_spec

from tests.finetune.conftest import tiny_llama

PAIRS = [{"prompt": f"question {i}: is it safe?", "chosen": "yes it is safe", "rejected": "no idea sorry"} for i in range(8)]


def test_train_config_validates_and_names_the_option():
    with pytest.raises(ConfigError, match="lrr.*the options are: epochs"):
        TrainConfig(lrr=1e-4)
    with pytest.raises(ConfigError, match="scheduler"):
        TrainConfig(scheduler="exponential")
    with pytest.raises(ConfigError, match="warmup_ratio"):
        TrainConfig(warmup_ratio=1.5)
    with pytest.raises(ConfigError, match="mixed_precision"):
        TrainConfig(mixed_precision="fp8")
    with pytest.raises(ConfigError, match="a TrainConfig or a dict"):
        TrainConfig.build(["epochs", 2])
    cfg = TrainConfig.build({"epochs": 3}, lr=1e-3)
    assert (cfg.epochs, cfg.lr) == (3, 1e-3)
    # defaults fill only what was not given
    given = cfg.with_defaults(lr=5e-4, batch_size=4)
    assert (given.lr, given.batch_size) == (1e-3, 4)


def test_finetune_and_dpo_reject_bad_options_before_any_work(tokenizer):
    model = (tiny_llama(tokenizer), tokenizer)
    with pytest.raises(ConfigError, match="lrr"):
        finetune(model, [{"input": "a", "output": "b"}] * 4, lrr=1e-3)
    with pytest.raises(ConfigError, match="scheduler"):
        train_dpo(model, PAIRS, scheduler="bogus")
    with pytest.raises(ConfigError, match="mixed_precision"):
        train_dpo(model, PAIRS, config=TrainConfig(max_steps=2), mixed_precision="fp8")


def test_dpo_takes_scheduler_and_warmup(tokenizer, tmp_path):
    res = train_dpo((tiny_llama(tokenizer), tokenizer), PAIRS, method="lora", beta=0.5, lr=1e-2, progress=False,
                    config=TrainConfig(max_steps=4, scheduler="cosine", warmup_ratio=0.5), out=tmp_path / "dpo")
    assert res.train.steps == 4
    saved = json.loads((tmp_path / "dpo" / "augment_finetune.json").read_text())["train"]
    assert (saved["scheduler"], saved["warmup_ratio"], saved["batch_size"], saved["lr"]) == ("cosine", 0.5, 4, 1e-2)
    assert saved["checkpoint_dir"] == str(tmp_path / "dpo")


def test_cli_builds_the_same_config_and_reports_bad_values(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"input": "a", "output": "b"}\n')
    res = CliRunner().invoke(main, ["finetune", "--data", str(data), "--out", str(tmp_path / "o"), "--warmup-ratio", "2"])
    assert res.exit_code == 1 and "warmup_ratio" in res.output
    res = CliRunner().invoke(main, ["finetune", "--data", str(data), "--out", str(tmp_path / "o"), "--scheduler", "nope"])
    assert res.exit_code == 2 and "nope" in res.output


def test_fine_tuning_resolves_specs_like_load_llm(tmp_path):
    # a bare org/name is a hub id, as for load_llm (loaded later from the local cache only)
    assert resolve_model("HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert resolve_model("hf:HuggingFaceTB/SmolLM2-135M-Instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    # a folder holding only a GGUF file is that file (converted once, cached)
    folder = tmp_path / "only-gguf"
    folder.mkdir()
    (folder / default_gguf_path().name).symlink_to(default_gguf_path())  # same name: reuses the cached conversion
    assert resolve_model(str(folder)) == resolve_spec(str(folder)).source == resolve_spec(None).source
    with pytest.raises(ConfigError, match="served remotely"):
        resolve_model("openai:gpt-4o-mini")
