"""Data loading, splitting, summary and formatting; bad data gives clear DataErrors."""

from __future__ import annotations

import json

import pytest

from augment.errors import DataError
from augment.finetune import (
    format_classification, format_instruction, format_seq2seq, format_token_classification, instruction_prompt,
    load_data, split_data, summarize,
)
from augment.finetune.formatting import IGNORE
from tests.finetune.conftest import cls_records, ner_records


def test_load_jsonl_csv_json_and_datasets_folder(tmp_path):
    recs = cls_records(6)
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in recs) + "\n\n")
    (tmp_path / "d.csv").write_text("text,label\n" + "\n".join(f"{r['text']},{r['label']}" for r in recs))
    (tmp_path / "d.json").write_text(json.dumps(recs))
    import datasets

    datasets.Dataset.from_list(recs).save_to_disk(str(tmp_path / "hf"))
    for name in ("d.jsonl", "d.csv", "d.json", "hf"):
        assert load_data(tmp_path / name) == recs, name
    assert load_data(datasets.Dataset.from_list(recs)) == recs


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(DataError, match="empty"):
        load_data(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2"):
        load_data(tmp_path / "bad.jsonl")
    with pytest.raises(DataError, match="empty"):
        load_data([])


def test_split_is_seeded_and_stratified():
    recs = [{"text": f"t{i}", "label": "abc"[i % 3]} for i in range(30)]
    a = split_data(recs, test_size=0.2, val_size=0.1, seed=1, stratify="label")
    b = split_data(recs, test_size=0.2, val_size=0.1, seed=1, stratify="label")
    c = split_data(recs, test_size=0.2, val_size=0.1, seed=2, stratify="label")
    assert a == b and a.test != c.test
    assert (len(a.train), len(a.test), len(a.validation)) == (21, 6, 3)
    assert sorted(r["label"] for r in a.test) == ["a", "a", "b", "b", "c", "c"]
    assert not {r["text"] for r in a.test} & {r["text"] for r in a.train}


def test_split_that_leaves_a_class_out_of_test_is_an_error():
    recs = [{"text": f"t{i}", "label": "a"} for i in range(10)] + [{"text": "rare", "label": "b"}]
    with pytest.raises(DataError, match="class 'b' has only 1 example"):
        split_data(recs, test_size=0.2, stratify="label")
    recs = [{"text": f"t{i}", "label": "a"} for i in range(20)] + [{"text": f"r{i}", "label": "b"} for i in range(2)]
    raised = 0
    for seed in range(20):  # a random split puts 'b' (2 of 22) in test only sometimes
        try:
            s = split_data(recs, test_size=0.1, seed=seed, label_field="label")
            assert "b" in {r["label"] for r in s.test}
        except DataError as e:
            assert "left class(es) ['b'] out of the test set" in str(e) and "stratify='label'" in str(e)
            raised += 1
    assert 0 < raised < 20


def test_summary_counts_balance_lengths_duplicates_truncation(tokenizer):
    recs = cls_records(20)  # only 6 distinct texts: the test split repeats training texts
    s = split_data(recs, test_size=0.3, stratify="label")
    summary = summarize(s, tokenizer=tokenizer, text_fields=["text"], label_field="label", max_length=4)
    assert summary.sizes == {"train": 14, "test": 6}
    assert summary.label_balance["test"] == {"neg": 3, "pos": 3}
    assert summary.token_lengths["train"]["max"] == 5  # [CLS] + 3 words + [SEP]
    assert summary.duplicates_across_splits == 6
    assert summary.truncated == 20
    assert "duplicates across splits: 6" in str(summary)


def test_instruction_loss_only_on_answer(tokenizer):
    f = format_instruction([{"instruction": "name a color", "output": "blue sky"}], tokenizer, max_length=64).features[0]
    prompt_ids = tokenizer(instruction_prompt(tokenizer, "name a color"), add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert f["input_ids"][:n] == prompt_ids
    assert f["labels"][:n] == [IGNORE] * n
    answer = tokenizer.decode([t for t in f["labels"] if t != IGNORE])
    assert answer.startswith("blue sky") and "[SEP]" in answer  # the end-of-turn marker is learned too


def test_instruction_truncation_is_counted_and_empty_answers_dropped(tokenizer):
    recs = [{"prompt": "a b c d e f g h", "response": "yes"}, {"prompt": "short", "response": "ok"}]
    out = format_instruction(recs, tokenizer, max_length=12)
    assert out.truncated == 1 and out.dropped == 1 and len(out) == 1
    with pytest.raises(DataError, match="missing|needs a column"):
        format_instruction([{"question_text": "x", "output": "y"}], tokenizer)


def test_classification_labels_and_errors(tokenizer):
    out = format_classification(cls_records(4), tokenizer)
    assert out.labels == ["neg", "pos"] and [f["labels"] for f in out.features] == [0, 1, 0, 1]
    with pytest.raises(DataError, match=r"not in the label set.*'maybe'"):
        format_classification(cls_records(2) + [{"text": "hm", "label": "maybe"}], tokenizer, labels=["neg", "pos"])
    with pytest.raises(DataError, match="needs a column 'label'"):
        format_classification([{"text": "x"}], tokenizer)


def test_token_classification_aligns_labels_to_subwords(tokenizer):
    rec = {"tokens": ["Schwarzenegger", "visited", "Reykjavik"], "tags": ["B-PER", "O", "B-LOC"]}
    out = format_token_classification([rec], tokenizer, labels=["O", "B-PER", "B-LOC"])
    enc = tokenizer(rec["tokens"], is_split_into_words=True)
    labels = out.features[0]["labels"]
    assert len(labels) == len(enc["input_ids"]) and len(enc["input_ids"]) > 5  # names split into sub-words
    firsts = [labels[i] for i, w in enumerate(enc.word_ids()) if w is not None and (i == 0 or enc.word_ids()[i - 1] != w)]
    assert firsts == [1, 0, 2]
    assert labels.count(IGNORE) == len(labels) - 3
    with pytest.raises(DataError, match="3 tokens but 2 tags"):
        format_token_classification([{"tokens": ["a", "b", "c"], "tags": ["O", "O"]}], tokenizer)


def test_seq2seq_format(tokenizer):
    out = format_seq2seq([{"document": "long text here", "summary": "short"}], tokenizer)
    assert tokenizer.decode(out.features[0]["labels"], skip_special_tokens=True) == "short"


def test_ner_records_fixture_is_consistent():
    assert all(len(r["tokens"]) == len(r["tags"]) for r in ner_records())
