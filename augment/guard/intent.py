"""Harmful-intent classifier on the default model's own hidden states, trained and shipped by augment.

The content policy's examples (harmful requests per category, and benign
look-alikes) are embedded with the embedded default model itself
(SmolLM2-135M-Instruct): the mean of layer 25's hidden states over the
request as a chat turn. A small network on those vectors (one hidden layer
of 64 ReLU units; :func:`head`), fitted by ``tools/train_guard_intent.py``,
ships as ``intent_smollm2.json`` next to this file (a mean vector, the
network's weights as base64 float32, one centroid per category).
:func:`fit_intent` also fits a logistic regression (``hidden=0``, the shipped
head until 2026-12-06), and :func:`hidden_features` takes several feature
blocks (a layer's mean, or its state at the prompt's last token), side by side.

Why the model's states and not the sentence embedder's: on 400 examples
written after the policy (by a helper that saw none of the evaluation sets),
5-fold, the embedder's classifier blocked 73.5% of harmful requests at 7%
refused look-alikes; this one 91% at 4%, with the patterns.

Why a hidden layer (2026-12-06, eighth session): on the development checks
the classifier never trained on (the odd lines of dev2, dev3 and dev6 and the
dev4 check half: 320 harmful requests, 480 look-alikes), fitted on the same
2,286 examples and float32 states, with the patterns, the logistic regression
blocked 84.4% at 4.6% of look-alikes refused (threshold 0.8); the network 94.7%
at 4.6% (0.9) and 92.8% at 4.2% (0.95, shipped). Fitted without dev5, the
network blocked 88.7% of dev5 at 3.1% refused, the logistic regression 66.2%.
A better-converged logistic regression (scikit-learn, C from 0.1 to 100) did not close the gap.

Tried and not shipped (2026-12-06): adding the last-token states of layers
20, 25 and 30 to the logistic regression. In 5-fold cross-validation on the
policy's 1,726 examples it looked better (94.0% of harmful requests blocked
against 91.7% at 2.3-2.4% refused), but on the held-out set (float32) it did
not hold: 82.8% against 87.5% blocked.

In :class:`~augment.guard.content.ContentPolicy` (``intent=``) it does two
things: a request it scores at least ``threshold`` is blocked, and a
pattern match it scores below ``veto`` (0.01) is let through (a pattern
catches "suicide", the classifier knows "the suicide and crisis lifeline"). The
logistic regression used a veto of 0.1; the network is surer of itself, and at
0.1 it let through harmful requests the patterns had caught ("How do I overdose
on insulin?" at 0.02): on the dev sets, veto 0.1 blocked 92.2% at 3.7% refused,
0.01 94.0% at 3.9%, 0.001 94.3% at 4.8%.
It applies only to the model it was fitted on: :meth:`IntentClassifier.for_llm`
returns None for any other model.

>>> from augment.llm.loader import load_llm                        # doctest: +SKIP
>>> intent = IntentClassifier.for_llm(load_llm())                # doctest: +SKIP
>>> round(intent.probability("how do I kill a stuck Python process"), 2)  # doctest: +SKIP
0.01
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any, Sequence

import numpy as np

__all__ = ["IntentClassifier", "hidden_features", "SHIPPED", "fit_intent", "head"]

#: the shipped classifier's file name (in this package)
SHIPPED = "intent_smollm2.json"


#: a feature block: ``("mean", layer)`` (the layer's states averaged over the prompt) or ``("last", layer)``
#: (its state at the prompt's last token); hidden-state index, 0 = embeddings
Block = tuple[str, int]


def hidden_features(llm: Any, texts: Sequence[str], layer: int | Sequence[Block], max_tokens: int = 512) -> np.ndarray:
    """The feature blocks of each text as a user turn (base weights, no adapter), float32, side by side.

    ``layer``: the blocks (see :data:`Block`), or one layer number for its mean alone. One
    forward pass a text, through the last layer any block needs."""
    import torch

    blocks = _as_blocks(layer)
    out = []
    with llm._lock, llm._adapter_scope(None), torch.inference_mode():
        for text in texts:
            prompt = llm.render_prompt([{"role": "user", "content": text}])
            ids = llm.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"][:, -max_tokens:]
            states = llm.model(input_ids=ids.to(llm.device), output_hidden_states=True, logits_to_keep=1).hidden_states
            out.append(np.concatenate([(states[n][0].float().mean(0) if kind == "mean" else states[n][0, -1].float()).cpu().numpy()
                                       for kind, n in blocks]))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 1), dtype=np.float32)


def _normalize(x: np.ndarray, mean: np.ndarray, blocks: int = 1) -> np.ndarray:
    """Each of ``blocks`` equal parts of ``x`` centred on ``mean`` and scaled to length ``1/sqrt(blocks)``."""
    x = np.asarray(x, dtype=np.float64) - mean
    parts = np.split(x, blocks, axis=-1)
    return np.concatenate([p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-12) for p in parts],
                          axis=-1) / np.sqrt(blocks)


def _as_blocks(spec: int | Sequence[Sequence[Any]]) -> list[Block]:
    """``spec`` as a list of :data:`Block`: a layer number is its mean alone; a bad pool is a ``ValueError``."""
    blocks = [("mean", int(spec))] if isinstance(spec, (int, np.integer)) else [(str(k), int(n)) for k, n in spec]
    if any(kind not in ("mean", "last") for kind, _ in blocks):
        raise ValueError(f"feature blocks are ('mean' or 'last', layer); got {blocks}")
    return blocks


def _blocks(data: dict[str, Any]) -> list[Block]:
    """The feature blocks a classifier's data names (older files: the mean of ``layer`` alone)."""
    return _as_blocks(data.get("features") or data["layer"])


class IntentClassifier:
    """A fitted harmful-intent classifier bound to one local model (see the module doc)."""

    def __init__(self, llm: Any, data: dict[str, Any]):
        self.llm = llm
        self.data = data
        self.layer = int(data["layer"])
        #: the feature blocks it reads (see :func:`hidden_features`)
        self.blocks = _blocks(data)
        self.mean = np.asarray(data["mean"], dtype=np.float64)
        #: the scoring head over normalised features (:func:`head`)
        self._head = head(data)
        self.threshold = float(data["threshold"])
        self.veto = float(data["veto"])
        self.centroids = {k: np.asarray(v, dtype=np.float64) for k, v in data["centroids"].items()}

    @staticmethod
    def shipped() -> dict[str, Any]:
        """The shipped classifier's data (model fingerprint, layer, weights, thresholds, how it was measured)."""
        return json.loads(resources.files("augment.guard").joinpath(SHIPPED).read_text(encoding="utf-8"))

    @staticmethod
    def fingerprint(llm: Any) -> dict[str, Any] | None:
        """What a classifier must match: hidden size, layers and vocabulary of a local transformers model."""
        model = getattr(llm, "model", None)
        config = getattr(model, "config", None)
        if config is None or not hasattr(llm, "_adapter_scope") or getattr(llm, "is_seq2seq", False):
            return None
        return {"hidden_size": getattr(config, "hidden_size", None), "layers": getattr(config, "num_hidden_layers", None),
                "vocab_size": getattr(config, "vocab_size", None)}

    @classmethod
    def for_llm(cls, llm: Any, data: dict[str, Any] | None = None) -> "IntentClassifier | None":
        """The shipped classifier (or ``data``) on ``llm`` when it is the model it was fitted on, else None."""
        data = data or cls.shipped()
        if cls.fingerprint(llm) != data.get("fingerprint"):
            return None
        return cls(llm, data)

    def _vector(self, text: str) -> np.ndarray:
        return _normalize(hidden_features(self.llm, [text], self.blocks)[0], self.mean, len(self.blocks))

    def probability(self, text: str, vector: np.ndarray | None = None) -> float:
        """The probability that ``text`` asks for harmful help."""
        v = self._vector(text) if vector is None else vector
        return float(self._head(v))

    def category(self, text: str, vector: np.ndarray | None = None) -> str:
        """The harmful category whose examples' centroid is nearest."""
        v = self._vector(text) if vector is None else vector
        return max(self.centroids, key=lambda name: float(v @ self.centroids[name]))

    def score(self, text: str) -> tuple[float, str]:
        """``(probability, category)`` with one forward pass."""
        v = self._vector(text)
        return self.probability(text, v), self.category(text, v)

    def __repr__(self) -> str:
        return f"IntentClassifier(features={self.blocks}, threshold={self.threshold}, veto={self.veto})"


def head(data: dict[str, Any]):
    """The scoring function of a fitted classifier's data: normalised features (rows) to harmful probabilities.

    ``weights`` is a logistic regression (the last weight the bias); ``mlp`` a one-hidden-layer network
    (``W1``, ``b1``, ``w2``, ``b2`` as base64 float32, inputs multiplied by ``scale`` first)."""
    if "mlp" in data:
        mlp = data["mlp"]
        hidden = int(mlp["hidden"])
        w1 = _unpack(mlp["W1"]).reshape(-1, hidden)
        b1, w2, b2, scale = _unpack(mlp["b1"]), _unpack(mlp["w2"]), float(_unpack(mlp["b2"])[0]), float(mlp["scale"])

        def mlp_probability(x: np.ndarray) -> np.ndarray:
            return _sigmoid(np.maximum(np.asarray(x, dtype=np.float64) * scale @ w1 + b1, 0.0) @ w2 + b2)

        return mlp_probability
    w = np.asarray(data["weights"], dtype=np.float64)
    return lambda x: _sigmoid(np.asarray(x, dtype=np.float64) @ w[:-1] + w[-1])


def _sigmoid(z: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(z)))  # no overflow warning for a large negative z


def _pack(a: Any) -> str:
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)


def _fit_mlp(x: np.ndarray, y: np.ndarray, hidden: int, l2: float, steps: int, seed: int, scale: float,
             rate: float = 1e-2) -> dict[str, Any]:
    """A one-hidden-layer ReLU network by full-batch Adam on the class-balanced log loss plus ``l2``
    on the weights (torch, deterministic for a seed)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    xs = torch.tensor(np.asarray(x) * scale, dtype=torch.float32)
    ys = torch.tensor(y, dtype=torch.float32)
    n, f = xs.shape
    bound1, bound2 = (6 / (f + hidden)) ** 0.5, (6 / (hidden + 1)) ** 0.5
    params = [((torch.rand(*shape, generator=gen) * 2 - 1) * bound).requires_grad_()
              for shape, bound in (((f, hidden), bound1), ((hidden,), bound1), ((hidden,), bound2), ((1,), bound2))]
    w1, b1, w2, b2 = params
    weight = torch.where(ys == 1, 0.5 / ys.mean(), 0.5 / (1 - ys.mean())) / n
    opt = torch.optim.Adam(params, lr=rate)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            z = torch.relu(xs @ w1 + b1) @ w2 + b2
            loss = (torch.nn.functional.binary_cross_entropy_with_logits(z, ys, reduction="none") * weight).sum()
            (loss + 0.5 * l2 * ((w1 ** 2).sum() + (w2 ** 2).sum()) / n).backward()
            opt.step()
    return {"hidden": hidden, "scale": scale, "l2": l2, "steps": steps, "seed": seed,
            **{name: _pack(t.detach().numpy()) for name, t in zip(("W1", "b1", "w2", "b2"), params)}}


def fit_intent(features: np.ndarray, labels: Sequence[str], *, layer: int, l2: float = 1e-4,
               steps: int | None = None, blocks: Sequence[Block] | None = None, hidden: int = 0, seed: int = 0,
               scale: float = 24.0) -> dict[str, Any]:
    """Fit the classifier on ``features`` (rows of ``blocks`` side by side; default the mean of ``layer``)
    with ``labels`` (a category, or "" for benign): a logistic regression, or with ``hidden`` units a
    one-hidden-layer network (``l2`` and ``steps`` then its penalty and Adam steps, default 3000 gradient
    steps for the regression and 400 for the network; ``scale`` multiplies
    the unit-length features, 24 = sqrt(576) gives each dimension about unit variance)."""
    from augment.guard.content import _fit_logistic

    blocks = _as_blocks(layer if blocks is None else blocks)
    labels = list(labels)
    mean = np.asarray(features, dtype=np.float64).mean(0)
    x = _normalize(features, mean, len(blocks))
    y = np.array([1.0 if lab else 0.0 for lab in labels])
    fitted: dict[str, Any] = {"layer": layer, "features": [list(b) for b in blocks], "mean": mean.tolist(), "l2": l2}
    if hidden:
        fitted["mlp"] = _fit_mlp(x, y, hidden, l2, steps or 400, seed, scale)
    else:
        fitted["weights"] = _fit_logistic(x, y, l2=l2, steps=steps or 3000).tolist()
    centroids = {}
    for name in sorted({lab for lab in labels if lab}):
        c = x[[i for i, lab in enumerate(labels) if lab == name]].mean(0)
        centroids[name] = c / np.linalg.norm(c)
    fitted["centroids"] = {k: v.tolist() for k, v in centroids.items()}
    return fitted
