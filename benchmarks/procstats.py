"""Run a set of processes side by side and measure each one: wall time, CPU time, peak memory.

The benchmark parties (MPyC programs, nodes) are separate processes, so their cost is measured
by the kernel, not from inside: every process is reaped with ``os.wait4``, whose resource usage
covers the process and all of its descendants that it waited for (Linux semantics).  CPU time is
user plus system time; peak RSS is ``ru_maxrss`` (the largest resident set of the process or of
one of those descendants, not their sum).

Also :func:`machine`, a description of the machine the numbers were measured on.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

__all__ = ["BenchTimeout", "ProcStats", "machine", "run_processes"]

_MIB = 1024 * 1024


@dataclass
class ProcStats:
    """What one finished process cost and printed.

    ``wall_s``: seconds from the common start of the batch (just before the first process was
    started) until this process was reaped.  ``cpu_s``: user + system CPU seconds of the process
    and its reaped descendants.  ``peak_rss_mb``: peak resident set size in MiB (2**20 bytes), the
    maximum over the process and its reaped descendants.  ``returncode``: exit status as in
    :mod:`subprocess` (negative: killed by that signal).  ``stdout``/``stderr``: everything the
    process wrote, decoded as UTF-8 (undecodable bytes replaced).
    """

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


class BenchTimeout(TimeoutError):
    """Some processes of a batch were still running when its timeout passed; all were killed.

    ``timeout`` is the limit in seconds, ``unfinished`` the commands that had not exited (as
    lists of strings), ``stats`` the measurements of every process of the batch (``None`` at
    the place of a process that had to be killed; those killed are reaped too, but their numbers
    describe a killed run and are not reported).
    """

    def __init__(self, message: str, timeout: float, unfinished: list[list[str]],
                 stats: list[ProcStats | None]) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.unfinished = unfinished
        self.stats = stats


def _kill_group(pid: int, leader_too: bool = True) -> None:
    """SIGKILL the process group (= session, see ``start_new_session``) led by ``pid``, and, if
    ``leader_too`` (only while the process has not been reaped, so the pid is still ours), pid."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # no process left in the group
    if leader_too:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def run_processes(cmds: list[list[str]], timeout: float, env: dict[str, str] | None = None,
                  cwd: str | None = None) -> list[ProcStats]:
    """Start every command of ``cmds`` at once and wait for all of them; one result per command.

    Contract:

    * The commands start as close together as possible (one ``subprocess.Popen`` after the
      other), each in a new session (``start_new_session=True``) so that it and everything it
      starts form one process group.  stdout and stderr go to anonymous temporary files (no
      pipes, so a chatty process can never block on a full pipe).  ``env`` (the whole
      environment, ``None``: inherit) and ``cwd`` apply to every command.
    * Each process is reaped with ``os.wait4(pid, 0)`` in its own thread, so each gets its own
      wall time (measured from the common start) and its own rusage, whatever order they end in.
      The caller must not install a SIGCHLD handler or child watcher that reaps these processes.
    * Non-zero exit codes are reported in :attr:`ProcStats.returncode`, not raised.
    * When all have exited, whatever they left running in their process groups is killed.
    * If ``timeout`` seconds pass (counted from the common start) before all have exited, every
      process still running and its process group are killed with SIGKILL and reaped, and
      :class:`BenchTimeout` is raised naming the commands that had not finished.
    * If a command cannot be started (``OSError`` from ``Popen``), those already started are
      killed and the error propagates.

    Returns the :class:`ProcStats` list in the order of ``cmds``.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    batch = _Batch(cmds)
    try:
        batch.start(env, cwd)
        unfinished = batch.wait(batch.t0 + timeout)
        batch.kill_leftovers()
        if unfinished:
            raise batch.timeout_error(timeout, unfinished)
        for i in range(len(cmds)):
            err = batch.wait_error[i]
            if err is not None:
                raise RuntimeError(f"could not reap process {batch.procs[i].pid} ({' '.join(cmds[i])[:200]}): {err!r}")
        return [batch.stats(i) for i in range(len(cmds))]
    finally:
        batch.close()


class _Batch:
    """The processes of one :func:`run_processes` call: their output files, one reaper thread
    each, and what each reaper found (when the process ended and its wait status and rusage, or
    the error ``os.wait4`` raised)."""

    def __init__(self, cmds: list[list[str]]) -> None:
        n = len(cmds)
        self.cmds = cmds
        self.procs: list[subprocess.Popen[bytes]] = []
        self.outs: list[IO[bytes]] = []
        self.errs: list[IO[bytes]] = []
        self.threads: list[threading.Thread] = []
        self.done_at: list[float | None] = [None] * n
        self.waited: list[tuple[int, Any] | None] = [None] * n
        self.wait_error: list[BaseException | None] = [None] * n
        self.t0 = 0.0

    def _reap(self, i: int, pid: int) -> None:
        try:
            _, status, rusage = os.wait4(pid, 0)
            self.done_at[i] = time.perf_counter()
            self.waited[i] = (status, rusage)
        except BaseException as exc:  # e.g. ChildProcessError: someone else reaped it
            self.done_at[i] = time.perf_counter()
            self.wait_error[i] = exc

    def start(self, env: dict[str, str] | None, cwd: str | None) -> None:
        """Open the output files, then start the commands one right after the other, each with
        its reaper thread; ``t0``, the common start, is taken just before the first."""
        for _ in self.cmds:
            self.outs.append(tempfile.TemporaryFile())
            self.errs.append(tempfile.TemporaryFile())
        self.t0 = time.perf_counter()
        for i, cmd in enumerate(self.cmds):
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.outs[i], stderr=self.errs[i],
                                 env=env, cwd=cwd, start_new_session=True)
            self.procs.append(p)
            th = threading.Thread(target=self._reap, args=(i, p.pid), name=f"wait4-{p.pid}", daemon=True)
            th.start()
            self.threads.append(th)

    def wait(self, deadline: float) -> list[int]:
        """Wait for the reapers until ``deadline`` (a ``perf_counter`` time); the indices of the
        processes still running then."""
        for th in self.threads:
            th.join(max(0.0, deadline - time.perf_counter()))
        return [i for i, th in enumerate(self.threads) if th.is_alive()]

    def kill_leftovers(self) -> None:
        """Kill the stragglers and whatever those that ended left behind in their groups, let
        the reapers finish, and tell each reaped process's ``Popen`` its exit code."""
        for i, p in enumerate(self.procs):
            _kill_group(p.pid, leader_too=self.done_at[i] is None)
        for th in self.threads:
            th.join(10.0)
        for i, p in enumerate(self.procs):
            w = self.waited[i]
            if w is not None:
                # reaped by us: tell Popen, so it never waits for (a possibly reused) pid itself
                p.returncode = os.waitstatus_to_exitcode(w[0])

    def timeout_error(self, timeout: float, unfinished: list[int]) -> BenchTimeout:
        partial: list[ProcStats | None] = []
        for i in range(len(self.cmds)):
            partial.append(None if i in unfinished else self.stats(i))
        names = "; ".join(" ".join(self.cmds[i])[:200] for i in unfinished)
        return BenchTimeout(f"timeout after {timeout:g} s: {len(unfinished)} of {len(self.cmds)} processes were "
                            f"still running and were killed (with their process groups): {names}",
                            timeout, [list(self.cmds[i]) for i in unfinished], partial)

    def stats(self, i: int) -> ProcStats:
        w, end = self.waited[i], self.done_at[i]
        assert w is not None and end is not None
        status, ru = w
        return ProcStats(wall_s=end - self.t0, cpu_s=float(ru.ru_utime + ru.ru_stime),
                         peak_rss_mb=ru.ru_maxrss * 1024 / _MIB,  # Linux: ru_maxrss in KiB
                         returncode=os.waitstatus_to_exitcode(status), stdout=_read(self.outs[i]),
                         stderr=_read(self.errs[i]))

    def close(self) -> None:
        """Kill what is still running (only after an exception: a failed Popen, an interrupt)
        and close the output files."""
        for th, p in zip(self.threads, self.procs):
            if th.is_alive():
                _kill_group(p.pid)
                th.join(10.0)
        for f in self.outs + self.errs:
            f.close()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware", "cpu model"):
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) * 1024 / 2**30, 2)  # the value is in kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Describe this machine and software stack, for the benchmark report.

    Keys: ``cpu`` (model name from /proc/cpuinfo, else what :mod:`platform` knows), ``cores``
    (``os.cpu_count()``, logical CPUs), ``memory_gib`` (MemTotal from /proc/meminfo, ``None`` if
    unreadable), ``python`` (version), ``platform`` (``platform.platform()``), ``numpy`` and
    ``mpyc`` (installed distribution versions, ``None`` if absent; read from package metadata,
    so MPyC is not imported: importing it parses ``sys.argv`` and configures logging), ``date``
    (now, UTC, ISO 8601 to the second).
    """
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _mem_total_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "mpyc": _version("mpyc"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
