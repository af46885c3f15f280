"""Jupyter notebooks: magics masked, cells joined and located, fixes written back into the
notebook JSON touching only the changed cells."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libcst as cst
import pytest

from fitlint import api, notebook
from fitlint.model import Config
from fitlint.rules.base import Replacement, Report, Rule, RuleContext


class _RenameLr(Rule):
    """Test-only fixable rule (not registered): renames the ``lr=`` keyword of any call."""

    name = "test-rename-lr"
    message = "lr= is gone"
    fixable = True

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for site in ctx.index.calls:
            for arg in site.node.args:
                if arg.keyword is not None and arg.keyword.value == "lr":
                    yield self.report(
                        arg.keyword,
                        fix_message="rename lr to learning_rate",
                        replacements=(Replacement(arg.keyword, "learning_rate"),),
                    )


_RenameLr.code = "FL990"  # set after creation: test rules stay out of the catalog


def _cell(source: str | list[str], kind: str = "code") -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(*cells: dict[str, Any], language: str = "python") -> str:
    nb = {
        "cells": list(cells),
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": language, "name": "python3"},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    # nbformat's own conventions: indent=1, sorted keys, non-ASCII kept, final newline.
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        pytest.param("%matplotlib inline\nx = 1", "pass  # fitlint-magic-0\nx = 1", id="line"),
        pytest.param("!pip install keras\nx = 1", "pass  # fitlint-magic-0\nx = 1", id="shell"),
        pytest.param("files = !ls\nx = 1", "pass  # fitlint-magic-0\nx = 1", id="assign-shell"),
        pytest.param("t = %timeit -o f()", "pass  # fitlint-magic-0", id="assign-magic"),
        pytest.param("model.fit?", "pass  # fitlint-magic-0", id="help"),
        pytest.param("?model.fit", "pass  # fitlint-magic-0", id="help-prefix"),
        pytest.param("pip install keras", "pass  # fitlint-magic-0", id="automagic-pip"),
        pytest.param(
            "if True:\n    %time f()\n", "if True:\n    pass  # fitlint-magic-0\n", id="indented"
        ),
        pytest.param(
            "!pip install \\\n  keras\nx = 1",
            "pass  # fitlint-magic-0\npass  # fitlint-magic-1\nx = 1",
            id="continued",
        ),
        pytest.param("%%time\nx = 1\n", "# fitlint-magic-0\nx = 1\n", id="python-cell-magic"),
        pytest.param(
            "%%bash\necho hi\nls",
            "# fitlint-magic-0\n# fitlint-magic-1\n# fitlint-magic-2",
            id="other-cell-magic",
        ),
        pytest.param("x = a % b\ny = a != b", "x = a % b\ny = a != b", id="operators-kept"),
        pytest.param("# what?\nx = 1", "# what?\nx = 1", id="comment-kept"),
        # `%` and `!` that continue a statement are Python operators, not magics.
        pytest.param(
            'print("%s: %s"\n      %(a, b))', 'print("%s: %s"\n      %(a, b))', id="in-brackets"
        ),
        pytest.param('s = "%d" \\\n    %(n)', 's = "%d" \\\n    %(n)', id="after-backslash"),
        pytest.param('q = """\n%time\n!ls\n"""', 'q = """\n%time\n!ls\n"""', id="in-triple-string"),
        pytest.param(
            'd = {"#": "(["}\n%time f()',
            'd = {"#": "(["}\npass  # fitlint-magic-0',
            id="brackets-in-strings-ignored",
        ),
        pytest.param(
            "f(1,  # (\n  2)\n!ls", "f(1,  # (\n  2)\npass  # fitlint-magic-0", id="comment-bracket"
        ),
    ],
)
def test_magics_are_masked_with_the_same_line_count(cell: str, expected: str) -> None:
    nb = notebook.parse(_notebook(_cell(cell)), "n.ipynb")
    (code,) = nb.cells
    assert code.masked == expected
    assert code.masked.count("\n") == cell.count("\n")
    cst.parse_module(nb.virtual)  # the virtual module is valid Python


def test_cells_join_and_findings_locate_to_cell_and_line() -> None:
    text = _notebook(
        _cell("# Title", kind="markdown"),
        _cell(["%matplotlib inline\n", "import keras\n"]),
        _cell("x = 1\n\n"),
        _cell(["model = keras.Sequential()\n", "opt = keras.optimizers.Adam(lr=0.1)"]),
    )
    result = api._lint_notebook_with(text, "n.ipynb", [_RenameLr()])
    assert result.error is None
    (f,) = result.findings
    assert (f.cell, f.line, f.column, f.end_line) == (4, 2, 29, 2)
    assert f.to_json()["cell"] == 4
    assert result.source_line(f) == "opt = keras.optimizers.Adam(lr=0.1)"
    assert f.fix is not None and f.fix.edits[0].line == 2


def test_syntax_error_in_a_cell_is_located() -> None:
    text = _notebook(_cell("import keras\n"), _cell("x = 1\nmodel.fit(x, y\n"))
    result = api.lint_notebook(text, "n.ipynb")
    assert [(f.code, f.cell) for f in result.findings] == [("FL000", 2)]


def test_a_bad_cell_hides_no_finding_of_the_others() -> None:
    text = _notebook(
        _cell("import keras\n"),
        _cell("x = 1\nmodel.fit(x, y, epochs=2, 3)\n"),
        _cell("def f(:\n    pass\n"),
        _cell("opt = keras.optimizers.Adam(learning_rate=0.5)\n"),
    )
    result = api.lint_notebook(text, "n.ipynb")
    assert [(f.code, f.cell, f.line) for f in result.findings] == [
        ("FL000", 2, 2),
        ("FL000", 3, 1),
        ("FL201", 4, 1),
    ]
    assert "positional argument follows keyword argument" in result.findings[0].message


def test_a_bad_cell_gives_no_syntax_error_when_FL000_is_not_selected() -> None:
    text = _notebook(
        _cell("import keras\n"),
        _cell("def f(:\n    pass\n"),
        _cell("opt = keras.optimizers.Adam(learning_rate=0.5)\n"),
    )
    result = api.lint_notebook(text, "n.ipynb", Config(ignore=("FL000",)))
    assert [(f.code, f.cell) for f in result.findings] == [("FL201", 3)]
    cells = [("import keras\n", True), ("def f(:\n", True), ("keras.optimizers.Adam(lr=1)\n", True)]
    from_cells = api.lint_cells(cells, "n.ipynb", Config(ignore=("FL000",)))
    assert "FL000" not in {f.code for f in from_cells.findings}


def test_a_bad_cell_is_not_rewritten_by_fixes() -> None:
    text = _notebook(_cell("import keras\n"), _cell("!ls\nf(x,\n"), _cell("g(lr=1)\n"))
    nb = notebook.parse(text, "n.ipynb")
    assert [c.number for c in nb.cells] == [1, 2, 3]
    assert notebook.rebuild(nb, nb.virtual) == text
    cst.parse_module(nb.virtual)


def test_messages_cite_cell_lines() -> None:
    text = _notebook(
        _cell("import numpy as np\nimport keras\n"),
        _cell("data = np.loadtxt('prices.csv')\n"),
        _cell(
            "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation='relu'),"
            " keras.layers.Dense(1)])\n"
            "model.compile(optimizer='adam', loss='mse')\n"
            "model.fit(data[:, :3], data[:, 3], epochs=5)\n"
        ),
    )
    result = api.lint_notebook(text, "n.ipynb")
    (f,) = [f for f in result.findings if f.code == "FL101"]
    assert (f.cell, f.line) == (3, 3)
    assert "(cell 2, line 1)" in f.message, f.message


def test_noqa_inside_a_cell() -> None:
    text = _notebook(_cell("import keras\n"), _cell("model.fit(x, y  # noqa\n"))
    assert api.lint_notebook(text, "n.ipynb").findings == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param('{"cells": [', "invalid notebook JSON", id="truncated"),
        pytest.param("[]", "not a Jupyter notebook", id="not-an-object"),
        pytest.param('{"worksheets": []}', "nbformat 3", id="nbformat3"),
    ],
)
def test_broken_notebook_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text(text, encoding="utf-8")
    result = api.lint_file(path)
    assert result.error is not None
    assert message in result.error
    assert result.error.startswith(str(path))
    assert "\n" not in result.error


def test_non_python_notebook_is_skipped() -> None:
    text = _notebook(_cell("library(keras)\nmodel.fit(x, y\n"), language="R")
    result = api.lint_notebook(text, "r.ipynb", Config(select=("ALL",)), force=True)
    assert result.findings == [] and result.error is None


def test_fix_rewrites_only_changed_cells_and_keeps_formatting(tmp_path: Path) -> None:
    untouched = ["%%time\n", "import keras\n", "x = 'héllo'  # non-ASCII kept\n", "!ls"]
    text = _notebook(
        _cell("# Notes ✓", kind="markdown"),
        _cell(untouched),
        _cell("%matplotlib inline\nopt = keras.optimizers.Adam(lr=0.1)\n%time f()"),
        _cell(["sgd = keras.optimizers.SGD(lr=1e-2)"]),
    )
    path = tmp_path / "train.ipynb"
    path.write_bytes(text.encode("utf-8"))
    outcome = api.fix_file(path, rules=[_RenameLr()])
    assert outcome.refused is None and outcome.applied == 2
    after = path.read_text(encoding="utf-8")
    expected = json.loads(text)
    expected["cells"][2]["source"] = (
        "%matplotlib inline\nopt = keras.optimizers.Adam(learning_rate=0.1)\n%time f()"
    )
    expected["cells"][3]["source"] = ["sgd = keras.optimizers.SGD(learning_rate=1e-2)"]
    assert after == json.dumps(expected, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert json.loads(after)["cells"][1]["source"] == untouched
    # A second run changes nothing.
    again = api.fix_file(path, rules=[_RenameLr()])
    assert again.applied == 0 and not again.changed
    assert path.read_text(encoding="utf-8") == after


def test_unchanged_notebook_is_byte_identical(tmp_path: Path) -> None:
    text = _notebook(_cell("import keras\nx = 1\n")).replace("\n", "\r\n")
    path = tmp_path / "same.ipynb"
    path.write_bytes(text.encode("utf-8"))
    outcome = api.fix_file(path, rules=[_RenameLr()])
    assert not outcome.changed
    assert path.read_bytes() == text.encode("utf-8")


def test_crlf_notebook_keeps_crlf_after_fix(tmp_path: Path) -> None:
    text = _notebook(_cell("import keras\nopt = keras.optimizers.Adam(lr=0.1)\n"))
    path = tmp_path / "crlf.ipynb"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    assert api.fix_file(path, rules=[_RenameLr()]).applied == 1
    data = path.read_bytes()
    assert b"learning_rate" in data
    assert data.count(b"\r\n") == data.count(b"\n")


def test_notebook_diff_names_the_cell() -> None:
    text = _notebook(_cell("import keras\n"), _cell("opt = keras.optimizers.Adam(lr=0.1)\n"))
    outcome = api.fix_source(text, "n.ipynb", rules=[_RenameLr()])
    diff = outcome.diff()
    assert "--- a/n.ipynb:cell 2" in diff
    assert "+opt = keras.optimizers.Adam(learning_rate=0.1)" in diff
    assert "cell 1" not in diff
