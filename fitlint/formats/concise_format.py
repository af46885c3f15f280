"""``--format concise``: one line per finding, ``path:line:col: CODE [*] name: message``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from fitlint.formats import location

if TYPE_CHECKING:
    from fitlint.api import FileResult

_RESET = "\033[0m"
_BOLD = "\033[1m"
_SEVERITY_COLOR = {"error": "\033[31m", "warning": "\033[33m", "info": "\033[36m"}


def render(results: Sequence[FileResult], stream: TextIO, color: bool) -> None:
    """Writes ``path:line:col: CODE name: message`` per finding (``path:cell N:line:col`` in
    a notebook); ``[*]`` after the code marks a finding ``--fix`` can fix."""
    for result in results:
        for f in result.findings:
            code = f"{f.code} [*]" if f.fix is not None else f.code
            loc = f"{location(f)}:"
            if color:
                sev = _SEVERITY_COLOR.get(f.severity.value, "")
                loc = f"{_BOLD}{loc}{_RESET}"
                code = f"{sev}{_BOLD}{code}{_RESET}"
            message = " ".join(f.message.splitlines())
            stream.write(f"{loc} {code} {f.name}: {message}\n")
