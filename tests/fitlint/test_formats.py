"""Every output format, on findings from the real engine and on hand-made findings that
exercise fixes, notebooks and special characters. SARIF is validated against the 2.1.0 schema
shipped in tests/fitlint/data (see its README for the source)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
import pytest

from fitlint import formats
from fitlint.api import FileResult, lint_source
from fitlint.formats import sarif_format
from fitlint.model import Edit, Finding, Fix, Severity

SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8")
)
SOURCE = "import keras\nmodel.fit(x, y, epochs=10\n"


def _results() -> list[FileResult]:
    real = lint_source(SOURCE, "src/train.py")
    assert [f.code for f in real.findings] == ["FL000"]
    fixable = Finding(
        code="FL401",
        name="removed-keras-argument",
        severity=Severity.WARNING,
        path="src/old, 100%.py",
        line=2,
        column=29,
        end_line=2,
        end_column=31,
        message="`lr` was removed:\nuse `learning_rate`",
        fix=Fix("rename lr", (Edit(2, 29, 2, 31, "learning_rate"),)),
    )
    info = Finding(
        code="FL104",
        name="no-validation-data",
        severity=Severity.INFO,
        path="nb/explore.ipynb",
        line=3,
        column=1,
        end_line=3,
        end_column=20,
        message="no validation data",
        cell=4,
    )
    old_source = "import keras\nopt = keras.optimizers.Adam(lr=0.1)\n"
    return [
        real,
        FileResult(path=fixable.path, findings=[fixable], source=old_source),
        FileResult(path=info.path, findings=[info], cells={4: "a = 1\nb = 2\nmodel.fit(x, y)\n"}),
        FileResult(path="gone.py", error="gone.py: no such file or directory"),
    ]


def _render(name: str, color: bool = False) -> str:
    stream = io.StringIO()
    formats.get(name)(_results(), stream, color)
    return stream.getvalue()


def test_every_documented_format_renders() -> None:
    assert set(formats.NAMES) == {"full", "concise", "json", "sarif", "github"}
    for name in formats.NAMES:
        assert _render(name)
    with pytest.raises(ValueError, match="unknown format"):
        formats.get("xml")


def test_full_shows_source_line_and_caret() -> None:
    out = _render("full")
    assert (
        "src/train.py:2:10: error: FL000 syntax-error syntax error: '(' was never closed\n" in out
    )
    assert "    2 | model.fit(x, y, epochs=10\n" in out
    assert "      |          ^\n" in out
    assert "src/old, 100%.py:2:29: warning: FL401 removed-keras-argument" in out
    assert "      |                             ^^\n" in out
    assert "= fix available: rename lr" in out
    assert "nb/explore.ipynb:cell 4:3:1: info: FL104" in out
    assert "    3 | model.fit(x, y)\n" in out
    assert "\033[" not in out


def test_full_colours_only_when_asked() -> None:
    out = _render("full", color=True)
    assert "\033[31m\033[1merror:\033[0m \033[31m\033[1mFL000\033[0m" in out  # errors bold red
    assert "\033[33m\033[1mwarning:\033[0m \033[33m\033[1mFL401\033[0m" in out  # bold yellow
    assert "\033[0m" in out


def test_concise_is_one_line_per_finding() -> None:
    lines = _render("concise").splitlines()
    assert lines == [
        "src/train.py:2:10: FL000 syntax-error: syntax error: '(' was never closed",
        "src/old, 100%.py:2:29: FL401 [*] removed-keras-argument: `lr` was removed: "
        "use `learning_rate`",
        "nb/explore.ipynb:cell 4:3:1: FL104 no-validation-data: no validation data",
    ]


def test_json_objects_have_the_documented_keys() -> None:
    data = json.loads(_render("json"))
    keys = {"code", "name", "severity", "path", "line", "column", "end_line", "end_column"}
    for obj in data:
        assert keys | {"message"} <= set(obj)
    assert [o["code"] for o in data] == ["FL000", "FL401", "FL104"]
    assert "fix" not in data[0]
    assert data[1]["fix"] == {
        "message": "rename lr",
        "edits": [
            {"line": 2, "column": 29, "end_line": 2, "end_column": 31, "content": "learning_rate"}
        ],
    }
    assert data[2]["cell"] == 4 and data[2]["line"] == 3
    assert data[0]["severity"] == "error" and data[2]["severity"] == "info"


def test_sarif_is_valid_2_1_0() -> None:
    log = json.loads(_render("sarif"))
    jsonschema.validate(log, SCHEMA)
    assert log["version"] == "2.1.0"
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["FL000", "FL401", "FL104"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    syntax = rules[[r["id"] for r in rules].index("FL000")]
    assert syntax["name"] == "syntax-error"
    assert "## What it does" in syntax["help"]["markdown"]
    first = results[0]
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "src/train.py", "uriBaseId": "%SRCROOT%"},
        "region": {"startLine": 2, "startColumn": 10, "endLine": 2, "endColumn": 11},
    }
    assert results[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "src/old%2C%20100%25.py"
    )
    assert results[1]["fixes"][0]["artifactChanges"][0]["replacements"][0] == {
        "deletedRegion": {"startLine": 2, "startColumn": 29, "endLine": 2, "endColumn": 31},
        "insertedContent": {"text": "learning_rate"},
    }
    notebook = results[2]
    assert "region" not in notebook["locations"][0]["physicalLocation"]
    assert notebook["properties"]["cell"] == 4
    assert notebook["message"]["text"].startswith("cell 4, line 3, column 1: ")
    assert notebook["level"] == "note"
    (invocation,) = run["invocations"]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith("gone.py")


def test_sarif_of_nothing_is_valid() -> None:
    log = sarif_format.build([])
    jsonschema.validate(log, SCHEMA)
    assert log["runs"][0]["results"] == []


def test_github_annotations_escape_data_and_properties() -> None:
    lines = _render("github").splitlines()
    assert lines[0] == (
        "::error file=src/train.py,line=2,col=10,endLine=2,endColumn=11,"
        "title=FL000 syntax-error::syntax error: '(' was never closed"
    )
    assert lines[1] == (
        "::warning file=src/old%2C 100%25.py,line=2,col=29,endLine=2,endColumn=31,"
        "title=FL401 removed-keras-argument::`lr` was removed:%0Ause `learning_rate`"
    )
    assert lines[2] == (
        "::notice file=nb/explore.ipynb,title=FL104 no-validation-data::"
        "cell 4, line 3, column 1: no validation data"
    )
    assert len(lines) == 3
