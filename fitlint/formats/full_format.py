"""``--format full``: each finding with its severity, source line and a caret, coloured on a
terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from fitlint.formats import location

if TYPE_CHECKING:
    from fitlint.api import FileResult

_RESET = "\033[0m"
_BOLD = "\033[1m"
_RED = "\033[31m"
_YELLOW = "\033[33m"
_CYAN = "\033[36m"
_BLUE = "\033[34m"
_DIM = "\033[2m"
_SEVERITY_COLOR = {"error": _RED, "warning": _YELLOW, "info": _CYAN}


def render(results: Sequence[FileResult], stream: TextIO, color: bool) -> None:
    """Writes every finding as ``path:line:col: severity: CODE name message`` plus the source
    line (``path:cell N:line:col`` in a notebook); severity is ``error``, ``warning`` or
    ``info``, as in the messages of compilers and mypy."""

    def c(code: str, text: str) -> str:
        return f"{code}{text}{_RESET}" if color else text

    for result in results:
        for f in result.findings:
            sev = _SEVERITY_COLOR.get(f.severity.value, "")
            head = c(_BOLD, f"{location(f)}:")
            level = c(sev + _BOLD, f"{f.severity.value}:")
            stream.write(f"{head} {level} {c(sev + _BOLD, f.code)} {c(sev, f.name)} {f.message}\n")
            line = result.source_line(f)
            if line is not None:
                src = line.expandtabs(1)
                width = len(src) - f.column + 1 if f.end_line > f.line else f.end_column - f.column
                width = max(1, min(width, len(src) - f.column + 1))
                gutter = f"{f.line:>5} | "
                stream.write(c(_BLUE, gutter) + src + "\n")
                stream.write(c(_BLUE, " " * 6 + "| ") + " " * (f.column - 1))
                stream.write(c(sev + _BOLD, "^" * width) + "\n")
            if f.fix is not None:
                stream.write(c(_DIM, f"      = fix available: {f.fix.message}") + "\n")
            stream.write("\n")
