"""Step 1 of fine-tuning: load the data, split it, look at it.

Records are plain dicts. :func:`load_data` reads jsonl, json, csv, parquet,
a folder written by ``datasets.save_to_disk``, a ``datasets.Dataset`` or a
list of dicts. :func:`split_data` makes a seeded (optionally stratified)
train / test / validation split. :func:`summarize` reports sizes, label
balance, token lengths, duplicates across splits and how many examples a
``max_length`` would truncate.

>>> recs = [{"text": f"t{i}", "label": "ab"[i % 2]} for i in range(10)]
>>> s = split_data(recs, test_size=0.2, stratify="label", seed=0)
>>> len(s.train), len(s.test), sorted({r["label"] for r in s.test})
(8, 2, ['a', 'b'])
"""

from __future__ import annotations

import csv
import json
import math
import random
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from augment.errors import DataError, MissingDependencyError

__all__ = ["load_data", "split_data", "Splits", "summarize", "DataSummary", "require_columns", "check_labels"]


def load_data(source: Any, *, split: str = "train") -> list[dict]:
    """Load records from a file, a folder, a ``datasets`` object or a list of dicts.

    ``split`` picks the split of a ``DatasetDict`` (or a ``save_to_disk`` folder holding one).
    Raises :class:`DataError` for a missing file, an unreadable line or an empty dataset.
    """
    if isinstance(source, (list, tuple)):
        records = list(source)
        origin = "the given list"
    elif hasattr(source, "to_list") or hasattr(source, "keys") and hasattr(source, "column_names"):
        records = _from_hf(source, split)
        origin = "the given dataset"
    else:
        path = Path(source)
        origin = str(path)
        if not path.exists():
            raise DataError(f"data file {path} does not exist; pass a .jsonl, .json, .csv or .parquet file or a datasets folder")
        suffix = path.suffix.lower()
        if path.is_dir():
            try:
                import datasets
            except ImportError as e:
                raise MissingDependencyError("datasets", purpose="loading a datasets folder") from e
            records = _from_hf(datasets.load_from_disk(str(path)), split)
        elif suffix in (".jsonl", ".ndjson"):
            records = []
            with open(path, encoding="utf-8") as f:
                for i, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            records.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            raise DataError(f"{path}:{i}: not valid JSON ({e.msg}); fix or remove that line") from e
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            records = data.get(split, data.get("data")) if isinstance(data, dict) else data
        elif suffix in (".csv", ".tsv"):
            with open(path, encoding="utf-8", newline="") as f:
                records = list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
        elif suffix == ".parquet":
            try:
                import datasets
            except ImportError as e:
                raise MissingDependencyError("datasets", purpose="loading parquet files") from e
            records = datasets.load_dataset("parquet", data_files=str(path), split="train").to_list()
        else:
            raise DataError(f"cannot read {path}: use .jsonl, .json, .csv, .tsv, .parquet or a datasets folder")
    if not isinstance(records, list) or not records:
        raise DataError(f"no records in {origin}; the dataset is empty")
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise DataError(f"record {i} of {origin} is a {type(r).__name__}; each record must be an object with named fields")
    return records


def _from_hf(ds: Any, split: str) -> list[dict]:
    if hasattr(ds, "keys") and not hasattr(ds, "column_names") or isinstance(getattr(ds, "column_names", None), dict):
        if split not in ds:
            raise DataError(f"the dataset has no split {split!r}; it has {sorted(ds.keys())}")
        ds = ds[split]
    return ds.to_list()


def require_columns(records: Sequence[dict], columns: Iterable[str | tuple[str, ...]], what: str = "this task") -> dict[str, str]:
    """Check that every record has each column; a tuple means any of these names.

    Returns a map from the first name of each spec to the name actually present.
    """
    if not records:
        raise DataError(f"the dataset is empty; {what} needs at least one record")
    found: dict[str, str] = {}
    for spec in columns:
        names = (spec,) if isinstance(spec, str) else tuple(spec)
        present = next((n for n in names if n in records[0]), None)
        if present is None:
            raise DataError(
                f"{what} needs a column {' or '.join(repr(n) for n in names)}; the data has {sorted(records[0])}"
            )
        for i, r in enumerate(records):
            if r.get(present) is None:
                raise DataError(f"record {i} has no value for column {present!r} (needed by {what})")
        found[names[0]] = present
    return found


def check_labels(labels: Iterable[Any], label_set: Sequence[Any], where: str = "the data") -> None:
    """Raise :class:`DataError` when a label is outside ``label_set``."""
    allowed = set(label_set)
    bad = sorted({str(x) for x in labels if x not in allowed})
    if bad:
        raise DataError(
            f"{where} has labels not in the label set {list(label_set)}: {bad[:10]}; fix the labels or pass labels=[...] including them"
        )


@dataclass
class Splits:
    """Train / test / validation records.

    >>> Splits([{"a": 1}], test=[{"a": 2}]).items()[1][0]
    'test'
    """

    train: list[dict]
    test: list[dict] = field(default_factory=list)
    validation: list[dict] = field(default_factory=list)

    def items(self) -> list[tuple[str, list[dict]]]:
        return [(n, s) for n, s in (("train", self.train), ("validation", self.validation), ("test", self.test)) if s]


def split_data(
    records: Sequence[dict],
    *,
    test_size: float = 0.2,
    val_size: float = 0.0,
    seed: int = 0,
    stratify: str | Callable[[dict], Any] | None = None,
    label_field: str | None = None,
) -> Splits:
    """Seeded split into train / test / validation (fractions of the whole).

    With ``stratify`` (a column name or a function of a record) each class is
    split in the same proportions; a class too small to reach the test set
    raises :class:`DataError`. Without it, pass ``label_field`` to have a
    random split checked: a class that reaches train but not test raises
    :class:`DataError` (use ``stratify=label_field`` to fix it).
    """
    records = list(records)
    if not records:
        raise DataError("cannot split an empty dataset")
    if not (0 <= test_size < 1 and 0 <= val_size < 1 and test_size + val_size < 1):
        raise DataError(f"test_size={test_size} and val_size={val_size} must be fractions in [0, 1) summing below 1")
    rng = random.Random(seed)
    key = (lambda r: r[stratify]) if isinstance(stratify, str) else stratify
    if isinstance(stratify, str):
        require_columns(records, [stratify], "the stratified split")
    groups: dict[Any, list[dict]] = {}
    if key is None:
        groups[None] = records
    else:
        for r in records:
            groups.setdefault(_hashable(key(r)), []).append(r)
    train, test, val = [], [], []
    for label in sorted(groups, key=str):
        g = list(groups[label])
        rng.shuffle(g)
        n_test = int(round(len(g) * test_size))
        n_val = int(round(len(g) * val_size))
        if key is not None:
            if test_size > 0 and n_test == 0:
                if len(g) < 2:
                    raise DataError(
                        f"class {label!r} has only {len(g)} example(s); a split would leave it out of the test set "
                        f"(or out of train). Add examples of it, merge it into another class, or drop it"
                    )
                n_test = 1
            if val_size > 0 and n_val == 0 and len(g) - n_test >= 2:
                n_val = 1
            if len(g) - n_test - n_val < 1:
                raise DataError(f"class {label!r} has only {len(g)} example(s): none would be left to train on")
        test += g[:n_test]
        val += g[n_test:n_test + n_val]
        train += g[n_test + n_val:]
    for part in (train, test, val):
        rng.shuffle(part)
    if not train:
        raise DataError("the split left no training records; lower test_size / val_size or add data")
    if test_size > 0 and not test:
        raise DataError(f"test_size={test_size} of {len(records)} records rounds to an empty test set; raise test_size or add data")
    if label_field and key is None and test:
        missing = sorted({str(r.get(label_field)) for r in train} - {str(r.get(label_field)) for r in test})
        if missing:
            raise DataError(
                f"the random split left class(es) {missing[:10]} out of the test set; "
                f"use stratify={label_field!r}, a larger test_size, or more examples of those classes"
            )
    return Splits(train, test, val)


def _hashable(x: Any) -> Any:
    return tuple(x) if isinstance(x, list) else x


@dataclass
class DataSummary:
    """What :func:`summarize` found. ``str()`` gives a readable table.

    >>> summarize([{"text": "a b c", "label": "x"}], label_field="label").label_balance
    {'train': {'x': 1}}
    """

    sizes: dict[str, int]
    label_balance: dict[str, dict[str, int]] = field(default_factory=dict)
    token_lengths: dict[str, dict[str, float]] = field(default_factory=dict)
    duplicates_across_splits: int = 0
    truncated: int = 0
    max_length: int | None = None
    length_unit: str = "tokens"

    def to_dict(self) -> dict[str, Any]:
        return {
            "sizes": self.sizes,
            "label_balance": self.label_balance,
            "token_lengths": self.token_lengths,
            "duplicates_across_splits": self.duplicates_across_splits,
            "truncated": self.truncated,
            "max_length": self.max_length,
            "length_unit": self.length_unit,
        }

    def __str__(self) -> str:
        lines = [f"split        size  {self.length_unit + ' min/p50/p95/max':<22}  labels"]
        for name, n in self.sizes.items():
            tl = self.token_lengths.get(name)
            tls = f"{tl['min']:.0f}/{tl['p50']:.0f}/{tl['p95']:.0f}/{tl['max']:.0f}" if tl else "-"
            lab = ", ".join(f"{k}:{v}" for k, v in list(self.label_balance.get(name, {}).items())[:8]) or "-"
            lines.append(f"{name:<12}{n:>5}  {tls:<22}  {lab}")
        lines.append(f"duplicates across splits: {self.duplicates_across_splits}")
        if self.max_length:
            lines.append(f"longer than max_length={self.max_length} (truncated): {self.truncated}")
        return "\n".join(lines)


def _record_text(r: dict, fields: Sequence[str] | None) -> str:
    keys = fields or [k for k, v in r.items() if isinstance(v, (str, list))]
    parts = []
    for k in keys:
        v = r.get(k)
        parts.append(" ".join(map(str, v)) if isinstance(v, list) else str(v if v is not None else ""))
    return "\n".join(parts)


def summarize(
    data: Splits | Sequence[dict],
    *,
    tokenizer: Any = None,
    text_fields: Sequence[str] | None = None,
    label_field: str | None = None,
    max_length: int | None = None,
    key_fields: Sequence[str] | None = None,
) -> DataSummary:
    """Sizes, label balance, token lengths (with ``tokenizer``; else whitespace words),
    duplicates across splits (same ``key_fields`` text, default ``text_fields``) and the
    number of examples longer than ``max_length`` (they will be truncated)."""
    splits = data if isinstance(data, Splits) else Splits(list(data))
    summary = DataSummary(sizes={n: len(s) for n, s in splits.items()}, max_length=max_length,
                          length_unit="tokens" if tokenizer is not None else "words")
    seen: dict[str, set[str]] = {}
    for name, recs in splits.items():
        if label_field:
            counts: Counter = Counter()
            for r in recs:
                v = r.get(label_field)
                counts.update(map(str, v) if isinstance(v, list) else [str(v)])
            summary.label_balance[name] = dict(sorted(counts.items()))
        lengths = []
        for r in recs:
            text = _record_text(r, text_fields)
            n = len(tokenizer(text, add_special_tokens=True)["input_ids"]) if tokenizer is not None else len(text.split())
            lengths.append(n)
            if max_length and n > max_length:
                summary.truncated += 1
        if lengths:
            ordered = sorted(lengths)
            summary.token_lengths[name] = {
                "min": ordered[0],
                "mean": round(statistics.fmean(ordered), 1),
                "p50": ordered[len(ordered) // 2],
                "p95": ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)],
                "max": ordered[-1],
            }
        seen[name] = {_record_text(r, key_fields or text_fields).strip().lower() for r in recs}
    train_keys = seen.get("train", set())
    summary.duplicates_across_splits = sum(
        1 for name, recs in splits.items() if name != "train"
        for r in recs if _record_text(r, key_fields or text_fields).strip().lower() in train_keys
    )
    return summary
