"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

Severity maps to ``error``, ``warning`` and ``notice``. A notebook finding names the file and
puts ``cell N, line L`` in its message: the line of a cell is not a line of the JSON file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fitlint.api import FileResult

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render(results: Sequence[FileResult], stream: TextIO, color: bool) -> None:
    """Writes ``::warning file=...,line=...,col=...,endLine=...,endColumn=...,title=...::msg``."""
    del color
    for result in results:
        for f in result.findings:
            level = _LEVEL.get(f.severity.value, "warning")
            props = [f"file={_escape_property(f.path)}"]
            message = f.message
            if f.cell is None:
                props += [f"line={f.line}", f"col={f.column}"]
                props += [f"endLine={f.end_line}", f"endColumn={f.end_column}"]
            else:
                message = f"cell {f.cell}, line {f.line}, column {f.column}: {message}"
            props.append(f"title={_escape_property(f'{f.code} {f.name}')}")
            stream.write(f"::{level} {','.join(props)}::{_escape_data(message)}\n")
