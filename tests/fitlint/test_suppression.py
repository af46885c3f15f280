"""Suppression comments: line-level ``# noqa`` / ``# fitlint: ignore[...]`` and file-level
``# fitlint: ignore-file``, through the real engine (FL000 syntax-error gives a finding whose
line is known in every source)."""

from __future__ import annotations

import pytest

from fitlint import suppression
from fitlint.api import lint_source
from fitlint.model import Config

# The syntax error is on line 2: `model.fit(` is never closed.
BROKEN = "import keras\nmodel.fit(x, y, epochs=10{comment}\n"


@pytest.mark.parametrize(
    ("comment", "suppressed"),
    [
        pytest.param("", False, id="no-comment"),
        pytest.param("  # noqa", True, id="bare-noqa"),
        pytest.param("  # NOQA", True, id="bare-noqa-upper"),
        pytest.param("  # noqa: FL000", True, id="noqa-code"),
        pytest.param("  # noqa:FL000", True, id="noqa-code-no-space"),
        pytest.param("  # noqa: fl000", True, id="noqa-code-lowercase"),
        pytest.param("  # noqa: E501, FL000", True, id="noqa-code-list"),
        pytest.param("  # noqa: E501 FL000", True, id="noqa-space-list"),
        pytest.param("  # noqa: syntax-error", True, id="noqa-name"),
        pytest.param("  # noqa: E501", False, id="noqa-other-tool"),
        pytest.param("  # noqa: FL201", False, id="noqa-other-rule"),
        pytest.param("  # noqa: FL00", False, id="noqa-prefix-is-not-a-code"),
        pytest.param("  # fitlint: ignore", True, id="fitlint-ignore-bare"),
        pytest.param("  # fitlint: ignore[FL000]", True, id="fitlint-ignore-code"),
        pytest.param("  # fitlint: ignore[syntax-error]", True, id="fitlint-ignore-name"),
        pytest.param("  # fitlint:ignore[FL201, syntax-error]", True, id="fitlint-ignore-list"),
        pytest.param("  # fitlint: ignore[FL201]", False, id="fitlint-ignore-other"),
        pytest.param("  # type: ignore", False, id="type-ignore"),
        pytest.param("  # something about noqa", False, id="noqa-without-hash-prefix"),
    ],
)
def test_line_suppression(comment: str, suppressed: bool) -> None:
    result = lint_source(BROKEN.format(comment=comment), "x.py")
    codes = [f.code for f in result.findings]
    assert codes == ([] if suppressed else ["FL000"])


def test_comment_on_another_line_does_not_suppress() -> None:
    source = "import keras  # noqa\nmodel.fit(x, y, epochs=10\n"
    assert [f.line for f in lint_source(source, "x.py").findings] == [2]


@pytest.mark.parametrize(
    ("source", "suppressed"),
    [
        pytest.param("# fitlint: ignore-file\n{broken}", True, id="first-line"),
        pytest.param("{broken}\n# fitlint: ignore-file\n", True, id="last-line"),
        pytest.param("  #fitlint:ignore-file\n{broken}", True, id="indented-no-spaces"),
        pytest.param("# fitlint: ignore-file[FL000]\n{broken}", True, id="for-code"),
        pytest.param("# fitlint: ignore-file[syntax-error]\n{broken}", True, id="for-name"),
        pytest.param("# fitlint: ignore-file[FL201]\n{broken}", False, id="for-other-rule"),
        pytest.param("x = '# fitlint: ignore-file'\n{broken}", False, id="inside-a-string"),
        pytest.param("x = 1  # fitlint: ignore-file\n{broken}", False, id="trailing-comment"),
        pytest.param("# fitlint: ignore-files\n{broken}", False, id="misspelt"),
    ],
)
def test_file_suppression(source: str, suppressed: bool) -> None:
    text = source.format(broken=BROKEN.format(comment=""))
    result = lint_source(text, "x.py")
    assert bool(result.findings) is not suppressed


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("x = 1\n", None, id="none"),
        pytest.param("# fitlint: ignore-file\n", (), id="bare"),
        pytest.param(
            "# fitlint: ignore-file[FL201, learning-rate-too-high]\n",
            ("FL201", "learning-rate-too-high"),
            id="list",
        ),
        pytest.param(
            "# fitlint: ignore-file[FL201]\n# fitlint: ignore-file[FL202]\n",
            ("FL201", "FL202"),
            id="several-add-up",
        ),
        pytest.param("# fitlint: ignore-file[FL201]\n# fitlint: ignore-file\n", (), id="bare-wins"),
        pytest.param("# fitlint: ignore-file\r\n", (), id="crlf"),
    ],
)
def test_file_directive_parsing(source: str, expected: tuple[str, ...] | None) -> None:
    directive = suppression.file_directive(source)
    if expected is None:
        assert directive is None
    else:
        assert directive is not None
        assert directive.rules == expected


def test_disabled_by_matches_codes_and_names() -> None:
    directive = suppression.FileDirective(("FL201", "deep-stacked-rnn"))
    rules = [("FL201", "a"), ("FL301", "deep-stacked-rnn"), ("FL302", "other")]
    assert suppression.disabled_by(directive, rules) == {"FL201", "FL301"}
    assert suppression.disabled_by(suppression.FileDirective(), rules) == {
        "FL201",
        "FL301",
        "FL302",
    }


def test_suppression_applies_with_explicit_selection() -> None:
    result = lint_source(BROKEN.format(comment="  # noqa: FL000"), "x.py", Config(select=("ALL",)))
    assert [f for f in result.findings if f.code == "FL000"] == []


@pytest.mark.parametrize(
    "separator",
    ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"],
    ids=["form-feed", "vertical-tab", "fs", "gs", "rs", "nel", "line-sep", "para-sep"],
)
def test_characters_that_str_splitlines_splits_at_do_not_move_lines(separator: str) -> None:
    """Python ends a line at \\n, \\r\\n and \\r only: a form feed (or \\v, \\x1c...) inside a
    line, as old sources have between sections, must not shift the line a comment is read on,
    nor the line a finding shows."""
    source = (
        "import keras\n"
        f"x = 1  # {separator}\n"
        "model = keras.Sequential()\n"
        "model.compile(optimizer=keras.optimizers.SGD(learning_rate=5), loss='mse')"
    )
    flagged = lint_source(source, "t.py", Config())
    (finding,) = [f for f in flagged.findings if f.code == "FL201"]
    assert finding.line == 4
    assert flagged.source_line(finding) == source.split("\n")[3]
    hidden = lint_source(source + "  # noqa: FL201\n", "t.py", Config())
    assert not [f for f in hidden.findings if f.code == "FL201"]
