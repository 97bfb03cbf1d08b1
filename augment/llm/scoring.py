"""Likelihood scoring: the log-probability a model gives each candidate continuation of a prompt.

``llm.score(prompt, ["positive", "negative"])`` renders the prompt exactly as
for generation (chat template, generation prompt) and scores each continuation
as the start of the model's reply. Used for classification by label likelihood
(:class:`augment.prompts.Classifier`), which on small models is far more
accurate than generating the label and parsing it.

* Local models (:class:`~augment.llm.transformers.TransformersLLM`): exact
  scores of every token, in ONE forward pass per prompt. Decoder-only models
  pack the prompt and all continuations into one row with a block attention
  mask (each continuation sees the prompt and itself, positions restart after
  the prompt), so the prompt is computed once whatever the number of labels;
  seq2seq models score a padded batch of decoder rows.
* OpenAI-compatible servers: one request with ``logprobs`` and
  ``top_logprobs`` (max 20) and ``max_tokens=1``: the score of each
  continuation is the log-probability of its FIRST token (``exact=False``).
  A server that returns no logprobs, or a continuation whose first token is
  not among the top ones, raises :class:`~augment.errors.ScoringUnavailableError`
  so callers can fall back (the ``Classifier`` then generates the label under a
  constraint).

``chat_template=False`` (local models only) scores the conversation as a plain
transcript instead (:func:`text_prompt`: the messages' contents one after the
other, an assistant reply right after the turn it answers, no role headers) and
each continuation as the text that follows it, after :func:`reply_separator`
(``"Sentiment:"`` -> ``" positive"``). Small instruction-tuned models rank
labels far better this way than as the start of an assistant turn, where they
lean to one label whatever the input (see :class:`augment.prompts.Classifier`).

>>> from augment.llm.loader import load_llm                          # doctest: +SKIP
>>> llm = load_llm()                                                  # doctest: +SKIP
>>> [round(s.logprob, 2) for s in llm.score("Is the sky blue? Answer yes or no.", ["Yes", "No"])]  # doctest: +SKIP
[-0.31, -1.32]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

from augment.errors import APIError, ConfigError, ContextLengthError, ScoringUnavailableError
from augment.types import Message

__all__ = [
    "ContinuationScore", "check_continuations", "check_score_options", "reply_separator", "score_local", "score_remote",
    "text_prompt", "unavailable", "TOP_LOGPROBS",
]

#: how many alternatives an OpenAI-compatible server is asked for (the OpenAI API's maximum)
TOP_LOGPROBS = 20


@dataclass
class ContinuationScore:
    """The score of one continuation: ``logprob`` is the sum over its ``n_tokens`` tokens
    (``token_logprobs``, natural log); ``mean_logprob`` the per-token mean. ``exact`` is False when
    only the first token could be scored (remote servers)."""

    text: str
    logprob: float
    n_tokens: int
    token_logprobs: list[float] = field(default_factory=list)
    exact: bool = True

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, self.n_tokens)


def check_continuations(continuations: Any) -> list[str]:
    """Validate the candidates: a non-empty list of non-empty, distinct strings."""
    if isinstance(continuations, str) or not isinstance(continuations, Sequence):
        raise ConfigError("continuations must be a list of strings, e.g. ['positive', 'negative']")
    out = list(continuations)
    if not out:
        raise ConfigError("continuations is empty; give at least one candidate text to score")
    for c in out:
        if not isinstance(c, str) or not c:
            raise ConfigError(f"continuation {c!r} is not a non-empty string; every candidate must be text")
    if len(set(out)) != len(out):
        raise ConfigError(f"continuations {out} contain duplicates; give each candidate once")
    return out


def check_score_options(options: dict[str, Any]) -> None:
    """Scoring takes ``adapter`` (a loaded LoRA adapter, or a served adapter's model name) and
    ``chat_template`` (True: score the reply after the chat template; False: after a plain transcript)."""
    unknown = sorted(set(options) - {"adapter", "chat_template"})
    if unknown:
        raise ConfigError(f"unknown scoring option {', '.join(map(repr, unknown))}; score() takes only adapter=... "
                          "and chat_template=...")
    if not isinstance(options.get("chat_template", True), bool):
        raise ConfigError(f"chat_template={options['chat_template']!r}; use True or False")


def reply_separator(text: str) -> str:
    """What goes between a plain-text prompt and the reply that follows it: nothing after whitespace,
    a space after a colon ("Sentiment:" -> " positive"), else a newline."""
    if not text or text[-1].isspace():
        return ""
    return " " if text.endswith(":") else "\n"


def text_prompt(messages: list[Message]) -> str:
    """The conversation as a plain transcript (no chat template, no role headers): each message's
    content after a blank line, except an assistant reply, which follows its turn after
    :func:`reply_separator`. A few-shot prompt reads like a document of solved examples:
    ``"Review: Great.\nSentiment: positive\n\nReview: Dull.\nSentiment:"``."""
    out = ""
    for m in messages:
        content = m.content or ""
        if m.role == "assistant":
            out += reply_separator(out) + content
        else:
            out += ("\n\n" if out else "") + content
    return out


def unavailable(llm: Any) -> ScoringUnavailableError:
    return ScoringUnavailableError(
        f"{type(llm).__name__} cannot score continuations by likelihood; use a local model (load_llm(), "
        "TransformersLLM) or an OpenAI-compatible server that returns logprobs, or generate the answer instead "
        "(the Classifier falls back to constrained generation by itself)"
    )


# ---- local models ----------------------------------------------------------
def _ids(llm: Any, messages: list[Message], continuations: list[str], chat_template: bool) -> tuple[list[int], list[list[int]]]:
    tok = llm.tokenizer
    if chat_template:
        prompt, sep = llm.render_prompt(messages), ""
        prompt_ids = tok(prompt, add_special_tokens=not llm.has_chat_template)["input_ids"]
    else:  # a plain document: the tokenizer's own start token (BOS), if it adds one
        prompt = text_prompt(messages)
        sep = reply_separator(prompt)
        prompt_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    if not prompt_ids:
        raise ConfigError("the prompt has no tokens; give some text to score the continuations after")
    conts = [tok(sep + c, add_special_tokens=False)["input_ids"] for c in continuations]
    for c, ids in zip(continuations, conts):
        if not ids:
            raise ConfigError(f"continuation {c!r} has no tokens for this tokenizer; give visible text")
    return prompt_ids, conts


def _gather(logprobs: Any, rows: list[tuple[list[int], list[int]]]) -> list[list[float]]:
    """For each continuation: (positions of the logits that predict its tokens, its token ids) -> log-probs."""
    import torch

    out = []
    for positions, ids in rows:
        picked = logprobs[torch.tensor(positions), torch.tensor(ids)]
        out.append([float(x) for x in picked.tolist()])
    return out


def score_local(llm: Any, messages: list[Message], continuations: list[str], *, adapter: str | None = None,
                chat_template: bool = True) -> list[ContinuationScore]:
    """Exact scores from a :class:`~augment.llm.transformers.TransformersLLM`, one forward pass."""
    import torch

    prompt_ids, conts = _ids(llm, messages, continuations, chat_template)
    longest = len(prompt_ids) + max(len(c) for c in conts)
    if longest > llm.context_window:
        raise ContextLengthError(
            f"the prompt ({len(prompt_ids)} tokens) plus the longest continuation ({longest - len(prompt_ids)} tokens) "
            f"does not fit the {llm.context_window}-token context window of {llm.model_name}; shorten the prompt"
        )
    with llm._lock, llm._adapter_scope(adapter), torch.inference_mode():
        if llm.is_seq2seq:
            per_token = _seq2seq_logprobs(llm, prompt_ids, conts)
        else:
            per_token = _packed_logprobs(llm, prompt_ids, conts)
    return [ContinuationScore(text, math.fsum(lp), len(lp), lp) for text, lp in zip(continuations, per_token)]


def _packed_logprobs(llm: Any, prompt_ids: list[int], conts: list[list[int]]) -> list[list[float]]:
    """One row: the prompt, then every continuation; a block mask keeps the continuations apart."""
    import torch

    p = len(prompt_ids)
    ids = list(prompt_ids)
    positions = list(range(p))
    segment = [0] * p  # 0: the prompt, i + 1: continuation i
    starts = []
    for i, c in enumerate(conts):
        starts.append(len(ids))
        ids += c
        positions += range(p, p + len(c))
        segment += [i + 1] * len(c)
    n = len(ids)
    seg = torch.tensor(segment)
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    visible = causal & ((seg[None, :] == 0) | (seg[None, :] == seg[:, None]))
    dtype = next(llm.model.parameters()).dtype
    mask = torch.zeros(n, n, dtype=dtype).masked_fill(~visible, torch.finfo(dtype).min)
    device = llm.device
    out = llm.model(
        input_ids=torch.tensor([ids], device=device),
        attention_mask=mask[None, None].to(device),
        position_ids=torch.tensor([positions], device=device),
        use_cache=False,
    )
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    rows = []
    for start, c in zip(starts, conts):
        # the first token is predicted by the last prompt position, each next one by the token before it
        rows.append(([p - 1] + list(range(start, start + len(c) - 1)), c))
    return _gather(logprobs, rows)


def _seq2seq_logprobs(llm: Any, prompt_ids: list[int], conts: list[list[int]]) -> list[list[float]]:
    """Encoder-decoder: the prompt in the encoder, one decoder row per continuation (one padded batch)."""
    import torch

    start = llm.model.config.decoder_start_token_id
    if start is None:
        start = llm.tokenizer.pad_token_id
    width = max(len(c) for c in conts)
    pad = llm.tokenizer.pad_token_id or 0
    dec = torch.tensor([[start] + c + [pad] * (width - len(c)) for c in conts])[:, :width]
    device = llm.device
    enc = torch.tensor([prompt_ids] * len(conts), device=device)
    out = llm.model(input_ids=enc, attention_mask=torch.ones_like(enc), decoder_input_ids=dec.to(device), use_cache=False)
    logprobs = torch.log_softmax(out.logits.float(), dim=-1)
    result = []
    for i, c in enumerate(conts):
        picked = logprobs[i, torch.arange(len(c)), torch.tensor(c)]
        result.append([float(x) for x in picked.tolist()])
    return result


# ---- OpenAI-compatible servers -----------------------------------------------
def score_remote(llm: Any, messages: list[Message], continuations: list[str], *, adapter: str | None = None,
                 chat_template: bool = True) -> list[ContinuationScore]:
    """First-token scores from a server's ``top_logprobs``; ScoringUnavailableError when it gives none."""
    from augment.llm.base import GenerateOptions
    from augment.llm.openai_wire import build_payload

    if not chat_template:
        raise ScoringUnavailableError(
            f"the chat server at {llm.base_url} applies its own chat template, so a plain-text prompt cannot be scored "
            "there; score with chat_template=True (the default)"
        )

    options = GenerateOptions(max_tokens=1, temperature=0.0, adapter=adapter)
    body = build_payload(llm.model, messages, options)
    body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
    try:
        data = llm._post(body)
    except APIError as e:
        if e.status_code not in (400, 422):
            raise
        raise ScoringUnavailableError(
            f"the server at {llm.base_url} refused a request for logprobs ({e}); generate the answer instead"
        ) from e
    try:
        content = data["choices"][0]["logprobs"]["content"]
        top = content[0]["top_logprobs"]
        alternatives = {str(t["token"]): float(t["logprob"]) for t in top}
    except (KeyError, IndexError, TypeError, ValueError):
        raise ScoringUnavailableError(
            f"the server at {llm.base_url} returned no logprobs for model {llm.model!r}; likelihood scoring needs a server "
            "that supports logprobs/top_logprobs (OpenAI, vLLM, llama.cpp server), or generate the answer instead"
        ) from None
    scores = []
    claimed: dict[str, str] = {}
    for text in continuations:
        # the longest alternative token that begins the continuation (a leading space may be added by the tokenizer)
        matches = [t for t in alternatives if t.strip() and (text.startswith(t) or text.startswith(t.lstrip()))]
        if not matches:
            raise ScoringUnavailableError(
                f"the first token of {text!r} is not among the server's top {TOP_LOGPROBS} alternatives, so its "
                "likelihood is unknown; generate the answer instead"
            )
        token = max(matches, key=len)
        if token in claimed:
            raise ScoringUnavailableError(
                f"{claimed[token]!r} and {text!r} begin with the same token {token!r}; a server's first-token logprobs "
                "cannot tell them apart: use labels that differ in their first word, or a local model"
            )
        claimed[token] = text
        lp = alternatives[token]
        scores.append(ContinuationScore(text, lp, 1, [lp], exact=token in (text, " " + text)))
    return scores
