"""Constrained decoding for local models: JSON that matches a schema, tool calls that always validate.

:class:`~augment.llm.transformers.TransformersLLM` sends every request with
``tools=`` or ``response_format=`` here. The output is generated under a grammar
(`xgrammar <https://github.com/mlc-ai/xgrammar>`_) compiled from a JSON schema,
so a token that would break the format is never sampled:

* ``response_format`` (a JSON schema, a pydantic class or ``{"type": "json_object"}``):
  the text is a JSON value matching the schema and ``Completion.parsed`` holds it.
* ``tools``: the text is one object ``{"name": <tool>, "arguments": {...}}`` whose
  name is one of the tools and whose arguments match that tool's schema; with
  ``tool_choice="auto"`` (the default) the model may instead answer
  ``{"name": "final_answer", "arguments": {"answer": "..."}}``, which becomes
  plain ``Completion.text``. Tool calls come back in ``Completion.tool_calls``
  with ``finish_reason="tool_calls"``.

Why xgrammar (measured on SmolLM2-135M, ``tools/bench_constrained.py``): it
compiles a tool-call schema in about 20 ms (outlines-core builds a regex index
in 250-550 ms, per schema), masks a token in well under 1 ms (about 1-2 % of a
forward pass of this small model on CPU), needs nothing from transformers beyond
the tokenizer, and keeps one matcher per row, so a padded batch is constrained
in one ``generate`` call.

If ``max_tokens`` runs out inside the JSON, decoding goes on for up to
:data:`CLOSE_BUDGET` more tokens preferring tokens that close strings,
arrays and objects, so the result still parses.

>>> from augment.llm.loader import load_llm                                  # doctest: +SKIP
>>> llm = load_llm()                                                          # doctest: +SKIP
>>> llm.complete("Name a colour.", response_format={"type": "object",        # doctest: +SKIP
...     "properties": {"colour": {"enum": ["red", "green"]}}, "required": ["colour"]}).parsed
{'colour': 'red'}
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any, Iterator

from augment.errors import ConfigError, MissingDependencyError
from augment.llm.base import GenerateOptions
from augment.types import Completion, Message, ToolCall, Usage

__all__ = [
    "constrained_generate",
    "tool_call_schema",
    "format_instruction",
    "add_instruction",
    "constrained_messages",
    "reply_json",
    "parse_constrained",
    "FINAL_ANSWER",
    "CLOSE_BUDGET",
]

#: the pseudo-tool a model "calls" to give its final answer when ``tool_choice="auto"``
FINAL_ANSWER = "final_answer"
#: extra tokens allowed after ``max_tokens`` to close an unfinished JSON value
CLOSE_BUDGET = 48
#: most tokens of grammar-forced text drafted at once (see :meth:`GrammarLogitsProcessor.draft_with`)
FORCED_DRAFT = 16

TOOLS_INSTRUCTION = (
    'Reply with one JSON object: {{"name": <tool name>, "arguments": {{...}}}} to call one of the tools below.{final}'
)
FINAL_INSTRUCTION = (
    ' To answer (when the task is solved or needs no tool): {"name": "final_answer", "arguments": {"answer": <your answer>}}.'
)
JSON_INSTRUCTION = "Reply with exactly one JSON value that matches this JSON schema:\n{schema}"

_ENGINE_LOCK = threading.Lock()


# ---- schemas ---------------------------------------------------------------
def _hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Move ``$defs`` of a sub-schema to the root under ``prefix`` names and rewrite its ``$ref``s."""
    schema = copy.deepcopy(schema)
    local = schema.pop("$defs", None) or schema.pop("definitions", None) or {}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "$ref" and isinstance(v, str) and v.startswith(("#/$defs/", "#/definitions/")):
                    out[k] = f"#/$defs/{prefix}{v.rsplit('/', 1)[1]}"
                else:
                    out[k] = rewrite(v)
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, sub in local.items():
        defs[prefix + name] = rewrite(sub)
    return rewrite(schema)


def _tool_specs(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t.get("function", t) for t in tools]


def tool_call_schema(tools: list[dict[str, Any]], tool_choice: str | None = "auto",
                     answer_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of "one allowed tool call" (plus the final answer when ``tool_choice`` is auto).

    ``tools`` are OpenAI function specs. ``tool_choice``: ``"auto"``/None (a
    tool call or ``final_answer``), ``"required"`` (a tool call), ``"none"``
    (only ``final_answer``: the model sees its tools but must answer), or a tool name.
    ``answer_schema`` constrains the final answer (default: a string).

    >>> s = tool_call_schema([{"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}])
    >>> [b["properties"]["name"]["const"] for b in s["anyOf"]]
    ['now', 'final_answer']
    """
    specs = _tool_specs(tools)
    names = [s.get("name") for s in specs]
    if FINAL_ANSWER in names:
        raise ConfigError(f"a tool is named '{FINAL_ANSWER}', which the constrained format reserves for the answer; rename the tool")
    if tool_choice not in (None, "auto", "required", "none") and tool_choice not in names:
        raise ConfigError(
            f"tool_choice={tool_choice!r} is not one of the tools ({', '.join(map(str, names))}); "
            "use 'auto', 'required', 'none' or a tool name"
        )
    defs: dict[str, Any] = {}
    branches = []
    for i, spec in enumerate(specs):
        if tool_choice not in (None, "auto", "required") and spec["name"] != tool_choice:
            continue  # (tool_choice "none" keeps no tool: only the final answer is allowed)
        params = spec.get("parameters") or {"type": "object", "properties": {}}
        params = _hoist_defs(params, f"t{i}_", defs)
        params.setdefault("type", "object")
        params.setdefault("properties", {})
        branches.append(_call_branch(spec["name"], params))
    if tool_choice in (None, "auto", "none"):
        answer = copy.deepcopy(answer_schema) if answer_schema else {"type": "string"}
        answer = _hoist_defs(answer, "answer_", defs)
        branches.append(_call_branch(FINAL_ANSWER, {
            "type": "object", "properties": {"answer": answer}, "required": ["answer"], "additionalProperties": False,
        }))
    schema: dict[str, Any] = {"anyOf": branches}
    if defs:
        schema["$defs"] = defs
    return schema


def _call_branch(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": name}, "arguments": params},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _response_schema(response_format: dict[str, Any]) -> dict[str, Any] | None:
    """The schema of ``response_format``; None means any JSON object."""
    if response_format.get("type") == "json_object" and "properties" not in response_format:
        return None
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        inner = response_format["json_schema"]
        return inner.get("schema", inner)
    return response_format


def format_instruction(options: GenerateOptions) -> str:
    """The text added to the system prompt so the model knows which JSON it writes."""
    if options.tools:
        final = FINAL_INSTRUCTION if options.tool_choice in (None, "auto", "none") else ""
        text = TOOLS_INSTRUCTION.format(final=final)
        if options.tool_choice == "none":
            text += f' Do not call a tool now: write the "{FINAL_ANSWER}".'
        elif options.tool_choice not in (None, "auto", "required"):
            text += f' Call the tool "{options.tool_choice}".'
        return text
    schema = _response_schema(options.response_format or {})
    if schema is None:
        return "Reply with exactly one JSON object."
    return JSON_INSTRUCTION.format(schema=json.dumps(schema, ensure_ascii=False))


def add_instruction(messages: list[Message], instruction: str) -> list[Message]:
    msgs = list(messages)
    if msgs and msgs[0].role == "system":
        msgs[0] = Message.system(msgs[0].content.rstrip() + "\n\n" + instruction)
    else:
        msgs.insert(0, Message.system(instruction))
    return msgs


def constrained_messages(messages: list[Message], options: GenerateOptions) -> list[Message]:
    """The conversation as the model sees it under constraint: the format instruction added to the system turn."""
    return add_instruction(messages, format_instruction(options))


def reply_json(message: Message) -> str:
    """The exact text constrained decoding produces for an assistant ``message`` when tools are on:
    ``{"name": ..., "arguments": {...}}`` for its (first) tool call, else the ``final_answer`` object.
    Fine-tuning uses it as the target, so training and decoding agree to the byte (argument keys
    must be in the tool schema's property order, as the grammar emits them)."""
    if message.tool_calls:
        call = message.tool_calls[0]
        return json.dumps({"name": call.name, "arguments": call.arguments or {}}, ensure_ascii=False)
    return json.dumps({"name": FINAL_ANSWER, "arguments": {"answer": message.content}}, ensure_ascii=False)


# ---- parsing ---------------------------------------------------------------
def parse_constrained(text: str, options: GenerateOptions) -> tuple[str, list[ToolCall], Any]:
    """Turn constrained output into ``(text, tool_calls, parsed)``; raises ``ValueError`` if it does not parse."""
    value = json.loads(text)
    if not options.tools:
        return text, [], value
    name, arguments = value["name"], value.get("arguments") or {}
    if name == FINAL_ANSWER:
        answer = arguments.get("answer", "")
        if isinstance(answer, str):
            return answer, [], None
        return json.dumps(answer, ensure_ascii=False), [], answer
    return "", [ToolCall(name, arguments)], None


# ---- engine ----------------------------------------------------------------
class _Engine:
    """xgrammar tokenizer info and grammar compiler for one tokenizer (built once, cached on the LLM).

    ``tokenizer``: a Hugging Face tokenizer, or ``pieces``: the bytes of every token id
    (empty for control tokens), as llama.cpp gives them (:class:`~augment.llm.llamacpp.LlamaCppLLM`).
    """

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: list[int], pieces: list[bytes] | None = None):
        try:
            import xgrammar as xgr
        except ImportError as e:  # pragma: no cover - xgrammar is a dependency
            raise MissingDependencyError("xgrammar", purpose="constrained decoding (tools=, response_format=)") from e
        self.xgr = xgr
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size
        self.pieces = pieces
        if pieces is None:
            info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size, stop_token_ids=stop_ids)
        else:
            info = xgr.TokenizerInfo(pieces, xgr.VocabType.RAW, vocab_size=vocab_size, stop_token_ids=stop_ids)
        self.compiler = xgr.GrammarCompiler(info, max_threads=1)
        self._closers: Any = None

    def _texts(self) -> Iterator[tuple[int, str]]:
        if self.pieces is not None:
            yield from ((i, p.decode("utf-8", "replace")) for i, p in enumerate(self.pieces[: self.vocab_size]))
        else:
            yield from ((i, self.tokenizer.decode([i])) for i in range(min(self.vocab_size, len(self.tokenizer))))

    def compile(self, schema: dict[str, Any] | None) -> Any:
        try:
            if schema is None:
                return self.compiler.compile_builtin_json_grammar()
            return self.compiler.compile_json_schema(
                json.dumps(schema), any_whitespace=False, separators=(", ", ": "), strict_mode=True
            )
        except (RuntimeError, ValueError, TypeError) as e:
            raise ConfigError(
                f"the JSON schema cannot be turned into a grammar: {str(e).splitlines()[0][:300]}. "
                "Use plain JSON-schema types (object, array, string, number, integer, boolean, enum, anyOf, $ref)"
            ) from e

    def closers(self) -> Any:
        """A bias per token that favours finishing the JSON: closing quotes/brackets most, then separators.

        Tokens made only of ``"``, ``}`` and ``]`` get 2 (3 when they start with the
        quote that ends a string), those of ``, : " } ]`` with a comma get 1, the rest 0. In closing mode this ends strings, arrays and
        objects first and moves on to the next required key when one is left.
        """
        if self._closers is None:
            import torch

            bias = torch.zeros(self.vocab_size)
            for i, text in self._texts():
                piece = text.strip()
                if not piece:
                    continue
                chars = set(piece)
                if chars <= set('"}]'):
                    bias[i] = 3.0 if piece.startswith('"') else 2.0
                elif chars <= set(',:"}] ') and "," in chars:
                    bias[i] = 1.0
            self._closers = bias
        return self._closers


def _engine(llm: Any) -> _Engine:
    with _ENGINE_LOCK:
        engine = getattr(llm, "_constrained_engine", None)
        if engine is None:
            vocab = int(getattr(llm.model.config, "vocab_size", 0) or len(llm.tokenizer))
            engine = _Engine(llm.tokenizer, max(vocab, len(llm.tokenizer)), list(getattr(llm, "_eos_ids", []) or []))
            llm._constrained_engine = engine
        return engine


class GrammarLogitsProcessor:
    """A transformers logits processor: one xgrammar matcher per batch row.

    After ``max_tokens`` generated tokens it switches to closing mode: among
    the tokens the grammar allows, closing tokens and end-of-sequence win.
    """

    def __init__(self, engine: _Engine, compiled: Any, rows: int, max_tokens: int, eos_ids: list[int]):
        xgr = engine.xgr
        self.engine = engine
        self.matchers = [xgr.GrammarMatcher(compiled) for _ in range(rows)]
        self.bitmask = xgr.allocate_token_bitmask(rows, engine.vocab_size)
        self.max_tokens = max_tokens
        self.eos_ids = eos_ids
        self.steps = 0
        self.broken = [False] * rows

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        xgr = self.engine.xgr
        if self.steps:
            for i, m in enumerate(self.matchers):
                if not m.is_terminated() and not self.broken[i]:
                    if not m.accept_token(int(input_ids[i, -1])):
                        self.broken[i] = True
        self.steps += 1
        done = []
        for i, m in enumerate(self.matchers):
            if m.is_terminated() or self.broken[i]:
                done.append(i)
            else:
                m.fill_next_token_bitmask(self.bitmask, i)
        vocab = scores.shape[-1]
        work = scores.float() if scores.dtype != torch.float32 else scores
        if vocab > self.engine.vocab_size:
            work[:, self.engine.vocab_size:] = float("-inf")
        xgr.apply_token_bitmask_inplace(work, self.bitmask.to(work.device), vocab_size=min(vocab, self.engine.vocab_size))
        for i in done:  # finished rows may only end
            work[i] = float("-inf")
            work[i, self.eos_ids] = 0.0
        if self.steps > self.max_tokens:
            bias = self.engine.closers().to(work.device)[:vocab] * 1e4
            for i in range(work.shape[0]):
                if i not in done:
                    work[i, : bias.shape[0]] += bias
                    work[i, self.eos_ids] += 3e4
        return work.to(scores.dtype) if work is not scores else work

    def draft_with(self, lookup: Any, tokenizer: Any) -> Any:
        """A drafter for :func:`augment.llm.lookahead.greedy_decode` on one row: the text the grammar
        forces next (``", "arguments": {"`` after a tool name), tokenized, then ``lookup``'s guess."""

        def draft(seq: list[int], limit: int) -> list[int]:
            forced: list[int] = []
            m = self.matchers[0]
            if len(self.matchers) == 1 and not self.broken[0] and not m.is_terminated():
                ahead = m.fork()
                if self.steps and not ahead.accept_token(seq[-1]):  # the last token is accepted lazily
                    return []
                text = ahead.find_jump_forward_string()
                if text:  # certain text: not held to the drafting budget, which is for guesses
                    forced = tokenizer(text, add_special_tokens=False)["input_ids"][:FORCED_DRAFT]
            return forced + lookup(seq + forced, limit)

        return draft


# ---- entry point -----------------------------------------------------------
def constrained_generate(llm: Any, conversations: list[list[Message]], options: GenerateOptions) -> list[Completion]:
    """Generate one constrained completion per conversation in one batched ``generate`` call.

    ``llm`` is a :class:`~augment.llm.transformers.TransformersLLM` (it needs
    ``tokenizer``, ``model``, ``render_prompt`` and ``_generate_ids``).
    Completions carry valid ``tool_calls`` (finish_reason ``"tool_calls"``),
    or ``text`` (a final answer), or ``parsed`` JSON for ``response_format``.
    """
    if getattr(llm, "is_seq2seq", False):
        raise ConfigError("constrained decoding (tools=, response_format=) needs a decoder-only model; this one is seq2seq")
    if options.tools:
        answer = _response_schema(options.response_format) if options.response_format else None
        schema: dict[str, Any] | None = tool_call_schema(options.tools, options.tool_choice, answer)
    else:
        schema = _response_schema(options.response_format or {})
    engine = _engine(llm)
    compiled = engine.compile(schema)
    prompts = [llm.render_prompt(constrained_messages(c, options), tools=options.tools) for c in conversations]
    run_options = options.model_copy(update={"max_tokens": options.max_tokens + CLOSE_BUDGET, "stop": []})
    eos = list(getattr(llm, "_eos_ids", None) or [llm.tokenizer.eos_token_id])
    processor = GrammarLogitsProcessor(engine, compiled, len(prompts), options.max_tokens, eos)
    generated = llm._generate_ids(prompts, run_options, logits_processor=[processor])
    out = []
    for i, gen in enumerate(generated):
        raw = llm.tokenizer.decode(gen.ids, skip_special_tokens=True)
        usage = Usage(gen.prompt_tokens, len(gen.ids) + (1 if gen.hit_eos else 0))
        model = getattr(llm, "model_name", "")
        try:
            text, calls, parsed = parse_constrained(raw, options)
        except (ValueError, KeyError, TypeError):  # cut off even after the closing budget
            out.append(Completion(raw, finish_reason="length", usage=usage, model=model))
            continue
        finish = "tool_calls" if calls else ("length" if len(gen.ids) > options.max_tokens else "stop")
        out.append(Completion(text, tool_calls=calls, finish_reason=finish, usage=usage, model=model, parsed=parsed))
    return out
