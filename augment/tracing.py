"""OpenTelemetry spans for what augment does, named after the GenAI semantic conventions.

augment depends on ``opentelemetry-api`` only: until you configure a tracer
provider, every span below is a no-op that costs a few microseconds. Configure
one the standard way (``opentelemetry-sdk``, an OTLP exporter, ``opentelemetry-instrument``)
and the spans go wherever it sends them; or use :func:`configure_tracing` to write
them as JSON lines to a file (what ``augment ... --trace FILE`` does).

Spans (name, ``gen_ai.operation.name``):

============================  ================  =============================================
``chat {model}``              ``chat``          ``LLM.complete`` / ``batch`` (one per conversation)
``embeddings {model}``        ``embeddings``    embedding texts
``retrieval {retriever}``     ``retrieval``     a retriever's search
``execute_tool {tool}``       ``execute_tool``  ``Tool.call`` (``gen_ai.tool.name``, ``gen_ai.tool.call.id``)
``invoke_agent {agent}``      ``invoke_agent``  ``Agent.run`` / ``stream`` (the parent of the above)
============================  ================  =============================================

Token usage goes in ``gen_ai.usage.input_tokens`` / ``output_tokens``. Message
text, tool arguments and results are recorded only when content capture is on:
``capture_content(True)`` or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.

>>> from augment.tracing import configure_tracing                                   # doctest: +SKIP
>>> configure_tracing("trace.jsonl", capture_content=True)                          # doctest: +SKIP
>>> Agent(load_llm(), [builtin("calculator")]).run("What is 6 * 7?")                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
from typing import Any, Iterator

__all__ = ["configure_tracing", "capture_content", "content_captured", "trace_chat", "trace_embeddings",
           "trace_retrieval", "traced_retrieve", "trace_tool", "trace_agent", "tool_call_id", "SpanHandle", "JsonLinesExporter",
           "span_to_dict", "TRACER_NAME", "CONTENT_ENV"]

TRACER_NAME = "augment"
CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
#: recorded text attributes are cut to this many characters
MAX_CONTENT_CHARS = 4000

_state: dict[str, Any] = {"tracer": None, "capture": None}


def _tracer() -> Any:
    tracer = _state["tracer"]
    if tracer is None:  # imported on first use: `import augment` stays fast
        from opentelemetry import trace

        tracer = _state["tracer"] = trace.get_tracer(TRACER_NAME)
    return tracer


def capture_content(on: bool | None = True) -> None:
    """Record message text, tool arguments and results on spans (None: follow the environment variable)."""
    _state["capture"] = on


def content_captured() -> bool:
    """Whether text content is recorded (``capture_content`` or ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``)."""
    if _state["capture"] is not None:
        return bool(_state["capture"])
    return os.environ.get(CONTENT_ENV, "").strip().lower() in ("1", "true", "yes")


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CONTENT_CHARS else text[:MAX_CONTENT_CHARS] + "..."


class SpanHandle:
    """The span of one operation; ``done(result)`` records what came back and returns it."""

    __slots__ = ("span", "kind")

    def __init__(self, span: Any, kind: str):
        self.span, self.kind = span, kind

    @property
    def recording(self) -> bool:
        return self.span.is_recording()

    def set(self, key: str, value: Any) -> None:
        if value is not None and self.span.is_recording():
            self.span.set_attribute(key, value)

    def done(self, result: Any) -> Any:
        """Record usage (and content, if allowed) of ``result``; return it unchanged."""
        span = self.span
        if not span.is_recording():
            return result
        if self.kind == "chat":
            _record_completion(span, result)
        elif self.kind == "tool" and content_captured():
            span.set_attribute("gen_ai.tool.call.result", _text(result))
        elif self.kind == "retrieval":
            span.set_attribute("augment.retrieval.documents", len(result))
        elif self.kind == "agent":
            span.set_attribute("augment.agent.steps", len(getattr(result, "steps", ())))
            span.set_attribute("augment.agent.complete", bool(getattr(result, "complete", False)))
            if content_captured() and getattr(result, "answer", None) is not None:
                span.set_attribute("gen_ai.output.messages", _text([{"role": "assistant", "content": result.answer}]))
        return result


def _record_completion(span: Any, completion: Any) -> None:
    if isinstance(completion, list):  # a batch: usage summed, finish reasons listed
        span.set_attribute("gen_ai.usage.input_tokens", sum(c.usage.prompt_tokens for c in completion))
        span.set_attribute("gen_ai.usage.output_tokens", sum(c.usage.completion_tokens for c in completion))
        span.set_attribute("gen_ai.response.finish_reasons", [c.finish_reason for c in completion])
        return
    usage = getattr(completion, "usage", None)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    if getattr(completion, "model", ""):
        span.set_attribute("gen_ai.response.model", completion.model)
    span.set_attribute("gen_ai.response.finish_reasons", [completion.finish_reason])
    if content_captured():
        out: dict[str, Any] = {"role": "assistant", "content": completion.text}
        if completion.tool_calls:
            out["tool_calls"] = [tc.to_dict() for tc in completion.tool_calls]
        span.set_attribute("gen_ai.output.messages", _text([out]))


@contextlib.contextmanager
def _span(name: str, kind: str, attributes: dict[str, Any], span_kind: str = "INTERNAL") -> Iterator[SpanHandle]:
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with _tracer().start_as_current_span(name, kind=getattr(SpanKind, span_kind), attributes=attributes,
                                         record_exception=True, set_status_on_exception=False) as span:
        try:
            yield SpanHandle(span, kind)
        except BaseException as e:
            if span.is_recording():
                span.set_attribute("error.type", type(e).__qualname__)
                span.set_status(Status(StatusCode.ERROR, str(e)[:500]))
            raise


def trace_chat(llm: Any, messages: list[Any], options: Any = None) -> contextlib.AbstractContextManager[SpanHandle]:
    """Span of one model call: ``with trace_chat(llm, msgs, opts) as span: return span.done(completion)``."""
    model = getattr(llm, "model_name", "") or type(llm).__name__
    attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model,
                             "gen_ai.provider.name": getattr(llm, "provider_name", None) or "augment"}
    if options is not None:
        attrs["gen_ai.request.max_tokens"] = options.max_tokens
        attrs["gen_ai.request.temperature"] = options.temperature
        if options.tools:
            attrs["augment.request.tools"] = [t["function"]["name"] for t in options.tools]
    if content_captured():
        attrs["gen_ai.input.messages"] = _text([m.to_dict() for m in messages])
    return _span(f"chat {model}", "chat", attrs, "CLIENT")


def trace_embeddings(model: str, count: int) -> contextlib.AbstractContextManager[SpanHandle]:
    """Span of embedding ``count`` texts with ``model``."""
    return _span(f"embeddings {model}", "embeddings", {"gen_ai.operation.name": "embeddings",
                                                       "gen_ai.request.model": model, "augment.embeddings.count": count})


def trace_retrieval(retriever: Any, query: str, k: int) -> contextlib.AbstractContextManager[SpanHandle]:
    """Span of one search: ``with trace_retrieval(self, query, k) as span: return span.done(hits)``."""
    name = getattr(retriever, "name", None) or type(retriever).__name__
    attrs: dict[str, Any] = {"gen_ai.operation.name": "retrieval", "gen_ai.data_source.id": name,
                             }
    if isinstance(k, int):
        attrs["gen_ai.request.top_k"] = k
    if content_captured():
        attrs["gen_ai.retrieval.query.text"] = _text(query)
    return _span(f"retrieval {name}", "retrieval", attrs)


def traced_retrieve(fn: Any) -> Any:
    """Wrap a retriever's ``retrieve(query, k)`` in a retrieval span (``Retriever`` subclasses get it automatically)."""
    import functools

    @functools.wraps(fn)
    def retrieve(self: Any, query: str, k: Any = None, *args: Any, **kwargs: Any) -> Any:
        with trace_retrieval(self, query, k) as span:
            return span.done(fn(self, query, k, *args, **kwargs) if k is not None else fn(self, query, *args, **kwargs))

    retrieve.__augment_traced__ = True  # type: ignore[attr-defined]
    return retrieve


def trace_tool(tool: Any, arguments: Any = None, call_id: str | None = None) -> contextlib.AbstractContextManager[SpanHandle]:
    """Span of one tool execution (``gen_ai.tool.call.id`` is set when an agent gives it)."""
    attrs: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool.name,
                             "gen_ai.tool.type": "function"}
    if getattr(tool, "description", None):
        attrs["gen_ai.tool.description"] = tool.description[:500]
    call_id = call_id or _current_call_id()
    if call_id:
        attrs["gen_ai.tool.call.id"] = call_id
    if content_captured() and arguments is not None:
        attrs["gen_ai.tool.call.arguments"] = _text(arguments)
    return _span(f"execute_tool {tool.name}", "tool", attrs)


def trace_agent(agent: Any, task: str) -> contextlib.AbstractContextManager[SpanHandle]:
    """Span of one agent run; the model calls and tool executions of the run are its children."""
    name = getattr(agent, "name", None) or "augment-agent"
    attrs: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
                             "gen_ai.request.model": getattr(agent.llm, "model_name", "") or type(agent.llm).__name__}
    session = getattr(agent, "session", None)
    if session is not None:
        attrs["gen_ai.conversation.id"] = getattr(session, "id", str(session))
    if content_captured():
        attrs["gen_ai.input.messages"] = _text([{"role": "user", "content": task}])
    return _span(f"invoke_agent {name}", "agent", attrs)


# The agent passes the model's call id to the tool span through a context variable,
# so Tool.call keeps its signature.
_CALL_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("augment_tool_call_id", default=None)


def _current_call_id() -> str | None:
    return _CALL_ID.get()


@contextlib.contextmanager
def tool_call_id(call_id: str | None) -> Iterator[None]:
    """Within this block, tool spans carry ``gen_ai.tool.call.id = call_id``."""
    token = _CALL_ID.set(call_id)
    try:
        yield
    finally:
        _CALL_ID.reset(token)


def configure_tracing(file: str | os.PathLike[str] | None = None, *, otlp: bool = False,
                      capture_content: bool | None = None, service_name: str = "augment") -> Any:
    """Set up the OpenTelemetry SDK: spans as JSON lines to ``file`` and/or OTLP (``OTEL_EXPORTER_OTLP_*``).

    Returns the SDK ``TracerProvider`` (call ``.shutdown()`` to flush). Needs
    ``opentelemetry-sdk`` (``pip install 'augment[tracing]'``); OTLP also needs
    ``opentelemetry-exporter-otlp``. Without a file or OTLP, an already configured
    provider is kept and only ``capture_content`` changes.
    """
    from augment.errors import ConfigError, MissingDependencyError

    if capture_content is not None:
        _state["capture"] = capture_content
    if file is None and not otlp:
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError as e:
        raise MissingDependencyError("opentelemetry-sdk", "pip install 'augment[tracing]'", "writing traces") from e
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            raise ConfigError("another OpenTelemetry tracer provider was set first; add augment's exporter to it instead")
    if file is not None:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(file)))
    if otlp:
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        except ImportError as e:
            raise MissingDependencyError("opentelemetry-exporter-otlp", "pip install opentelemetry-exporter-otlp",
                                         "OTLP export") from e
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state["tracer"] = None  # pick the configured provider up on the next span
    return provider


def span_to_dict(span: Any) -> dict[str, Any]:
    """One finished SDK span as a flat JSON-able dict (what the JSON-lines file holds)."""
    ctx = span.get_span_context()
    parent = span.parent
    return {
        "name": span.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_id": f"{parent.span_id:016x}" if parent is not None else None,
        "kind": span.kind.name,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "duration_ms": round((span.end_time - span.start_time) / 1e6, 3) if span.end_time else None,
        "status": span.status.status_code.name,
        "attributes": {k: (list(v) if isinstance(v, tuple) else v) for k, v in (span.attributes or {}).items()},
    }


class JsonLinesExporter:
    """An OpenTelemetry span exporter that appends one JSON object per span to a file.

    >>> from opentelemetry.sdk.trace import TracerProvider                    # doctest: +SKIP
    >>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor        # doctest: +SKIP
    >>> TracerProvider().add_span_processor(SimpleSpanProcessor(JsonLinesExporter("t.jsonl")))  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str]):
        from opentelemetry.sdk.trace.export import SpanExporter  # noqa: F401  (checks the SDK is there)

        from augment.errors import ConfigError

        self.path = os.fspath(path)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"cannot write the trace file {self.path} ({e.strerror}); "
                              "pass a file path in a writable folder") from e

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        for span in spans:
            self._file.write(json.dumps(span_to_dict(span), ensure_ascii=False, default=str) + "\n")
        self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        if not self._file.closed:
            self._file.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if not self._file.closed:
            self._file.flush()
        return True
