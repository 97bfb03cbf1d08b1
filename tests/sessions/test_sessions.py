"""Persistent sessions: SQLite under a name, resumed by another process, listed, deleted, bounded."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from augment import Agent, FakeLLM, ToolCall
from augment.errors import ConfigError, StoreError
from augment.rag import RAG
from augment.retrieval.retriever import ListRetriever
from augment.sessions import Chat, SessionStore, open_session
from augment.tools import builtin
from augment.types import Document, Message

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, db: Path) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={"AUGMENT_SESSIONS": str(db), "PATH": "/usr/bin:/bin", "HOME": str(db.parent)})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_chat_written_by_one_process_is_resumed_by_another(tmp_path):
    db = tmp_path / "sessions.db"
    run_python("""
        from augment import FakeLLM
        from augment.sessions import Chat
        print(Chat(FakeLLM(["Nice to meet you, Ada."]), session="ada").send("My name is Ada.").text)
    """, db)
    seen = run_python("""
        from augment import FakeLLM
        from augment.sessions import Chat
        llm = FakeLLM([lambda msgs, opts: "You are Ada." if "Ada" in msgs[0].content else "I don't know."])
        chat = Chat(llm, session="ada")
        print(chat.send("What is my name?").text)
        print([m.content for m in llm.calls[0].messages])
    """, db).splitlines()
    assert seen[0] == "You are Ada."
    assert seen[1] == "['My name is Ada.', 'Nice to meet you, Ada.', 'What is my name?']"
    store = SessionStore(db)
    assert [(i.id, i.kind, i.messages) for i in store.list()] == [("ada", "chat", 4)]


def test_agent_session_resumes_memory(tmp_path):
    store = SessionStore(tmp_path / "s.db")
    Agent(FakeLLM([ToolCall("calculator", {"expression": "17 * 23"}), "391"]), [builtin("calculator")],
          session=store.session("math", "agent")).run("What is 17 * 23?")
    llm = FakeLLM(["You asked about 17 * 23; it is 391."])
    later = Agent(llm, [builtin("calculator")], session=store.session("math", "agent"))
    assert later.memory and [m.content for m in later.history] == ["What is 17 * 23?", "391"]
    later.run("What did I ask before?")
    assert [m.content for m in llm.calls[0].messages[1:]] == ["What is 17 * 23?", "391", "What did I ask before?"]
    assert len(store.load("math")) == 4
    later.reset()
    assert store.load("math") == [] and not store.exists("math")


def test_rag_chat_session(tmp_path):
    db = tmp_path / "s.db"
    docs = [Document("The Eiffel Tower is 330 metres tall.", {"source": "paris.md"})]
    first = Chat(RAG(FakeLLM(["The Eiffel Tower is 330 metres tall [1]."]), ListRetriever(docs)), session="docs", store=db)
    assert first.send("How tall is the Eiffel Tower?").answer == "The Eiffel Tower is 330 metres tall [1]."
    llm = FakeLLM(["How tall is the Eiffel Tower?", "It is 330 metres tall [1]."])  # query rewrite, then the answer
    second = Chat(RAG(llm, ListRetriever(docs)), session="docs", store=db)
    assert second.send("How tall is it?").answer == "It is 330 metres tall [1]."
    assert "How tall is the Eiffel Tower?" in llm.calls[0].messages[0].content  # the rewrite saw the earlier turn
    assert [(i.kind, i.messages) for i in SessionStore(db).list()] == [("rag", 4)]


def test_history_is_bounded_by_whole_turns(tmp_path):
    store = SessionStore(tmp_path / "s.db", max_messages=5)
    session = store.session("long")
    for i in range(6):
        session.add(Message.user(f"q{i}"), Message.assistant(f"a{i}"))
    kept = [m.content for m in session.messages]
    assert kept == ["q4", "a4", "q5", "a5"]  # 5 would cut a turn in half: the oldest whole turns are dropped
    session.add(Message.user("q6"), Message.assistant("", [ToolCall("calculator", {"expression": "1"}, id="c1")]),
                Message.tool("1", tool_call_id="c1", name="calculator"))
    last = session.messages[-2:]
    assert last[0].tool_calls[0].arguments == {"expression": "1"} and last[1].tool_call_id == "c1"


def test_list_delete_and_bad_input(tmp_path):
    db = tmp_path / "s.db"
    store = SessionStore(db)
    store.session("a").add(Message.user("hi"), Message.assistant("hello"))
    store.session("b", "agent").add(Message.user("task"), Message.assistant("done"))
    assert sorted(i.id for i in store.list()) == ["a", "b"]
    with pytest.raises(ConfigError, match="session 'b' is a agent session, not a chat session"):
        Chat(FakeLLM(["x"]), session="b", store=db)
    for bad in ["", " padded", "x" * 200, "a/b", 3]:
        with pytest.raises(ConfigError, match="session name .* is not valid"):
            store.session(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="pass augment Message objects"):
        store.append("a", [{"role": "user", "content": "x"}])  # type: ignore[list-item]
    assert len(store.load("a")) == 2  # nothing lost
    assert store.delete("a") is True and store.delete("a") is False
    with pytest.raises(ConfigError, match="max_messages"):
        SessionStore(db, max_messages=1)
    with pytest.raises(ConfigError, match="is a folder"):
        SessionStore(tmp_path)
    with pytest.raises(ConfigError, match="the message is empty"):
        Chat(FakeLLM(["x"]), session="c", store=db).send("  ")
    assert open_session(None) is None


def test_a_file_that_is_not_a_database_is_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"my precious notes, not sqlite" * 100)
    with pytest.raises(StoreError, match="not an augment sessions database.*left as it is"):
        SessionStore(path)
    assert path.read_bytes() == b"my precious notes, not sqlite" * 100


def test_cli_chat_session_and_sessions_command(tmp_path, monkeypatch):
    from augment.cli import main
    from augment.cli.chat_cmd import run_chat

    db = tmp_path / "s.db"
    monkeypatch.setenv("AUGMENT_SESSIONS", str(db))
    run_chat(FakeLLM(["Hello Bo."]), session="bo", input_stream=io.StringIO("I am Bo.\n/exit\n"))
    llm = FakeLLM(["You are Bo."])
    history = run_chat(llm, session="bo", input_stream=io.StringIO("Who am I?\n"))
    assert [m.content for m in llm.calls[0].messages] == ["I am Bo.", "Hello Bo.", "Who am I?"]
    assert history[-1] == {"role": "assistant", "content": "You are Bo."}
    out = CliRunner().invoke(main, ["sessions"])
    assert out.exit_code == 0 and out.output.startswith("bo\tchat\t4 messages")
    out = CliRunner().invoke(main, ["sessions", "show", "bo"])
    assert out.output.splitlines() == ["user: I am Bo.", "assistant: Hello Bo.", "user: Who am I?", "assistant: You are Bo."]
    assert CliRunner().invoke(main, ["sessions", "delete", "bo"]).exit_code == 0
    missing = CliRunner().invoke(main, ["sessions", "show", "bo"])
    assert missing.exit_code == 1 and "there is no session 'bo'" in missing.output


def test_cli_agent_session(tmp_path, monkeypatch):
    from augment.cli import main

    monkeypatch.setenv("AUGMENT_SESSIONS", str(tmp_path / "s.db"))
    llm = FakeLLM(["Noted: your flight is at 9.", "Your flight is at 9."])
    monkeypatch.setattr("augment.cli.agent_cmd.load_llm", lambda spec=None: llm)
    for task in ["My flight is at 9.", "When is my flight?"]:
        out = CliRunner().invoke(main, ["agent", task, "--tools", "calculator", "--session", "trip"])
        assert out.exit_code == 0, out.output
    assert [m.content for m in llm.calls[1].messages[1:]] == ["My flight is at 9.", "Noted: your flight is at 9.",
                                                              "When is my flight?"]
