"""``--format json``: one JSON array of finding objects."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from fitlint.api import FileResult


def render(results: Sequence[FileResult], stream: TextIO, color: bool) -> None:
    """Writes ``[{"code", "name", "severity", "path", "line", "column", "end_line",
    "end_column", "message", "fix"?}, ...]``."""
    del color
    out = [f.to_json() for r in results for f in r.findings]
    json.dump(out, stream, indent=2)
    stream.write("\n")
