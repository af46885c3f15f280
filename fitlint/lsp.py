"""``fitlint server``: the fitlint language server, over stdio.

A thin face over :mod:`fitlint.api`, built on pygls 2.x (the ``lsp`` extra). It publishes
diagnostics on open, on change (debounced) and on save, offers code actions (the rule's fix,
``# noqa`` suppression, and a ``source.fixAll.fitlint`` action), shows the rule's documentation
on hover, and lints Jupyter notebooks through the protocol's notebook synchronization.

pygls is imported only inside :func:`main` and the functions it calls, so ``fitlint`` itself
starts without it and a missing extra gives a one-line message.

Positions: fitlint findings are 1-based lines and columns in code points (end exclusive); the
protocol counts 0-based lines and characters in the negotiated position encoding (UTF-16 unless
the client offers UTF-8 or UTF-32). :func:`to_position` and :func:`from_position` convert.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fitlint import __version__
from fitlint.model import Config, ConfigError, Edit, Finding, Severity

if TYPE_CHECKING:
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer
    from pygls.protocol import LanguageServerProtocol

    from fitlint.model import RuleInfo

#: Where each rule is documented; a finding links to ``DOCS_URL + "#" + rule name``.
DOCS_URL = "https://fitdiag.readthedocs.io/rules/"
#: The ``source`` of every diagnostic.
SOURCE = "fitlint"
#: The code action kind of "apply every fix in the file".
FIX_ALL_KIND = "source.fixAll.fitlint"
#: Default pause after the last change before linting, in milliseconds.
DEFAULT_DEBOUNCE_MS = 50
#: Linting waits at most this long while changes keep coming, in milliseconds.
MAX_DELAY_MS = 500
#: Fix-all re-lints and fixes again until nothing changes, at most this many rounds.
MAX_FIX_ROUNDS = 10

_EXIT_USAGE = 2
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_WITH_END = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")
# A noqa comment as fitlint.suppression reads it: bare, or with codes and rule names.
_NOQA = re.compile(r"#\s*noqa(?::[\s]*(?P<codes>[\w\-]+(?:[\s,]+[\w\-]+)*))?", re.IGNORECASE)
_SECTION = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)
_HOVER_SECTIONS = ("What it does", "Why is this bad?", "Use instead")
_logger = logging.getLogger("fitlint.lsp")
# Linted once at start-up: reaches every rule's lazily imported analyses.
_WARM_UP = """import numpy as np
from tensorflow import keras
x = np.random.rand(64, 4).astype("float32")
y = np.random.rand(64)
model = keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
model.fit(x, y, epochs=2, batch_size=16, validation_split=0.25)
"""


# --------------------------------------------------------------------------- positions


def split_lines(text: str) -> list[str]:
    """Splits text into lines without their endings, as the protocol and Python count them.

    ``\\n``, ``\\r\\n`` and ``\\r`` end a line; a text ending with a line break has a last,
    empty line (where the cursor can stand).
    """
    return _LINE_BREAK.split(text)


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def to_position(lines: Sequence[str], line: int, column: int, encoding: str) -> tuple[int, int]:
    """Converts a 1-based (line, code-point column) into a protocol (line, character).

    Positions past the end of a line or of the text are clamped to the nearest valid one.
    """
    index = min(max(line - 1, 0), len(lines) - 1)
    text = lines[index]
    if line - 1 > index:  # past the last line: its end
        column = len(text) + 1
    col = min(max(column - 1, 0), len(text))
    return index, _units(text[:col], encoding)


def from_position(
    lines: Sequence[str], line: int, character: int, encoding: str
) -> tuple[int, int]:
    """Converts a protocol (line, character) into a 1-based (line, code-point column)."""
    if line >= len(lines):
        return len(lines), len(lines[-1]) + 1
    text = lines[max(line, 0)]
    if encoding == "utf-32" or text.isascii():
        return line + 1, min(max(character, 0), len(text)) + 1
    units = 0
    for i, ch in enumerate(text):
        if units >= character:
            return line + 1, i + 1
        units += _units(ch, encoding)
    return line + 1, len(text) + 1


def diff_edits(old: str, new: str) -> list[Edit]:
    """Line-based edits that turn ``old`` into ``new``: one per changed block of lines.

    Untouched lines are not part of any edit, so the editor keeps its cursor, folds and marks
    there (a whole-document replacement would reset them).
    """
    import difflib

    a = _LINE_WITH_END.findall(old)
    b = _LINE_WITH_END.findall(new)
    edits = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            edits.append(Edit(i1 + 1, 1, i2 + 1, 1, "".join(b[j1:j2])))
    return edits


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

    Appends ``  # noqa: CODE`` or extends an existing ``# noqa: A, B``. None when a bare
    ``# noqa`` already covers the line, when the code is listed already, or when the line ends
    inside a multi-line string or with a backslash continuation (a comment cannot go there).
    """
    lines = split_lines(source)
    if not 1 <= finding.line <= len(lines):
        return None
    text = lines[finding.line - 1]
    comments, in_string = _line_facts(source)
    if finding.line in in_string or text.rstrip().endswith("\\"):
        return None  # the line goes on: a comment would end a string or break a continuation
    comment = comments.get(finding.line)
    if comment is not None:
        match = _NOQA.search(comment.text)
        if match is not None:
            if match.group("codes") is None:
                return None  # a bare noqa suppresses everything on the line
            codes = re.split(r"[\s,]+", match.group("codes").strip())
            if any(c.upper() == finding.code or c.lower() == finding.name for c in codes):
                return None
            at = comment.column + match.end("codes")
            return Edit(finding.line, at, finding.line, at, f", {finding.code}")
    end = len(text.rstrip()) + 1
    return Edit(finding.line, end, finding.line, len(text) + 1, f"  # noqa: {finding.code}")


# --------------------------------------------------------------------------- notebooks


def notebook_json(cells: Sequence[tuple[str, bool]]) -> str:
    """An nbformat 4 notebook holding ``(text, is_python_code)`` cells, in order.

    The server receives a notebook cell by cell; :func:`fitlint.api.lint_notebook` (what the
    command line runs on ``.ipynb`` files) takes the notebook's JSON, so the cells are put back
    together. Cell ``i`` of the list is cell number ``i + 1`` of the findings.
    """
    import json

    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code" if code else "markdown",
                    "metadata": {},
                    "source": text,
                    **({"outputs": [], "execution_count": None} if code else {}),
                }
                for text, code in cells
            ],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


def findings_by_cell(
    findings: Iterable[Finding], cell_texts: Sequence[str]
) -> dict[int, list[Finding]]:
    """Groups notebook findings (``cell`` numbers from 1, lines within the cell) by cell.

    A range running past the end of its cell is cut there; a fix with an edit outside the cell
    is dropped (it could not be applied to that cell alone).
    """
    from dataclasses import replace

    out: dict[int, list[Finding]] = {}
    for f in findings:
        cell = f.cell
        if cell is None or not 1 <= cell <= len(cell_texts):
            continue
        count = len(split_lines(cell_texts[cell - 1]))
        if f.end_line > count:
            f = replace(f, end_line=count, end_column=10**9)
        if f.fix is not None and any(e.line < 1 or e.end_line > count for e in f.fix.edits):
            f = replace(f, fix=None)
        out.setdefault(cell, []).append(f)
    return out


# --------------------------------------------------------------------------- the service


@dataclass
class _Linted:
    """The last lint of one text document (or notebook cell)."""

    version: int | None
    source: str
    path: str
    config: Config
    findings: list[Finding] = field(default_factory=list)


def _config_for(path: str | None) -> Config:
    """The file's own ``[tool.fitlint]`` configuration (defaults without a path)."""
    if not path:
        return Config()
    import importlib

    try:
        config_module = importlib.import_module("fitlint.config")
    except ImportError:  # the conventions layer is optional for the server
        return Config()
    getter: Callable[[str], Config] | None = getattr(config_module, "config_for_path", None)
    return getter(path) if getter is not None else Config()


def _clear_config_cache() -> None:
    import importlib

    try:
        config_module = importlib.import_module("fitlint.config")
    except ImportError:
        return
    clear: Callable[[], None] | None = getattr(config_module, "clear_cache", None)
    if clear is not None:
        clear()


def _is_python(uri: str, language_id: str | None) -> bool:
    if language_id:
        return language_id == "python"
    return uri.endswith((".py", ".pyi"))


def _wanted(kind: str, only: Sequence[str] | None) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def _overlaps(finding: Finding, start: tuple[int, int], end: tuple[int, int]) -> bool:
    return (finding.line, finding.column) <= end and start <= (
        finding.end_line,
        finding.end_column,
    )


class FitlintService:
    """The state and the handlers of one language-server session.

    Handlers run on the server's event loop, one message at a time, so a lint always sees the
    document as it is when the lint starts and publishes that version's diagnostics.
    """

    def __init__(self, server: LanguageServer, debounce_ms: int = DEFAULT_DEBOUNCE_MS) -> None:
        self.server = server
        self.debounce = max(debounce_ms, 0) / 1000
        self.shutdown_requested = False
        self._linted: dict[str, _Linted] = {}
        self._pending: dict[tuple[str, str], tuple[asyncio.TimerHandle, float]] = {}
        self._config_errors: dict[str, str] = {}
        self._internal_errors: dict[str, str] = {}

    # ----------------------------------------------------------------- registration

    def register(self) -> None:
        """Registers every handler with the server."""
        from lsprotocol import types

        def feature(name: str, options: Any = None) -> Callable[[Callable[[Any], Any]], None]:
            # pygls marks the handler it registers: give it a plain function, not a method.
            def register(method: Callable[[Any], Any]) -> None:
                def handler(params: Any) -> Any:
                    return method(params)

                handler.__name__ = method.__name__
                self.server.feature(name, options)(handler)

            return register

        feature(types.TEXT_DOCUMENT_DID_OPEN)(self.did_open)
        feature(types.TEXT_DOCUMENT_DID_CHANGE)(self.did_change)
        feature(types.TEXT_DOCUMENT_DID_SAVE)(self.did_save)
        feature(types.TEXT_DOCUMENT_DID_CLOSE)(self.did_close)
        feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(self.did_change_watched_files)
        feature(types.INITIALIZED)(self.initialized)
        feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)(self.notebook_did_open)
        feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)(self.notebook_did_change)
        feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)(self.notebook_did_save)
        feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)(self.notebook_did_close)
        feature(
            types.TEXT_DOCUMENT_CODE_ACTION,
            types.CodeActionOptions(
                code_action_kinds=[
                    types.CodeActionKind.QuickFix,
                    types.CodeActionKind.SourceFixAll,
                    FIX_ALL_KIND,
                ],
                resolve_provider=False,
            ),
        )(self.code_action)
        feature(types.TEXT_DOCUMENT_HOVER)(self.hover)
        feature(types.SHUTDOWN)(self.on_shutdown)
        feature(types.EXIT)(self.on_exit)

    # ----------------------------------------------------------------- lifecycle

    def initialized(self, params: Any = None) -> None:
        """Asks the client to report pyproject.toml changes, when it can watch files."""
        from lsprotocol import types

        caps = self.server.client_capabilities
        watched = caps.workspace.did_change_watched_files if caps.workspace else None
        if watched is None or not watched.dynamic_registration:
            return
        options = types.DidChangeWatchedFilesRegistrationOptions(
            watchers=[types.FileSystemWatcher(glob_pattern="**/pyproject.toml")]
        )
        self.server.client_register_capability(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id="fitlint-pyproject",
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=options,
                    )
                ]
            )
        )

    def on_shutdown(self, params: Any = None) -> None:
        """Remembers that the client asked to shut down; pending lints are dropped."""
        self.shutdown_requested = True
        for handle, _ in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def on_exit(self, params: Any = None) -> None:
        """Ends the process: 0 after a shutdown request, 1 without one (as the protocol says).

        The stdin reader thread may still be blocked on a read, so the process ends here
        rather than waiting for the client to close the pipe.
        """
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0 if self.shutdown_requested else 1)

    # ----------------------------------------------------------------- text documents

    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        """Lints a newly opened document at once."""
        doc = params.text_document
        if _is_python(doc.uri, doc.language_id):
            self._lint_now(("doc", doc.uri))

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        """Lints a changed document after a pause (the debounce)."""
        uri = params.text_document.uri
        if uri in self._linted or self._is_open_python(uri):
            self._schedule(("doc", uri))

    def did_save(self, params: types.DidSaveTextDocumentParams) -> None:
        """Lints a saved document at once; a saved pyproject.toml re-lints every document."""
        uri = params.text_document.uri
        if uri.endswith("pyproject.toml"):
            self._configuration_changed()
        elif uri in self._linted or self._is_open_python(uri):
            self._lint_now(("doc", uri))

    def did_change_watched_files(self, params: types.DidChangeWatchedFilesParams) -> None:
        """A pyproject.toml was created, changed or deleted: re-lint every document."""
        if any(c.uri.endswith("pyproject.toml") for c in params.changes):
            self._configuration_changed()

    def _configuration_changed(self) -> None:
        _clear_config_cache()
        self._config_errors.clear()
        for key in self._open_keys():
            self._lint_now(key)

    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        """Clears a closed document's diagnostics."""
        uri = params.text_document.uri
        self._cancel(("doc", uri))
        if self._linted.pop(uri, None) is not None:
            self._publish(uri, None, [])
        self._config_errors.pop(uri, None)

    def _is_open_python(self, uri: str) -> bool:
        doc = self.server.workspace.text_documents.get(uri)
        return doc is not None and _is_python(uri, doc.language_id)

    # ----------------------------------------------------------------- notebooks

    def notebook_did_open(self, params: types.DidOpenNotebookDocumentParams) -> None:
        """Lints a newly opened notebook at once."""
        self._lint_now(("nb", params.notebook_document.uri))

    def notebook_did_change(self, params: types.DidChangeNotebookDocumentParams) -> None:
        """Lints a changed notebook after the debounce; closed cells lose their diagnostics."""
        structure = params.change.cells.structure if params.change.cells else None
        for closed in (structure.did_close or []) if structure else []:
            if self._linted.pop(closed.uri, None) is not None:
                self._publish(closed.uri, None, [])
        self._schedule(("nb", params.notebook_document.uri))

    def notebook_did_save(self, params: types.DidSaveNotebookDocumentParams) -> None:
        """Lints a saved notebook at once."""
        self._lint_now(("nb", params.notebook_document.uri))

    def notebook_did_close(self, params: types.DidCloseNotebookDocumentParams) -> None:
        """Clears the diagnostics of a closed notebook's cells."""
        self._cancel(("nb", params.notebook_document.uri))
        for cell in params.cell_text_documents:
            if self._linted.pop(cell.uri, None) is not None:
                self._publish(cell.uri, None, [])

    # ----------------------------------------------------------------- scheduling

    def _open_keys(self) -> list[tuple[str, str]]:
        ws = self.server.workspace
        keys = [("nb", uri) for uri in ws.notebook_documents]
        cells = {c.document for nb in ws.notebook_documents.values() for c in nb.cells}
        keys += [
            ("doc", uri)
            for uri, doc in ws.text_documents.items()
            if uri not in cells and _is_python(uri, doc.language_id)
        ]
        return keys

    def _schedule(self, key: tuple[str, str]) -> None:
        """Lints after a change, once no other change came for the debounce.

        Changes in quick succession are coalesced into one lint after the last of them, or
        after ``MAX_DELAY_MS`` if they never stop. (Linting the first change of a burst at once
        was tried: a lint blocks the loop, so the burst's final lint came one lint later.)
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = self.debounce
        pending = self._pending.pop(key, None)
        first = now
        if pending is not None:
            pending[0].cancel()
            first = pending[1]
            if now - first >= MAX_DELAY_MS / 1000:
                delay = 0.0  # changes keep coming: do not starve the diagnostics
        handle = loop.call_later(delay, self._fire, key)
        self._pending[key] = (handle, first)

    def _cancel(self, key: tuple[str, str]) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending[0].cancel()

    def _fire(self, key: tuple[str, str]) -> None:
        self._pending.pop(key, None)
        self._lint_now(key)

    def _lint_now(self, key: tuple[str, str]) -> None:
        self._cancel(key)
        try:
            if key[0] == "nb":
                self._lint_notebook(key[1])
            else:
                self._lint_document(key[1])
        except Exception as err:  # the server outlives any bug in a lint
            _logger.exception("linting %s failed", key[1])
            self._log(f"fitlint: internal error linting {key[1]}: {type(err).__name__}: {err}")

    # ----------------------------------------------------------------- linting

    def _encoding(self) -> str:
        return str(self.server.workspace.position_encoding or "utf-16")

    def _lint_document(self, uri: str) -> _Linted | None:
        doc = self.server.workspace.text_documents.get(uri)
        if doc is None:
            return None
        started = time.perf_counter()
        source = doc.source
        path = doc.path or uri
        findings, config = self._lint_source(source, path, uri)
        linted = _Linted(doc.version, source, path, config, findings)
        self._linted[uri] = linted
        self._publish(uri, doc.version, findings, source)
        _logger.debug(
            "linted %s version %s: %d findings in %.1f ms",
            uri,
            doc.version,
            len(findings),
            (time.perf_counter() - started) * 1000,
        )
        return linted

    def _lint_notebook(self, uri: str) -> None:
        from lsprotocol import types

        ws = self.server.workspace
        notebook = ws.get_notebook_document(notebook_uri=uri)
        if notebook is None:
            return
        cells: list[tuple[str, bool]] = []
        code_cells: dict[int, Any] = {}  # cell number -> its text document
        for number, cell in enumerate(notebook.cells, start=1):
            doc = ws.text_documents.get(cell.document)
            code = (
                doc is not None
                and cell.kind == types.NotebookCellKind.Code
                and doc.language_id in (None, "python")
            )
            cells.append((doc.source if doc is not None else "", code))
            if code:
                code_cells[number] = doc
        path = _uri_to_path(uri)
        findings, config = self._lint_source(notebook_json(cells), path, uri, notebook=True)
        grouped = findings_by_cell(findings, [text for text, _ in cells])
        for number, doc in code_cells.items():
            cell_findings = grouped.get(number, [])
            self._linted[doc.uri] = _Linted(doc.version, doc.source, path, config, cell_findings)
            self._publish(doc.uri, doc.version, cell_findings, doc.source)

    def _lint_source(
        self, source: str, path: str, uri: str, *, notebook: bool = False
    ) -> tuple[list[Finding], Config]:
        """Lints with the file's configuration; a broken one is reported, then the defaults."""
        from fitlint import api

        lint = api.lint_notebook if notebook else api.lint_source

        fs_path = path if os.path.isabs(path) else None
        try:
            config = _config_for(fs_path)
            self._config_errors.pop(uri, None)
        except (ConfigError, ValueError, OSError) as err:
            self._config_error(uri, str(err))
            config = Config()
        try:
            result = lint(source, path, config)
        except ConfigError as err:
            self._config_error(uri, str(err))
            config = Config()
            result = lint(source, path, config)
        if result.error:
            if self._internal_errors.get(uri) != result.error:
                self._internal_errors[uri] = result.error
                self._log(f"fitlint: {result.error}")
        else:
            self._internal_errors.pop(uri, None)
        return result.findings, config

    def _config_error(self, uri: str, message: str) -> None:
        """Tells the user once per document and message; linting goes on with the defaults."""
        from lsprotocol import types

        if self._config_errors.get(uri) == message:
            return
        self._config_errors[uri] = message
        text = f"fitlint: invalid configuration, using the defaults: {message}"
        self.server.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=text)
        )
        self._log(text, types.MessageType.Error)

    def _log(self, message: str, level: Any = None) -> None:
        from lsprotocol import types

        self.server.window_log_message(
            types.LogMessageParams(type=level or types.MessageType.Warning, message=message)
        )

    def _publish(
        self, uri: str, version: int | None, findings: list[Finding], source: str = ""
    ) -> None:
        from lsprotocol import types

        lines = split_lines(source)
        encoding = self._encoding()
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                version=version,
                diagnostics=[self._diagnostic(f, lines, encoding) for f in findings],
            )
        )

    def _fresh(self, uri: str) -> _Linted | None:
        """The lint of the document's current text: the cached one, or a new one."""
        ws = self.server.workspace
        doc = ws.text_documents.get(uri)
        if doc is None:
            return None
        linted = self._linted.get(uri)
        if linted is not None and linted.source == doc.source:
            return linted
        notebook = ws.get_notebook_document(cell_uri=uri)
        if notebook is not None:
            self._lint_now(("nb", notebook.uri))
            return self._linted.get(uri)
        if not _is_python(uri, doc.language_id):
            return None
        self._cancel(("doc", uri))
        return self._lint_document(uri)

    # ----------------------------------------------------------------- converting

    @staticmethod
    def _range(
        lines: Sequence[str], line: int, col: int, end_line: int, end_col: int, encoding: str
    ) -> types.Range:
        from lsprotocol import types

        sl, sc = to_position(lines, line, col, encoding)
        el, ec = to_position(lines, end_line, end_col, encoding)
        return types.Range(
            start=types.Position(line=sl, character=sc), end=types.Position(line=el, character=ec)
        )

    def _diagnostic(self, f: Finding, lines: Sequence[str], encoding: str) -> types.Diagnostic:
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
            range=self._range(lines, f.line, f.column, f.end_line, f.end_column, encoding),
            message=f"{f.message} ({f.name})",
            severity=severity,
            code=f.code,
            code_description=types.CodeDescription(href=docs_link(f.name)),
            source=SOURCE,
            data=data,
        )

    def _text_edits(
        self, edits: Iterable[Edit], lines: Sequence[str], encoding: str
    ) -> list[types.TextEdit]:
        from lsprotocol import types

        return [
            types.TextEdit(
                range=self._range(lines, e.line, e.column, e.end_line, e.end_column, encoding),
                new_text=e.content,
            )
            for e in edits
        ]

    def _workspace_edit(
        self, uri: str, version: int | None, edits: list[types.TextEdit]
    ) -> types.WorkspaceEdit:
        from lsprotocol import types

        caps = self.server.client_capabilities
        we = caps.workspace.workspace_edit if caps.workspace else None
        if we is not None and we.document_changes:
            return types.WorkspaceEdit(
                document_changes=[
                    types.TextDocumentEdit(
                        text_document=types.OptionalVersionedTextDocumentIdentifier(
                            uri=uri, version=version
                        ),
                        edits=list(edits),
                    )
                ]
            )
        return types.WorkspaceEdit(changes={uri: list(edits)})

    # ----------------------------------------------------------------- code actions

    def code_action(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        """Quick fixes and suppressions for the findings in range, and fix-all for the file."""
        from lsprotocol import types

        uri = params.text_document.uri
        linted = self._fresh(uri)
        if linted is None:
            return None
        encoding = self._encoding()
        lines = split_lines(linted.source)
        start = from_position(
            lines, params.range.start.line, params.range.start.character, encoding
        )
        end = from_position(lines, params.range.end.line, params.range.end.character, encoding)
        only = [str(k) for k in params.context.only] if params.context.only else None
        actions: list[types.CodeAction] = []
        if _wanted(types.CodeActionKind.QuickFix, only):
            for f in linted.findings:
                if not _overlaps(f, start, end):
                    continue
                diagnostic = self._diagnostic(f, lines, encoding)
                if f.fix is not None:
                    actions.append(
                        types.CodeAction(
                            title=f.fix.message,
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic],
                            is_preferred=True,
                            edit=self._workspace_edit(
                                uri,
                                linted.version,
                                self._text_edits(f.fix.edits, lines, encoding),
                            ),
                        )
                    )
                edit = noqa_edit(linted.source, f) if f.code != "FL000" else None
                if edit is not None:
                    actions.append(
                        types.CodeAction(
                            title=f"Suppress {f.code} with # noqa",
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic],
                            edit=self._workspace_edit(
                                uri, linted.version, self._text_edits([edit], lines, encoding)
                            ),
                        )
                    )
        if _wanted(FIX_ALL_KIND, only) and any(f.fix is not None for f in linted.findings):
            fixed = self._fix_all(linted, uri)
            edits = diff_edits(linted.source, fixed)
            if edits:
                actions.append(
                    types.CodeAction(
                        title="fitlint: fix all auto-fixable problems",
                        kind=FIX_ALL_KIND,
                        edit=self._workspace_edit(
                            uri, linted.version, self._text_edits(edits, lines, encoding)
                        ),
                    )
                )
        return actions

    def _fix_all(self, linted: _Linted, uri: str) -> str:
        """Applies every fix, re-linting until none is left (a fix that breaks parsing stops it)."""
        from fitlint import api, engine

        if self.server.workspace.get_notebook_document(cell_uri=uri) is not None:
            # A cell is linted as part of its notebook: apply the fixes found for this cell once.
            text, _ = engine.apply_fixes(linted.source, linted.findings)
            return text if _parses(text) or not _parses(linted.source) else linted.source
        text = linted.source
        findings = linted.findings
        for _ in range(MAX_FIX_ROUNDS):
            new, applied = engine.apply_fixes(text, findings)
            if not applied or new == text:
                break
            findings = api.lint_source(new, linted.path, linted.config).findings
            if any(f.code == "FL000" for f in findings) and not any(
                f.code == "FL000" for f in linted.findings
            ):
                break  # never turn a parsing file into a broken one
            text = new
        return text

    # ----------------------------------------------------------------- hover

    def hover(self, params: types.HoverParams) -> types.Hover | None:
        """The rule documentation of the findings under the cursor."""
        from lsprotocol import types

        linted = self._fresh(params.text_document.uri)
        if linted is None:
            return None
        encoding = self._encoding()
        lines = split_lines(linted.source)
        at = from_position(lines, params.position.line, params.position.character, encoding)
        hits = [f for f in linted.findings if _overlaps(f, at, at)]
        if not hits:
            return None
        first = hits[0]
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown,
                value="\n\n---\n\n".join(hover_markdown(f) for f in hits),
            ),
            range=self._range(
                lines, first.line, first.column, first.end_line, first.end_column, encoding
            ),
        )


def _parses(source: str) -> bool:
    import libcst as cst

    try:
        cst.parse_module(source)
    except Exception:
        return False
    return True


def _uri_to_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri


# --------------------------------------------------------------------------- entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``fitlint server`` command line (also used to document every option)."""
    p = argparse.ArgumentParser(
        prog="fitlint server",
        description="Run the fitlint language server over stdio (the Language Server Protocol).",
    )
    p.add_argument(
        "--stdio",
        action="store_true",
        help="talk over stdin/stdout (the default and only transport; accepted for clients "
        "that pass it)",
    )
    p.add_argument(
        "--debounce",
        type=int,
        default=DEFAULT_DEBOUNCE_MS,
        metavar="MS",
        help="lint MS milliseconds after the last change; changes in between are coalesced "
        f"(default: {DEFAULT_DEBOUNCE_MS})",
    )
    p.add_argument(
        "--log-file",
        metavar="PATH",
        help="write the server's log to PATH (default: warnings to stderr)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="warning",
        help="how much to log (default: warning)",
    )
    p.add_argument("--version", action="version", version=f"fitlint server {__version__}")
    return p


def _is_message_id(value: Any) -> bool:
    """Whether ``value`` can be a request id: the protocol's ``integer | string``."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def _json_kind(value: Any) -> str:
    """What a decoded JSON value is, in JSON's words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _protocol_error(text: str, notify: Callable[[str, Any], None]) -> None:
    """Logs a protocol error to stderr (or the log file) and to the client's output log."""
    from lsprotocol import types

    _logger.warning("protocol error: %s", text)
    notify(
        types.WINDOW_LOG_MESSAGE,
        types.LogMessageParams(type=types.MessageType.Warning, message=f"fitlint: {text}"),
    )


def _server_classes() -> tuple[type[LanguageServerProtocol], type[LanguageServer]]:
    """The pygls protocol and server classes, with fitlint's checks of every incoming message.

    pygls decodes each message with ``json.loads(body, object_hook=structure_message)`` and
    hands the result to ``handle_message``; both are overridden here, the protocol's public
    extension points. ``structure_message`` leaves every object as it is (the hook also runs
    on objects nested in the parameters), and ``handle_message`` checks the whole message first:

    - Not a JSON object (a number, a string, ``null``, an array), no ``"jsonrpc": "2.0"``, an
      id that is neither an integer nor a string, a method that is not a string, or an id with
      neither a method nor a result or error: an ``InvalidRequest`` (-32600) answer, with the
      message's id when it has a usable one and ``null`` otherwise, as JSON-RPC 2.0 answers
      what is not a valid request object. A batch (an array) is not supported: each request in
      it gets its own ``InvalidRequest`` answer.
    - A response (an id with a result or an error and no method) is never answered, even when
      it cannot be read or answers nothing: it is logged and dropped.
    - A notification of the protocol sent with an id gets ``InvalidRequest`` and is not acted
      on; a request of the protocol sent without an id cannot be answered and is dropped.
    - Before ``initialize``, a request gets ``ServerNotInitialized`` (-32002) and a
      notification is dropped; a second ``initialize`` gets ``InvalidRequest`` and changes
      nothing; after ``shutdown``, a request gets ``InvalidRequest`` and a notification other
      than ``exit`` is dropped (what the protocol specifies for each).
    - A request whose parameters do not match the protocol gets ``InvalidParams`` (-32602); a
      notification with such parameters, or a ``didChange`` of a document that is not open,
      is dropped.

    Every one of these is logged, to stderr (or the log file) and to the client's output log
    (``window/logMessage``); none is a ``window/showMessage`` pop-up. A message that is not
    JSON gets a ``ParseError`` (-32700) answer with id ``null``. An error in a notification's
    handler goes to the same logs, not to a pop-up.

    Raises:
        ImportError: When pygls (the ``lsp`` extra) is not installed.
    """
    from urllib.parse import unquote

    import attrs
    from lsprotocol import types
    from pygls.exceptions import (
        FeatureRequestError,
        JsonRpcException,
        JsonRpcInternalError,
        JsonRpcInvalidParams,
        JsonRpcInvalidRequest,
        JsonRpcParseError,
        JsonRpcServerNotInitialized,
    )
    from pygls.lsp.server import LanguageServer
    from pygls.protocol import LanguageServerProtocol

    def is_request_method(method: str) -> bool | None:
        """Whether the protocol's ``method`` is a request (True) or a notification (False)."""
        message_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
        return None if message_type is None else "id" in attrs.fields_dict(message_type)

    class _Protocol(LanguageServerProtocol):
        _initialize_received = False
        _initialized_received = False
        _shutdown_received = False

        def structure_message(self, data: dict[str, Any]) -> Any:
            return data  # structured in handle_message, once the whole message is known

        def handle_message(self, message: Any) -> None:
            try:
                self._receive(message)
            except Exception:  # the server outlives any bug in its own message handling
                _logger.exception("handling a message failed")

        def reply_error(self, msg_id: Any, code: int, text: str) -> None:
            """Logs a protocol error and answers it to ``msg_id`` (None: id ``null``)."""
            _protocol_error(text, self.notify)
            # A plain object: pygls's ResponseErrorMessage leaves out an id that is None,
            # and JSON-RPC wants "id": null there.
            error = {"code": code, "message": text}
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

        def _receive(self, message: Any) -> None:
            if isinstance(message, list):
                self._batch(message)
                return
            if not isinstance(message, dict):
                self._invalid(None, f"not a JSON-RPC message: {_json_kind(message)}")
                return
            if "method" not in message and ("result" in message or "error" in message):
                self._response(message)
                return
            has_id = "id" in message
            msg_id = message.get("id")
            if has_id and not _is_message_id(msg_id):
                self._invalid(None, "the id of a request must be an integer or a string")
                return
            if message.get("jsonrpc") != "2.0":
                self._invalid(msg_id, 'not a JSON-RPC 2.0 message: "jsonrpc" must be "2.0"')
                return
            method = message.get("method")
            if method is None:
                self._invalid(
                    msg_id, "a message without a method must be a response: a result or an error"
                )
                return
            if not isinstance(method, str):
                self._invalid(msg_id, "the method must be a string")
                return
            if self._refused(method, msg_id if has_id else None, has_id):
                return
            if "params" not in message:
                message = {**message, "params": None}
            try:
                structured = super().structure_message(message)
            except Exception:
                if has_id:
                    self.reply_error(
                        msg_id, JsonRpcInvalidParams.CODE, f"invalid params for {method}"
                    )
                else:
                    _protocol_error(f"invalid params for {method}: ignored", self.notify)
                return
            if not has_id and self._not_open(method, structured.params):
                return
            if method == types.INITIALIZE:
                self._initialize_received = True
            elif method == types.INITIALIZED:
                self._initialized_received = True
            elif method == types.SHUTDOWN:
                self._shutdown_received = True
            super().handle_message(structured)

        def _invalid(self, msg_id: Any, text: str) -> None:
            self.reply_error(msg_id, JsonRpcInvalidRequest.CODE, text)

        def _batch(self, batch: list[Any]) -> None:
            text = "batches are not supported: send each message on its own"
            ids = [
                m["id"]
                for m in batch
                if isinstance(m, dict) and "method" in m and _is_message_id(m.get("id"))
            ]
            for msg_id in ids or [None]:
                self._invalid(msg_id, text)

        def _response(self, message: dict[str, Any]) -> None:
            """A response (to a request of the server's): read it, never answer it."""
            if message.get("jsonrpc") != "2.0" or not (
                message.get("id") is None or _is_message_id(message.get("id"))
            ):
                _protocol_error("a response that is not JSON-RPC 2.0: ignored", self.notify)
                return
            if "id" not in message:
                _protocol_error("a response without an id: ignored", self.notify)
                return
            try:
                structured = super().structure_message(message)
            except Exception:
                _protocol_error(f"a response that cannot be read: {message['id']!r}", self.notify)
                return
            super().handle_message(structured)

        def _refused(self, method: str, msg_id: Any, has_id: bool) -> bool:
            """Answers or drops what the protocol or the session's state does not allow."""
            request = is_request_method(method)
            if request is False and has_id:
                self._invalid(msg_id, f"{method} is a notification: send it without an id")
            elif request is True and not has_id:
                _protocol_error(f"{method} is a request: sent without an id, ignored", self.notify)
            elif method == types.EXIT:
                return False
            elif self._shutdown_received:
                if has_id:
                    self._invalid(msg_id, f"{method} after shutdown: only exit is accepted")
                else:
                    _logger.info("%s after shutdown: ignored", method)
            elif not self._initialize_received and method != types.INITIALIZE:
                if has_id:
                    self.reply_error(
                        msg_id,
                        JsonRpcServerNotInitialized.CODE,
                        f"{method} before initialize: the server is not initialized",
                    )
                else:
                    _protocol_error(f"{method} before initialize: ignored", self.notify)
            elif method == types.INITIALIZE and self._initialize_received:
                self._invalid(msg_id, "the server is initialized already: initialize is sent once")
            elif method == types.INITIALIZED and self._initialized_received:
                _protocol_error("a second initialized notification: ignored", self.notify)
            else:
                return False
            return True

        def _not_open(self, method: str, params: Any) -> bool:
            """A change of a document or notebook that is not open: logged and dropped."""
            if method == types.TEXT_DOCUMENT_DID_CHANGE:
                uri, documents = params.text_document.uri, self.workspace.text_documents
            elif method == types.NOTEBOOK_DOCUMENT_DID_CHANGE:
                uri, documents = params.notebook_document.uri, self.workspace.notebook_documents
            else:
                return False
            if unquote(uri) in documents:
                return False
            _protocol_error(f"{method} of {uri}, which is not open: ignored", self.notify)
            return True

    class _Server(LanguageServer):
        def report_server_error(self, error: Exception, source: Any) -> None:
            if source is JsonRpcException:
                # From the read loop: handle_message never raises, so json.loads failed
                # (not JSON, not UTF-8, nested too deep, a number too long).
                if isinstance(error, UnicodeDecodeError):
                    reason = f"not UTF-8: {error.reason} at byte {error.start}"
                elif isinstance(error, RecursionError):
                    reason = "nested too deeply"
                else:
                    reason = f"not JSON: {error}"
                protocol = self.protocol
                assert isinstance(protocol, _Protocol)
                protocol.reply_error(None, JsonRpcParseError.CODE, f"parse error: {reason}")
                return
            if source is FeatureRequestError:
                return  # answered to the request already, and logged by pygls
            _logger.error("internal error (%s): %s", getattr(source, "__name__", source), error)
            if source is not JsonRpcInternalError:  # that one is a failure to send anything
                self.window_log_message(
                    types.LogMessageParams(
                        type=types.MessageType.Error, message=f"fitlint: internal error: {error}"
                    )
                )

    return _Protocol, _Server


def create_server(debounce_ms: int = DEFAULT_DEBOUNCE_MS) -> tuple[LanguageServer, FitlintService]:
    """Builds the pygls server with every fitlint handler registered.

    Every incoming message is checked as :func:`_server_classes` describes, so a bad message
    gets the JSON-RPC error the protocol specifies (or is logged and dropped) instead of no
    answer or an error pop-up in the editor.

    Raises:
        ImportError: When pygls (the ``lsp`` extra) is not installed.
    """
    from lsprotocol import types

    protocol_cls, server_cls = _server_classes()
    server = server_cls(
        name="fitlint",
        version=__version__,
        protocol_cls=protocol_cls,
        text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        notebook_document_sync=types.NotebookDocumentSyncOptions(
            notebook_selector=[
                types.NotebookDocumentFilterWithCells(
                    notebook="jupyter-notebook",
                    cells=[types.NotebookCellLanguage(language="python")],
                )
            ],
            save=True,
        ),
    )
    service = FitlintService(server, debounce_ms)
    service.register()
    return server, service


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the language server until the client disconnects; returns the exit code.

    An ``exit`` notification ends the process directly (0 after ``shutdown``, 1 without);
    the end of stdin returns 0 after ``shutdown`` and 1 without. Usage errors return 2.
    """
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if args.debounce < 0:
        sys.stderr.write("fitlint server: error: --debounce must be at least 0\n")
        return _EXIT_USAGE
    try:
        import lsprotocol  # noqa: F401
        import pygls  # noqa: F401
    except ImportError:
        sys.stderr.write(
            "fitlint server: error: the language server needs the lsp extra: "
            "pip install 'fitdiag[lsp]'\n"
        )
        return _EXIT_USAGE
    level = getattr(logging, args.log_level.upper())
    if args.log_file:
        try:
            handler: logging.Handler = logging.FileHandler(args.log_file, encoding="utf-8")
        except OSError as err:
            sys.stderr.write(f"fitlint server: error: cannot write {args.log_file}: {err}\n")
            return _EXIT_USAGE
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    if level > logging.DEBUG:
        handler.addFilter(_one_line)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)

    server, service = create_server(args.debounce)
    # Import the rules, the parser and the analyses now, so the first document is linted
    # without delay.
    from fitlint import api

    api.lint_source(_WARM_UP, "<warm-up>", Config(select=("ALL",)))
    server.start_io()
    return 0 if service.shutdown_requested else 1


_ERROR_LINE = re.compile(r"^[\s|+-]*((?:\w+\.)*\w*(?:Error|Exception)\b.*)$")


def _one_line(record: logging.LogRecord) -> bool:
    """Makes every record one line below ``--log-level debug``.

    pygls logs a client's malformed message with its traceback, either as the record's
    exception or formatted into the message itself; the line keeps the message's first line
    and names the error (the innermost one of a formatted traceback).
    """
    text = record.getMessage()
    error = None
    if record.exc_info and record.exc_info[1] is not None:
        error = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
    first, _, rest = text.partition("\n")
    if rest and error is None:
        errors = [m.group(1) for m in map(_ERROR_LINE.match, rest.splitlines()) if m]
        error = errors[-1] if errors else None
    if error is not None or rest:
        first = first.replace("\r", " ")
        error = " ".join(error.split()) if error else None
        record.msg = f"{first}: {error}" if error else first
        record.args = None
    record.exc_info = None
    record.exc_text = None
    record.stack_info = None
    return True


if __name__ == "__main__":
    raise SystemExit(main())
