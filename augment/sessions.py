"""Conversations that outlive the process: chat, RAG chat and agent histories in SQLite.

A :class:`SessionStore` is one SQLite file (default ``~/.augment/sessions.db``,
or ``$AUGMENT_SESSIONS``); a :class:`Session` is one conversation in it, under a
name you choose. Pass ``session="name"`` to :class:`Chat` (a model or a RAG
pipeline) or to :class:`~augment.agent.Agent`, or ``--session NAME`` to
``augment chat`` / ``augment agent``: the conversation is loaded when it
exists and each turn is saved as it completes, so a later process resumes it.
``augment sessions`` lists, shows and deletes them.

History is bounded: a session keeps its last ``max_messages`` messages (older
turns are dropped whole, from the oldest user message on).

>>> import tempfile, os
>>> from augment import FakeLLM
>>> db = os.path.join(tempfile.mkdtemp(), "s.db")
>>> chat = Chat(FakeLLM(["Hello Ada!"]), session="demo", store=db)
>>> chat.send("Hi, I am Ada.").text
'Hello Ada!'
>>> [m.content for m in SessionStore(db).session("demo").messages]   # a new process sees the same
['Hi, I am Ada.', 'Hello Ada!']
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Union

from augment.errors import ConfigError, StoreError
from augment.types import Message, ToolCall

__all__ = ["SessionStore", "Session", "SessionInfo", "Chat", "open_session", "default_sessions_path",
           "DEFAULT_MAX_MESSAGES", "SESSIONS_ENV"]

SESSIONS_ENV = "AUGMENT_SESSIONS"
#: messages a session keeps by default (older turns are dropped)
DEFAULT_MAX_MESSAGES = 200
_ID = re.compile(r"^[\w.@:+-][\w .@:+-]{0,127}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, kind TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL, extra TEXT,
    PRIMARY KEY (session_id, seq));
"""


def default_sessions_path() -> Path:
    """``$AUGMENT_SESSIONS`` or ``~/.augment/sessions.db``."""
    return Path(os.environ.get(SESSIONS_ENV) or Path.home() / ".augment" / "sessions.db").expanduser()


@dataclass
class SessionInfo:
    """One line of :meth:`SessionStore.list`."""

    id: str
    kind: str
    messages: int
    created: float
    updated: float


def _check_id(session_id: Any) -> str:
    if not isinstance(session_id, str) or not _ID.match(session_id) or session_id != session_id.strip():
        raise ConfigError(f"session name {session_id!r} is not valid; use 1-128 letters, digits, spaces or . _ - @ : + "
                          "(not starting or ending with a space)")
    return session_id


class SessionStore:
    """Sessions in one SQLite file; safe to share between threads and processes.

    >>> import tempfile, os
    >>> store = SessionStore(os.path.join(tempfile.mkdtemp(), "s.db"), max_messages=4)
    >>> s = store.session("trip")
    >>> s.add(Message.user("Book Oslo"), Message.assistant("Done."))
    >>> [(i.id, i.kind, i.messages) for i in store.list()]
    [('trip', 'chat', 2)]
    >>> store.delete("trip"), store.list()
    (True, [])
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, max_messages: int = DEFAULT_MAX_MESSAGES):
        if not isinstance(max_messages, int) or max_messages < 2:
            raise ConfigError(f"max_messages must be an int >= 2 (one question and its answer), got {max_messages!r}")
        self.path = Path(path).expanduser() if path is not None else default_sessions_path()
        self.max_messages = max_messages
        if self.path.is_dir():
            raise ConfigError(f"the sessions file {self.path} is a folder; pass a file path such as {self.path / 'sessions.db'}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(_SCHEMA)

    def _db(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as e:
            raise StoreError(f"the sessions file {self.path} cannot be opened ({e}); it is not an augment sessions "
                             f"database: pass another path (it was left as it is)") from e
        return _Closing(db)  # type: ignore[return-value]

    # ---- sessions -----------------------------------------------------
    def session(self, session_id: str, kind: str = "chat") -> "Session":
        """The session ``session_id`` (created on the first message); a session of another kind is an error."""
        _check_id(session_id)
        with self._db() as db:
            row = db.execute("SELECT kind FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is not None and row[0] != kind:
            raise ConfigError(f"session {session_id!r} is a {row[0]} session, not a {kind} session; "
                              f"pick another name, or delete it with: augment sessions delete {session_id!r}")
        return Session(self, session_id, kind)

    def exists(self, session_id: str) -> bool:
        with self._db() as db:
            return db.execute("SELECT 1 FROM sessions WHERE id = ?", (_check_id(session_id),)).fetchone() is not None

    def list(self) -> list[SessionInfo]:
        """Every session, most recently updated first."""
        with self._db() as db:
            rows = db.execute("SELECT s.id, s.kind, COUNT(m.seq), s.created, s.updated FROM sessions s "
                              "LEFT JOIN messages m ON m.session_id = s.id GROUP BY s.id ORDER BY s.updated DESC").fetchall()
        return [SessionInfo(*row) for row in rows]

    def delete(self, session_id: str) -> bool:
        """Delete a session and its messages; False when there was none of that name."""
        with self._db() as db:
            cur = db.execute("DELETE FROM sessions WHERE id = ?", (_check_id(session_id),))
            return cur.rowcount > 0

    # ---- messages -----------------------------------------------------
    def load(self, session_id: str) -> list[Message]:
        """The stored messages of a session, oldest first ([] when it does not exist)."""
        with self._db() as db:
            rows = db.execute("SELECT role, content, extra FROM messages WHERE session_id = ? ORDER BY seq",
                              (_check_id(session_id),)).fetchall()
        return [_message(role, content, extra) for role, content, extra in rows]

    def append(self, session_id: str, messages: list[Message], kind: str = "chat") -> None:
        """Add messages to a session (creating it), then drop the oldest turns beyond ``max_messages``."""
        _check_id(session_id)
        for i, m in enumerate(messages):
            if not isinstance(m, Message) or not isinstance(m.content, str):
                raise ConfigError(f"message {i} for session {session_id!r} is {m!r}; pass augment Message objects")
        now = time.time()
        with self._db() as db:
            db.execute("INSERT INTO sessions (id, kind, created, updated) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated", (session_id, kind, now, now))
            top = db.execute("SELECT COALESCE(MAX(seq), 0) FROM messages WHERE session_id = ?", (session_id,)).fetchone()[0]
            db.executemany("INSERT INTO messages (session_id, seq, role, content, extra) VALUES (?, ?, ?, ?, ?)",
                           [(session_id, top + i + 1, m.role, m.content, _extra(m)) for i, m in enumerate(messages)])
            self._trim(db, session_id)

    def _trim(self, db: sqlite3.Connection, session_id: str) -> None:
        seqs = [r[0] for r in db.execute("SELECT seq, role FROM messages WHERE session_id = ? ORDER BY seq DESC "
                                         "LIMIT -1 OFFSET ?", (session_id, self.max_messages - 1)).fetchall()]
        if len(seqs) <= 1:
            return
        # keep at most max_messages, starting at a user message so no turn is cut in half
        cutoff = seqs[0]  # the oldest message that fits
        first_user = db.execute("SELECT MIN(seq) FROM messages WHERE session_id = ? AND seq >= ? AND role = 'user'",
                                (session_id, cutoff)).fetchone()[0]
        keep_from = first_user if first_user is not None else cutoff
        db.execute("DELETE FROM messages WHERE session_id = ? AND seq < ?", (session_id, keep_from))

    def __repr__(self) -> str:
        return f"SessionStore({str(self.path)!r}, max_messages={self.max_messages})"


class _Closing:
    """A sqlite3 connection used as ``with``: commit (or roll back), then close."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        try:
            if exc_type is None:
                self.db.commit()
            else:
                self.db.rollback()
        finally:
            self.db.close()
        if isinstance(rest[0], sqlite3.DatabaseError) and not isinstance(rest[0], sqlite3.IntegrityError):
            raise StoreError(f"the sessions database refused the change ({rest[0]}); nothing was written") from rest[0]


def _extra(m: Message) -> str | None:
    extra: dict[str, Any] = {}
    if m.tool_calls:
        extra["tool_calls"] = [tc.to_dict() for tc in m.tool_calls]
    if m.tool_call_id is not None:
        extra["tool_call_id"] = m.tool_call_id
    if m.name is not None:
        extra["name"] = m.name
    return json.dumps(extra) if extra else None


def _message(role: str, content: str, extra: str | None) -> Message:
    data = json.loads(extra) if extra else {}
    calls = [ToolCall.from_dict(c) for c in data.get("tool_calls", [])]
    return Message(role, content, tool_calls=calls, tool_call_id=data.get("tool_call_id"), name=data.get("name"))  # type: ignore[arg-type]


class Session:
    """One named conversation in a :class:`SessionStore` (``messages`` reads it, ``add`` appends)."""

    def __init__(self, store: SessionStore, session_id: str, kind: str = "chat"):
        self.store, self.id, self.kind = store, session_id, kind

    @property
    def messages(self) -> list[Message]:
        return self.store.load(self.id)

    def add(self, *messages: Message) -> None:
        self.store.append(self.id, list(messages), self.kind)

    def clear(self) -> None:
        """Forget the conversation (the session is deleted; the next message starts it again)."""
        self.store.delete(self.id)

    def __len__(self) -> int:
        return len(self.messages)

    def __repr__(self) -> str:
        return f"Session({self.id!r}, kind={self.kind!r}, store={str(self.store.path)!r})"


SessionLike = Union[str, Session, None]


def open_session(session: SessionLike, kind: str = "chat", store: SessionStore | str | os.PathLike[str] | None = None,
                 ) -> Session | None:
    """``None`` stays None, a name opens it in ``store`` (default file), a :class:`Session` is used as is."""
    if session is None or isinstance(session, Session):
        return session
    if not isinstance(store, SessionStore):
        store = SessionStore(store)
    return store.session(session, kind)


class Chat:
    """A conversation with a model, or with a RAG pipeline, that can be kept in a session.

    ``target`` is an augment LLM (``send`` returns a :class:`~augment.types.Completion`)
    or a :class:`~augment.rag.RAG` (``send`` returns a ``RAGAnswer``). ``system``
    is prepended to every model call (not stored). ``options`` are generation options.

    Example::

        chat = Chat(load_llm(), session="support-42")      # resumes it if it exists
        print(chat.send("My printer is offline.").text)
        rag_chat = Chat(rag, session="docs")                # follow-ups see the earlier turns
        print(rag_chat.send("How tall is it?").answer)
    """

    def __init__(self, target: Any, session: SessionLike = None, *, system: str | None = None,
                 store: SessionStore | str | os.PathLike[str] | None = None, **options: Any):
        self.target = target
        self.is_rag = callable(getattr(target, "chat", None)) and hasattr(target, "retriever")
        if not self.is_rag and not callable(getattr(target, "complete", None)):
            raise ConfigError(f"Chat needs an augment LLM or a RAG pipeline, got {type(target).__name__}")
        self.session = open_session(session, "rag" if self.is_rag else "chat", store)
        self.system, self.options = system, options
        self.history: list[Message] = self.session.messages if self.session else []

    def _turn(self, text: str) -> list[Message]:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError("the message is empty; pass a non-empty string")
        system = [Message.system(self.system)] if self.system and not self.is_rag else []
        return system + self.history + [Message.user(text)]

    def _record(self, text: str, answer: str) -> None:
        turn = [Message.user(text), Message.assistant(answer)]
        self.history += turn
        if self.session is not None:
            self.session.add(*turn)

    def send(self, text: str) -> Any:
        """One turn: the reply (a Completion, or a RAGAnswer for RAG), saved to the session."""
        conversation = self._turn(text)
        if self.is_rag:
            reply = self.target.chat(conversation)
            self._record(text, reply.answer)
        else:
            reply = self.target.complete(conversation, **self.options)
            self._record(text, reply.text)
        return reply

    __call__ = send

    def stream(self, text: str) -> Iterator[Any]:
        """Yield text deltas, then the final Completion (or RAGAnswer); the turn is saved at the end."""
        conversation = self._turn(text)
        final = None
        source = self.target.stream(conversation) if self.is_rag else self.target.stream(conversation, **self.options)
        for item in source:
            if isinstance(item, str):
                yield item
            else:
                final = item
                yield item
        if final is not None:
            self._record(text, final.answer if self.is_rag else final.text)

    def reset(self) -> None:
        """Forget the conversation, in memory and in the session."""
        self.history = []
        if self.session is not None:
            self.session.clear()

    @property
    def messages(self) -> list[Message]:
        return list(self.history)

    def __repr__(self) -> str:
        return f"Chat({self.target!r}, session={self.session.id if self.session else None!r})"

