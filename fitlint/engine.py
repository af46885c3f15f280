"""Parse once, run every enabled rule over one shared analysis, position the findings.

The engine never prints and does no I/O: ``api`` reads files, ``formats`` writes text.
Suppression comments (``fitlint.suppression``) are honoured here: a file-level
``# fitlint: ignore-file`` before parsing, line comments on the findings only.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import libcst as cst

if TYPE_CHECKING:
    from libcst.metadata import CodeRange

from fitlint import nesting, suppression
from fitlint.model import LINE_BREAK, Edit, Finding, Fix
from fitlint.rules.base import Report, Rule, RuleContext


@dataclass
class SourceResult:
    """The findings for one source text, and the internal errors of rules that raised."""

    findings: list[Finding] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)


def lint_text(
    source: str,
    path: str,
    rules: Sequence[Rule],
) -> SourceResult:
    """Lints one source text with already-instantiated rules.

    Args:
        source: The module's text.
        path: The path shown in findings.
        rules: The enabled rules.

    A text nested too deeply for libcst's native parser (which would crash the process) is
    refused before parsing, as the syntax error CPython reports for it (FL000); a
    ``RecursionError`` while analysing becomes an internal error of the file, never an
    exception.
    """
    result = SourceResult()
    directive = suppression.file_directive(source)
    if directive is not None:
        off = suppression.disabled_by(directive, ((r.code, r.name) for r in rules))
        rules = [r for r in rules if r.code not in off]
        if not rules:
            return result
    refusal = nesting.check(source)
    if refusal is not None:
        if any(r.code == "FL000" for r in rules):
            finding = Finding.syntax_error(
                path,
                (refusal.line, refusal.column, refusal.end_line, refusal.end_column),
                refusal.message,
            )
            result.findings = suppression.filter_findings([finding], source)
        return result
    with _no_cyclic_gc():
        return _parse_and_lint(source, path, rules, result)


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pauses Python's cyclic garbage collector for one file's lint.

    The syntax tree and the analyses are hundreds of thousands of long-lived objects that
    reference counting frees when the lint ends; a collector running meanwhile only traverses
    them again and again (a quarter of the lint of a large file). What is cyclic garbage is
    collected at the collector's next run after the lint.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_and_lint(
    source: str, path: str, rules: Sequence[Rule], result: SourceResult
) -> SourceResult:
    try:
        module = cst.parse_module(source)
    except (cst.ParserSyntaxError, cst.CSTValidationError) as err:
        # libcst rejects some text only when it builds the node (CSTValidationError: a name
        # made of a character that is no identifier, such as U+13460); CPython rejects it too.
        if any(r.code == "FL000" for r in rules):
            result.findings = suppression.filter_findings(
                [_syntax_finding(err, source, path)], source
            )
        return result
    except (RecursionError, MemoryError) as err:
        result.internal_errors.append(f"{path}: cannot parse: {type(err).__name__}")
        return result
    try:
        _lint_module(module, source, path, rules, result)
    except RecursionError:
        result.findings = []
        result.internal_errors.append(f"{path}: cannot analyse: nesting too deep")
    return result


def _lint_module(
    module: cst.Module, source: str, path: str, rules: Sequence[Rule], result: SourceResult
) -> None:
    from fitlint.analysis.index import build_index

    index = build_index(module)
    index.source = source  # positions are then computed for the statements asked about only
    ctx = RuleContext(index, path)
    reports: list[tuple[Rule, Report]] = []
    for rule in rules:
        try:
            reports.extend((rule, r) for r in rule.check(ctx))
        except Exception as err:  # a rule bug must not stop the other rules or files
            result.internal_errors.append(
                f"{path}: internal error in rule {rule.code} {rule.name}: "
                f"{type(err).__name__}: {err}"
            )
    if reports:
        findings = _position(index.positions(), path, reports)
        result.findings.extend(suppression.filter_findings(findings, source))
    result.findings.sort(key=lambda f: (f.line, f.column, f.code))


def _syntax_finding(
    err: cst.ParserSyntaxError | cst.CSTValidationError, source: str, path: str
) -> Finding:
    # CPython's parser locates errors precisely and words them well; it runs only on the
    # (rare) files that libcst rejects. libcst's own report is the fallback.
    if isinstance(err, cst.ParserSyntaxError):
        line, column, end_line, end_column = max(err.raw_line, 1), err.raw_column + 1, 0, 0
        message = str(err.message)
    else:
        line, column, end_line, end_column = 1, 1, 0, 0
        message = str(err)
    detail = message.strip().splitlines()[0] if message.strip() else "invalid syntax"
    try:
        compile(source, path, "exec", flags=0x400, dont_inherit=True)  # PyCF_ONLY_AST
    except SyntaxError as py_err:
        line = py_err.lineno or line
        column = py_err.offset or 1
        end_line = py_err.end_lineno or 0
        end_column = py_err.end_offset or 0
        detail = py_err.msg
    except (ValueError, RecursionError, MemoryError):
        pass
    if end_line < line or (end_line == line and end_column <= column):
        end_line, end_column = line, column + 1
    return Finding.syntax_error(path, (line, column, end_line, end_column), detail)


def _position(
    positions: Mapping[cst.CSTNode, CodeRange], path: str, reports: list[tuple[Rule, Report]]
) -> list[Finding]:
    findings: dict[tuple[str, int, int], Finding] = {}
    for rule, report in reports:
        rng = positions.get(report.node)
        if rng is None:
            continue
        fix = None
        if report.replacements:
            edits: list[Edit] = []
            for rep in report.replacements:
                r = positions.get(rep.node)
                if r is None:
                    edits = []
                    break
                start, end = r.start, r.end
                edits.append(
                    Edit(start.line, start.column + 1, end.line, end.column + 1, rep.content)
                )
            if edits:
                fix = Fix(message=report.fix_message or "apply fix", edits=tuple(sorted(edits)))
        finding = Finding(
            code=rule.code,
            name=rule.name,
            severity=rule.severity,
            path=path,
            line=rng.start.line,
            column=rng.start.column + 1,
            end_line=rng.end.line,
            end_column=rng.end.column + 1,
            message=report.message,
            fix=fix,
        )
        # One finding per rule and place: rules that reach a node twice report it once.
        findings.setdefault((rule.code, finding.line, finding.column), finding)
    return list(findings.values())


def apply_fixes(source: str, findings: Iterable[Finding]) -> tuple[str, int]:
    """Applies the non-overlapping fixes of ``findings`` to ``source``.

    Returns the new source and the number of fixes applied. A fix that overlaps one already
    taken is skipped (a second run picks it up).
    """
    # Lines end as libcst and CPython end them: "\n", "\r\n" or a lone "\r".
    line_starts = [0, *(m.end() for m in LINE_BREAK.finditer(source))]

    def offset(line: int, column: int) -> int:
        return line_starts[line - 1] + column - 1

    spans: list[tuple[int, int, str]] = []
    applied = 0
    for f in sorted(
        (f for f in findings if f.fix is not None), key=lambda f: (f.line, f.column, f.code)
    ):
        assert f.fix is not None
        candidate = [
            (offset(e.line, e.column), offset(e.end_line, e.end_column), e.content)
            for e in f.fix.edits
        ]
        if any(s < e2 and s2 < e for s, e, _ in candidate for s2, e2, _ in spans):
            continue
        spans.extend(candidate)
        applied += 1
    out = source
    for start, end, content in sorted(spans, reverse=True):
        out = out[:start] + content + out[end:]
    return out, applied
