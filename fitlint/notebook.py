"""Jupyter notebooks: code cells joined into one virtual module, magics masked, positions
mapped back to (cell, line), and fixed cells written back into the notebook's JSON.

The notebook JSON is read with the standard library (nbformat is not a dependency). Only code
cells of Python notebooks are linted; they are joined in order, so an import in cell 1 is known
in cell 5. Each cell is preceded in the virtual module by a marker comment line, so findings
map back to their cell and cells split out again after fixes, whatever the fixes did to the
line count.

IPython syntax is masked with a placeholder of the same line count: line magics (``%time``),
shell escapes (``!pip install``), ``x = !ls``, ``x = %time f()``, help (``model.fit?``) and
``pip install`` automagic become ``pass`` statements at the same indentation; a cell magic
(``%%bash``) masks the whole cell, except the magics whose body is Python (``%%time``,
``%%timeit``, ``%%capture``, ``%%prun``, ``%%debug``, ``%%python``, ``%%python3``), where only
the first line is masked and the body is linted.

Cells are numbered from 1 over every cell of the notebook (markdown cells included), in the
order they appear; ``line`` is the line within the cell.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fitlint import suppression
from fitlint.model import Edit, Finding, Fix

_PYTHON_CELL_MAGICS = frozenset(
    {"time", "timeit", "capture", "prun", "debug", "python", "python3", "pypy"}
)
_MARKER = "# %% fitlint cell {n}"
_MARKER_RE = re.compile(r"^# %% fitlint cell (\d+)\r?$", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(r"^[ \t]*(?:pass  )?# fitlint-magic-(\d+)\r?$")
_ASSIGN_MAGIC = re.compile(r"^[\w\s.,\[\]()*]+=\s*[!%]")
_CITED_LINE = re.compile(r"\bline (\d+)\b")
_AST_ONLY = 0x400  # ast.PyCF_ONLY_AST: parse, do not compile
_TOP_LEVEL_AWAIT = 0x2000  # ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
_AUTOMAGIC = re.compile(r"^(?:pip|conda|mamba)\s+(?:install|uninstall)\b")


class NotebookError(ValueError):
    """A notebook that cannot be read; the message is one line."""


@dataclass
class CodeCell:
    """One code cell: where it sits in the notebook and in the virtual module."""

    number: int
    """1-based position among all the notebook's cells."""
    index: int
    """0-based index into the notebook's ``cells`` list."""
    source: str
    masked: str
    first_line: int = 0
    """Virtual-module line of the cell's first line (the line after its marker)."""


@dataclass
class Notebook:
    """A parsed notebook and its virtual module."""

    path: str
    text: str
    data: dict[str, Any]
    cells: list[CodeCell] = field(default_factory=list)
    virtual: str = ""
    magic_lines: list[str] = field(default_factory=list)
    cell_errors: list[Finding] = field(default_factory=list)
    """Syntax errors of cells left out of the virtual module (so the others are linted)."""

    def cell_sources(self) -> dict[int, str]:
        """The original source of every code cell by cell number."""
        return {c.number: c.source for c in self.cells}


def _cell_text(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _is_magic(stripped: str) -> bool:
    if not stripped or stripped.startswith("#"):
        return False
    if stripped[0] in "%!?":
        return True
    if stripped.endswith("?") and "#" not in stripped:
        return True
    return bool(_ASSIGN_MAGIC.match(stripped) or _AUTOMAGIC.match(stripped))


_QUOTES = "\"'"


def _continues(line: str, state: tuple[int, str | None]) -> tuple[int, str | None, bool]:
    """Scans one line of Python: the bracket depth and the open triple-quoted string after
    it, and whether the next line continues this statement (an open bracket or string, or a
    trailing backslash). ``state`` is the depth and open triple quote before the line."""
    depth, triple = state
    i, n = 0, len(line.rstrip("\r"))
    while i < n:
        if triple is not None:
            end = line.find(triple, i)
            if end < 0:
                return depth, triple, True
            i, triple = end + 3, None
            continue
        ch = line[i]
        if ch == "#":
            break
        if ch in _QUOTES:
            if line.startswith(ch * 3, i):
                triple, i = ch * 3, i + 3
                continue
            i += 1
            while i < n and line[i] != ch:
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        i += 1
    code = line[:i].rstrip("\r")
    return depth, triple, depth > 0 or triple is not None or code.endswith("\\")


def _mask(source: str, magic_lines: list[str]) -> str:
    lines = source.split("\n")
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    out: list[str] = []

    def placeholder(line: str, indent: str, comment: bool = False) -> str:
        magic_lines.append(line)
        k = len(magic_lines) - 1
        return f"# fitlint-magic-{k}" if comment else f"{indent}pass  # fitlint-magic-{k}"

    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if len(first) > 2 else ""
        if name not in _PYTHON_CELL_MAGICS:
            return "\n".join(placeholder(ln, "", comment=True) for ln in lines)
    i = 0
    masked_first_cell_magic = False
    state: tuple[int, str | None] = (0, None)
    continued = False
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if continued:  # inside brackets, a string or after a backslash: Python, not a magic
            depth, triple, continued = _continues(line, state)
            state = (depth, triple)
            out.append(line)
            i += 1
            continue
        if stripped.startswith("%%") and not masked_first_cell_magic:
            masked_first_cell_magic = True
            out.append(placeholder(line, "", comment=True))
            i += 1
            continue
        if stripped:
            masked_first_cell_magic = True
        if _is_magic(stripped):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(placeholder(line, indent))
            while line.rstrip("\r").endswith("\\") and i + 1 < len(lines):
                i += 1
                line = lines[i]
                out.append(placeholder(line, indent))
            i += 1
            continue
        depth, triple, continued = _continues(line, state)
        state = (depth, triple)
        out.append(line)
        i += 1
    return "\n".join(out)


def _language(data: dict[str, Any]) -> str | None:
    meta = data.get("metadata")
    if not isinstance(meta, dict):
        return None
    info = meta.get("language_info")
    if isinstance(info, dict) and isinstance(info.get("name"), str):
        return str(info["name"]).lower()
    spec = meta.get("kernelspec")
    if isinstance(spec, dict) and isinstance(spec.get("language"), str):
        return str(spec["language"]).lower()
    return None


def parse(text: str, path: str) -> Notebook:
    """Parses a notebook's JSON text into its virtual module.

    Raises:
        NotebookError: For invalid JSON or JSON that is not an nbformat 4 notebook.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise NotebookError(
            f"{path}: invalid notebook JSON: {err.msg} (line {err.lineno}, column {err.colno})"
        ) from None
    except RecursionError:
        raise NotebookError(f"{path}: invalid notebook JSON: nested too deep") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        if isinstance(data, dict) and "worksheets" in data:
            raise NotebookError(f"{path}: nbformat 3 notebooks are not supported")
        raise NotebookError(f"{path}: not a Jupyter notebook (no list of cells)")
    return _from_data(data, path, text)


def from_cells(cells: Sequence[tuple[str, bool]], path: str) -> Notebook:
    """The notebook of ``(text, is_python_code)`` cells, in order, as an editor holds it (no
    JSON text); cell ``i`` of the list is cell number ``i + 1``."""
    data = {
        "cells": [
            {"cell_type": "code" if code else "markdown", "source": text} for text, code in cells
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
    }
    return _from_data(data, path, "")


def _from_data(data: dict[str, Any], path: str, text: str) -> Notebook:
    nb = Notebook(path=path, text=text, data=data)
    language = _language(data)
    if language is not None and language != "python":
        return nb  # nothing to lint in an R or Julia notebook
    for i, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_text(cell)
        masked = _mask(source, nb.magic_lines)
        nb.cells.append(CodeCell(number=i + 1, index=i, source=source, masked=masked))
    _join(nb)
    if _syntax_error(nb.virtual, path) is not None:
        _leave_out_bad_cells(nb, path)
    return nb


def _join(nb: Notebook) -> None:
    parts: list[str] = []
    line = 1
    for cc in nb.cells:
        masked = cc.masked
        body = masked if masked.endswith("\n") or not masked else masked + "\n"
        cc.first_line = line + 1
        parts.append(_MARKER.format(n=cc.number) + "\n" + body)
        line += 1 + body.count("\n")
    nb.virtual = "".join(parts)


def _syntax_error(text: str, path: str) -> SyntaxError | None:
    """CPython's syntax error for ``text`` (top-level ``await`` allowed, as IPython does)."""
    try:
        compile(text, path, "exec", flags=_AST_ONLY | _TOP_LEVEL_AWAIT, dont_inherit=True)
    except SyntaxError as err:
        return err
    except (ValueError, RecursionError, MemoryError):
        return None
    return None


def _leave_out_bad_cells(nb: Notebook, path: str) -> None:
    """Replaces each cell that does not parse on its own by comments of the same line count,
    and keeps its syntax error (cell and line) for :func:`locate`: one bad cell must not
    hide the findings of the others. The cells are parsed one by one only when the whole
    notebook does not parse."""
    for cc in nb.cells:
        err = _syntax_error(cc.masked, path)
        if err is None:
            continue
        line = max(err.lineno or 1, 1)
        column = max(err.offset or 1, 1)
        end_line = err.end_lineno or line
        end_column = err.end_offset or 0
        if end_line < line or (end_line == line and end_column <= column):
            end_line, end_column = line, column + 1
        error = Finding.syntax_error(
            path, (line, column, end_line, end_column), err.msg, cell=cc.number
        )
        nb.cell_errors.extend(suppression.filter_findings([error], cc.source))
        commented = []
        for text in cc.masked.split("\n"):
            nb.magic_lines.append(text)
            commented.append(f"# fitlint-magic-{len(nb.magic_lines) - 1}")
        cc.masked = "\n".join(commented)
    if nb.cell_errors:
        _join(nb)


def _cell_of(nb: Notebook, line: int) -> CodeCell | None:
    starts = [c.first_line for c in nb.cells]
    i = bisect.bisect_right(starts, line) - 1
    return nb.cells[max(i, 0)] if nb.cells else None


def _cite(nb: Notebook, cell: CodeCell, message: str) -> str:
    """Rewrites the virtual-module lines a message cites (``(line 896)``) as cell lines."""

    def cited(m: re.Match[str]) -> str:
        line = int(m.group(1))
        other = _cell_of(nb, line)
        if other is None or line < other.first_line:
            return m.group(0)
        within = line - other.first_line + 1
        return f"line {within}" if other is cell else f"cell {other.number}, line {within}"

    return _CITED_LINE.sub(cited, message)


def locate(nb: Notebook, findings: list[Finding]) -> list[Finding]:
    """Maps findings from virtual-module lines to (cell, line within the cell), the lines
    their messages cite included, and adds the syntax errors of the cells left out."""
    if any(f.code == "FL000" and f.cell is None for f in findings):
        return [*_located(nb, findings)]  # the whole notebook failed: its own error says so
    return sorted(
        [*_located(nb, findings), *nb.cell_errors],
        key=lambda f: (f.cell or 0, f.line, f.column, f.code),
    )


def _located(nb: Notebook, findings: list[Finding]) -> list[Finding]:
    out = []
    for f in findings:
        cell = _cell_of(nb, f.line)
        if cell is None:
            continue
        offset = cell.first_line - 1
        fix = f.fix
        if fix is not None:
            fix = Fix(
                fix.message,
                tuple(
                    Edit(
                        max(e.line - offset, 1),
                        e.column,
                        max(e.end_line - offset, 1),
                        e.end_column,
                        e.content,
                    )
                    for e in fix.edits
                ),
            )
        out.append(
            replace(
                f,
                line=max(f.line - offset, 1),
                end_line=max(f.end_line - offset, 1),
                message=_cite(nb, cell, f.message) if "line " in f.message else f.message,
                fix=fix,
                cell=cell.number,
            )
        )
    return out


def _split_virtual(nb: Notebook, virtual: str) -> dict[int, str]:
    markers = list(_MARKER_RE.finditer(virtual))
    numbers = [int(m.group(1)) for m in markers]
    if numbers != [c.number for c in nb.cells]:
        raise NotebookError(f"{nb.path}: fix refused: it changed the cell boundaries")
    out: dict[int, str] = {}
    for i, m in enumerate(markers):
        start = m.end() + 1
        end = markers[i + 1].start() if i + 1 < len(markers) else len(virtual)
        out[numbers[i]] = virtual[start:end]
    return out


def _unmask(nb: Notebook, masked: str) -> str:
    lines = masked.split("\n")
    for i, line in enumerate(lines):
        m = _PLACEHOLDER_RE.match(line)
        if m and int(m.group(1)) < len(nb.magic_lines):
            lines[i] = nb.magic_lines[int(m.group(1))]
    return "\n".join(lines)


def _source_value(original: object, text: str) -> object:
    if isinstance(original, str):
        return text
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def _dump_like(nb: Notebook, data: dict[str, Any]) -> str:
    text = nb.text
    m = re.match(r"\{\r?\n([ \t]+)\"", text)
    indent: int | str | None = None
    separators: tuple[str, str] | None = None
    if m:
        ws = m.group(1)
        indent = len(ws) if set(ws) == {" "} else ws
    else:
        separators = (",", ":") if re.search(r"\":[^ ]", text) else (", ", ": ")
    ensure_ascii = not any(ord(ch) > 127 for ch in text) and "\\u" in text
    out = json.dumps(data, indent=indent, ensure_ascii=ensure_ascii, separators=separators)
    if text.endswith("\n"):
        out += "\n"
    if "\r\n" in text:
        out = out.replace("\n", "\r\n")
    return out


def rebuild(nb: Notebook, virtual: str) -> str:
    """The notebook's JSON text after its virtual module became ``virtual``: only the cells
    whose code changed get a new ``source``; the rest of the JSON keeps its key order,
    indentation, ASCII escaping, line endings and final newline.

    Raises:
        NotebookError: When ``virtual`` no longer has one marker per code cell.
    """
    new_cells = _split_virtual(nb, virtual)
    data = json.loads(nb.text)
    changed = False
    for cell in nb.cells:
        body = new_cells[cell.number]
        if body in (cell.masked, cell.masked + "\n"):
            continue
        new_source = _unmask(nb, body)
        if not cell.source.endswith("\n") and new_source.endswith("\n"):
            new_source = new_source[:-1]
        if new_source == cell.source:
            continue
        raw = data["cells"][cell.index]
        raw["source"] = _source_value(raw.get("source"), new_source)
        changed = True
    if not changed:
        return nb.text
    return _dump_like(nb, data)
