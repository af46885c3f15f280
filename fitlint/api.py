"""The in-process API: ``lint_source`` -> ``lint_file`` -> ``lint_paths``.

The CLI, the editor server and the Keras callback call only this module.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fitlint import engine
from fitlint.model import Config, Finding
from fitlint.rules.base import Rule

# Directories never worth descending into.
DEFAULT_EXCLUDES = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        "node_modules",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".tox",
        ".nox",
        "build",
        "dist",
        "site-packages",
    }
)


@dataclass
class FileResult:
    """The outcome of linting one file.

    Attributes:
        path: The path as given (or found under a given directory).
        findings: The findings, sorted by position.
        error: A one-line reason the file could not be linted (unreadable, not UTF-8,
            binary), or an internal error of a rule; None when all went well.
        source: The text that was linted, when it could be read.
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    source: str | None = None


def lint_source(
    source: str,
    path: str = "<stdin>",
    config: Config | None = None,
    *,
    force: bool = False,
) -> FileResult:
    """Lints a source text.

    Args:
        source: The Python source.
        path: The path to show in findings.
        config: Which rules and thresholds; defaults when None.
        force: Skip the cheap relevance check (lint files that never mention Keras).

    Raises:
        engine.ConfigError: When the configuration names unknown rules or options.
    """
    rules = engine.instantiate(config or Config())
    return _lint_with(source, path, rules, force=force)


def _lint_with(source: str, path: str, rules: Sequence[Rule], *, force: bool = False) -> FileResult:
    outcome = engine.lint_text(source, path, rules, force=force)
    error = "; ".join(outcome.internal_errors) or None
    return FileResult(path=path, findings=outcome.findings, error=error, source=source)


class SourceReadError(Exception):
    """A file that cannot be read as Python source; the message is one line."""


def read_source(path: str | os.PathLike[str]) -> str:
    """Reads a Python file, honouring a PEP 263 coding cookie.

    Raises:
        SourceReadError: For a missing, unreadable, binary or undecodable file.
    """
    import io
    import tokenize

    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise SourceReadError(f"{p}: no such file or directory") from None
    except IsADirectoryError:
        raise SourceReadError(f"{p}: is a directory") from None
    except PermissionError:
        raise SourceReadError(f"{p}: permission denied") from None
    except OSError as err:
        raise SourceReadError(f"{p}: cannot read: {err.strerror or err}") from None
    if b"\0" in data:
        raise SourceReadError(f"{p}: binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as err:
        raise SourceReadError(f"{p}: {err.msg}") from None
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise SourceReadError(
            f"{p}: not valid {encoding}: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    except LookupError:
        raise SourceReadError(f"{p}: unknown encoding {encoding!r}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def lint_file(path: str | os.PathLike[str], config: Config | None = None) -> FileResult:
    """Reads and lints one file. Read errors are returned in ``error``, never raised.

    Raises:
        engine.ConfigError: When the configuration names unknown rules or options.
    """
    rules = engine.instantiate(config or Config())
    return _lint_file_with(os.fspath(path), rules)


def _lint_file_with(path: str, rules: Sequence[Rule]) -> FileResult:
    try:
        source = read_source(path)
    except SourceReadError as err:
        return FileResult(path=path, error=str(err))
    try:
        return _lint_with(source, path, rules)
    except Exception as err:  # the last line of defence: one line, never a traceback
        return FileResult(path=path, error=f"{path}: internal error: {type(err).__name__}: {err}")


def expand_paths(paths: Iterable[str]) -> Iterator[str]:
    """Yields the Python files named by ``paths``: files as given, directories walked.

    Hidden directories and :data:`DEFAULT_EXCLUDES` are skipped; a missing path is yielded
    as is so that linting it reports the error.
    """
    seen: set[str] = set()
    for raw in paths:
        if os.path.isdir(raw):
            for root, dirs, files in os.walk(raw):
                dirs[:] = sorted(
                    d for d in dirs if d not in DEFAULT_EXCLUDES and not d.startswith(".")
                )
                for name in sorted(files):
                    if name.endswith((".py", ".pyi")):
                        full = os.path.join(root, name)
                        if full not in seen:
                            seen.add(full)
                            yield full
        elif raw not in seen:
            seen.add(raw)
            yield raw


_WORKER_RULES: list[Rule] = []


def _init_worker(config: Config) -> None:
    _WORKER_RULES[:] = engine.instantiate(config)


def _worker(path: str) -> FileResult:
    result = _lint_file_with(path, _WORKER_RULES)
    result.source = None  # not worth sending back across processes
    return result


def lint_paths(
    paths: Iterable[str], config: Config | None = None, *, jobs: int | None = None
) -> Iterator[FileResult]:
    """Lints files and directories, in a process pool when there is more than one file.

    Results come in the order of the expanded paths.

    Args:
        paths: Files and directories.
        config: Which rules and thresholds.
        jobs: Worker processes; None means the number of cores.

    Raises:
        engine.ConfigError: When the configuration names unknown rules or options.
    """
    config = config or Config()
    rules = engine.instantiate(config)
    files = list(expand_paths(paths))
    workers = min(jobs or os.cpu_count() or 1, len(files))
    if workers <= 1 or len(files) < 4:
        for f in files:
            yield _lint_file_with(f, rules)
        return
    import concurrent.futures
    import multiprocessing

    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(config,)
    ) as pool:
        chunk = max(1, min(16, len(files) // (workers * 4) or 1))
        yield from pool.map(_worker, files, chunksize=chunk)


def relative(path: str | Path) -> str:
    """A path relative to the working directory when it is below it."""
    p = os.fspath(path)
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return p
    return p if rel.startswith("..") else rel
