"""The state and the handlers of one language-server session.

Handlers run on the server's event loop and never lint there: a lint is a job for a worker
process (:mod:`fitlint.lsp.worker`), so a document that takes seconds to lint does not hold
up answers about the others. Each document has at most one lint running; a change while it
runs asks for one more lint of the newest text when it ends, and a result whose text is no
longer the document's is dropped, never published. A hover or code action on a document
whose last lint is stale waits for the lint of its current text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from fitlint.lsp import actions
from fitlint.lsp.positions import diff_edits, findings_by_cell, from_position
from fitlint.lsp.worker import JobFailed, WorkerDied, Workers
from fitlint.model import Config, ConfigError, Finding, split_lines

if TYPE_CHECKING:
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer

#: The code action kind of "apply every fix in the file".
FIX_ALL_KIND = "source.fixAll.fitlint"
#: Default pause after the last change of a burst before linting, in milliseconds.
DEFAULT_DEBOUNCE_MS = 25
#: Linting waits at most this long while changes keep coming, in milliseconds.
MAX_DELAY_MS = 500

_logger = logging.getLogger("fitlint.lsp")

Key = tuple[str, str]  # ("doc", uri) or ("nb", uri), the uri as the workspace keys it


@dataclass
class _Linted:
    """The last lint of one text document (or notebook cell)."""

    uri: str  # as the client wrote it: diagnostics are published to it
    version: int | None
    source: str
    path: str
    config: Config
    findings: list[Finding] = field(default_factory=list)


@dataclass
class _Snapshot:
    """What one lint job reads: the texts as they were when it started."""

    path: str
    config: Config
    texts: tuple[str, ...]  # the document's text, or every cell's
    # Per linted document (the document itself, or each code cell): uri, version, number.
    targets: list[tuple[str, int | None, int]] = field(default_factory=list)
    cells: list[tuple[str, bool]] = field(default_factory=list)
    # The notebook's cells that are not linted (Markdown, another language): their
    # diagnostics, if a cell was code before, are cleared.
    others: list[str] = field(default_factory=list)


def _config_for(path: str | None) -> Config:
    """The file's own ``[tool.fitlint]`` configuration (defaults without a path)."""
    if not path:
        return Config()
    from fitlint.config import config_for_path

    return config_for_path(path)


def _is_python(uri: str, language_id: str | None) -> bool:
    if language_id:
        return language_id == "python"
    return uri.endswith((".py", ".pyi"))


def _wanted(kind: str, only: Sequence[str] | None) -> bool:
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def _uri_to_path(uri: str) -> str:
    from pygls.uris import to_fs_path

    return to_fs_path(uri) or uri


class FitlintService:
    """The handlers of one session, over one pool of lint workers."""

    def __init__(
        self,
        server: LanguageServer,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        workers: Workers | None = None,
    ) -> None:
        self.server = server
        self.debounce = max(debounce_ms, 0) / 1000
        self.shutdown_requested = False
        self.workers = workers or Workers()
        self._linted: dict[str, _Linted] = {}  # by the workspace's uri of the document
        self._pending: dict[Key, tuple[asyncio.TimerHandle, float]] = {}
        self._running: dict[Key, asyncio.Task[None]] = {}
        self._again: set[Key] = set()
        self._config_errors: dict[str, str] = {}
        self._internal_errors: dict[str, str] = {}

    # ----------------------------------------------------------------- registration

    def register(self) -> None:
        """Registers every handler with the server."""
        from lsprotocol import types

        def feature(name: str, options: Any = None) -> Callable[[Callable[[Any], Any]], None]:
            # pygls marks the handler it registers: give it a plain function, not a method.
            def register(method: Callable[[Any], Any]) -> None:
                async def waits(params: Any) -> Any:
                    return await method(params)

                def runs(params: Any) -> Any:
                    return method(params)

                handler = waits if asyncio.iscoroutinefunction(method) else runs
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
        self._again.clear()

    def on_exit(self, params: Any = None) -> None:
        """Ends the process: 0 after a shutdown request, 1 without one (as the protocol says).

        The stdin reader thread may still be blocked on a read, so the process ends here
        rather than waiting for the client to close the pipe; the workers end when their
        pipes close.
        """
        self.workers.close()
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0 if self.shutdown_requested else 1)

    # ----------------------------------------------------------------- text documents

    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        """Lints a newly opened document at once."""
        doc = params.text_document
        if _is_python(doc.uri, doc.language_id):
            self._lint_now(("doc", unquote(doc.uri)))

    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        """Lints a changed document: at once after a pause, else after the debounce."""
        uri = unquote(params.text_document.uri)
        if uri in self._linted or self._is_open_python(uri):
            self._schedule(("doc", uri))

    def did_save(self, params: types.DidSaveTextDocumentParams) -> None:
        """Lints a saved document at once; a saved pyproject.toml re-lints every document."""
        uri = unquote(params.text_document.uri)
        if uri.endswith("pyproject.toml"):
            self._configuration_changed()
        elif uri in self._linted or self._is_open_python(uri):
            self._lint_now(("doc", uri))

    def did_change_watched_files(self, params: types.DidChangeWatchedFilesParams) -> None:
        """A pyproject.toml was created, changed or deleted: re-lint every document."""
        if any(c.uri.endswith("pyproject.toml") for c in params.changes):
            self._configuration_changed()

    def _configuration_changed(self) -> None:
        from fitlint.config import clear_cache

        clear_cache()
        self._config_errors.clear()
        for key in self._open_keys():
            self._lint_now(key)

    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        """Clears a closed document's diagnostics."""
        uri = unquote(params.text_document.uri)
        self._cancel(("doc", uri))
        if self._linted.pop(uri, None) is not None:
            self._publish(params.text_document.uri, None, [])
        self._config_errors.pop(uri, None)

    def _document(self, uri: str) -> Any:
        return self.server.workspace.text_documents.get(unquote(uri))

    def _is_open_python(self, uri: str) -> bool:
        doc = self._document(uri)
        return doc is not None and _is_python(uri, doc.language_id)

    # ----------------------------------------------------------------- notebooks

    def notebook_did_open(self, params: types.DidOpenNotebookDocumentParams) -> None:
        """Lints a newly opened notebook at once."""
        self._lint_now(("nb", unquote(params.notebook_document.uri)))

    def notebook_did_change(self, params: types.DidChangeNotebookDocumentParams) -> None:
        """Lints a changed notebook after the debounce; closed cells lose their diagnostics."""
        structure = params.change.cells.structure if params.change.cells else None
        for closed in (structure.did_close or []) if structure else []:
            if self._linted.pop(unquote(closed.uri), None) is not None:
                self._publish(closed.uri, None, [])
        self._schedule(("nb", unquote(params.notebook_document.uri)))

    def notebook_did_save(self, params: types.DidSaveNotebookDocumentParams) -> None:
        """Lints a saved notebook at once."""
        self._lint_now(("nb", unquote(params.notebook_document.uri)))

    def notebook_did_close(self, params: types.DidCloseNotebookDocumentParams) -> None:
        """Clears the diagnostics of a closed notebook's cells."""
        self._cancel(("nb", unquote(params.notebook_document.uri)))
        for cell in params.cell_text_documents:
            if self._linted.pop(unquote(cell.uri), None) is not None:
                self._publish(cell.uri, None, [])

    # ----------------------------------------------------------------- scheduling

    def _open_keys(self) -> list[Key]:
        ws = self.server.workspace
        keys = [("nb", unquote(uri)) for uri in ws.notebook_documents]
        cells = {unquote(c.document) for nb in ws.notebook_documents.values() for c in nb.cells}
        keys += [
            ("doc", unquote(uri))
            for uri, doc in ws.text_documents.items()
            if unquote(uri) not in cells and _is_python(uri, doc.language_id)
        ]
        return keys

    def _schedule(self, key: Key) -> None:
        """Lints after a change: at once when the document was quiet, else once no other
        change came for the debounce (or after ``MAX_DELAY_MS`` if changes never stop)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        pending = self._pending.pop(key, None)
        if pending is None and key not in self._running:
            self._lint_now(key)  # the first change after a pause: no wait
            self._pending[key] = (loop.call_later(self.debounce, self._settle, key), now)
            return
        delay = self.debounce
        first = now
        if pending is not None:
            pending[0].cancel()
            first = pending[1]
            if now - first >= MAX_DELAY_MS / 1000:
                delay = 0.0  # changes keep coming: do not starve the diagnostics
        handle = loop.call_later(delay, self._fire, key)
        self._pending[key] = (handle, first)

    def _settle(self, key: Key) -> None:
        """The debounce after a change linted at once ended with no other change."""
        self._pending.pop(key, None)

    def _cancel(self, key: Key) -> None:
        pending = self._pending.pop(key, None)
        if pending is not None:
            pending[0].cancel()
        self._again.discard(key)

    def _fire(self, key: Key) -> None:
        self._pending.pop(key, None)
        self._lint_now(key)

    def _lint_now(self, key: Key) -> asyncio.Task[None]:
        """Starts the lint of ``key``'s current text, or, when one is running, asks for
        another once it ends; returns the running lint."""
        running = self._running.get(key)
        if running is not None:
            self._again.add(key)
            return running
        task = asyncio.get_running_loop().create_task(self._lint_loop(key))
        self._running[key] = task
        return task

    async def _lint_loop(self, key: Key) -> None:
        try:
            while True:
                self._again.discard(key)
                try:
                    await self._lint_once(key)
                except Exception as err:  # the server outlives any bug in a lint
                    _logger.exception("linting %s failed", key[1])
                    self._log(f"fitlint: internal error linting {key[1]}: {err}")
                if key not in self._again or self.shutdown_requested:
                    return
        finally:
            self._running.pop(key, None)

    async def _lint_once(self, key: Key) -> None:
        snapshot = self._snapshot(key)
        if snapshot is None:
            return
        started = time.perf_counter()
        findings = await self._run_lint(key, snapshot)
        if findings is None or self._snapshot_texts(key) != snapshot.texts:
            return  # stale: the text changed while it was linted (a newer lint follows)
        if key[0] == "nb":
            grouped = findings_by_cell(findings, [text for text, _ in snapshot.cells])
            for uri, version, number in snapshot.targets:
                cell_findings = grouped.get(number, [])
                source = snapshot.cells[number - 1][0]
                self._store(uri, version, source, snapshot, cell_findings)
            for uri in snapshot.others:  # a code cell turned Markdown keeps no diagnostics
                if self._linted.pop(unquote(uri), None) is not None:
                    self._publish(uri, None, [])
        else:
            (uri, version, _), source = snapshot.targets[0], snapshot.texts[0]
            self._store(uri, version, source, snapshot, findings)
        _logger.debug(
            "linted %s: %d findings in %.1f ms",
            key[1],
            len(findings),
            (time.perf_counter() - started) * 1000,
        )

    def _store(
        self,
        uri: str,
        version: int | None,
        source: str,
        snapshot: _Snapshot,
        findings: list[Finding],
    ) -> None:
        self._linted[unquote(uri)] = _Linted(
            uri, version, source, snapshot.path, snapshot.config, findings
        )
        self._publish(uri, version, findings, source)

    # ----------------------------------------------------------------- linting

    def _snapshot(self, key: Key, *, configured: bool = True) -> _Snapshot | None:
        """The texts a lint of ``key`` reads now, with the configuration of its path (the
        defaults unless ``configured``)."""
        if key[0] == "doc":
            doc = self._document(key[1])
            if doc is None or not _is_python(doc.uri, doc.language_id):
                return None
            path = doc.path or doc.uri
            config = self._config(path, key[1]) if configured else Config()
            snapshot = _Snapshot(path, config, (doc.source,))
            snapshot.targets.append((doc.uri, doc.version, 0))
            return snapshot
        from lsprotocol import types

        notebook = self.server.workspace.get_notebook_document(notebook_uri=key[1])
        if notebook is None:
            return None
        path = _uri_to_path(notebook.uri)
        snapshot = _Snapshot(path, self._config(path, key[1]) if configured else Config(), ())
        for number, cell in enumerate(notebook.cells, start=1):
            doc = self._document(cell.document)
            code = (
                doc is not None
                and cell.kind == types.NotebookCellKind.Code
                and doc.language_id in (None, "python")
            )
            snapshot.cells.append((doc.source if doc is not None else "", code))
            if code:
                snapshot.targets.append((doc.uri, doc.version, number))
            elif doc is not None:
                snapshot.others.append(doc.uri)
        snapshot.texts = tuple(text for text, _ in snapshot.cells)
        return snapshot

    def _snapshot_texts(self, key: Key) -> tuple[str, ...] | None:
        snapshot = self._snapshot(key, configured=False)  # no configuration read for a compare
        return snapshot.texts if snapshot is not None else None

    def _config(self, path: str, uri: str) -> Config:
        """The path's configuration; a broken one is reported, then the defaults."""
        try:
            config = _config_for(path if os.path.isabs(path) else None)
        except (ConfigError, ValueError, OSError) as err:
            self._config_error(uri, str(err))
            return Config()
        self._config_errors.pop(uri, None)
        return config

    async def _run_lint(self, key: Key, snapshot: _Snapshot) -> list[Finding] | None:
        """The findings of a snapshot, from a worker; None when the worker failed (logged)."""
        uri = key[1]
        job, text = (
            ("lint_cells", snapshot.cells) if key[0] == "nb" else ("lint", snapshot.texts[0])
        )
        try:
            try:
                findings, error = await self.workers.run(job, text, snapshot.path, snapshot.config)
            except JobFailed as err:
                if err.kind != "ConfigError":
                    raise
                self._config_error(uri, err.detail)
                snapshot.config = Config()
                findings, error = await self.workers.run(job, text, snapshot.path, Config())
        except (WorkerDied, JobFailed) as err:
            self._log(f"fitlint: cannot lint {uri}: {err}")
            return None
        if error:
            if self._internal_errors.get(uri) != error:
                self._internal_errors[uri] = error
                self._log(f"fitlint: {error}")
        else:
            self._internal_errors.pop(uri, None)
        return list(findings)

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

    def _encoding(self) -> str:
        return str(self.server.workspace.position_encoding or "utf-16")

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
                diagnostics=[actions.diagnostic(f, lines, encoding) for f in findings],
            )
        )

    async def _fresh(self, uri: str) -> _Linted | None:
        """The lint of the document's current text: the last one, or the one it waits for."""
        for _ in range(3):  # the text may change again while it waits
            doc = self._document(uri)
            if doc is None:
                return None
            linted = self._linted.get(unquote(uri))
            if linted is not None and linted.source == doc.source:
                # The same text may have a newer version (an undo, a change that changes
                # nothing): edits carry the current one, or the editor refuses them.
                return dataclasses.replace(linted, version=doc.version)
            notebook = self.server.workspace.get_notebook_document(cell_uri=unquote(uri))
            if notebook is not None:
                key: Key = ("nb", unquote(notebook.uri))
            elif _is_python(uri, doc.language_id):
                key = ("doc", unquote(uri))
            else:
                return None
            self._cancel(key)
            waited_for = doc.source
            await asyncio.shield(self._lint_now(key))
            if key in self._running:  # it lints once more for a newer text: wait for it too
                await asyncio.shield(self._running[key])
            current = self._document(uri)
            if current is not None and current.source == waited_for:
                break  # the lint of this very text failed (logged): no answer, no second try
        linted = self._linted.get(unquote(uri))
        doc = self._document(uri)
        if linted is not None and doc is not None and linted.source == doc.source:
            return dataclasses.replace(linted, version=doc.version)
        return None

    # ----------------------------------------------------------------- code actions

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

    async def code_action(self, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        """Quick fixes and suppressions for the findings in range, and fix-all for the file."""
        from lsprotocol import types

        uri = params.text_document.uri
        linted = await self._fresh(uri)
        if linted is None:
            return None
        encoding = self._encoding()
        lines = split_lines(linted.source)
        start = from_position(
            lines, params.range.start.line, params.range.start.character, encoding
        )
        end = from_position(lines, params.range.end.line, params.range.end.character, encoding)
        only = [str(k) for k in params.context.only] if params.context.only else None
        found: list[types.CodeAction] = []
        if _wanted(types.CodeActionKind.QuickFix, only):
            for f in linted.findings:
                if not actions.overlaps(f, start, end):
                    continue
                diagnostic = actions.diagnostic(f, lines, encoding)
                if f.fix is not None:
                    edits = actions.text_edits(f.fix.edits, lines, encoding)
                    found.append(
                        types.CodeAction(
                            title=f.fix.message,
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic],
                            is_preferred=True,
                            edit=self._workspace_edit(uri, linted.version, edits),
                        )
                    )
                edit = actions.noqa_edit(linted.source, f) if f.code != "FL000" else None
                if edit is not None:
                    edits = actions.text_edits([edit], lines, encoding)
                    found.append(
                        types.CodeAction(
                            title=f"Suppress {f.code} with # noqa",
                            kind=types.CodeActionKind.QuickFix,
                            diagnostics=[diagnostic],
                            edit=self._workspace_edit(uri, linted.version, edits),
                        )
                    )
        if _wanted(FIX_ALL_KIND, only) and any(f.fix is not None for f in linted.findings):
            fixed = await self._fix_all(linted, uri)
            edits = actions.text_edits(diff_edits(linted.source, fixed), lines, encoding)
            if edits:
                found.append(
                    types.CodeAction(
                        title="fitlint: fix all auto-fixable problems",
                        kind=FIX_ALL_KIND,
                        edit=self._workspace_edit(uri, linted.version, edits),
                    )
                )
        return found

    async def _fix_all(self, linted: _Linted, uri: str) -> str:
        """Every fix applied (``api.fix_source``'s loop, in a worker); a notebook cell gets
        the fixes found for it, once."""
        notebook = self.server.workspace.get_notebook_document(cell_uri=unquote(uri))
        try:
            if notebook is not None:
                return str(await self.workers.run("fix_cell", linted.source, linted.findings))
            return str(await self.workers.run("fix", linted.source, linted.path, linted.config))
        except (WorkerDied, JobFailed) as err:
            self._log(f"fitlint: cannot fix {uri}: {err}")
            return linted.source

    # ----------------------------------------------------------------- hover

    async def hover(self, params: types.HoverParams) -> types.Hover | None:
        """The rule documentation of the findings under the cursor."""
        from lsprotocol import types

        linted = await self._fresh(params.text_document.uri)
        if linted is None:
            return None
        encoding = self._encoding()
        lines = split_lines(linted.source)
        at = from_position(lines, params.position.line, params.position.character, encoding)
        hits = [f for f in linted.findings if actions.overlaps(f, at, at)]
        if not hits:
            return None
        first = hits[0]
        return types.Hover(
            contents=types.MarkupContent(
                kind=types.MarkupKind.Markdown,
                value="\n\n---\n\n".join(actions.hover_markdown(f) for f in hits),
            ),
            range=actions.lsp_range(
                lines, first.line, first.column, first.end_line, first.end_column, encoding
            ),
        )
