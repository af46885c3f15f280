"""``fitlint [OPTIONS] PATH...``: a thin face over :mod:`fitlint.api`.

Exit codes: 0 nothing found, 1 findings, 2 usage, configuration or internal error.
``fitlint server [ARGS]`` starts the editor (LSP) server instead.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TextIO

from fitlint import __version__, formats

if TYPE_CHECKING:
    from fitlint.api import FileResult, FixResult
    from fitlint.config import Overrides, Resolver
    from fitlint.rules.base import Rule

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"fitlint: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


class _UsageError(Exception):
    pass


def _detach(stream: TextIO) -> None:
    """Points a stream whose reader has gone away at ``os.devnull``, so that what is still
    buffered, and Python's own flush at exit, go nowhere instead of failing again."""
    with contextlib.suppress(OSError, ValueError):  # a stream without a descriptor (tests)
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)


@contextlib.contextmanager
def _output(stream: TextIO) -> Iterator[None]:
    """Writes to ``stream`` within the block and flushes it; a reader that stops early
    (``fitlint . | head``) ends the output quietly instead of with a ``BrokenPipeError``
    traceback. The exit status stays what the run found."""
    try:
        yield
        stream.flush()
    except BrokenPipeError:
        _detach(stream)


def _error(message: str) -> None:
    with _output(sys.stderr):
        sys.stderr.write(f"fitlint: error: {message}\n")


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    """The command line parser (also used to document every option)."""
    p = _Parser(
        prog="fitlint",
        description="Find the patterns behind failed Keras training runs. "
        "`fitlint server` starts the editor (LSP) server.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories to lint (.py, .pyi, .ipynb); `-` reads standard input",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=formats.NAMES,
        default="full",
        help="output format (default: full)",
    )
    out.add_argument(
        "--output-file",
        "-o",
        metavar="FILE",
        help="write the output to FILE instead of standard output",
    )
    out.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour text output (default: auto, on a terminal without NO_COLOR)",
    )
    out.add_argument(
        "--statistics",
        action="store_true",
        help="print the number of findings per rule instead of the findings",
    )
    out.add_argument(
        "--exit-zero",
        action="store_true",
        help="exit 0 even when there are findings (errors still exit 2)",
    )
    rules = p.add_argument_group("rule selection")
    rules.add_argument(
        "--select",
        action="append",
        metavar="RULES",
        help="comma-separated codes, code prefixes or names to enable instead of the "
        "configured or default set (ALL enables every rule)",
    )
    rules.add_argument(
        "--extend-select",
        action="append",
        metavar="RULES",
        help="comma-separated codes, code prefixes or names to enable on top",
    )
    rules.add_argument(
        "--ignore",
        action="append",
        metavar="RULES",
        help="comma-separated codes, code prefixes or names to disable",
    )
    rules.add_argument(
        "--per-file-ignores",
        action="append",
        metavar="GLOB:RULES",
        help="disable RULES (comma-separated) in files matching GLOB, added to the "
        "configuration's per-file-ignores",
    )
    files = p.add_argument_group("file selection")
    files.add_argument(
        "--exclude",
        action="append",
        metavar="GLOBS",
        help="comma-separated gitignore-style patterns to skip, replacing the configured "
        "and default excludes",
    )
    files.add_argument(
        "--extend-exclude",
        action="append",
        metavar="GLOBS",
        help="comma-separated gitignore-style patterns to skip, on top of the excludes",
    )
    files.add_argument(
        "--respect-gitignore",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip files ignored by .gitignore when walking directories (default: on)",
    )
    files.add_argument(
        "--force-exclude",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply the excludes to files named on the command line too (pre-commit)",
    )
    files.add_argument(
        "--stdin-filename",
        metavar="PATH",
        help="the path of the source read from standard input (`-`): names it in findings, "
        "picks its configuration, and `.ipynb` reads a notebook",
    )
    cfg = p.add_argument_group("configuration")
    cfg.add_argument(
        "--config",
        metavar="PYPROJECT",
        help="use this pyproject.toml's [tool.fitlint] for every file instead of discovery",
    )
    cfg.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    fix = p.add_argument_group("fixes")
    fix.add_argument(
        "--fix",
        action="store_true",
        help="apply the fixes of fixable findings in place, then report what remains",
    )
    fix.add_argument(
        "--diff",
        action="store_true",
        help="print the fixes as a unified diff without writing; exit 1 if there are any",
    )
    cache = p.add_argument_group("cache")
    cache.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the result cache"
    )
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="the cache directory (default: .fitlint_cache next to the pyproject.toml, "
        "or in the working directory)",
    )
    info = p.add_argument_group("information")
    info.add_argument("--list-rules", action="store_true", help="list every rule and exit")
    info.add_argument(
        "--explain",
        metavar="RULE",
        help="print the documentation of a rule (by code or name) and exit",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the number of cores)",
    )
    p.add_argument("--version", action="version", version=f"fitlint {__version__}")
    return p


def _use_color(choice: str, stream: object) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _server(argv: Sequence[str]) -> int:
    import importlib.util

    if importlib.util.find_spec("pygls") is None:
        sys.stderr.write("fitlint server needs the lsp extra: pip install 'fitdiag[lsp]'\n")
        return EXIT_ERROR
    from fitlint import lsp  # type: ignore[attr-defined,unused-ignore]

    code = lsp.main(list(argv))
    return int(code or 0)


def _list_rules(fmt: str, stream: TextIO) -> None:
    import json

    from fitlint.docs import summary
    from fitlint.rules.base import all_rules

    rules = list(all_rules().values())
    infos = [r.info() for r in rules]
    summaries = {r.code: summary(r) for r in rules}
    if fmt == "json":
        json.dump(
            [
                {
                    "code": i.code,
                    "name": i.name,
                    "severity": i.severity.value,
                    "default": i.default_enabled,
                    "fixable": i.fixable,
                    "summary": summaries[i.code],
                    "options": dict(i.options),
                }
                for i in infos
            ],
            stream,
            indent=2,
        )
        stream.write("\n")
        return
    width = max([len(i.name) for i in infos] + [4])
    stream.write(f"{'CODE':<6} {'NAME':<{width}} {'DEFAULT':<7} {'FIX':<3} SUMMARY\n")
    for i in infos:
        default = "on" if i.default_enabled else "off"
        fixable = "yes" if i.fixable else "-"
        text = summaries[i.code]
        stream.write(f"{i.code:<6} {i.name:<{width}} {default:<7} {fixable:<3} {text}\n")


def _statistics(results: Sequence[FileResult], fmt: str, stream: TextIO) -> None:
    import json

    counts: Counter[tuple[str, str]] = Counter()
    fixable: set[str] = set()
    for r in results:
        for f in r.findings:
            counts[(f.code, f.name)] += 1
            if f.fix is not None:
                fixable.add(f.code)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if fmt == "json":
        json.dump(
            [{"code": c, "name": n, "count": k, "fixable": c in fixable} for (c, n), k in ordered],
            stream,
            indent=2,
        )
        stream.write("\n")
        return
    for (code, name), count in ordered:
        mark = "[*]" if code in fixable else "   "
        stream.write(f"{count:>5}\t{code}\t{mark} {name}\n")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(
    results: Sequence[FileResult], stream: TextIO, fixed: int | None, errors: int = 0
) -> None:
    """The last lines of the text formats. "All checks passed!" only when every file was
    read, linted (and, with ``--fix``, written): ``errors`` counts the ones that were not."""
    total = sum(len(r.findings) for r in results)
    fixable = sum(1 for r in results for f in r.findings if f.fix is not None)
    and_errors = f"; {_count(errors, 'error')}" if errors else ""
    if fixed:
        found = _count(total + fixed, "finding")
        stream.write(f"Found {found} ({fixed} fixed, {total} remaining){and_errors}.\n")
    elif total:
        stream.write(f"Found {_count(total, 'finding')}{and_errors}.\n")
    elif errors:
        stream.write(f"No findings in the files checked{and_errors}.\n")
    elif fixed is None:
        stream.write("All checks passed!\n")
    else:
        stream.write("No fixes to apply; all checks passed!\n")
    if fixable and fixed is None:
        stream.write(f"[*] {fixable} fixable with the `--fix` option.\n")


def _overrides(args: argparse.Namespace) -> Overrides:
    from fitlint.config import Overrides

    pfi: list[tuple[str, tuple[str, ...]]] = []
    for item in args.per_file_ignores or ():
        glob, sep, rules = item.rpartition(":")
        if not sep or not glob or not rules.strip():
            raise _UsageError(f"--per-file-ignores expects GLOB:RULES, not {item!r}")
        pfi.append((glob, _split([rules])))
    return Overrides(
        select=_split(args.select) if args.select else None,
        extend_select=_split(args.extend_select),
        ignore=_split(args.ignore),
        per_file_ignores=tuple(pfi),
        exclude=_split(args.exclude) if args.exclude else None,
        extend_exclude=_split(args.extend_exclude),
        respect_gitignore=args.respect_gitignore,
        force_exclude=args.force_exclude,
        cache_dir=args.cache_dir,
    )


def _validate_overrides(overrides: Overrides) -> None:
    from fitlint.config import check_patterns
    from fitlint.selection import validate_selectors

    validate_selectors((*(overrides.select or ()), *overrides.extend_select, *overrides.ignore))
    for _, rules in overrides.per_file_ignores:
        validate_selectors(rules)
    check_patterns("--exclude", overrides.exclude or ())
    check_patterns("--extend-exclude", overrides.extend_exclude)
    check_patterns("--per-file-ignores", (glob for glob, _ in overrides.per_file_ignores))


def _run_stdin(
    args: argparse.Namespace, resolver: Resolver, out: TextIO
) -> tuple[list[FileResult], list[str], int]:
    """Lints (or fixes) standard input; returns results, errors and the fixes' count."""
    from fitlint import api

    name = args.stdin_filename or "-"
    settings = resolver.settings_for(name if args.stdin_filename else "stdin.py")
    data = sys.stdin.buffer.read()
    if args.stdin_filename and settings.force_exclude and api.force_excluded(name, settings):
        if args.fix:
            with _output(sys.stdout):
                sys.stdout.buffer.write(data)
        return [], [], 0
    config = resolver.config_for(name if args.stdin_filename else "stdin.py")
    if not (args.fix or args.diff):
        result = api.lint_bytes(data, name, config)
        return [result], [result.error] if result.error else [], 0
    try:
        text = api.decode_source(data, name) if not api.is_notebook(name) else data.decode()
    except (api.SourceReadError, UnicodeDecodeError) as err:
        return [], [f"{name}: {err}"], 0
    outcome = api.fix_source(text, name, config)
    errors = [f"{name}: {outcome.refused}"] if outcome.refused else []
    if outcome.result.error:
        errors.append(outcome.result.error)
    if args.diff:
        out.write(outcome.diff())
    else:
        with _output(sys.stdout):
            sys.stdout.write(outcome.fixed)
    return [outcome.result], errors, outcome.applied


def _run_fix(
    args: argparse.Namespace, resolver: Resolver, out: TextIO, warnings: list[str]
) -> tuple[list[FileResult], list[str], int, bool]:
    from fitlint import api, config, selection
    from fitlint.model import ConfigError

    rulesets: dict[str, list[Rule]] = {}
    results: list[FileResult] = []
    errors: list[str] = []
    applied, changed = 0, False
    outcomes: list[FixResult] = []
    problems: list[api.WalkProblem] = []
    for path in api.expand_paths(args.paths, resolver, problems=problems):
        for problem in problems:
            (errors if problem.error else warnings).append(problem.message)
        problems.clear()
        cfg = resolver.config_for(path)
        fp = config.fingerprint(cfg)
        if fp not in rulesets:
            rulesets[fp] = list(selection.instantiate(cfg))
        try:
            outcome = api.fix_file(path, rules=rulesets[fp], write=not args.diff)
        except ConfigError:
            raise
        except Exception as err:  # the last line of defence: one line, never a traceback
            errors.append(f"{path}: internal error: {type(err).__name__}: {err}")
            continue
        outcomes.append(outcome)
        results.append(outcome.result)
        if outcome.refused:
            errors.append(f"{path}: {outcome.refused}")
        if outcome.result.error:
            errors.append(outcome.result.error)
        applied += outcome.applied
        changed = changed or outcome.changed
    for problem in problems:
        (errors if problem.error else warnings).append(problem.message)
    if args.diff:
        for outcome in outcomes:
            out.write(outcome.diff())
    return results, errors, applied, changed


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["server"]:
        return _server(argv[1:])
    try:
        with _output(sys.stdout):  # --help and --version into a closed pipe: quietly
            args = build_parser().parse_args(argv)
    except SystemExit:
        with _output(sys.stdout):
            pass
        raise
    try:
        return _main(args)
    except _UsageError as err:
        build_parser().error(str(err))
        return EXIT_ERROR  # not reached: error() exits


def _main(args: argparse.Namespace) -> int:
    from fitlint import api
    from fitlint.config import Resolver
    from fitlint.model import ConfigError

    if args.jobs is not None and args.jobs < 1:
        raise _UsageError("--jobs must be at least 1")
    if args.list_rules:
        with _output(sys.stdout):
            _list_rules(args.format, sys.stdout)
        return EXIT_CLEAN
    if args.explain is not None:
        from fitlint import docs

        rule = docs.find_rule(args.explain)
        if rule is None:
            _error(f"no rule {args.explain!r} (see `fitlint --list-rules`)")
            return EXIT_ERROR
        with _output(sys.stdout):
            sys.stdout.write(docs.rule_markdown(rule, level=1))
        return EXIT_CLEAN
    if not args.paths and args.stdin_filename:
        args.paths = ["-"]
    if not args.paths:
        raise _UsageError("no PATH given")
    if "-" in args.paths and len(args.paths) > 1:
        raise _UsageError("`-` (standard input) cannot be combined with other paths")
    if args.fix and args.diff:
        raise _UsageError("--fix and --diff cannot be combined (--diff shows what --fix does)")

    buffer = io.StringIO()
    warnings: list[str] = []
    try:
        overrides = _overrides(args)
        _validate_overrides(overrides)
        resolver = Resolver(overrides, config_file=args.config, isolated=args.isolated)
        fixed: int | None = None
        changed = False
        if args.paths == ["-"]:
            results, errors, n = _run_stdin(args, resolver, buffer)
            fixed = n if args.fix else None
            changed = bool(buffer.getvalue()) if args.diff else False
        elif args.fix or args.diff:
            results, errors, n, changed = _run_fix(args, resolver, buffer, warnings)
            fixed = n if args.fix else None
        else:
            use_cache = not args.no_cache
            results = list(
                api.lint_paths(
                    args.paths,
                    jobs=args.jobs,
                    resolver=resolver,
                    use_cache=use_cache,
                    warnings=warnings,
                )
            )
            errors = [r.error for r in results if r.error]
    except ConfigError as err:
        _error(str(err))
        return EXIT_ERROR

    stdin_fix = args.paths == ["-"] and args.fix
    if args.output_file:
        try:
            target: TextIO = open(args.output_file, "w", encoding="utf-8", newline="")  # noqa: SIM115
        except OSError as err:
            _error(f"{args.output_file}: {err.strerror or err}")
            return EXIT_ERROR
    else:
        target = sys.stderr if stdin_fix else sys.stdout
    try:
        with _output(target):
            if args.diff:
                target.write(buffer.getvalue())
            else:
                color = _use_color(args.color, target) and not args.output_file
                if args.format in formats.TEXT_NAMES:
                    for r in results:
                        if r.findings:
                            api.attach_source(r)
                if args.statistics:
                    _statistics(results, args.format, target)
                else:
                    formats.get(args.format)(results, target, color)
                    if args.format in formats.TEXT_NAMES:
                        _summary(results, target, fixed, len(errors))
    finally:
        if args.output_file:
            target.close()
    with _output(sys.stderr):
        for w in warnings:
            sys.stderr.write(f"fitlint: warning: {w}\n")
        for e in errors:
            sys.stderr.write(f"fitlint: error: {e}\n")
    if errors:
        return EXIT_ERROR
    if args.diff:
        return EXIT_FINDINGS if changed else EXIT_CLEAN
    if args.exit_zero:
        return EXIT_CLEAN
    return EXIT_FINDINGS if any(r.findings for r in results) else EXIT_CLEAN


if __name__ == "__main__":
    raise SystemExit(main())
