"""The server's entry point: the command line, logging, and the pygls server built with every
handler of :class:`fitlint.lsp.service.FitlintService`."""

from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fitlint import __version__
from fitlint.lsp.protocol import server_classes
from fitlint.lsp.service import DEFAULT_DEBOUNCE_MS, FitlintService
from fitlint.lsp.worker import TIMEOUT_S, Workers

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

_EXIT_USAGE = 2


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
        "--lint-timeout",
        type=float,
        default=TIMEOUT_S,
        metavar="SECONDS",
        help="stop a lint that runs longer than SECONDS plus a minute per MB of text "
        f"(default: {TIMEOUT_S:.0f})",
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


def create_server(
    debounce_ms: int = DEFAULT_DEBOUNCE_MS, lint_timeout: float = TIMEOUT_S
) -> tuple[LanguageServer, FitlintService]:
    """Builds the pygls server with every fitlint handler registered.

    Every incoming message is checked as :func:`fitlint.lsp.protocol.server_classes`
    describes, so a bad message gets the JSON-RPC error the protocol specifies (or is logged
    and dropped) instead of no answer or an error pop-up in the editor.

    Raises:
        ImportError: When pygls (the ``lsp`` extra) is not installed.
    """
    from lsprotocol import types

    protocol_cls, server_cls = server_classes()
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
    service = FitlintService(server, debounce_ms, Workers(timeout=lint_timeout))
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
    if not math.isfinite(args.lint_timeout) or args.lint_timeout <= 0:
        sys.stderr.write("fitlint server: error: --lint-timeout must be a number above 0\n")
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

    server, service = create_server(args.debounce, args.lint_timeout)
    service.workers.prestart()  # it imports the rules and warms up while the session begins
    try:
        server.start_io()
    finally:
        service.workers.close()
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
