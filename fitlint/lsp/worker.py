"""Lints in worker processes, so that a long lint never holds up the server.

libcst's parser and fitlint's analyses hold the GIL (a 1 MB file holds it for seconds), so a
thread would not free the server's event loop: each lint runs in a worker process instead.
A worker is a Python process that runs :func:`main` (with the server's fitlint first on its
path, not the editor's working directory). It reads jobs from its stdin and writes each
result to its stdout, as length-prefixed pickles (both ends are this module). It ends when its
stdin closes, and, busy in a job, within a second of its server's end: a server that dies,
however it dies, takes its workers with it.

:class:`Workers` is the server's side: at most ``size`` workers, each running one job at a
time; a worker that dies (a crash in the native parser) fails its job and is replaced by the
next job's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from fitlint.model import Config, Finding

_HEADER = struct.Struct(">Q")

# Linted once when a worker starts: reaches every rule's lazily imported analyses.
_WARM_UP = """import numpy as np
from tensorflow import keras
x = np.random.rand(64, 4).astype("float32")
y = np.random.rand(64)
model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25)
"""


class WorkerDied(Exception):
    """The worker process ended (or could not start) before it answered."""


class JobFailed(Exception):
    """The job raised in the worker: ``kind`` is the error's class name (``ConfigError``),
    ``detail`` its message."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


# --------------------------------------------------------------------------- jobs


def lint(source: str, path: str, config: Config) -> tuple[list[Finding], str | None]:
    """The findings of a text and the file's one-line error, if any."""
    from fitlint import api

    result = api.lint_source(source, path, config)
    return result.findings, result.error


def lint_cells(
    cells: Sequence[tuple[str, bool]], path: str, config: Config
) -> tuple[list[Finding], str | None]:
    """The findings (by cell) of a notebook given as its ``(text, is_code)`` cells."""
    from fitlint import api

    result = api.lint_cells(cells, path, config)
    return result.findings, result.error


def fix(source: str, path: str, config: Config) -> str:
    """The text with every fix applied, pass after pass (``api.fix_source``)."""
    from fitlint import api

    return api.fix_source(source, path, config).fixed


def fix_cell(source: str, findings: Sequence[Finding]) -> str:
    """A notebook cell with its fixes applied once (a cell is linted as part of its notebook,
    so its fixes cannot be found again alone); unchanged when the result would not parse."""
    import libcst as cst

    from fitlint import engine

    text, _ = engine.apply_fixes(source, findings)
    try:
        cst.parse_module(text)
    except Exception:
        return source
    return text


_JOBS: dict[str, Callable[..., Any]] = {
    "lint": lint,
    "lint_cells": lint_cells,
    "fix": fix,
    "fix_cell": fix_cell,
}


def _read_frame(stream: IO[bytes]) -> Any:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return pickle.loads(body)


def _write_frame(stream: IO[bytes], value: Any) -> None:
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()


def serve(jobs_in: IO[bytes], results_out: IO[bytes]) -> None:
    """Answers jobs until ``jobs_in`` closes: each ``(name, args)`` gets ``(True, value)`` or
    ``(False, (error class name, message))``."""
    from fitlint import api

    api.lint_source(_WARM_UP, "<warm-up>", Config(select=("ALL",)))
    while True:
        try:
            name, args = _read_frame(jobs_in)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, _JOBS[name](*args))
        except Exception as err:  # the worker outlives any bug in a lint
            answer = (False, (type(err).__name__, str(err)))
        _write_frame(results_out, answer)


def _end_with_the_server(parent: int) -> None:
    """Ends this worker when the server that started it is gone, even in the middle of a job
    that never ends (a busy worker notices a closed pipe only when it next reads)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _killed_with_the_server() -> None:
    """On Linux, asks the kernel to kill this worker when its server dies: immediate, even
    while a parse holds the GIL (libcst's parser does, for seconds on a big file, and then the
    watchdog thread cannot run). The server starts its workers from its main thread, which
    lives as long as the server."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # the watchdog thread still ends it
    if os.getppid() != parent:  # the server died before the request took effect
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def main() -> int:
    """The worker process: frames on the real stdout, anything printed goes to stderr."""
    _killed_with_the_server()
    threading.Thread(target=_end_with_the_server, args=(os.getppid(),), daemon=True).start()
    results_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with contextlib.suppress(OSError, KeyboardInterrupt):  # the server went away mid-write
        serve(sys.stdin.buffer, results_out)
    return 0


# The worker imports the fitlint the server runs, never a module of the editor's working
# directory: ``python -m`` would put that directory first on sys.path, where a project's own
# ``types.py`` or ``tokenize.py`` shadows the standard library.
_FITLINT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_START = (
    f"import sys; sys.path[0] = {_FITLINT_ROOT!r}; "
    "from fitlint.lsp.worker import main; raise SystemExit(main())"
)


# --------------------------------------------------------------------------- the server's side


class _Worker:
    def __init__(self) -> None:
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _START],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as err:
            raise WorkerDied(f"cannot start a lint worker: {err}") from err

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        """Runs one job; blocking (the caller runs it in a thread)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _write_frame(self.proc.stdin, (name, args))
            ok, value = _read_frame(self.proc.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as err:
            self.stop()
            code = self.proc.poll()
            raise WorkerDied(f"the lint worker ended (exit code {code})") from err
        if not ok:
            raise JobFailed(*value)
        return value

    def stop(self) -> None:
        """Closes the worker's stdin (it ends) and kills it if it does not."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        if self.proc.poll() is None:
            try:
                self.proc.wait(0.5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """Ends the worker now, whatever it is doing."""
        with contextlib.suppress(OSError):
            self.proc.kill()


class JobTimedOut(WorkerDied):
    """The job ran past its time; its worker was stopped (a rule caught in a loop)."""


#: A job may run this long, plus ``TIMEOUT_PER_MB`` per megabyte of its text, before its
#: worker is stopped: a 5 MB file lints in under a minute on a 2-core machine.
TIMEOUT_S = 120.0
TIMEOUT_PER_MB = 60.0


def _text_megabytes(args: tuple[Any, ...]) -> float:
    text = args[0] if args else ""
    if isinstance(text, str):
        return len(text) / 1e6
    if isinstance(text, (list, tuple)):  # a notebook's cells
        return sum(len(t) for t, *_ in text if isinstance(t, str)) / 1e6
    return 0.0


class Workers:
    """At most ``size`` lint workers, started on demand and kept for the next job.

    Args:
        size: How many workers at most.
        timeout: A job's time limit in seconds, plus ``TIMEOUT_PER_MB`` per megabyte of its
            text; past it the worker is stopped and the job fails (``JobTimedOut``).
    """

    def __init__(self, size: int = 2, timeout: float = TIMEOUT_S) -> None:
        self.size = size
        self.timeout = timeout
        self._idle: list[_Worker] = []
        self._busy = 0
        self._running: set[_Worker] = set()
        # Its own threads, not the loop's default executor: asyncio.run waits for those when
        # the loop ends (stdin closed), which would wait for the running jobs to finish.
        self._threads = ThreadPoolExecutor(size, thread_name_prefix="fitlint-lint")
        self._waiting: list[asyncio.Future[None]] = []

    def prestart(self) -> None:
        """Starts one worker now, so that it warms up while the session begins."""
        if not self._idle and not self._busy:
            self._idle.append(_Worker())

    async def run(self, name: str, *args: Any) -> Any:
        """Runs job ``name`` in a free worker, waiting for one when all are busy.

        A caller cancelled while the job runs leaves the job to finish: the worker is free
        again only once it has answered. A worker that ended gets the job once more, on a
        new worker.

        Raises:
            WorkerDied: When the worker ended before it answered.
            JobTimedOut: When the job ran past its time (its worker is stopped).
            JobFailed: When the job raised in the worker.
        """
        try:
            return await self._run_once(name, args)
        except JobTimedOut:
            raise  # it would run past its time again
        except WorkerDied:  # an idle worker may have been killed: once more on a new one
            return await self._run_once(name, args)

    async def _run_once(self, name: str, args: tuple[Any, ...]) -> Any:
        loop = asyncio.get_running_loop()
        while not self._idle and self._busy >= self.size:
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiting.append(waiter)
            await waiter
        worker = self._idle.pop() if self._idle else None
        self._busy += 1
        try:
            if worker is None:
                worker = _Worker()
        except WorkerDied:
            self._release(None)
            raise
        self._running.add(worker)
        job = loop.run_in_executor(self._threads, worker.call, name, args)
        job.add_done_callback(lambda done: self._release(worker, done))
        limit = self.timeout + TIMEOUT_PER_MB * _text_megabytes(args)
        done, _ = await asyncio.wait({job}, timeout=limit)
        if not done:
            worker.kill()  # its call then fails, and the worker is not used again
            raise JobTimedOut(f"the lint ran for more than {limit:.0f} s and was stopped")
        return job.result()

    def _release(self, worker: _Worker | None, done: asyncio.Future[Any] | None = None) -> None:
        self._busy -= 1
        if worker is not None:
            self._running.discard(worker)
        died = (
            done is not None and not done.cancelled() and isinstance(done.exception(), WorkerDied)
        )
        if worker is not None and not died:
            self._idle.append(worker)
        while self._waiting:
            waiter = self._waiting.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break

    def close(self) -> None:
        """Stops every idle worker and kills the busy ones: nobody waits for their answers,
        and a job that never ends (a rule caught in a loop) would keep its worker forever."""
        for worker in self._idle:
            worker.stop()
        self._idle.clear()
        for worker in self._running:
            worker.kill()
        self._threads.shutdown(wait=False)


if __name__ == "__main__":
    raise SystemExit(main())
