"""The in-process API: ``lint_source`` -> ``lint_file`` -> ``lint_paths``, and the fix pipeline.

The CLI, the editor server and the Keras callback call only this module.
"""

from __future__ import annotations

import codecs
import contextlib
import difflib
import io
import os
import re
import tempfile
import tokenize
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from fitlint import engine, nesting, selection
from fitlint.discovery import WalkProblem as WalkProblem
from fitlint.discovery import discover, mentions_keras
from fitlint.discovery import expand_paths as expand_paths
from fitlint.discovery import force_excluded as force_excluded
from fitlint.model import Config, Finding, split_lines
from fitlint.model import ConfigError as ConfigError
from fitlint.model import SourceReadError as SourceReadError
from fitlint.rules.base import Rule

if TYPE_CHECKING:
    from multiprocessing.context import BaseContext

    from fitlint import notebook
    from fitlint.config import Resolver

# Directories never worth descending into when no configuration says otherwise (kept for
# callers of the first API; ``fitlint.config.DEFAULT_EXCLUDE`` is the configurable list).
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

MAX_FIX_PASSES = 10


@dataclass
class FileResult:
    """The outcome of linting one file.

    Attributes:
        path: The path as given (or found under a given directory).
        findings: The findings, sorted by position.
        error: A one-line reason the file could not be linted (unreadable, not UTF-8,
            binary, an invalid notebook), or an internal error of a rule; None when all went
            well.
        source: The text that was linted, when it could be read (for a notebook, the virtual
            module of its code cells).
        cells: For a notebook: the original source of each code cell by cell number.
    """

    path: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    source: str | None = None
    cells: dict[int, str] | None = None

    def source_line(self, finding: Finding) -> str | None:
        """The text of the line a finding starts on (within its cell for a notebook)."""
        text = self.source if finding.cell is None else (self.cells or {}).get(finding.cell)
        if text is None:
            return None
        lines = split_lines(text)
        return lines[finding.line - 1] if 1 <= finding.line <= len(lines) else None


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
        ConfigError: When the configuration names unknown rules or options.
    """
    rules = selection.instantiate(config or Config())
    return _lint_with(source, path, rules, force=force)


def _lint_with(source: str, path: str, rules: Sequence[Rule], *, force: bool = False) -> FileResult:
    if not force and not mentions_keras(source):
        return FileResult(path=path, source=source)
    outcome = engine.lint_text(source, path, rules)
    error = "; ".join(outcome.internal_errors) or None
    return FileResult(path=path, findings=outcome.findings, error=error, source=source)


def lint_notebook(
    text: str, path: str, config: Config | None = None, *, force: bool = False
) -> FileResult:
    """Lints a Jupyter notebook given as its JSON text; findings carry their ``cell``.

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    return _lint_notebook_with(text, path, selection.instantiate(config or Config()), force=force)


def lint_cells(
    cells: Sequence[tuple[str, bool]],
    path: str,
    config: Config | None = None,
    *,
    force: bool = False,
) -> FileResult:
    """Lints a notebook given as its ``(text, is_python_code)`` cells, in order, as an editor
    holds it; findings carry their ``cell`` (cell ``i`` of the list is number ``i + 1``).

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    from fitlint import notebook

    rules = selection.instantiate(config or Config())
    return _lint_parsed_notebook(notebook.from_cells(cells, path), path, rules, force=force)


def _lint_notebook_with(
    text: str, path: str, rules: Sequence[Rule], *, force: bool = False
) -> FileResult:
    from fitlint import notebook

    try:
        nb = notebook.parse(text, path)
    except notebook.NotebookError as err:
        return FileResult(path=path, error=str(err))
    return _lint_parsed_notebook(nb, path, rules, force=force)


def _lint_parsed_notebook(
    nb: notebook.Notebook, path: str, rules: Sequence[Rule], *, force: bool
) -> FileResult:
    from fitlint import notebook

    if not any(r.code == "FL000" for r in rules):
        nb.cell_errors.clear()  # the cells that do not parse are still left out, silently
    result = _lint_with(nb.virtual, path, rules, force=force)
    result.findings = notebook.locate(nb, result.findings)
    result.cells = nb.cell_sources()
    return result


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Reads a file's bytes.

    Raises:
        SourceReadError: For a missing or unreadable file, or a directory.
    """
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise SourceReadError(f"{p}: no such file or directory") from None
    except IsADirectoryError:
        raise SourceReadError(f"{p}: is a directory") from None
    except PermissionError:
        raise SourceReadError(f"{p}: permission denied") from None
    except OSError as err:
        raise SourceReadError(f"{p}: cannot read: {err.strerror or err}") from None


def detect_encoding(data: bytes, path: str) -> str:
    """The encoding of Python source bytes (PEP 263 cookie, BOM, else UTF-8).

    Raises:
        SourceReadError: For a binary file or a bad coding cookie.
    """
    if b"\0" in data:
        raise SourceReadError(f"{path}: binary file (contains NUL bytes), not Python source")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as err:
        raise SourceReadError(f"{path}: {err.msg}") from None
    return encoding


def decode_source(data: bytes, path: str) -> str:
    """Decodes Python source bytes without translating line endings.

    Raises:
        SourceReadError: For a binary or undecodable file.
    """
    encoding = detect_encoding(data, path)
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as err:
        raise SourceReadError(
            f"{path}: not valid {encoding}: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    except LookupError:
        raise SourceReadError(f"{path}: unknown encoding {encoding!r}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def _decode_notebook(data: bytes, path: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SourceReadError(
            f"{path}: not valid utf-8: byte 0x{data[err.start]:02x} at offset {err.start}"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def read_source(path: str | os.PathLike[str]) -> str:
    """Reads a Python file, honouring a PEP 263 coding cookie.

    Raises:
        SourceReadError: For a missing, unreadable, binary or undecodable file.
    """
    p = os.fspath(path)
    return decode_source(read_bytes(p), p)


def is_notebook(path: str) -> bool:
    """Whether a path names a Jupyter notebook (by its suffix)."""
    return path.lower().endswith(".ipynb")


def lint_file(path: str | os.PathLike[str], config: Config | None = None) -> FileResult:
    """Reads and lints one file (a notebook by its ``.ipynb`` suffix). Read errors are
    returned in ``error``, never raised.

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    rules = selection.instantiate(config or Config())
    return _lint_file_with(os.fspath(path), rules)


def lint_bytes(
    data: bytes, path: str, config: Config | None = None, *, force: bool = False
) -> FileResult:
    """Lints a file's bytes (standard input, say): a notebook when ``path`` ends in
    ``.ipynb``, Python source otherwise. Errors are returned in ``error``.

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    return _lint_data(data, path, selection.instantiate(config or Config()), force=force)


def _lint_data(data: bytes, path: str, rules: Sequence[Rule], *, force: bool = False) -> FileResult:
    try:
        if is_notebook(path):
            return _lint_notebook_with(_decode_notebook(data, path), path, rules, force=force)
        return _lint_with(decode_source(data, path), path, rules, force=force)
    except SourceReadError as err:
        return FileResult(path=path, error=str(err))
    except Exception as err:  # the last line of defence: one line, never a traceback
        return FileResult(path=path, error=f"{path}: internal error: {type(err).__name__}: {err}")


def _lint_file_with(
    path: str,
    rules: Sequence[Rule],
    cache_dir: str | None = None,
    fingerprint: str = "",
) -> FileResult:
    try:
        data = read_bytes(path)
    except SourceReadError as err:
        return FileResult(path=path, error=str(err))
    key = None
    if cache_dir is not None:
        from fitlint.cache import Cache, entry_key

        cache = Cache(cache_dir)
        key = entry_key(data, path, fingerprint)
        hit = cache.get(key)
        if hit is not None:
            result = FileResult(path=path, findings=hit)
            if hit:
                _attach_source(result, data)
            return result
    result = _lint_data(data, path, rules)
    if key is not None and result.error is None and cache_dir is not None:
        Cache(cache_dir).put(key, result.findings)
    return result


def _attach_source(result: FileResult, data: bytes) -> None:
    try:
        if is_notebook(result.path):
            from fitlint import notebook

            nb = notebook.parse(_decode_notebook(data, result.path), result.path)
            result.source, result.cells = nb.virtual, nb.cell_sources()
        else:
            result.source = decode_source(data, result.path)
    except (SourceReadError, ValueError):
        pass


def attach_source(result: FileResult) -> None:
    """Reads the source of a result that came without it (for formats that show lines)."""
    if result.source is not None:
        return
    with contextlib.suppress(SourceReadError):
        _attach_source(result, read_bytes(result.path))


# -- linting many files ------------------------------------------------------------------


_WORKER_RULESETS: dict[str, list[Rule]] = {}


@dataclass(frozen=True)
class _Task:
    path: str
    config: Config
    fingerprint: str
    cache_dir: str | None
    error: str | None = None
    """A directory that could not be walked: its result is this error."""


def _rules_for(task: _Task) -> list[Rule]:
    rules = _WORKER_RULESETS.get(task.fingerprint)
    if rules is None:
        rules = _WORKER_RULESETS[task.fingerprint] = selection.instantiate(task.config)
    return rules


def _lint_task(task: _Task) -> FileResult:
    if task.error is not None:
        return FileResult(path=task.path, error=task.error)
    return _lint_file_with(task.path, _rules_for(task), task.cache_dir, task.fingerprint)


def _run_task(task: _Task) -> FileResult:
    result = _lint_task(task)
    if not result.findings:
        result.source = result.cells = None  # not worth sending back across processes
    return result


def _one_by_one(tasks: Sequence[_Task], ctx: BaseContext) -> Iterator[FileResult]:
    """Lints tasks one at a time in a worker process, after a worker died (a native crash
    that the checks before parsing did not foresee): the file that kills a worker again gets
    that as its error, and the others are linted."""
    import concurrent.futures
    from concurrent.futures.process import BrokenProcessPool

    pool = None
    try:
        for task in tasks:
            if pool is None:
                pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx)
            try:
                yield pool.submit(_run_task, task).result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
                message = "internal error: the process linting it crashed"
                yield FileResult(path=task.path, error=f"{task.path}: {message}")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def lint_paths(
    paths: Iterable[str],
    config: Config | None = None,
    *,
    jobs: int | None = None,
    resolver: Resolver | None = None,
    use_cache: bool = False,
    warnings: list[str] | None = None,
) -> Iterator[FileResult]:
    """Lints files and directories, in a process pool when there is more than one file.

    Results come in the order of the expanded paths.

    Args:
        paths: Files and directories.
        config: One configuration for every file (the first API); ignored with ``resolver``.
        jobs: Worker processes; None means the number of cores.
        resolver: Finds each file's configuration (``pyproject.toml`` plus command line);
            without it every file gets ``config``.
        use_cache: Read and write the result cache (each file's ``cache-dir``).
        warnings: Receives the one-line warnings of the walk (``.gitignore`` lines skipped).
            A directory that cannot be read comes back as a result with its ``error``.

    Raises:
        ConfigError: When a configuration names unknown rules or options.
    """
    from fitlint import cache as cache_mod
    from fitlint import config as config_mod

    tasks: list[_Task] = []
    fixed = config or Config()
    fixed_fp = config_mod.fingerprint(fixed)
    selection.instantiate(fixed)  # validate before any work
    seen_fps: set[str] = {fixed_fp}
    for item in discover(paths, resolver):
        if isinstance(item, WalkProblem):
            if item.error:
                tasks.append(_Task(item.path, fixed, fixed_fp, None, error=item.message))
            elif warnings is not None:
                warnings.append(item.message)
            continue
        path = item
        if resolver is not None:
            cfg = resolver.config_for(path)
            fp = config_mod.fingerprint(cfg)
            if fp not in seen_fps:
                _WORKER_RULESETS.setdefault(fp, selection.instantiate(cfg))  # validates
                seen_fps.add(fp)
        else:
            cfg, fp = fixed, fixed_fp
        cache_dir = None
        if use_cache:
            settings = (resolver or config_mod.Resolver()).settings_for(path)
            cache_dir = settings.cache_dir or os.path.join(settings.root, cache_mod.CACHE_DIR_NAME)
        tasks.append(_Task(path, cfg, fp, cache_dir))
    workers = min(jobs or os.cpu_count() or 1, len(tasks))
    if workers <= 1 or len(tasks) < 4:
        for t in tasks:
            yield _lint_task(t)
        return
    import concurrent.futures
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    done = 0
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            chunk = max(1, min(16, len(tasks) // (workers * 4) or 1))
            for result in pool.map(_run_task, tasks, chunksize=chunk):
                yield result
                done += 1
    except BrokenProcessPool:
        yield from _one_by_one(tasks[done:], ctx)


# -- fixes -------------------------------------------------------------------------------


@dataclass
class FixResult:
    """The outcome of fixing one file (or text).

    Attributes:
        path: The path.
        original: The text before fixing (a notebook's JSON text for a notebook).
        fixed: The text after fixing; equal to ``original`` when nothing changed or the
            fix was refused.
        applied: How many fixes were applied.
        result: The findings that remain after fixing (positions in the fixed text).
        refused: Why the fixes were not applied (one line), or None.
    """

    path: str
    original: str
    fixed: str
    applied: int
    result: FileResult
    refused: str | None = None

    @property
    def changed(self) -> bool:
        """Whether fixing changed the text."""
        return self.fixed != self.original

    def diff(self) -> str:
        """A unified diff of the change (per changed cell for a notebook)."""
        if not self.changed:
            return ""
        if is_notebook(self.path):
            return _notebook_diff(self.path, self.original, self.fixed)
        return "".join(
            difflib.unified_diff(
                _diff_lines(self.original),
                _diff_lines(self.fixed),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


def _notebook_diff(path: str, before: str, after: str) -> str:
    from fitlint import notebook

    old = notebook.parse(before, path).cell_sources()
    new = notebook.parse(after, path).cell_sources()
    parts: list[str] = []
    for number, source in old.items():
        if new.get(number, source) != source:
            parts.extend(
                difflib.unified_diff(
                    source.splitlines(keepends=True),
                    new[number].splitlines(keepends=True),
                    fromfile=f"a/{path}:cell {number}",
                    tofile=f"b/{path}:cell {number}",
                )
            )
    return "".join(p if p.endswith("\n") else p + "\n" for p in parts)


def _with_newline(findings: list[Finding], newline: str) -> list[Finding]:
    if newline == "\n":
        return findings
    out = []
    for f in findings:
        if f.fix is not None and any("\n" in e.content for e in f.fix.edits):
            edits = tuple(
                replace(e, content=e.content.replace("\r\n", "\n").replace("\n", newline))
                for e in f.fix.edits
            )
            f = replace(f, fix=replace(f.fix, edits=edits))
        out.append(f)
    return out


def _newline_of(text: str) -> str:
    """The line ending of a text's first line: ``\n``, ``\r\n`` or a lone ``\r``."""
    m = re.search(r"\r\n?|\n", text)
    return m.group() if m else "\n"


_SOURCE_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+\Z")


def _diff_lines(text: str) -> list[str]:
    # One diff line per source line (lines end as Python's: "\n", "\r\n" or a lone "\r"),
    # each ending in "\n"; a lone "\r" is kept, as the "\r" of "\r\n" is, so the diff shows
    # the endings that are in the file.
    return [ln if ln.endswith("\n") else ln + "\n" for ln in _SOURCE_LINE.findall(text)]


def _fix_python(
    text: str, path: str, rules: Sequence[Rule], *, force: bool
) -> tuple[str, int, str | None]:
    import libcst as cst

    newline = _newline_of(text)
    current, applied = text, 0
    for _ in range(MAX_FIX_PASSES):
        result = _lint_with(current, path, rules, force=force)
        if result.error:
            return text, 0, f"fix refused: {result.error}"
        findings = [f for f in result.findings if f.fix is not None]
        if not findings:
            break
        new, n = engine.apply_fixes(current, _with_newline(findings, newline))
        if n == 0 or new == current:
            break
        try:
            if nesting.check(new) is not None:  # libcst would crash on it, not raise
                raise ValueError("nested too deeply")
            cst.parse_module(new)
        except Exception:
            codes = ", ".join(sorted({f.code for f in findings}))
            return text, 0, f"fix refused: result does not parse (fixes of {codes})"
        current, applied = new, applied + n
    return current, applied, None


def fix_source(
    source: str,
    path: str = "<stdin>",
    config: Config | None = None,
    *,
    rules: Sequence[Rule] | None = None,
    force: bool = False,
) -> FixResult:
    """Applies every fix the rules offer to a text, pass after pass until none is left
    (at most ``MAX_FIX_PASSES``), and lints the result. A notebook's JSON text is fixed cell
    by cell when ``path`` ends in ``.ipynb``. A fix whose result does not parse is refused
    and the text is left unchanged.

    Args:
        source: The text (Python source, or a notebook's JSON).
        path: The path shown in findings; its suffix selects notebook handling.
        config: Which rules and thresholds; defaults when None.
        rules: Already-instantiated rules (instead of ``config``).
        force: Skip the cheap relevance check.

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    active = list(rules) if rules is not None else selection.instantiate(config or Config())
    if is_notebook(path):
        return _fix_notebook(source, path, active, force=force)
    fixed, applied, refused = _fix_python(source, path, active, force=force)
    result = _lint_with(fixed, path, active, force=force)
    return FixResult(path, source, fixed, applied, result, refused)


def _fix_notebook(text: str, path: str, rules: Sequence[Rule], *, force: bool) -> FixResult:
    from fitlint import notebook

    try:
        nb = notebook.parse(text, path)
    except notebook.NotebookError as err:
        return FixResult(path, text, text, 0, FileResult(path=path, error=str(err)))
    virtual, applied, refused = _fix_python(nb.virtual, path, rules, force=force)
    fixed = text
    if applied and refused is None:
        try:
            fixed = notebook.rebuild(nb, virtual)
        except notebook.NotebookError as err:
            refused, applied = str(err).split(": ", 1)[-1], 0
    result = _lint_notebook_with(fixed, path, rules, force=force)
    return FixResult(path, text, fixed, applied, result, refused)


def fix_file(
    path: str | os.PathLike[str],
    config: Config | None = None,
    *,
    rules: Sequence[Rule] | None = None,
    write: bool = True,
) -> FixResult:
    """Fixes one file in place (or only computes the fix with ``write=False``).

    The file is written atomically (a temporary file in the same directory, then a rename),
    keeps its mode, encoding (a BOM and coding cookie included) and line endings, and is
    written only when the fixes changed it, and only when it still holds what was read: a
    file that another program changed meanwhile is left as it is. Read errors come back in
    ``result.error``; a fix that could not be written (a read-only directory, a file changed
    meanwhile) in ``refused``, with the file unchanged and ``result`` its findings as read
    (none for a file changed meanwhile: what it holds now was not linted).

    Raises:
        ConfigError: When the configuration names unknown rules or options.
    """
    p = os.fspath(path)
    active = list(rules) if rules is not None else selection.instantiate(config or Config())
    try:
        data = read_bytes(p)
        if is_notebook(p):
            encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
            text = _decode_notebook(data, p)
        else:
            encoding = detect_encoding(data, p)
            text = decode_source(data, p)
    except SourceReadError as err:
        error = FileResult(path=p, error=str(err))
        return FixResult(p, "", "", 0, error)
    outcome = fix_source(text, p, rules=active)
    if not outcome.changed or outcome.refused is not None:
        return outcome
    try:
        new_data = outcome.fixed.encode(encoding)
    except UnicodeEncodeError:
        outcome.refused = f"fix refused: the result cannot be encoded in {encoding}"
        outcome.fixed, outcome.applied = text, 0
        outcome.result = _lint_data(data, p, active)
        return outcome
    if not write:
        return outcome
    try:
        write_atomic(p, new_data, expected=data)
    except FileChangedError:
        outcome.refused = "not fixed: the file changed while it was being fixed; left as it is"
        outcome.fixed, outcome.applied = text, 0
        outcome.result = FileResult(path=p)
    except OSError as err:
        outcome.refused = f"cannot write: {err.strerror or err}"
        outcome.fixed, outcome.applied = text, 0
        outcome.result = _lint_data(data, p, active)
    return outcome


class FileChangedError(Exception):
    """The file no longer holds what was read from it: another program wrote it meanwhile."""


def write_atomic(path: str, data: bytes, *, expected: bytes | None = None) -> None:
    """Replaces a file's content atomically, keeping its mode (and a symlink's target).

    Args:
        path: The file.
        data: Its new content.
        expected: What the file must still hold, compared just before the rename; None
            replaces whatever it holds.

    Raises:
        FileChangedError: When the file no longer holds ``expected`` (it is left as it is).
        OSError: When the directory is not writable.
    """
    target = os.path.realpath(path)
    directory = os.path.dirname(target) or "."
    try:
        mode: int | None = os.stat(target).st_mode & 0o7777
    except OSError:
        mode = None
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(target)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        if expected is not None and _current(target) != expected:
            raise FileChangedError(target)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _current(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None
