"""``fitlint [OPTIONS] PATH...``: a thin face over :mod:`fitlint.api`.

Exit codes: 0 nothing found, 1 findings, 2 usage, configuration or internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence

from fitlint import __version__, formats
from fitlint.model import Config

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"fitlint: error: {message}\n")
        raise SystemExit(EXIT_ERROR)


def _split(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    """The command line parser (also used to document every option)."""
    p = _Parser(
        prog="fitlint",
        description="Find the patterns behind failed Keras training runs.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to lint")
    p.add_argument(
        "--format",
        choices=formats.NAMES,
        default="full",
        help="output format (default: full)",
    )
    p.add_argument(
        "--select",
        action="append",
        metavar="RULES",
        help="comma-separated codes, code prefixes or names to enable instead of the defaults",
    )
    p.add_argument(
        "--extend-select",
        action="append",
        metavar="RULES",
        help="comma-separated codes or names to enable on top of the selection",
    )
    p.add_argument(
        "--ignore",
        action="append",
        metavar="RULES",
        help="comma-separated codes, code prefixes or names to disable",
    )
    p.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the number of cores)",
    )
    p.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour the full format (default: auto, on a terminal without NO_COLOR)",
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


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit code."""
    from fitlint import api, engine

    args = build_parser().parse_args(argv)
    if not args.paths:
        build_parser().error("no PATH given")
    if args.jobs is not None and args.jobs < 1:
        build_parser().error("--jobs must be at least 1")
    config = Config(
        select=_split(args.select),
        extend_select=_split(args.extend_select),
        ignore=_split(args.ignore),
    )
    try:
        results = list(api.lint_paths(args.paths, config, jobs=args.jobs))
    except engine.ConfigError as err:
        sys.stderr.write(f"fitlint: error: {err}\n")
        return EXIT_ERROR
    for r in results:
        if r.source is None and r.findings:
            with contextlib.suppress(api.SourceReadError):
                r.source = api.read_source(r.path)
    out = sys.stdout
    formats.get(args.format)(results, out, _use_color(args.color, out))
    errors = [r.error for r in results if r.error]
    for e in errors:
        sys.stderr.write(f"fitlint: error: {e}\n")
    out.flush()
    if errors:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(r.findings for r in results) else EXIT_CLEAN


if __name__ == "__main__":
    raise SystemExit(main())
