"""Errors raised by augment: one class per kind of fix.

Every message says what went wrong *and* what to do about it. All classes
derive from :class:`AugmentError`, so ``except AugmentError`` catches them all.
"""

from __future__ import annotations

__all__ = [
    "AugmentError",
    "ConfigError",
    "InvalidMessagesError",
    "MissingDependencyError",
    "ModelNotFoundError",
    "ModelLoadError",
    "ContextLengthError",
    "ServerUnreachableError",
    "APIError",
    "RateLimitError",
    "APITimeoutError",
    "MalformedResponseError",
    "ToolError",
    "ToolValidationError",
    "ToolTimeoutError",
    "ToolPermissionError",
    "ApprovalRequired",
    "DocumentLoadError",
    "StoreError",
    "EmbeddingMismatchError",
    "TemplateError",
    "ParseError",
    "DataError",
    "AdapterError",
    "ScriptExhaustedError",
    "ScoringUnavailableError",
]


class AugmentError(Exception):
    """Base class of every error raised by augment."""


class ConfigError(AugmentError, ValueError):
    """An option or argument has a bad value or an unknown name: fix the call."""


class InvalidMessagesError(AugmentError, ValueError):
    """The conversation is malformed (empty, wrong role, non-string content)."""


class MissingDependencyError(AugmentError, ImportError):
    """An optional package is not installed; the message names the pip command."""

    def __init__(self, package: str, pip: str | None = None, purpose: str = ""):
        self.package = package
        self.pip = pip or f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"The package '{package}' is not installed{what}. Install it with: {self.pip}")


class ModelNotFoundError(AugmentError, FileNotFoundError):
    """The model path, hub id or file does not exist locally."""


class ModelLoadError(AugmentError, RuntimeError):
    """The model exists but could not be loaded (wrong format, corrupt files)."""


class ContextLengthError(AugmentError, ValueError):
    """The prompt does not fit in the model's context window."""


class ServerUnreachableError(AugmentError, ConnectionError):
    """A server (LLM endpoint, Chroma) could not be reached: check the URL and that it runs."""


class APIError(AugmentError, RuntimeError):
    """A remote API answered with an error status."""

    def __init__(self, message: str, status_code: int | None = None, body: str | None = None):
        self.status_code = status_code
        self.body = body
        super().__init__(message)


class RateLimitError(APIError):
    """The server kept answering 429 after all retries."""


class APITimeoutError(APIError, TimeoutError):
    """The server did not answer in time (after all retries)."""


class MalformedResponseError(APIError):
    """The server answered with a body that is not what the protocol says."""


class ToolError(AugmentError, RuntimeError):
    """A tool is misdefined or failed."""


class ToolValidationError(ToolError, ValueError):
    """Arguments given to a tool do not match its schema."""


class ToolTimeoutError(ToolError, TimeoutError):
    """A tool ran past its time limit."""


class ToolPermissionError(ToolError, PermissionError):
    """A tool refused an action its policy does not allow (e.g. a private address)."""


class ApprovalRequired(AugmentError):
    """A tool call needs a person's approval: save ``.state`` (a PausedRun), decide, then resume the run."""

    def __init__(self, message: str, state: object = None):
        super().__init__(message)
        self.state = state


class DocumentLoadError(AugmentError, ValueError):
    """A document could not be read (empty, binary, no text layer, too large)."""


class NoTextError(DocumentLoadError):
    """A file holds no text to index (empty, binary, not decodable): remove it or exclude it."""


class StoreError(AugmentError, RuntimeError):
    """The vector store refused an operation."""


class EmbeddingMismatchError(StoreError):
    """A collection was built with another embedding model; mixing would corrupt search."""


class TemplateError(AugmentError, ValueError):
    """A prompt template got a missing or unexpected variable."""


class ParseError(AugmentError, ValueError):
    """Model output could not be parsed into the expected answer."""


class DataError(AugmentError, ValueError):
    """A dataset is empty, lacks columns, or has labels outside the label set."""


class AdapterError(AugmentError, ValueError):
    """An adapter cannot be used with this model (other base model, unknown name)."""


class ScriptExhaustedError(AugmentError, RuntimeError):
    """A FakeLLM was asked for more replies than it was scripted with."""


class ScoringUnavailableError(AugmentError, NotImplementedError):
    """This model cannot score continuations by likelihood (no logprobs): generate the answer instead."""
