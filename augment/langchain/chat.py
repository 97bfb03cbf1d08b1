"""Any augment LLM as a LangChain chat model.

>>> from augment.llm.fake import FakeLLM
>>> from augment.langchain.chat import ChatAugment
>>> ChatAugment(llm=FakeLLM(["Hi!"])).invoke("Hello").content
'Hi!'
"""

from __future__ import annotations

import contextvars
import json
from operator import itemgetter
from typing import Any, AsyncIterator, Callable, Iterator, Literal, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableMap, RunnablePassthrough
from langchain_core.runnables.config import get_config_list
from langchain_core.utils.function_calling import convert_to_json_schema, convert_to_openai_tool
from pydantic import ConfigDict, SecretStr, ValidationError, model_validator

from augment.errors import AugmentError, ConfigError, InvalidMessagesError, ParseError
from augment.llm.base import LLM
from augment.types import Completion, Message, ToolCall

__all__ = ["ChatAugment", "to_augment_messages"]

_ROLES = {"human": "user", "user": "user", "ai": "assistant", "assistant": "assistant", "system": "system",
          "tool": "tool", "function": "tool", "developer": "system"}
_SKIPPED_BLOCKS = {"tool_call", "tool_use", "reasoning", "thinking", "tool_call_chunk", "server_tool_call"}

# completions computed in one real batch by ChatAugment.batch, consumed by _generate/_stream in the same context
_PREFILLED: contextvars.ContextVar[dict[str, list[Completion]] | None] = contextvars.ContextVar(
    "augment_prefilled", default=None)


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for block in content or []:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":
            parts.append(block.get("text", ""))
        elif isinstance(block, dict) and block.get("type") in _SKIPPED_BLOCKS:
            continue  # carried by .tool_calls, or not model input
        else:
            kind = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise InvalidMessagesError(
                f"{where} has a '{kind}' content block; ChatAugment models take text only (images, audio and "
                "files are not supported): pass the text, or describe the file's content in words")
    return "".join(parts)


def to_augment_messages(messages: Sequence[BaseMessage]) -> list[Message]:
    """Convert LangChain messages to augment :class:`~augment.types.Message` objects (text content only)."""
    out = []
    for i, m in enumerate(messages):
        where = f"message {i} ({type(m).__name__})"
        content = _text(m.content, where)
        if isinstance(m, AIMessage):
            calls = [ToolCall(tc["name"], dict(tc.get("args") or {}), **({"id": tc["id"]} if tc.get("id") else {}))
                     for tc in m.tool_calls]
            out.append(Message("assistant", content, tool_calls=calls, name=m.name))
        elif isinstance(m, ToolMessage):
            out.append(Message("tool", content, tool_call_id=m.tool_call_id, name=m.name))
        elif isinstance(m, (HumanMessage, SystemMessage, ChatMessage, FunctionMessage)):
            role = _ROLES.get(m.role if isinstance(m, ChatMessage) else m.type)
            if role is None:
                raise InvalidMessagesError(f"{where} has role {m.role!r}; use user, assistant, system or tool")
            out.append(Message(role, content, name=m.name))  # type: ignore[arg-type]
        else:
            raise InvalidMessagesError(f"{where}: unsupported message type; use Human/AI/System/Tool messages")
    return out


async def _aiter(items: list[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def _key(messages: list[Message]) -> str:
    return json.dumps([m.to_dict() for m in messages], sort_keys=True, default=str)


def _usage(c: Completion) -> dict[str, int]:
    u = c.usage
    return {"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens, "total_tokens": u.total_tokens}


def _tool_choice(choice: Any, names: list[str]) -> str | None:
    if choice is None:
        return None
    if choice is True or choice == "any":
        return "required"
    if choice is False:
        return "none"
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name") or choice.get("name")
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, str) and choice in names:
        return choice
    raise ConfigError(f"tool_choice {choice!r} is not one of auto, any, required, none or a bound tool name {names}")


def _parse_structured(schema: Any) -> Callable[[AIMessage], Any]:
    def parse(message: AIMessage) -> Any:
        value = message.additional_kwargs.get("parsed")
        if value is None:
            text = message.text if isinstance(message.text, str) else message.text()
            try:
                value = json.loads(text.strip().removeprefix("```json").removesuffix("```"))
            except (json.JSONDecodeError, AttributeError) as e:
                raise ParseError(f"the model's reply is not valid JSON ({e}): {str(text)[:120]!r}; raise max_tokens "
                                 "if it was cut off") from None
        if isinstance(schema, type) and hasattr(schema, "model_validate"):
            return schema.model_validate(value)
        if isinstance(schema, type) and hasattr(schema, "parse_obj"):  # pydantic.v1 models
            return schema.parse_obj(value)
        return value

    return parse


class ChatAugment(BaseChatModel):
    """A LangChain ``BaseChatModel`` over any augment LLM (local, remote or fake).

    Tools bound with ``bind_tools`` and schemas given to ``with_structured_output``
    become our ``tools`` / ``response_format`` options: native on OpenAI-compatible
    servers, constrained decoding on local models. ``batch`` runs one real batch.

    Example::

        from augment import load_llm
        from augment.langchain import ChatAugment

        chat = ChatAugment(llm=load_llm(), max_tokens=32)
        print(chat.invoke("Name a colour.").content)
        for chunk in chat.stream("Count to three."):
            print(chunk.content, end="")

    ``ChatAugment(model="openai:gpt-4o-mini", api_key=..., base_url=...)`` builds the
    LLM from a spec instead (``timeout``/``max_retries`` apply to remote models).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    llm: Any = None
    """The augment LLM; when None, built from ``model`` with ``augment.load_llm``."""
    model: str | None = None
    """A load_llm spec used when ``llm`` is None (None: the embedded default model)."""
    model_name: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    seed: int | None = None
    streaming: bool = False
    timeout: float | None = None
    max_retries: int | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None

    def __init__(self, **kwargs: Any):
        try:
            super().__init__(**kwargs)
        except ValidationError as e:  # surface our own error (e.g. a bad llm) instead of pydantic's wrapper
            for err in e.errors():
                cause = (err.get("ctx") or {}).get("error")
                if isinstance(cause, AugmentError):
                    raise cause from None
            raise

    @model_validator(mode="after")
    def _build_llm(self) -> "ChatAugment":
        if self.llm is None or isinstance(self.llm, str):
            spec = self.llm if isinstance(self.llm, str) else self.model
            if spec and spec.startswith("openai:"):
                from augment.llm.openai import OpenAICompatibleLLM

                kw = {k: v for k, v in {"timeout": self.timeout, "max_retries": self.max_retries}.items() if v is not None}
                self.llm = OpenAICompatibleLLM(spec.split(":", 1)[1], base_url=self.base_url,
                                               api_key=self.api_key.get_secret_value() if self.api_key else None, **kw)
            else:
                from augment.llm.loader import load_llm

                self.llm = load_llm(spec)
        if not isinstance(self.llm, LLM):
            raise ConfigError(f"ChatAugment(llm=...) needs an augment LLM, got {type(self.llm).__name__}; "
                              "e.g. ChatAugment(llm=augment.load_llm())")
        if not self.model_name:
            self.model_name = getattr(self.llm, "model_name", "") or "augment"
        return self

    # ---- LangChain plumbing -------------------------------------------------
    @property
    def _llm_type(self) -> str:
        return "augment"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "llm": repr(self.llm), "max_tokens": self.max_tokens,
                "temperature": self.temperature, "top_p": self.top_p, "seed": self.seed}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "augment"
        params["ls_model_name"] = kwargs.get("model") if isinstance(kwargs.get("model"), str) else self.model_name
        if stop or self.stop:
            params["ls_stop"] = stop or self.stop
        return params

    def _options(self, stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Our generation options: the model's defaults, then the call's (``model=`` selects an adapter)."""
        opts = {k: getattr(self, k) for k in ("max_tokens", "temperature", "top_p", "seed") if getattr(self, k) is not None}
        kwargs = dict(kwargs)
        kwargs.pop("ls_structured_output_format", None)
        kwargs.pop("stream", None)
        if kwargs.get("model") is not None:
            kwargs["adapter"] = kwargs.pop("model")
        kwargs.pop("model", None)
        opts.update(kwargs)
        stops = stop if stop is not None else self.stop
        if stops:
            opts["stop"] = list(stops)
        return opts

    def _prefilled(self, msgs: list[Message]) -> Completion | None:
        table = _PREFILLED.get()
        if table and table.get(_key(msgs)):
            return table[_key(msgs)].pop(0)
        return None

    def _result(self, c: Completion) -> ChatResult:
        extra = {"parsed": c.parsed} if c.parsed is not None else {}
        message = AIMessage(
            content=c.text,
            tool_calls=[{"name": t.name, "args": t.arguments, "id": t.id, "type": "tool_call"} for t in c.tool_calls],
            usage_metadata=_usage(c),  # type: ignore[arg-type]
            response_metadata={"finish_reason": c.finish_reason, "model_name": c.model or self.model_name},
            additional_kwargs=extra,
        )
        return ChatResult(generations=[ChatGeneration(message=message, generation_info={"finish_reason": c.finish_reason})],
                          llm_output={"model_name": c.model or self.model_name, "token_usage": _usage(c)})

    def _last_chunk(self, c: Completion) -> ChatGenerationChunk:
        chunks = [tool_call_chunk(name=t.name, args=json.dumps(t.arguments), id=t.id, index=i)
                  for i, t in enumerate(c.tool_calls)]
        message = AIMessageChunk(
            content="", tool_call_chunks=chunks, usage_metadata=_usage(c),  # type: ignore[arg-type]
            response_metadata={"finish_reason": c.finish_reason, "model_name": c.model or self.model_name},
            additional_kwargs={"parsed": c.parsed} if c.parsed is not None else {}, chunk_position="last")
        return ChatGenerationChunk(message=message, generation_info={"finish_reason": c.finish_reason})

    # ---- generation --------------------------------------------------------
    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        msgs = to_augment_messages(messages)
        completion = self._prefilled(msgs) or self.llm.complete(msgs, **self._options(stop, kwargs))
        return self._result(completion)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        msgs = to_augment_messages(messages)
        completion = self._prefilled(msgs) or await self.llm.acomplete(msgs, **self._options(stop, kwargs))
        return self._result(completion)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        msgs = to_augment_messages(messages)
        done = self._prefilled(msgs)
        items = [done.text, done] if done else self.llm.stream(msgs, **self._options(stop, kwargs))
        for item in items:
            if isinstance(item, Completion):
                yield self._last_chunk(item)
            elif item:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager:
                    run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        msgs = to_augment_messages(messages)
        done = self._prefilled(msgs)
        items = _aiter([done.text, done]) if done else self.llm.astream(msgs, **self._options(stop, kwargs))
        async for item in items:
            if isinstance(item, Completion):
                yield self._last_chunk(item)
            elif item:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=item))
                if run_manager:
                    await run_manager.on_llm_new_token(item, chunk=chunk)
                yield chunk

    # ---- batching: one real batch, then each input's own run (callbacks, tracing) ----------
    @staticmethod
    def _prefill_table(convs: list[list[Message]], completions: list[Completion]) -> dict[str, list[Completion]]:
        table: dict[str, list[Completion]] = {}
        for conv, c in zip(convs, completions):
            table.setdefault(_key(conv), []).append(c)
        return table

    def _batch_convs(self, inputs: list[LanguageModelInput]) -> list[list[Message]]:
        return [to_augment_messages(self._convert_input(i).to_messages()) for i in inputs]

    def batch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
              *, return_exceptions: bool = False, **kwargs: Any) -> list[BaseMessage]:
        if len(inputs) < 2 or return_exceptions:
            return super().batch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        convs = self._batch_convs(inputs)
        completions = self.llm.batch(convs, **self._options(kwargs.get("stop"), {k: v for k, v in kwargs.items() if k != "stop"}))
        token = _PREFILLED.set(self._prefill_table(convs, completions))
        try:
            return [self.invoke(i, c, **kwargs) for i, c in zip(inputs, get_config_list(config, len(inputs)))]
        finally:
            _PREFILLED.reset(token)

    async def abatch(self, inputs: list[LanguageModelInput], config: RunnableConfig | list[RunnableConfig] | None = None,
                     *, return_exceptions: bool = False, **kwargs: Any) -> list[BaseMessage]:
        if len(inputs) < 2 or return_exceptions:
            return await super().abatch(inputs, config, return_exceptions=return_exceptions, **kwargs)
        convs = self._batch_convs(inputs)
        completions = await self.llm.abatch(convs, **self._options(kwargs.get("stop"), {k: v for k, v in kwargs.items() if k != "stop"}))
        token = _PREFILLED.set(self._prefill_table(convs, completions))
        try:
            return [await self.ainvoke(i, c, **kwargs) for i, c in zip(inputs, get_config_list(config, len(inputs)))]
        finally:
            _PREFILLED.reset(token)

    # ---- tools and structured output -------------------------------------------
    def bind_tools(self, tools: Sequence[Any], *, tool_choice: str | dict | bool | None = None,
                   **kwargs: Any) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, pydantic models, functions, OpenAI dicts, augment tools).

        ``tool_choice``: ``"auto"``, ``"any"``/``"required"``/``True`` (must call a tool), ``"none"``, or a tool name.
        """
        formatted = [t.spec() if hasattr(t, "spec") and callable(t.spec) else convert_to_openai_tool(t) for t in tools]
        names = [t["function"]["name"] for t in formatted]
        choice = _tool_choice(tool_choice, names)
        if choice is not None:
            kwargs["tool_choice"] = choice
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(self, schema: Any, *, method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
                               include_raw: bool = False, strict: bool | None = None,
                               **kwargs: Any) -> Runnable[LanguageModelInput, Any]:
        """Return a runnable whose output matches ``schema`` (pydantic class, TypedDict or JSON schema dict).

        ``method="json_schema"`` (default) sends the schema as our ``response_format`` option (constrained
        decoding locally); ``"function_calling"`` forces a tool call; ``"json_mode"`` asks for any JSON object.
        Extra keyword arguments (e.g. ``max_tokens=64``) are bound as generation options.
        """
        if method not in ("json_schema", "function_calling", "json_mode"):
            raise ConfigError(f"method {method!r} is not one of json_schema, function_calling, json_mode")
        is_model = isinstance(schema, type) and (hasattr(schema, "model_validate") or hasattr(schema, "parse_obj"))
        trace = {"ls_structured_output_format": {"kwargs": {"method": method, "strict": strict}, "schema": schema}}
        if method == "function_calling":
            from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser

            name = convert_to_openai_tool(schema)["function"]["name"]
            bound = self.bind_tools([schema], tool_choice=name, **trace, **kwargs)
            parser: Runnable = (PydanticToolsParser(tools=[schema], first_tool_only=True) if is_model
                                else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True))
        else:
            fmt = convert_to_json_schema(schema) if method == "json_schema" else {"type": "json_object"}
            bound = self.bind(response_format=fmt, **trace, **kwargs)
            parser = RunnableLambda(_parse_structured(schema))
        if not include_raw:
            return bound | parser
        with_parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
        without = RunnablePassthrough.assign(parsed=lambda _: None)
        return RunnableMap(raw=bound) | with_parsed.with_fallbacks([without], exception_key="parsing_error")
