"""Which files a lint covers: paths walked, excludes and ``.gitignore`` applied, and the cheap
check that skips a file which cannot concern Keras training.

A path goes from the command line (or the API) through :func:`expand_paths`, which asks the
configuration (``fitlint.config.Resolver``) for each directory's settings, to a list of files;
:func:`mentions_keras` then decides per text whether it is worth parsing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fitlint.model import SourceReadError

if TYPE_CHECKING:
    from fitlint.config import Resolver, Settings

SUFFIXES = (".py", ".pyi", ".ipynb")

# Files that cannot concern Keras training are skipped before parsing: a cheap text check.
_RELEVANT = re.compile(r"keras|tensorflow|train_test_split|fit_resample")


def mentions_keras(source: str) -> bool:
    """Whether ``source`` can concern Keras training (it names Keras, TensorFlow or a split)."""
    return _RELEVANT.search(source) is not None


def _git_root(directory: str) -> str | None:
    current = os.path.abspath(directory)
    while True:
        if os.path.exists(os.path.join(current, ".git")):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


@dataclass(frozen=True)
class WalkProblem:
    """Something that walking a directory could not do.

    Attributes:
        path: The directory, or the ``.gitignore`` file.
        message: One line that names it: ``dir: cannot read directory: permission denied``,
            ``dir/.gitignore:3: pattern skipped ...``.
        error: True for a directory that could not be read (nothing in it was linted, so the
            run fails); False for a warning: a ``.gitignore`` line that is not a valid
            pattern was skipped, as git skips it.
    """

    path: str
    message: str
    error: bool = True


def _read_gitignore(directory: str, problems: list[WalkProblem]) -> tuple[str, object] | None:
    path = os.path.join(directory, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as err:
        if os.path.isfile(path):
            message = f"{relative(path)}: cannot read: {err.strerror or err}"
            problems.append(WalkProblem(path, message, error=False))
        return None
    import pathspec

    try:
        return directory, pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # one bad line: git skips the patterns it cannot use, and so do we
        pass
    from fitlint.config import pattern_problem

    good = []
    for number, line in enumerate(lines, 1):
        try:
            pathspec.GitIgnoreSpec.from_lines([line])
        except ValueError as err:
            why = pattern_problem(line, err)
            message = f"{relative(path)}:{number}: pattern skipped, as git skips it: {why}"
            problems.append(WalkProblem(path, message, error=False))
            continue
        good.append(line)
    return directory, pathspec.GitIgnoreSpec.from_lines(good)


def _gitignored(path: str, is_dir: bool, chain: Sequence[tuple[str, object]]) -> bool:
    ignored = False
    for base, spec in chain:
        rel = os.path.relpath(path, base).replace(os.sep, "/")
        if rel.startswith(".."):
            continue
        if is_dir:
            rel += "/"
        check = getattr(spec, "check_file", None)
        if check is None:  # pathspec < 0.12.1: a match ignores, no match leaves it
            if spec.match_file(rel):  # type: ignore[attr-defined]
                ignored = True
            continue
        res = check(rel)
        if res.include is not None:
            ignored = bool(res.include)
    return ignored


def expand_paths(
    paths: Iterable[str],
    resolver: Resolver | None = None,
    *,
    problems: list[WalkProblem] | None = None,
) -> Iterator[str]:
    """Yields the files named by ``paths``: files as given, directories walked.

    Walking a directory yields ``*.py``, ``*.pyi`` and ``*.ipynb`` files, skipping what the
    ``exclude`` setting matches (by default hidden directories, ``__pycache__``, ``venv``,
    ``build``, ``dist``, ``site-packages``...) and, unless ``respect-gitignore`` is false, what
    the ``.gitignore`` files of the repository ignore. A directory named explicitly is always
    walked, even when excluded, git-ignored or outside the configuration's directory: only what
    is below it can be skipped. A file named explicitly is yielded even when excluded, unless
    ``force-exclude`` is set. A missing path is yielded as is so that linting it reports the
    error.

    Args:
        paths: Files and directories.
        resolver: Finds each directory's settings; the defaults when None.
        problems: Receives what the walk could not do: directories that could not be read
            (errors) and ``.gitignore`` lines skipped (warnings). When None, an unreadable
            directory raises and warnings are dropped.

    Raises:
        fitlint.model.ConfigError: When a configuration file on the way is invalid.
        SourceReadError: For a directory that cannot be read, when ``problems`` is None.
    """
    for item in discover(paths, resolver):
        if isinstance(item, str):
            yield item
        elif problems is not None:
            problems.append(item)
        elif item.error:
            raise SourceReadError(item.message)


def discover(paths: Iterable[str], resolver: Resolver | None) -> Iterator[str | WalkProblem]:
    """:func:`expand_paths`, with what the walk could not do yielded in order among the
    files."""
    from fitlint.config import Resolver

    resolver = resolver or Resolver()
    seen: set[str] = set()
    warned: set[str] = set()  # a .gitignore above two walked directories is read twice
    for raw in paths:
        if os.path.isdir(raw):
            for item in _walk(raw, resolver, seen):
                if isinstance(item, WalkProblem) and not item.error:
                    if item.message in warned:
                        continue
                    warned.add(item.message)
                yield item
        elif raw not in seen:
            settings = resolver.settings_for(raw)
            if settings.force_exclude and force_excluded(raw, settings):
                continue
            seen.add(raw)
            yield raw


def force_excluded(path: str, settings: object) -> bool:
    from fitlint.config import Settings

    assert isinstance(settings, Settings)
    if settings.is_excluded(path):
        return True
    current = os.path.dirname(os.path.abspath(path))
    root = settings.root
    while current.startswith(root) and current != root:
        if settings.is_excluded(current, is_dir=True):
            return True
        current = os.path.dirname(current)
    return False


def _ancestor_gitignores(top: str, problems: list[WalkProblem]) -> list[tuple[str, object]]:
    """The ``.gitignore`` files from the root of ``top``'s repository down to its parent.

    A directory named explicitly is always walked: when they ignore ``top`` itself, the
    patterns that match it (or a directory above it) are left out, and the others (``*.log``)
    still apply below it."""
    root = _git_root(top)
    if root is None:
        return []
    ancestors = []
    current = os.path.dirname(os.path.abspath(top))
    while len(current) >= len(root):
        ancestors.append(current)
        if current == root:
            break
        current = os.path.dirname(current)
    chain = []
    for d in reversed(ancestors):
        gi = _read_gitignore(d, problems)
        if gi is not None:
            chain.append(gi)
    top_abs = os.path.abspath(top)
    if not chain or not _gitignored(top_abs, True, chain):
        return chain
    import pathspec

    kept: list[tuple[str, object]] = []
    for base, spec in chain:
        parts = os.path.relpath(top_abs, base).replace(os.sep, "/").split("/")
        above = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
        patterns = [
            pattern
            for pattern in spec.patterns  # type: ignore[attr-defined]
            if pattern.include is None or not any(pattern.match_file(d) for d in above)
        ]
        kept.append((base, pathspec.GitIgnoreSpec(patterns)))
    return kept


def _walk(top: str, resolver: Resolver, seen: set[str]) -> Iterator[str | WalkProblem]:

    top_abs = os.path.abspath(top)
    problems: list[WalkProblem] = []
    top_settings = resolver.settings_for(os.path.join(top, "__init__.py"))
    chain = _ancestor_gitignores(top, problems) if top_settings.respect_gitignore else []
    bases: dict[int, str | None] = {}

    def base_of(settings: Settings) -> str | None:
        # Patterns match relative to the configuration's directory, unless the directory
        # named on the command line is outside it or excluded itself: then relative to it,
        # so that it is walked and only what is below it can be excluded.
        key = id(settings)
        if key not in bases:
            rel = os.path.relpath(top_abs, settings.root)
            outside = rel == os.pardir or rel.startswith(os.pardir + os.sep)
            mine = outside or settings.is_excluded(top_abs, is_dir=True)
            bases[key] = top_abs if mine else None
        return bases[key]

    def unreadable(err: OSError) -> None:
        where = os.fspath(err.filename or top)
        message = f"{where}: cannot read directory: {err.strerror or err}"
        problems.append(WalkProblem(where, message))

    chains: dict[str, list[tuple[str, object]]] = {}
    for root_dir, dirs, files in os.walk(top, onerror=unreadable):
        yield from problems
        problems.clear()
        settings = resolver.settings_for(os.path.join(root_dir, "__init__.py"))
        base = base_of(settings)
        parent_chain = chains.get(os.path.dirname(root_dir), chain)
        here = list(parent_chain)
        if settings.respect_gitignore:
            gi = _read_gitignore(os.path.abspath(root_dir), problems)
            if gi is not None:
                here.append(gi)
        else:
            here = []
        chains[root_dir] = here
        kept = []
        for d in sorted(dirs):
            full = os.path.join(root_dir, d)
            if settings.is_excluded(full, is_dir=True, base=base):
                continue
            if here and _gitignored(os.path.abspath(full), True, here):
                continue
            kept.append(d)
        dirs[:] = kept
        yield from problems
        problems.clear()
        for name in sorted(files):
            if not name.lower().endswith(SUFFIXES):
                continue
            full = os.path.normpath(os.path.join(root_dir, name))
            if full in seen or settings.is_excluded(full, base=base):
                continue
            if here and _gitignored(os.path.abspath(full), False, here):
                continue
            seen.add(full)
            yield full
    yield from problems


def relative(path: str | Path) -> str:
    """A path relative to the working directory when it is below it."""
    p = os.fspath(path)
    try:
        rel = os.path.relpath(p)
    except ValueError:
        return p
    return p if rel.startswith("..") else rel
