"""Builds reviews_public.jsonl, the public sentiment set of tools/eval_prompting.py (deterministic).

Source: the Amazon product-review sentences rated by humans in Hutto & Gilbert (2014), "VADER: A
Parsimonious Rule-based Model for Sentiment Analysis of Social Media Text" (ICWSM-14), shipped
inside the PyPI package vaderSentiment 3.3.2 (MIT license), file
additional_resources/hutto_ICWSM_2014.tar.gz -> hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt
(3,708 sentences, each with the mean of 10 raters' scores on -4..+4). See SOURCE.md for the
checksums and the license.

Selection: sentences of 4 to 30 words with a mean rating >= 1.5 (positive) or <= -1.5 (negative),
deduplicated; with random.Random(2014): 10 + 10 go to the few-shot pool, 80 + 80 to the test split.

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2
    python tests/data/prompting/make_public_sentiment.py vaderSentiment-3.3.2.tar.gz
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).parent
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
MEMBER = "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"
MEMBER_SHA256 = "11a9807a0974a2506a2d3b4851eaf69b3d6d20688ce4923adda2312a4f6dd6c2"
THRESHOLD = 1.5
POOL, TEST = 10, 80  # per label


def read_source(sdist: Path) -> bytes:
    data = sdist.read_bytes()
    if hashlib.sha256(data).hexdigest() != SDIST_SHA256:
        raise SystemExit(f"{sdist} is not vaderSentiment-3.3.2.tar.gz (sha256 differs)")
    with tarfile.open(fileobj=io.BytesIO(data)) as outer:
        inner = outer.extractfile(INNER).read()
    with tarfile.open(fileobj=io.BytesIO(inner)) as tar:
        text = tar.extractfile(MEMBER).read()
    if hashlib.sha256(text).hexdigest() != MEMBER_SHA256:
        raise SystemExit(f"{MEMBER} differs from the expected file (sha256)")
    return text


def build(text: bytes) -> list[dict]:
    pos, neg, seen = [], [], set()
    for line in text.decode("utf-8").splitlines():
        sid, score, sentence = line.split("\t", 2)
        sentence = sentence.strip()
        words = len(sentence.split())
        if not 4 <= words <= 30 or sentence.lower() in seen:
            continue
        seen.add(sentence.lower())
        row = {"id": sid, "text": sentence, "rating": float(score)}
        if row["rating"] >= THRESHOLD:
            pos.append({**row, "label": "positive"})
        elif row["rating"] <= -THRESHOLD:
            neg.append({**row, "label": "negative"})
    rng = random.Random(2014)
    pos, neg = rng.sample(pos, POOL + TEST), rng.sample(neg, POOL + TEST)
    pool = pos[:POOL] + neg[:POOL]
    test = pos[POOL:] + neg[POOL:]
    rng.shuffle(pool)
    rng.shuffle(test)
    return [{**r, "split": "pool"} for r in pool] + [{**r, "split": "test"} for r in test]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    rows = build(read_source(Path(sys.argv[1])))
    out = HERE / "reviews_public.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{out}: {len(rows)} rows, sha256 {hashlib.sha256(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
