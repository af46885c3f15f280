"""Suppression comments, found by a cheap scan of the source text (no tokenizer, no parse).

- ``# noqa`` on the line where a finding starts suppresses every finding starting there;
  ``# noqa: FL201, removed-keras-argument`` only those rules (codes or names, separated by
  commas or spaces; codes of other tools are ignored, so ``# noqa: E501`` hides nothing).
- ``# fitlint: ignore`` and ``# fitlint: ignore[FL201,learning-rate-too-high]`` work the same.
- ``# fitlint: ignore-file`` on a comment line of its own, anywhere in the file, skips the
  whole file; ``# fitlint: ignore-file[FL201,...]`` disables only those rules in the file.

As in ruff, a line comment applies to the line where the finding *starts*: for a call spread
over several lines, put it on the first line of the finding's range.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fitlint.model import Finding, split_lines

_NOQA = re.compile(
    r"#\s*noqa(?::[\s]*(?P<codes>[\w\-]+(?:[\s,]+[\w\-]+)*))?",
    re.IGNORECASE,
)
_IGNORE = re.compile(
    r"#\s*fitlint:\s*ignore(?!-file)(?:\[(?P<rules>[^\]]*)\])?",
    re.IGNORECASE,
)
_IGNORE_FILE = re.compile(
    r"^[ \t]*#[ \t]*fitlint:[ \t]*ignore-file(?:\[(?P<rules>[^\]]*)\])?[ \t]*(?:#.*)?\r?$",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class FileDirective:
    """A ``# fitlint: ignore-file`` comment: ``rules`` empty means every rule."""

    rules: tuple[str, ...] = ()


def _split(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(t for t in re.split(r"[\s,]+", text.strip()) if t)


def file_directive(source: str) -> FileDirective | None:
    """The file-level directive of ``source``, if it has one.

    Several ``ignore-file[...]`` comments add up; a bare one wins.
    """
    if "ignore-file" not in source:  # the common case costs one substring search
        return None
    rules: list[str] = []
    found = False
    for m in _IGNORE_FILE.finditer(source):
        found = True
        names = _split(m.group("rules"))
        if not names:
            return FileDirective()
        rules.extend(names)
    return FileDirective(tuple(rules)) if found else None


def rule_matches(selector: str, code: str, name: str) -> bool:
    """Whether a code or name written in a suppression comment designates a rule."""
    return selector.upper() == code or selector.lower() == name


@dataclass(frozen=True)
class Noqa:
    """A ``# noqa`` comment as the suppression scan reads it.

    Attributes:
        codes: The codes and names it lists (of any tool); empty for a bare ``# noqa``.
        end: The offset, in the text searched, just after the comment's last code (after
            ``noqa`` when it is bare): where another code is appended.
    """

    codes: tuple[str, ...]
    end: int


def find_noqa(text: str) -> Noqa | None:
    """The first ``# noqa`` comment in ``text`` (a comment, or a line)."""
    m = _NOQA.search(text)
    if m is None:
        return None
    codes = _split(m.group("codes"))
    return Noqa(codes, m.end("codes") if codes else m.end())


def line_suppresses(line: str, code: str, name: str) -> bool:
    """Whether a suppression comment on ``line`` hides the findings of rule ``code``/``name``
    that start on it."""
    return _line_suppresses(line, code, name)


def _line_suppresses(line: str, code: str, name: str) -> bool:
    if "#" not in line:
        return False
    for m in _NOQA.finditer(line):
        codes = _split(m.group("codes"))
        if not codes or any(rule_matches(c, code, name) for c in codes):
            return True
    for m in _IGNORE.finditer(line):
        rules = m.group("rules")
        if rules is None or any(rule_matches(c, code, name) for c in _split(rules)):
            return True
    return False


def filter_findings(findings: Sequence[Finding], source: str) -> list[Finding]:
    """Drops the findings that a comment on their first line suppresses."""
    if not findings or "#" not in source:
        return list(findings)
    lines = split_lines(source)
    out = []
    for f in findings:
        line = lines[f.line - 1] if 1 <= f.line <= len(lines) else ""
        if not _line_suppresses(line, f.code, f.name):
            out.append(f)
    return out


def disabled_by(directive: FileDirective, rules: Iterable[tuple[str, str]]) -> set[str]:
    """The codes among ``rules`` ((code, name) pairs) that a file directive disables."""
    return {
        code
        for code, name in rules
        if not directive.rules or any(rule_matches(s, code, name) for s in directive.rules)
    }
