"""What the server says about a finding: its diagnostic, its hover text, and the edits of
its code actions (the rule's fix, a ``# noqa`` suppression).

Every function here is pure: findings and text in, protocol objects or edits out.
"""

from __future__ import annotations

import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fitlint import suppression
from fitlint.lsp.positions import to_position
from fitlint.model import Edit, Finding, Severity, split_lines

if TYPE_CHECKING:
    from lsprotocol import types

    from fitlint.model import RuleInfo

#: Where each rule is documented; a finding links to ``DOCS_URL + "#" + rule name``.
DOCS_URL = "https://fitdiag.readthedocs.io/rules/"
#: The ``source`` of every diagnostic.
SOURCE = "fitlint"

_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_HOVER_SECTIONS = ("What it does", "Why is this bad?", "Use instead")


# --------------------------------------------------------------------------- rule docs


def rule_info(code: str) -> RuleInfo | None:
    """The registered rule's metadata, or None for an unknown code."""
    from fitlint.rules.base import all_rules

    rule = all_rules().get(code)
    return rule.info() if rule is not None else None


def doc_sections(doc: str) -> dict[str, str]:
    """Splits a rule docstring into its ``## Section`` bodies, by title."""
    out: dict[str, str] = {}
    matches = list(_SECTION.finditer(doc))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(doc)
        out[match.group(1)] = doc[match.end() : end].strip()
    return out


def docs_link(name: str) -> str:
    """The documentation address of a rule."""
    return f"{DOCS_URL}#{name}"


def hover_markdown(finding: Finding) -> str:
    """The hover text of a finding: its message, then the rule's What / Why / Use instead."""
    parts = [f"**fitlint {finding.code}** `{finding.name}`: {finding.message}"]
    info = rule_info(finding.code)
    if info is not None:
        sections = doc_sections(info.doc)
        for title in _HOVER_SECTIONS:
            body = sections.get(title)
            if body:
                parts.append(f"#### {title}\n\n{body}")
    parts.append(f"[Documentation of {finding.name}]({docs_link(finding.name)})")
    return "\n\n".join(parts)


# --------------------------------------------------------------------------- suppression


@dataclass(frozen=True)
class _Comment:
    column: int  # 1-based code-point column of the '#'
    text: str


def _line_facts(source: str) -> tuple[dict[int, _Comment], set[int]]:
    """Comments by line, and the lines whose end lies inside a string (no comment can go there)."""
    import io

    comments: dict[int, _Comment] = {}
    in_string: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = _Comment(tok.start[1] + 1, tok.string)
            elif tok.end[0] > tok.start[0] and tok.type not in (tokenize.NL, tokenize.NEWLINE):
                in_string.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return comments, in_string


def noqa_edit(source: str, finding: Finding) -> Edit | None:
    """The edit that adds ``finding.code`` to a ``# noqa`` comment on the finding's first line.

    Appends ``  # noqa: CODE`` or extends an existing ``# noqa: A, B`` (the comment as
    :mod:`fitlint.suppression` reads it). None when a comment on the line hides the finding
    already (a bare ``# noqa``, its code or name listed, ``# fitlint: ignore``), or when the
    line ends inside a multi-line string or with a backslash continuation (a comment cannot
    go there).
    """
    lines = split_lines(source)
    if not 1 <= finding.line <= len(lines):
        return None
    text = lines[finding.line - 1]
    if suppression.line_suppresses(text, finding.code, finding.name):
        return None
    comments, in_string = _line_facts(source)
    if finding.line in in_string or text.rstrip().endswith("\\"):
        return None  # the line goes on: a comment would end a string or break a continuation
    comment = comments.get(finding.line)
    noqa = suppression.find_noqa(comment.text) if comment is not None else None
    if comment is not None and noqa is not None and noqa.codes:
        at = comment.column + noqa.end
        return Edit(finding.line, at, finding.line, at, f", {finding.code}")
    end = len(text.rstrip()) + 1
    return Edit(finding.line, end, finding.line, len(text) + 1, f"  # noqa: {finding.code}")


# --------------------------------------------------------------------------- protocol objects


def lsp_range(
    lines: Sequence[str], line: int, col: int, end_line: int, end_col: int, encoding: str
) -> types.Range:
    """The protocol range of a 1-based, code-point range of ``lines``."""
    from lsprotocol import types

    sl, sc = to_position(lines, line, col, encoding)
    el, ec = to_position(lines, end_line, end_col, encoding)
    return types.Range(
        start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
    )


def diagnostic(f: Finding, lines: Sequence[str], encoding: str) -> types.Diagnostic:
    """The protocol diagnostic of a finding in the text split into ``lines``."""
    from lsprotocol import types

    severity = {
        Severity.ERROR: types.DiagnosticSeverity.Error,
        Severity.WARNING: types.DiagnosticSeverity.Warning,
        Severity.INFO: types.DiagnosticSeverity.Information,
    }[f.severity]
    data: dict[str, Any] = {"name": f.name}
    if f.fix is not None:
        data["fix"] = f.fix.to_json()
    return types.Diagnostic(
        range=lsp_range(lines, f.line, f.column, f.end_line, f.end_column, encoding),
        message=f"{f.message} ({f.name})",
        severity=severity,
        code=f.code,
        code_description=types.CodeDescription(href=docs_link(f.name)),
        source=SOURCE,
        data=data,
    )


def text_edits(edits: Iterable[Edit], lines: Sequence[str], encoding: str) -> list[types.TextEdit]:
    """The protocol edits of fitlint edits to the text split into ``lines``."""
    from lsprotocol import types

    return [
        types.TextEdit(
            range=lsp_range(lines, e.line, e.column, e.end_line, e.end_column, encoding),
            new_text=e.content,
        )
        for e in edits
    ]


def overlaps(finding: Finding, start: tuple[int, int], end: tuple[int, int]) -> bool:
    """Whether a finding's range meets the 1-based range from ``start`` to ``end``."""
    return (finding.line, finding.column) <= end and start <= (
        finding.end_line,
        finding.end_column,
    )
