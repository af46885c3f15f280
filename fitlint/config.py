"""Find and merge ``[tool.fitlint]`` from ``pyproject.toml``; nothing else reads TOML.

Discovery follows ruff: for each linted file, fitlint walks up from the file's directory to the
nearest ``pyproject.toml`` that has a ``[tool.fitlint]`` table (a ``pyproject.toml`` without one
is passed over) and uses it alone; relative globs in it are resolved against that file's
directory. Without one, the defaults apply and globs are relative to the working directory.
Command line options override the file: a ``--select`` replaces the file's selection (as in
ruff, a later ``select`` starts the rule set afresh), ``--extend-select`` and ``--ignore`` add
to it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fitlint.model import Config, ConfigError
from fitlint.rules.base import Rule, all_rules
from fitlint.selection import matches, validate_selectors

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Directory and file names never worth descending into; ``exclude`` replaces this list,
# ``extend-exclude`` adds to it. Gitignore-style patterns.
DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".*",
    "__pycache__",
    "node_modules",
    "venv",
    "build",
    "dist",
    "site-packages",
    "__pypackages__",
    "_build",
    "buck-out",
)

KNOWN_KEYS = (
    "select",
    "extend-select",
    "ignore",
    "exclude",
    "extend-exclude",
    "per-file-ignores",
    "rules",
    "cache-dir",
    "respect-gitignore",
    "force-exclude",
)
"""Every key ``[tool.fitlint]`` accepts; any other is an error."""


@dataclass(frozen=True)
class Settings:
    """What one ``[tool.fitlint]`` table (or the defaults) says.

    Attributes:
        source: The ``pyproject.toml`` the settings come from; None for the defaults.
        root: The directory relative globs resolve against.
        select: The rules to enable instead of the defaults; None when not set.
        extend_select: Rules enabled on top of the selection.
        ignore: Rules disabled.
        exclude: Gitignore-style patterns of files and directories skipped when walking a
            directory (and for files named explicitly with ``force_exclude``).
        per_file_ignores: (pattern, rules) pairs: the rules are disabled in matching files.
        options: Per-rule thresholds keyed by rule name.
        cache_dir: Where the cache lives (absolute); None for ``<root>/.fitlint_cache``.
        respect_gitignore: Skip files that ``.gitignore`` files ignore when walking.
        force_exclude: Apply ``exclude`` to files named explicitly too (pre-commit).
    """

    source: str | None
    root: str
    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    options: Mapping[str, Mapping[str, float | int]] = field(default_factory=dict)
    cache_dir: str | None = None
    respect_gitignore: bool = True
    force_exclude: bool = False

    def is_excluded(self, path: str, *, is_dir: bool = False, base: str | None = None) -> bool:
        """Whether ``exclude`` matches ``path`` (or one of its directories below ``root``).

        Args:
            path: The file or directory.
            is_dir: Whether it is a directory.
            base: Match the path relative to this directory instead of ``root`` (a directory
                named on the command line that is itself excluded, or outside ``root``: only
                what is below it can be excluded). A path outside the base is matched by its
                name alone; the base itself is never excluded.
        """
        rel = _relative_to(path, base or self.root, is_dir=is_dir)
        return rel not in (".", "./") and bool(_spec(self.exclude).match_file(rel))


@dataclass(frozen=True)
class Overrides:
    """Command line settings; None leaves the configuration file's value."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    respect_gitignore: bool | None = None
    force_exclude: bool | None = None
    cache_dir: str | None = None


def _spec(patterns: Sequence[str]) -> Any:
    import pathspec

    key = tuple(patterns)
    spec = _SPECS.get(key)
    if spec is None:
        spec = _SPECS[key] = pathspec.GitIgnoreSpec.from_lines(patterns)
    return spec


_SPECS: dict[tuple[str, ...], Any] = {}


def _relative_to(path: str, root: str, *, is_dir: bool = False) -> str:
    # A path outside ``root`` is matched by its name: "../x.py" must not match ".*".
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive (Windows)
        rel = os.pardir
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        rel = os.path.basename(absolute)
    rel = rel.replace(os.sep, "/")
    return rel + "/" if is_dir and not rel.endswith("/") else rel


def _toml_error(path: str, err: tomllib.TOMLDecodeError, text: str) -> ConfigError:
    msg = str(err)
    m = re.match(r"(.*) \(at line (\d+), column \d+\)$", msg)
    if m:
        msg = f"{m.group(1)} (line {m.group(2)})"
    elif msg.endswith(" (at end of document)"):
        msg = f"{msg[: -len(' (at end of document)')]} at the end (line {len(text.splitlines())})"
    return ConfigError(f"{path}: invalid TOML: {msg}")


def _strings(path: str, key: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: [tool.fitlint] {key} must be a list of strings")
    return tuple(value)


def check_patterns(where: str, patterns: Iterable[str]) -> None:
    """Raises ConfigError, naming ``where`` (a file and key, or an option), for a pattern
    that is not a valid gitignore-style pattern (one that ends in a backslash, say)."""
    import pathspec

    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as err:
            why = pattern_problem(pattern, err)
            raise ConfigError(f"{where}: invalid pattern {pattern!r}: {why}") from None


def pattern_problem(pattern: str, err: Exception) -> str:
    """Why pathspec (and git) refuse a gitignore-style pattern, in a few words."""
    stripped = pattern.rstrip(" ")
    if (len(stripped) - len(stripped.rstrip("\\"))) % 2 == 1:
        return "it ends in a backslash, which escapes nothing"
    if pattern.strip() == "!":
        return "a lone `!` negates nothing"
    return str(err)


def _patterns(path: str, key: str, value: object) -> tuple[str, ...]:
    out = _strings(path, key, value)
    check_patterns(f"{path}: [tool.fitlint] {key}", out)
    return out


def check_option(where: str, name: str, value: object) -> None:
    """Raises ConfigError, naming ``where``, for a rule threshold that is not a finite
    number greater than 0 (every threshold of every rule is one)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} {name} must be a number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{where} {name} must be a finite number greater than 0, not {value!r}")


def _selectors(path: str, key: str, value: object) -> tuple[str, ...]:
    out = _strings(path, key, value)
    try:
        validate_selectors(out)
    except ConfigError as err:
        raise ConfigError(f"{path}: [tool.fitlint] {key}: {err}") from None
    return out


def _rule_by_selector(key: str) -> type[Rule] | None:
    for code, rule in all_rules().items():
        if key.upper() == code or key == rule.name:
            return rule
    return None


def _rule_options(path: str, value: object) -> dict[str, dict[str, float | int]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [tool.fitlint.rules] must be a table of rule tables")
    out: dict[str, dict[str, float | int]] = {}
    for key, opts in value.items():
        rule = _rule_by_selector(key)
        if rule is None:
            raise ConfigError(
                f"{path}: [tool.fitlint.rules.{key}]: unknown rule {key!r} "
                "(see `fitlint --list-rules`)"
            )
        if not isinstance(opts, dict):
            raise ConfigError(f"{path}: [tool.fitlint.rules] {key} must be a table of options")
        for name, number in opts.items():
            if name not in rule.options:
                known = ", ".join(sorted(rule.options)) or "none"
                raise ConfigError(
                    f"{path}: [tool.fitlint.rules.{key}]: unknown option {name!r} "
                    f"for rule {rule.name} (known: {known})"
                )
            check_option(f"{path}: [tool.fitlint.rules.{key}]", name, number)
            assert isinstance(number, (int, float))
            out.setdefault(rule.name, {})[name] = number
    return out


def _per_file_ignores(path: str, value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [tool.fitlint] per-file-ignores must be a table")
    out = []
    check_patterns(f"{path}: [tool.fitlint.per-file-ignores]", value)
    for pattern, rules in value.items():
        out.append((pattern, _selectors(path, f"per-file-ignores {pattern!r}", rules)))
    return tuple(out)


def parse_settings(path: str, table: Mapping[str, object]) -> Settings:
    """Validates a ``[tool.fitlint]`` table read from ``path``.

    Raises:
        ConfigError: For an unknown key, a value of the wrong type, an unknown rule or option.
    """
    root = os.path.dirname(os.path.abspath(path))
    unknown = [k for k in table if k not in KNOWN_KEYS]
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {unknown[0]!r} in [tool.fitlint] (known: {', '.join(KNOWN_KEYS)})"
        )
    kwargs: dict[str, Any] = {}
    if "select" in table:
        kwargs["select"] = _selectors(path, "select", table["select"])
    if "extend-select" in table:
        kwargs["extend_select"] = _selectors(path, "extend-select", table["extend-select"])
    if "ignore" in table:
        kwargs["ignore"] = _selectors(path, "ignore", table["ignore"])
    exclude = DEFAULT_EXCLUDE
    if "exclude" in table:
        exclude = _patterns(path, "exclude", table["exclude"])
    if "extend-exclude" in table:
        exclude = exclude + _patterns(path, "extend-exclude", table["extend-exclude"])
    kwargs["exclude"] = exclude
    if "per-file-ignores" in table:
        kwargs["per_file_ignores"] = _per_file_ignores(path, table["per-file-ignores"])
    if "rules" in table:
        kwargs["options"] = _rule_options(path, table["rules"])
    if "cache-dir" in table:
        cache_dir = table["cache-dir"]
        if not isinstance(cache_dir, str):
            raise ConfigError(f"{path}: [tool.fitlint] cache-dir must be a string")
        kwargs["cache_dir"] = os.path.join(root, os.path.expanduser(cache_dir))
    for key in ("respect-gitignore", "force-exclude"):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{path}: [tool.fitlint] {key} must be true or false")
            kwargs[key.replace("-", "_")] = table[key]
    return Settings(source=path, root=root, **kwargs)


def read_table(path: str) -> dict[str, object] | None:
    """The ``[tool.fitlint]`` table of a ``pyproject.toml``; None when it has none.

    Raises:
        ConfigError: When the file cannot be read or is not valid TOML.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    if b"fitlint" not in data:  # cheap: a file that never names fitlint has no table
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(path, err, text) from None
    except RecursionError:  # tomllib parses arrays and inline tables recursively
        raise ConfigError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    tool = doc.get("tool")
    if not isinstance(tool, dict) or "fitlint" not in tool:
        return None
    table = tool["fitlint"]
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tool.fitlint must be a table")
    return table


_FILE_CACHE: dict[str, tuple[tuple[int, int], Settings | None]] = {}
_DIR_CACHE: dict[str, str | None] = {}


def load_settings(path: str) -> Settings | None:
    """The settings of one ``pyproject.toml`` (cached until the file changes); None if it
    has no ``[tool.fitlint]`` table.

    Raises:
        ConfigError: For invalid TOML or invalid settings.
    """
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror or err}") from None
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _FILE_CACHE.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    table = read_table(path)
    settings = None if table is None else parse_settings(path, table)
    _FILE_CACHE[path] = (stamp, settings)
    return settings


def find_config_file(directory: str) -> str | None:
    """The nearest ``pyproject.toml`` with a ``[tool.fitlint]`` table at or above
    ``directory`` (cached per directory).

    Raises:
        ConfigError: When a ``pyproject.toml`` on the way is invalid.
    """
    directory = os.path.abspath(directory)
    visited: list[str] = []
    found: str | None = None
    current = directory
    while True:
        if current in _DIR_CACHE:
            found = _DIR_CACHE[current]
            break
        visited.append(current)
        candidate = os.path.join(current, "pyproject.toml")
        if os.path.isfile(candidate) and load_settings(candidate) is not None:
            found = candidate
            break
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for d in visited:
        _DIR_CACHE[d] = found
    return found


def clear_cache() -> None:
    """Forgets every discovered and parsed configuration (for long-running editors)."""
    _FILE_CACHE.clear()
    _DIR_CACHE.clear()


def default_settings(root: str | None = None) -> Settings:
    """The settings when no configuration file applies."""
    return Settings(source=None, root=os.path.abspath(root or os.getcwd()))


def _rules_matching(selectors: Iterable[str], rules: Mapping[str, type[Rule]]) -> set[str]:
    sels = tuple(selectors)
    return {code for code, rule in rules.items() if any(matches(s, code, rule.name) for s in sels)}


def _file_matches(pattern: str, rel: str) -> bool:
    return bool(_spec((pattern,)).match_file(rel))


def resolve(settings: Settings, path: str, overrides: Overrides | None = None) -> Config:
    """The engine configuration for one file: selections layered file then command line,
    then ``per-file-ignores`` matched against the path relative to ``settings.root``."""
    ov = overrides or Overrides()
    rules = all_rules()
    on = {code for code, rule in rules.items() if rule.default_enabled}
    layers = (
        (settings.select, settings.extend_select, settings.ignore),
        (ov.select, ov.extend_select, ov.ignore),
    )
    for select, extend, ignore in layers:
        if select is not None:
            on = _rules_matching(select, rules)
        on |= _rules_matching(extend, rules)
        on -= _rules_matching(ignore, rules)
    rel = _relative_to(path, settings.root)
    base = os.path.basename(path)
    for pattern, ignored in (*settings.per_file_ignores, *ov.per_file_ignores):
        if _file_matches(pattern, rel) or _file_matches(pattern, base):
            on -= _rules_matching(ignored, rules)
    options = {name: dict(opts) for name, opts in settings.options.items()}
    if not on:
        return Config(ignore=("ALL",), options=options)
    return Config(select=tuple(sorted(on)), options=options)


def fingerprint(config: Config) -> str:
    """A stable text of everything in ``config`` that changes results (for the cache)."""
    return json.dumps(
        {
            "select": list(config.select),
            "extend_select": list(config.extend_select),
            "ignore": list(config.ignore),
            "options": {k: dict(v) for k, v in config.options.items()},
        },
        sort_keys=True,
    )


class Resolver:
    """Finds the settings and engine configuration of each path, with command line
    overrides, caching per directory.

    Args:
        overrides: Command line settings.
        config_file: Use this ``pyproject.toml`` for every path instead of discovery.
        isolated: Ignore every configuration file.
    """

    def __init__(
        self,
        overrides: Overrides | None = None,
        *,
        config_file: str | None = None,
        isolated: bool = False,
    ) -> None:
        self.overrides = overrides or Overrides()
        self._fixed: Settings | None = None
        if isolated:
            self._fixed = default_settings()
        elif config_file is not None:
            if not os.path.isfile(config_file):
                raise ConfigError(f"{config_file}: no such configuration file")
            table = read_table(config_file)
            self._fixed = (
                parse_settings(config_file, table)
                if table is not None
                else default_settings(os.path.dirname(os.path.abspath(config_file)))
            )
        self._default = default_settings()
        self._by_dir: dict[str, Settings] = {}

    def settings_for(self, path: str) -> Settings:
        """The settings (with the command line's file-walking overrides applied) for a path.

        Raises:
            ConfigError: When a configuration file on the way is invalid.
        """
        directory = os.path.dirname(os.path.abspath(path))
        cached = self._by_dir.get(directory)
        if cached is not None:
            return cached
        if self._fixed is not None:
            settings = self._fixed
        else:
            found = find_config_file(directory)
            settings = self._default if found is None else load_settings(found) or self._default
        settings = self._apply_overrides(settings)
        self._by_dir[directory] = settings
        return settings

    def _apply_overrides(self, settings: Settings) -> Settings:
        ov = self.overrides
        changes: dict[str, Any] = {}
        if ov.exclude is not None or ov.extend_exclude:
            changes["exclude"] = (
                ov.exclude if ov.exclude is not None else settings.exclude
            ) + ov.extend_exclude
        if ov.respect_gitignore is not None:
            changes["respect_gitignore"] = ov.respect_gitignore
        if ov.force_exclude is not None:
            changes["force_exclude"] = ov.force_exclude
        if ov.cache_dir is not None:
            changes["cache_dir"] = os.path.abspath(ov.cache_dir)
        if not changes:
            return settings
        from dataclasses import replace

        return replace(settings, **changes)

    def config_for(self, path: str) -> Config:
        """The engine configuration for one file.

        Raises:
            ConfigError: When a configuration file on the way is invalid.
        """
        return resolve(self.settings_for(path), path, self.overrides)


def config_for_path(path: str | os.PathLike[str]) -> Config:
    """The configuration that applies to ``path`` from the ``pyproject.toml`` files alone
    (no command line): for the editor server and other in-process callers.

    Discovery and parsing are cached per directory and re-read when a ``pyproject.toml``
    changes on disk; call :func:`clear_cache` after creating or deleting one.

    Raises:
        ConfigError: When a configuration file on the way is invalid.
    """
    p = os.fspath(path)
    found = find_config_file(os.path.dirname(os.path.abspath(p)))
    settings = default_settings() if found is None else load_settings(found) or default_settings()
    return resolve(settings, p)
