"""``augment sessions``: the conversations kept with ``--session NAME`` (chat, RAG chat, agent).

    $ augment sessions                     # list them
    $ augment sessions show support-42     # print one
    $ augment sessions delete support-42
"""

from __future__ import annotations

import time

import click

__all__ = ["sessions"]


def _store(path: str | None) -> object:
    from augment.errors import AugmentError
    from augment.sessions import SessionStore

    try:
        return SessionStore(path)
    except AugmentError as e:
        raise click.ClickException(str(e)) from None


@click.group("sessions", invoke_without_command=True)
@click.option("--store", "path", default=None, type=click.Path(dir_okay=False),
              help="Sessions file (default: $AUGMENT_SESSIONS or ~/.augment/sessions.db).")
@click.pass_context
def sessions(ctx: click.Context, path: str | None) -> None:
    """List saved conversations (or show / delete one)."""
    ctx.obj = path
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_sessions)


@sessions.command("list")
@click.pass_obj
def list_sessions(path: str | None) -> None:
    """List sessions, most recent first."""
    store = _store(path)
    rows = store.list()  # type: ignore[attr-defined]
    if not rows:
        click.echo(f"no sessions in {store.path}")  # type: ignore[attr-defined]
    for info in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.updated))
        click.echo(f"{info.id}\t{info.kind}\t{info.messages} messages\t{when}")


@sessions.command("show")
@click.argument("name")
@click.pass_obj
def show(path: str | None, name: str) -> None:
    """Print the messages of session NAME."""
    store = _store(path)
    from augment.errors import AugmentError

    try:
        if not store.exists(name):  # type: ignore[attr-defined]
            raise click.ClickException(f"there is no session {name!r}; see: augment sessions list")
        for m in store.load(name):  # type: ignore[attr-defined]
            click.echo(f"{m.role}: {m.content}")
    except AugmentError as e:
        raise click.ClickException(str(e)) from None


@sessions.command("delete")
@click.argument("name")
@click.pass_obj
def delete(path: str | None, name: str) -> None:
    """Delete session NAME."""
    from augment.errors import AugmentError

    try:
        if not _store(path).delete(name):  # type: ignore[attr-defined]
            raise click.ClickException(f"there is no session {name!r}; see: augment sessions list")
    except AugmentError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"deleted {name}")
