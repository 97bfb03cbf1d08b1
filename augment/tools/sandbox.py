"""Process isolation for tools that run code (the ``python`` built-in).

Three levels, the best one the platform offers is picked (``level="auto"``):

``bwrap`` (Linux with bubblewrap and user namespaces; ``apt-get install bubblewrap``)
    new user, PID, network, IPC, UTS and mount namespaces: the code sees only its
    own processes in ``/proc`` (never the parent's ``/proc/<pid>/environ``), has no
    network (only its own loopback) unless ``network=True``, sees the filesystem
    read-only with home folders, ``/tmp`` and ``/run`` hidden (the Python
    installation stays visible), can write only in its work folder, and every
    process it starts (``setsid`` and double forks included) dies with it: the
    kernel ends a PID namespace when its first process ends.
``unshare`` (Linux with util-linux ``unshare`` and user namespaces, no bubblewrap)
    the same process, ``/proc`` and network isolation and the same process lifetime;
    the filesystem is *not* made read-only (writes are limited by file permissions only).
``none`` (macOS, Windows, Linux without user namespaces)
    only a scrubbed environment, resource limits and a process-group kill: the code
    can read what the user can read, use the network, and a child that calls
    ``setsid`` can outlive it.

On every level: ``RLIMIT_AS``/``RLIMIT_CPU``/``RLIMIT_FSIZE`` limits, and a process
count limit against fork bombs (a ``pids`` cgroup when running as root, where
``RLIMIT_NPROC`` does not apply, else ``RLIMIT_NPROC``).

>>> from augment.tools.sandbox import Sandbox
>>> Sandbox(level="none").level
'none'
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from augment.errors import ToolError

__all__ = ["Sandbox", "available_level", "LEVELS", "GUARANTEES"]

LEVELS = ("bwrap", "unshare", "none")
GUARANTEES = {
    "bwrap": "no parent environment, no other processes in /proc, no network unless allowed, read-only filesystem "
             "with home folders hidden, writes only in its work folder, every descendant killed with it",
    "unshare": "no parent environment, no other processes in /proc, no network unless allowed, every descendant killed "
               "with it; NOT confined: filesystem writes (file permissions only)",
    "none": "scrubbed environment and resource limits only; NOT confined: reading files, network, /proc, "
            "descendants that call setsid",
}
_CGROUP_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup")


def _probe(argv: list[str]) -> bool:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=None)
def available_level() -> str:
    """The strongest level this machine supports (checked once by running ``true`` in it)."""
    if not sys.platform.startswith("linux"):
        return "none"
    true = shutil.which("true") or "/bin/true"
    bwrap = shutil.which("bwrap")
    if bwrap and _probe([bwrap, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--unshare-all",
                         "--die-with-parent", true]):
        return "bwrap"
    unshare = shutil.which("unshare")
    if unshare and _probe([unshare, "--user", "--map-root-user", "--net", "--pid", "--fork", "--kill-child",
                           "--mount-proc", true]):
        return "unshare"
    return "none"


class _PidsCgroup:
    """A ``pids`` cgroup capping how many processes the sandbox may have (root only; best effort)."""

    def __init__(self, max_processes: int):
        self.path: Path | None = None
        if os.name != "posix" or os.geteuid() != 0:
            return
        for root in _CGROUP_ROOTS:
            base = Path(root)
            if root == "/sys/fs/cgroup" and "pids" not in _read(base / "cgroup.subtree_control"):
                continue
            path = base / f"augment-sandbox-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(max_processes))
            except OSError:
                _rmdir(path)
                continue
            self.path = path
            return

    def enter(self) -> None:  # in the child, between fork and exec
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def close(self) -> None:
        if self.path is None:
            return
        for _ in range(50):
            pids = [int(p) for p in _read(self.path / "cgroup.procs").split()]
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if _rmdir(self.path):
                break
            import time

            time.sleep(0.02)
        self.path = None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _own_processes() -> int:
    uid = os.getuid()
    count = 0
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


class Sandbox:
    """Run a command isolated at the strongest available level (see the module doc).

    ``level``: ``"auto"`` (best available), or one of ``"bwrap"``, ``"unshare"``,
    ``"none"``; asking for a level the machine lacks raises :class:`ToolError`
    with the fix. ``network=True`` keeps the host network.

    >>> box = Sandbox(level="none", memory_mb=256)
    >>> box.guarantees.startswith("scrubbed environment")
    True
    """

    def __init__(self, level: str = "auto", *, network: bool = False, memory_mb: int = 512, cpu_seconds: int = 12,
                 max_file_mb: int = 16, max_processes: int = 64):
        if level not in ("auto", *LEVELS):
            raise ToolError(f"sandbox level {level!r} is not known; use 'auto', {', '.join(map(repr, LEVELS))}")
        best = available_level()
        if level == "auto":
            level = best
        elif LEVELS.index(level) < LEVELS.index(best) and level != best:
            raise ToolError(
                f"sandbox level {level!r} is not available on this machine (best: {best!r}); install bubblewrap "
                f"(apt-get install bubblewrap) and enable unprivileged user namespaces, or use level='auto'"
            )
        self.level = level
        self.network = bool(network)
        self.memory_mb, self.cpu_seconds = int(memory_mb), int(cpu_seconds)
        self.max_file_mb, self.max_processes = int(max_file_mb), int(max_processes)

    @property
    def guarantees(self) -> str:
        """What this level guarantees, in words (and what it does not)."""
        net = " (network allowed by network=True)" if self.network else ""
        return GUARANTEES[self.level] + net

    # -- building the command ------------------------------------------------
    def wrap(self, argv: list[str], root: Path, work: Path) -> list[str]:
        """``argv`` run inside the sandbox; ``root`` is shown read-only, ``work`` writable."""
        if self.level == "bwrap":
            return self._bwrap(argv, root, work)
        if self.level == "unshare":
            net = [] if self.network else ["--net"]
            return [shutil.which("unshare") or "unshare", "--user", "--map-root-user", *net, "--pid", "--fork",
                    "--kill-child", "--mount-proc", "--", *argv]
        return argv

    def _bwrap(self, argv: list[str], root: Path, work: Path) -> list[str]:
        cmd = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev",
               "--unshare-all", "--die-with-parent", "--new-session"]
        if self.network:
            cmd.append("--share-net")
        hidden = ["/tmp", "/var/tmp", "/run", "/dev/shm", "/root", "/home", os.path.expanduser("~")]
        for path in dict.fromkeys(hidden):
            if os.path.isdir(path) and not os.path.islink(path):
                cmd += ["--tmpfs", path]
        for path in _interpreter_paths(argv[0]):  # keep the Python installation visible under a hidden folder
            if any(_under(path, h) for h in hidden):
                cmd += ["--ro-bind", path, path]
        cmd += ["--ro-bind", str(root), str(root), "--bind", str(work), str(work), "--chdir", str(work), "--", *argv]
        return cmd

    # -- running --------------------------------------------------------------
    def popen(self, argv: list[str], root: Path, work: Path, **kwargs: Any) -> "_Running":
        """Start ``argv`` in the sandbox (keyword arguments go to :class:`subprocess.Popen`)."""
        cgroup = _PidsCgroup(self.max_processes + (2 if self.level == "bwrap" else 1))  # + the launcher processes
        nproc = None if cgroup.path is not None or os.name != "posix" or os.geteuid() == 0 else _own_processes() + self.max_processes

        def limits() -> None:  # in the child between fork and exec
            import resource

            cgroup.enter()
            mem = self.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_seconds, self.cpu_seconds + 1))
            size = self.max_file_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc is not None:
                resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))

        try:
            proc = subprocess.Popen(self.wrap(argv, root, work), cwd=work, preexec_fn=limits, start_new_session=True,
                                    close_fds=True, **kwargs)
        except BaseException:
            cgroup.close()
            raise
        return _Running(proc, cgroup)


class _Running:
    """A started sandboxed process; :meth:`kill` ends it and everything it started."""

    def __init__(self, proc: subprocess.Popen, cgroup: _PidsCgroup):
        self.proc, self.cgroup = proc, cgroup

    def wait(self, timeout: float | None = None) -> int:
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the launcher and its process group
        except (ProcessLookupError, PermissionError):
            pass
        code = self.proc.wait()
        self.cgroup.close()  # anything left (a setsid child on level 'none', when root)
        return code


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _interpreter_paths(executable: str) -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(executable)), os.path.dirname(os.path.abspath(executable))}
    return sorted(p for p in paths if p and os.path.isdir(p))
