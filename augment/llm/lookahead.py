"""Greedy decoding of one row that checks several drafted tokens per forward pass (prompt lookup).

On a small model on a CPU a forward pass over 9 tokens costs about 1.2 times
one over a single token (measured on SmolLM2-135M in bf16, 2 cores, 60 cached
tokens: 44.9 ms vs 37.5 ms),
so a decoder that guesses the next few tokens and lets one pass check them
all produces several tokens for the price of one whenever the guess is right.

The guesses here cost nothing to make:

* :class:`PromptLookup`: the tokens that followed the last occurrence of the
  current 1-3 token tail earlier in the prompt or the reply. A RAG answer
  quotes its sources, an agent's tool call repeats names and values from the
  tool schemas and the earlier calls, a JSON reply repeats keys.
* a grammar's forced text (constrained decoding): after ``{"name": "calc``
  the rest of ``calculator", "arguments": {"expression": "`` is the only way
  on; :meth:`augment.llm.constrained.GrammarLogitsProcessor.draft_with` drafts those tokens first.

Every drafted token is checked: at each position the model's own choice
(after the logits processors, in order, exactly as ``generate`` calls them:
once per generated token with every token so far) is taken, and drafting
stops at the first disagreement. So the output is the greedy output; it can
differ from token-by-token decoding only where floating-point rounding of a
several-token pass flips a near tie (the tests compare both on the default
model). The cache entries of rejected drafts are cut off.

Used by :class:`~augment.llm.transformers.TransformersLLM` for one-row greedy
requests (``prompt_lookup=8``, the default; ``0`` turns drafting off and
decodes one token per pass). Sampled requests and batches go to ``generate``.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["PromptLookup", "greedy_decode", "check_drafts", "crop_cache"]

#: the longest rest of a prompt (after its last prefill block) that the fast path's first pass takes
#: along with the drafted tokens; with up to 8 drafts that stays within the 16 rows of the 4-bit path
MERGED_REST = 8


class PromptLookup:
    """Draft the tokens that followed the latest earlier occurrence of the sequence's last n tokens.

    n goes from ``max_ngram`` down to ``min_ngram``; the first n with a match
    wins. Returns at most ``limit`` tokens.

    >>> PromptLookup().draft([5, 6, 7, 8, 1, 5, 6], 3)
    [7, 8, 1]
    >>> PromptLookup().draft([1, 2, 3], 4)
    []
    """

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1):
        self.max_ngram, self.min_ngram = max_ngram, max(1, min_ngram)

    def draft(self, seq: Sequence[int], limit: int) -> list[int]:
        if limit <= 0:
            return []
        size = len(seq)
        for n in range(min(self.max_ngram, size - 1), self.min_ngram - 1, -1):
            tail = list(seq[size - n:])
            first = tail[-1]
            for end in range(size - 1, n - 1, -1):  # latest occurrence first, not the tail itself
                if seq[end - 1] == first and list(seq[end - n:end]) == tail:
                    return list(seq[end:end + limit])
        return []


def crop_cache(cache: Any, length: int) -> None:
    """Keep the first ``length`` positions of a ``DynamicCache`` (a negative ``crop`` works on every version)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def check_drafts(logits: Any, draft: Sequence[int], seq: list[int], processors: Sequence[Any],
                 eos: set[int]) -> tuple[list[int], bool]:
    """The tokens a pass over ``[last token] + draft`` yields: ``(accepted, hit_eos)``.

    ``logits[j]`` (float32 ``[len(draft) + 1, vocab]``) follows ``seq`` plus the first ``j``
    drafted tokens. At each position the greedy choice after ``processors`` (called as
    ``generate`` calls them, with every token so far) is taken; it ends the list at an
    end-of-sequence token, at the first disagreement with the draft, or after the last
    drafted position. So ``accepted`` is the drafts that held plus one token of the model's own.
    """
    import torch

    accepted: list[int] = []
    for j in range(len(draft) + 1):
        row = logits[j:j + 1]
        if processors:
            ids = torch.tensor([seq + accepted], device=row.device)
            for p in processors:
                row = p(ids, row)
        token = int(row[0].argmax())
        accepted.append(token)
        if token in eos:
            return accepted, True
        if j == len(draft) or token != draft[j]:
            break
    return accepted, False


def greedy_decode(model: Any, cache: Any, prompt: Sequence[int], cached: int, max_new: int, eos: set[int], *,
                  cache_kw: str, processors: Sequence[Any] = (), drafter: Callable[[list[int], int], list[int]] | None = None,
                  max_draft: int = 8, on_token: Callable[[int], None] | None = None,
                  should_stop: Callable[[list[int]], bool] | None = None, fast: Any = None) -> tuple[list[int], bool]:
    """Greedy tokens after ``prompt`` (``cache`` holds its first ``cached`` positions); ``(ids, hit_eos)``.

    ``ids`` stop before an end-of-sequence token. ``drafter(seq, limit)``
    guesses what follows ``seq``; ``processors`` are logits processors called
    as ``generate`` calls them; ``on_token`` sees each token as it is chosen;
    ``should_stop(new_ids)`` ends decoding after a pass (stop strings, a
    consumer gone). ``fast``: a :class:`~augment.llm.fastdecode.FastDecoder` of ``model`` that runs the
    passes after the prompt (``cache`` is then left as the prompt made it). Caller holds the model's lock,
    in inference mode.
    """
    import torch

    from augment.llm.kvcache import extend_cache

    device = next(model.parameters()).device
    seq = list(prompt)
    pending = seq[cached:]
    # the rest of the prompt needs no logits but the last position's: a short rest rides along in the
    # first decoding pass of the fast path (one pass fewer: ~45 ms on the default model), a longer one
    # is prefilled first
    if len(pending) > (MERGED_REST if fast is not None else 1):
        extend_cache(model, pending[:-1], cache)
        pending = pending[-1:]
    session = None if fast is None else fast.start(cache, len(seq) + max_new + max_draft + 1)
    new: list[int] = []
    budget = max_draft
    while len(new) < max_new:
        room = max_new - len(new) - 1
        draft = drafter(seq, min(budget, room))[:room] if drafter is not None and room > 0 else []
        feed = pending + draft
        if session is not None:
            logits = session.run(feed, keep=len(draft) + 1)
        else:
            out = model(input_ids=torch.tensor([feed], device=device), use_cache=True, logits_to_keep=len(draft) + 1,
                        **{cache_kw: cache})
            logits = out.logits[0].float()
        accepted, hit = check_drafts(logits, draft, seq, processors, eos)
        if session is not None:  # drop the positions of rejected drafts
            session.crop(len(seq) + len(accepted) - 1)
        else:
            crop_cache(cache, len(seq) + len(accepted) - 1)
        if draft:
            budget = min(max_draft, budget + 2) if len(accepted) > len(draft) else max(1, budget // 2)
        for token in accepted:  # an end-of-sequence token is streamed too, as generate does
            if on_token is not None:
                on_token(token)
            if token in eos:
                break
            seq.append(token)
            new.append(token)
        pending = [accepted[-1]]
        if hit:
            return new, True
        if should_stop is not None and should_stop(new):
            break
    return new, False
