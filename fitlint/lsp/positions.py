"""Where a finding is, in the protocol's terms.

fitlint findings are 1-based lines and columns in code points (end exclusive); the protocol
counts 0-based lines and characters in the negotiated position encoding (UTF-16 unless the
client offers UTF-8 or UTF-32). :func:`to_position` and :func:`from_position` convert;
:func:`diff_edits` turns a fixed text into line edits; :func:`findings_by_cell` hands a
notebook's findings to its cells.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from fitlint.model import Edit, Finding, split_lines

_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_position(lines: Sequence[str], line: int, column: int, encoding: str) -> tuple[int, int]:
    """Converts a 1-based (line, code-point column) into a protocol (line, character).

    Positions past the end of a line or of the text are clamped to the nearest valid one.
    """
    index = min(max(line - 1, 0), len(lines) - 1)
    text = lines[index]
    if line - 1 > index:  # past the last line: its end
        column = len(text) + 1
    col = min(max(column - 1, 0), len(text))
    return index, _units(text[:col], encoding)


def from_position(
    lines: Sequence[str], line: int, character: int, encoding: str
) -> tuple[int, int]:
    """Converts a protocol (line, character) into a 1-based (line, code-point column)."""
    if line >= len(lines):
        return len(lines), len(lines[-1]) + 1
    text = lines[max(line, 0)]
    if encoding == "utf-32" or text.isascii():
        return line + 1, min(max(character, 0), len(text)) + 1
    units = 0
    for i, ch in enumerate(text):
        if units >= character:
            return line + 1, i + 1
        units += _units(ch, encoding)
    return line + 1, len(text) + 1


def diff_edits(old: str, new: str) -> list[Edit]:
    """Line-based edits that turn ``old`` into ``new``: one per changed block of lines.

    Untouched lines are not part of any edit, so the editor keeps its cursor, folds and marks
    there (a whole-document replacement would reset them).
    """
    import difflib

    a = _LINE_WITH_END.findall(old)
    b = _LINE_WITH_END.findall(new)
    edits = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(i1 + 1, 1, i2 + 1, 1, "".join(b[j1:j2])))
    return edits


def findings_by_cell(
    findings: Iterable[Finding], cell_texts: Sequence[str]
) -> dict[int, list[Finding]]:
    """Groups notebook findings (``cell`` numbers from 1, lines within the cell) by cell.

    A range running past the end of its cell is cut there; a fix with an edit outside the cell
    is dropped (it could not be applied to that cell alone).
    """
    from dataclasses import replace

    out: dict[int, list[Finding]] = {}
    for f in findings:
        cell = f.cell
        if cell is None or not 1 <= cell <= len(cell_texts):
            continue
        count = len(split_lines(cell_texts[cell - 1]))
        if f.end_line > count:
            f = replace(f, end_line=count, end_column=10**9)
        if f.fix is not None and any(e.line < 1 or e.end_line > count for e in f.fix.edits):
            f = replace(f, fix=None)
        out.setdefault(cell, []).append(f)
    return out
