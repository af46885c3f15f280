"""``--format sarif``: a SARIF 2.1.0 log for code scanning (GitHub, Azure DevOps, IDEs).

One run; ``tool.driver.rules`` describes every rule that has a result (its documentation as
``help.markdown``); each result has a ``ruleId``, ``ruleIndex``, ``level``, message and a
physical location with a 1-based region whose columns count Unicode code points. Relative
paths are relative URIs against ``%SRCROOT%`` (the working directory). A notebook result's
region is left out (a cell's line is not a line of the JSON file); its cell and line are in
the message and in ``properties``. Files that could not be linted become
``toolExecutionNotifications``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import quote

if TYPE_CHECKING:
    from fitlint.api import FileResult

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def _uri(path: str) -> tuple[str, str | None]:
    if os.path.isabs(path):
        return Path(path).as_uri(), None
    return quote(PurePath(path).as_posix()), "%SRCROOT%"


def _rule_entry(code: str) -> dict[str, Any]:
    from fitlint.docs import summary
    from fitlint.rules.base import all_rules

    rule = all_rules().get(code)
    if rule is None:
        return {"id": code}
    info = rule.info()
    text = summary(rule) or info.name
    entry: dict[str, Any] = {
        "id": info.code,
        "name": info.name,
        "shortDescription": {"text": text},
        "fullDescription": {"text": text},
        "help": {"text": info.doc, "markdown": info.doc},
        "defaultConfiguration": {"level": _LEVEL.get(info.severity.value, "warning")},
        "properties": {"fixable": info.fixable, "tags": ["keras", "fitlint"]},
    }
    return entry


def build(results: Sequence[FileResult]) -> dict[str, Any]:
    """The SARIF log of ``results`` as a JSON-ready dict."""
    from fitlint import __version__

    codes = sorted({f.code for r in results for f in r.findings})
    index = {code: i for i, code in enumerate(codes)}
    sarif_results: list[dict[str, Any]] = []
    for r in results:
        for f in r.findings:
            uri, base = _uri(f.path)
            artifact: dict[str, Any] = {"uri": uri}
            if base:
                artifact["uriBaseId"] = base
            physical: dict[str, Any] = {"artifactLocation": artifact}
            message = f"{f.name}: {f.message}"
            props: dict[str, Any] = {"name": f.name}
            if f.cell is None:
                physical["region"] = {
                    "startLine": f.line,
                    "startColumn": f.column,
                    "endLine": f.end_line,
                    "endColumn": f.end_column,
                }
            else:
                message = f"cell {f.cell}, line {f.line}, column {f.column}: {message}"
                props.update(cell=f.cell, line=f.line, column=f.column)
            entry: dict[str, Any] = {
                "ruleId": f.code,
                "ruleIndex": index[f.code],
                "level": _LEVEL.get(f.severity.value, "warning"),
                "message": {"text": message},
                "locations": [{"physicalLocation": physical}],
                "properties": props,
            }
            if f.fix is not None and f.cell is None:
                entry["fixes"] = [
                    {
                        "description": {"text": f.fix.message},
                        "artifactChanges": [
                            {
                                "artifactLocation": artifact,
                                "replacements": [
                                    {
                                        "deletedRegion": {
                                            "startLine": e.line,
                                            "startColumn": e.column,
                                            "endLine": e.end_line,
                                            "endColumn": e.end_column,
                                        },
                                        "insertedContent": {"text": e.content},
                                    }
                                    for e in f.fix.edits
                                ],
                            }
                        ],
                    }
                ]
            sarif_results.append(entry)
    notifications = [
        {"level": "error", "message": {"text": r.error}} for r in results if r.error is not None
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "fitlint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": "https://pypi.org/project/fitdiag/",
                "rules": [_rule_entry(code) for code in codes],
            }
        },
        "invocations": [
            {
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
            }
        ],
        "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": sarif_results,
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render(results: Sequence[FileResult], stream: TextIO, color: bool) -> None:
    """Writes the SARIF log of ``results``."""
    del color
    json.dump(build(results), stream, indent=2)
    stream.write("\n")
