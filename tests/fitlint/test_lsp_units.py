"""The language server's pure parts: positions, edits, noqa comments, notebook cells, hover."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import pytest

from fitlint import api
from fitlint.lsp import actions, positions, server
from fitlint.model import Config, Edit, Finding, Fix, Severity, split_lines


def _apply(text: str, edits: Sequence[Edit]) -> str:
    """Applies fitlint edits through the server's own position conversion (UTF-32)."""
    lines = split_lines(text)
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    spans = []
    for e in edits:
        sl, sc = positions.to_position(lines, e.line, e.column, "utf-32")
        el, ec = positions.to_position(lines, e.end_line, e.end_column, "utf-32")
        spans.append((starts[sl] + sc, starts[el] + ec, e.content))
    for start, end, content in sorted(spans, reverse=True):
        text = text[:start] + content + text[end:]
    return text


def _finding(line: int, column: int = 1, code: str = "FL201", name: str = "x-y") -> Finding:
    return Finding(code, name, Severity.WARNING, "t.py", line, column, line, column + 1, "msg")


@pytest.mark.parametrize(
    ("line_text", "column", "encoding", "character"),
    [
        pytest.param("abc", 3, "utf-16", 2, id="ascii"),
        pytest.param("é😀x", 3, "utf-16", 3, id="utf16-surrogate-pair"),
        pytest.param("é😀x", 3, "utf-8", 6, id="utf8-bytes"),
        pytest.param("é😀x", 3, "utf-32", 2, id="utf32-code-points"),
        pytest.param("ab", 99, "utf-16", 2, id="clamped-to-line-end"),
    ],
)
def test_to_position_counts_code_units(
    line_text: str, column: int, encoding: str, character: int
) -> None:
    assert positions.to_position([line_text], 1, column, encoding) == (0, character)
    assert positions.from_position([line_text], 0, character, encoding) == (
        1,
        min(column, len(line_text) + 1),
    )


def test_positions_past_the_end_are_clamped() -> None:
    lines = split_lines("ab\ncd")
    assert positions.to_position(lines, 7, 1, "utf-16") == (1, 2)
    assert positions.from_position(lines, 9, 0, "utf-16") == (2, 3)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        pytest.param("a\nb\n", ["a", "b", ""], id="lf"),
        pytest.param("a\r\nb", ["a", "b"], id="crlf"),
        pytest.param("a\rb\n", ["a", "b", ""], id="cr"),
        pytest.param("a\x0cb\u2028c", ["a\x0cb\u2028c"], id="not-python-line-breaks"),
    ],
)
def test_split_lines_counts_as_python_does(text: str, lines: list[str]) -> None:
    assert split_lines(text) == lines


@pytest.mark.parametrize(
    ("old", "new", "count"),
    [
        pytest.param("a\nb\nc\n", "a\nB\nc\n", 1, id="one-line"),
        pytest.param("a\nb\nc\nd\ne\n", "A\nb\nc\nd\nE\n", 2, id="two-blocks"),
        pytest.param("a\nb", "a\nb\nc", 1, id="no-final-newline"),
        pytest.param("", "x = 1\n", 1, id="from-empty"),
        pytest.param("a\nb\n", "a\n", 1, id="delete-last"),
        pytest.param("x = 'é😀'\r\ny = 1\r\n", "x = 'é😀'\r\ny = 2\r\n", 1, id="crlf"),
        pytest.param("same\n", "same\n", 0, id="unchanged"),
    ],
)
def test_diff_edits_rebuild_the_new_text(old: str, new: str, count: int) -> None:
    edits = positions.diff_edits(old, new)
    assert len(edits) == count
    assert _apply(old, edits) == new


@pytest.mark.parametrize(
    ("source", "line", "expected"),
    [
        pytest.param("x = f(a)\n", 1, "x = f(a)  # noqa: FL201\n", id="append"),
        pytest.param("x = f(a)   \n", 1, "x = f(a)  # noqa: FL201\n", id="trailing-space"),
        pytest.param("x = f(a)  # noqa: E501\n", 1, "x = f(a)  # noqa: E501, FL201\n", id="extend"),
        pytest.param(
            "x = f(a)  # why  # NOQA: FL3, x-z\n",
            1,
            "x = f(a)  # why  # NOQA: FL3, x-z, FL201\n",
            id="extend-names",
        ),
        pytest.param(
            "x = f(a)  # keep me\n", 1, "x = f(a)  # keep me  # noqa: FL201\n", id="after"
        ),
        pytest.param("s = '#'\n", 1, "s = '#'  # noqa: FL201\n", id="hash-in-string"),
        pytest.param("x = f(\n    a)\n", 1, "x = f(  # noqa: FL201\n    a)\n", id="first-line"),
    ],
)
def test_noqa_edit(source: str, line: int, expected: str) -> None:
    edit = actions.noqa_edit(source, _finding(line))
    assert edit is not None
    assert _apply(source, [edit]) == expected


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = f(a)  # noqa\n", id="bare-noqa-covers-all"),
        pytest.param("x = f(a)  # noqa: FL201\n", id="already-listed"),
        pytest.param("x = f(a)  # noqa: x-y\n", id="listed-by-name"),
        pytest.param("x = f(a)  # fitlint: ignore[FL201]\n", id="fitlint-ignore"),
        pytest.param("x = f(a)  # fitlint: ignore\n", id="bare-fitlint-ignore"),
        pytest.param('x = f("""a\nb""")\n', id="line-ends-in-a-string"),
        pytest.param("x = f(a) + \\\n    g(b)\n", id="backslash-continuation"),
    ],
)
def test_no_noqa_edit(source: str) -> None:
    assert actions.noqa_edit(source, _finding(1)) is None


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("x = f(a)\n", id="new"),
        pytest.param("x = f(a)  # noqa: E501\n", id="extended"),
        pytest.param("x = f(a)  # note\n", id="after-a-comment"),
        pytest.param("x = f(a)  # NOQA:E501 ,W0 # why\n", id="extended-mixed-case"),
        pytest.param("x = f(a)  # fitlint: ignore[FL999]\n", id="ignore-of-another-rule"),
    ],
)
def test_noqa_edit_is_what_the_suppression_reader_honours(source: str) -> None:
    suppression = pytest.importorskip("fitlint.suppression")
    finding = _finding(1)
    assert suppression.filter_findings([finding], source) == [finding]
    edit = actions.noqa_edit(source, finding)
    assert edit is not None
    assert suppression.filter_findings([finding], _apply(source, [edit])) == []


def test_notebook_cells_are_linted_together_and_findings_return_to_their_cell() -> None:
    cells = [
        ("%matplotlib inline\nimport keras\n!pip list", True),
        ("# Training\n\nSome *markdown* (", False),
        ("if True:\n    %time x = 1\nmodel = keras.Sequential(\n", True),
    ]
    result = api.lint_cells(cells, "nb.ipynb", Config())
    grouped = positions.findings_by_cell(result.findings, [text for text, _ in cells])
    assert list(grouped) == [3]  # the magics and the markdown are not syntax errors
    (syntax,) = grouped[3]
    assert (syntax.code, syntax.line) == ("FL000", 3)


def test_findings_by_cell_cuts_ranges_and_drops_fixes_that_leave_the_cell() -> None:
    from dataclasses import replace

    base = replace(_finding(2), cell=2)
    inside = replace(base, fix=Fix("f", (Edit(2, 1, 2, 2, "x"),)))
    leaving = replace(base, column=5, end_line=4, fix=Fix("f", (Edit(2, 1, 4, 2, "x"),)))
    grouped = positions.findings_by_cell([inside, leaving], ["a\nb", "c\nd\n"])
    assert grouped[2][0] == inside
    assert grouped[2][1].fix is None
    assert grouped[2][1].end_line == 3  # the cell's last (empty) line
    assert positions.findings_by_cell([replace(base, cell=7)], ["a"]) == {}


def test_hover_markdown_has_what_why_use_instead_and_the_link() -> None:
    text = actions.hover_markdown(_finding(1, code="FL000", name="syntax-error"))
    assert text.startswith("**fitlint FL000** `syntax-error`: msg")
    for title in ("What it does", "Why is this bad?", "Use instead"):
        assert f"#### {title}" in text
    assert "## Example" not in text
    assert "(https://fitdiag.readthedocs.io/rules/#syntax-error)" in text


def test_hover_markdown_of_an_unknown_code_still_links() -> None:
    text = actions.hover_markdown(_finding(1, code="FL999", name="nothing-here"))
    assert "What it does" not in text
    assert actions.docs_link("nothing-here") in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--debounce", "-5"], "--debounce must be at least 0", id="negative"),
        pytest.param(["--log-file", "/nonexistent/dir/x.log"], "cannot write", id="log-file"),
        pytest.param(["--lint-timeout", "0"], "--lint-timeout must be", id="zero-timeout"),
        pytest.param(["--lint-timeout", "nan"], "--lint-timeout must be", id="nan-timeout"),
        pytest.param(["--lint-timeout=-inf"], "--lint-timeout must be", id="negative-timeout"),
    ],
)
def test_bad_server_options_are_one_line_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert server.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        server.main(["--no-such-option"])
    assert exc.value.code == 2
    assert "fitlint server" in capsys.readouterr().err


# ============================================================================ log records


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("pygls.server", logging.ERROR, __file__, 1, msg, args, exc_info)


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_a_record_with_an_exception_becomes_one_line_naming_it() -> None:
    record = _record("Unable to handle %s", "message", exc=_raised(ValueError("bad\nbody")))
    assert server._one_line(record)
    text = logging.Formatter("%(message)s").format(record)
    assert text == "Unable to handle message: ValueError: bad body"


def test_a_traceback_formatted_into_the_message_keeps_the_innermost_error() -> None:
    formatted = (
        "  + Exception Group Traceback (most recent call last):\n"
        "  | cattrs.errors.ClassValidationError: While structuring X (1 sub-exception)\n"
        "    | Traceback (most recent call last):\n"
        '    |   File "<generated>", line 5, in structure_X\n'
        "    | TypeError: 'NoneType' object is not subscriptable\n"
    )
    record = _record("Unable to deserialize message\n%s", formatted)
    server._one_line(record)
    assert record.getMessage() == (
        "Unable to deserialize message: TypeError: 'NoneType' object is not subscriptable"
    )


def test_a_one_line_record_is_left_alone() -> None:
    record = _record("Received response to unknown message id %r", "x")
    server._one_line(record)
    assert record.getMessage() == "Received response to unknown message id 'x'"
