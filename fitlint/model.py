"""Frozen dataclasses shared by every layer of fitlint: findings, fixes, rule metadata, config.

Positions follow the convention of ruff's output: lines and columns are 1-based, and
``end_column`` points one past the last character of the range.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """The lines of a source text, without their endings, as Python, libcst and the editor
    protocol count them: ``\\n``, ``\\r\\n`` and ``\\r`` end a line (a form feed or
    ``\\v``, which ``str.splitlines`` also splits at, does not); a text ending with a line
    break has a last, empty line."""
    return LINE_BREAK.split(text)


class Severity(str, enum.Enum):
    """How bad a finding is; formats map it to their own levels."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the text between two positions (end exclusive) with ``content``."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str


@dataclass(frozen=True)
class Fix:
    """A mechanical rewrite that resolves a finding; ``edits`` never overlap."""

    message: str
    edits: tuple[Edit, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "edits": [
                {
                    "line": e.line,
                    "column": e.column,
                    "end_line": e.end_line,
                    "end_column": e.end_column,
                    "content": e.content,
                }
                for e in self.edits
            ],
        }


@dataclass(frozen=True)
class Finding:
    """One problem found in one file."""

    code: str
    name: str
    severity: Severity
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fix: Fix | None = None
    cell: int | None = None
    """In a notebook: the 1-based cell number; ``line`` is then the line within the cell."""

    @classmethod
    def syntax_error(
        cls, path: str, where: tuple[int, int, int, int], detail: str, cell: int | None = None
    ) -> Finding:
        """The FL000 finding of text that does not parse: ``where`` is (line, column,
        end_line, end_column), ``detail`` the parser's words."""
        line, column, end_line, end_column = where
        return cls(
            code="FL000",
            name="syntax-error",
            severity=Severity.ERROR,
            path=path,
            line=line,
            column=column,
            end_line=end_line,
            end_column=end_column,
            message=f"syntax error: {detail}",
            cell=cell,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.code,
            "name": self.name,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
        }
        if self.fix is not None:
            out["fix"] = self.fix.to_json()
        if self.cell is not None:
            out["cell"] = self.cell
        return out


@dataclass(frozen=True)
class RuleInfo:
    """What the documentation, ``--list-rules`` and configuration know of a rule."""

    code: str
    name: str
    severity: Severity
    default_enabled: bool
    fixable: bool
    summary: str
    doc: str
    options: Mapping[str, float | int]


@dataclass(frozen=True)
class Config:
    """The effective configuration for one file.

    Attributes:
        select: Codes or names to enable; empty means the default set.
        extend_select: Codes or names enabled on top of ``select``.
        ignore: Codes or names to disable (wins over selection).
        options: Per-rule thresholds, keyed by rule name then option name.
    """

    select: tuple[str, ...] = ()
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    options: Mapping[str, Mapping[str, float | int]] = field(default_factory=dict)


class ConfigError(ValueError):
    """An unknown rule, option or malformed setting in the configuration."""


class SourceReadError(Exception):
    """A file that cannot be read as Python source; the message is one line."""
