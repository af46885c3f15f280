"""The language server under bad input: a real process, the wire protocol spoken by hand.

Each case sends what a broken or hostile client could send and checks what JSON-RPC 2.0 and the
Language Server Protocol prescribe: every request id gets an answer with the right error code,
a protocol error is logged (``window/logMessage``) and never shown as a ``window/showMessage``
pop-up, and the server keeps answering afterwards.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_lsp import CAPABILITIES, SERVER, SYNTAX_BROKEN, TIMEOUT, LspClient, Message

pytestmark = pytest.mark.slow

INVALID_REQUEST = -32600
PARSE_ERROR = -32700
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002
HOVER_NOWHERE = {
    "textDocument": {"uri": "file:///nowhere/never-opened.py"},
    "position": {"line": 0, "character": 0},
}


def send_raw(client: LspClient, body: bytes) -> None:
    """Sends ``body`` as one framed message, whatever it holds."""
    assert client.proc.stdin is not None
    client.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    client.proc.stdin.flush()


def reply_to(client: LspClient, msg_id: Any) -> Message:
    """The server's answer (not a request of its own) with id ``msg_id`` (None: ``null``)."""

    def match(m: Message) -> bool:
        return "method" not in m and "id" in m and m["id"] == msg_id

    return client.wait_for(match)


def settle(client: LspClient) -> int:
    """Waits until the server has handled everything sent so far and forgets what is unread.

    Returns the number of messages received until now: what comes after is the next case's.
    """
    assert client.alive()
    client._unread.clear()
    return len(client.received)


def everything(client: LspClient, since: int = 0) -> list[Message]:
    """The messages received (after the first ``since``); call after ``alive()``, which is
    answered after everything sent before it."""
    return client.received[since:]


def popups(client: LspClient, since: int = 0) -> list[Message]:
    return [m for m in everything(client, since) if m.get("method") == "window/showMessage"]


def logged(client: LspClient, *parts: str, since: int = 0) -> list[str]:
    """The ``window/logMessage`` texts that hold every one of ``parts``."""
    return [
        m["params"]["message"]
        for m in everything(client, since)
        if m.get("method") == "window/logMessage"
        and all(p in m["params"]["message"] for p in parts)
    ]


def published(client: LspClient, uri: str) -> list[Message]:
    return [
        m["params"]
        for m in everything(client)
        if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    ]


def did_open(uri: str, text: str = SYNTAX_BROKEN, version: int = 1) -> Message:
    item = {"uri": uri, "languageId": "python", "version": version, "text": text}
    return {"textDocument": item}


def did_change(uri: str, version: int, text: str) -> Message:
    return {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[LspClient]:
    c = LspClient(SERVER, tmp_path / "server.log")
    try:
        yield c
    finally:
        c.close()
    assert_one_line_records(c)


@pytest.fixture
def session(client: LspClient) -> LspClient:
    client.initialize()
    return client


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LspClient]:
    """One initialized server for the table of invalid messages (each leaves no state)."""
    c = LspClient(SERVER, tmp_path_factory.mktemp("lsp") / "server.log")
    try:
        c.initialize()
        yield c
    finally:
        c.close()
    assert_one_line_records(c)


# ============================================================================ invalid messages


@pytest.mark.parametrize(
    ("body", "reply_id", "why"),
    [
        pytest.param(b"5", None, "a number", id="bare-number"),
        pytest.param(b'"x"', None, "a string", id="bare-string"),
        pytest.param(b"null", None, "null", id="bare-null"),
        pytest.param(b"true", None, "a boolean", id="bare-boolean"),
        pytest.param(b"[]", None, "batch", id="empty-array"),
        pytest.param(b"[1, 2]", None, "batch", id="array-of-numbers"),
        pytest.param(
            b'[{"jsonrpc": "2.0", "id": 31, "method": "shutdown"}]', 31, "batch", id="batch"
        ),
        pytest.param(
            json.dumps({"id": 32, "method": "textDocument/hover", "params": HOVER_NOWHERE}),
            32, '"jsonrpc"', id="request-without-jsonrpc",
        ),
        pytest.param(
            json.dumps({"method": "textDocument/didOpen", "params": did_open("file:///n.py")}),
            None, '"jsonrpc"', id="notification-without-jsonrpc",
        ),
        pytest.param(
            json.dumps({"jsonrpc": "1.0", "id": 33, "method": "textDocument/hover",
                        "params": HOVER_NOWHERE}),
            33, '"jsonrpc"', id="jsonrpc-1.0",
        ),
        pytest.param(b'{"jsonrpc": "2.0", "id": 34, "method": 5}', 34, "method", id="method-5"),
        pytest.param(b'{"jsonrpc": "2.0", "id": 35}', 35, "response", id="id-without-method"),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}', None, "id",
            id="id-is-an-object",
        ),
        pytest.param(
            b'{"jsonrpc": "2.0", "id": true, "method": "shutdown"}', None, "id", id="id-is-true"
        ),
        pytest.param(b'{"foo": "boo"}', None, '"jsonrpc"', id="not-a-message"),
    ],
)  # fmt: skip
def test_invalid_message_gets_invalid_request(
    shared: LspClient, body: bytes | str, reply_id: Any, why: str
) -> None:
    """JSON-RPC 2.0 section 5: what is not a valid request object gets Invalid Request, with
    the message's id when it has a usable one and null otherwise."""
    mark = settle(shared)
    send_raw(shared, body.encode() if isinstance(body, str) else body)
    reply = reply_to(shared, reply_id)
    assert reply["jsonrpc"] == "2.0"
    assert reply["error"]["code"] == INVALID_REQUEST
    assert why in reply["error"]["message"]
    assert shared.alive()
    assert logged(shared, "fitlint:", why, since=mark)
    assert not popups(shared, since=mark)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        pytest.param(b'{"jsonrpc": "2.0", "id": 41, "method": ', "not JSON", id="truncated"),
        pytest.param(b'{"jsonrpc": "2.0", "method": "\xff"}', "not UTF-8", id="not-utf-8"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "nested too deeply", id="deep-nesting"),
    ],
)
def test_what_is_not_json_gets_parse_error(shared: LspClient, body: bytes, why: str) -> None:
    mark = settle(shared)
    send_raw(shared, body)
    reply = reply_to(shared, None)
    assert reply["error"]["code"] == PARSE_ERROR
    assert why in reply["error"]["message"]
    assert shared.alive()
    assert logged(shared, "parse error", why, since=mark)
    assert not popups(shared, since=mark)
    assert_one_line_records(shared)


def assert_one_line_records(client: LspClient) -> None:
    """The server's stderr holds log records of one line each: no traceback."""
    text = client._log.read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in text
    for line in text.splitlines():
        assert line[:4].isdigit(), f"a line that is not a log record: {line!r}"


def test_a_response_is_never_answered(shared: LspClient) -> None:
    """A response to no request of the server's, or one that cannot be read, is logged and
    dropped: answering a response could start an endless exchange."""
    mark = settle(shared)
    for body in (
        b'{"jsonrpc": "2.0", "id": "nobody-asked", "result": null}',
        b'{"jsonrpc": "2.0", "id": "nobody-asked", "error": {"code": 1, "message": "m"}}',
        b'{"jsonrpc": "2.0", "id": "nobody-asked", "error": 5}',
        b'{"jsonrpc": "2.0", "result": 1}',
    ):
        send_raw(shared, body)
    assert shared.alive()
    assert not [m for m in everything(shared, mark) if m.get("id") == "nobody-asked"]
    assert logged(shared, "a response without an id", since=mark)
    assert not popups(shared, since=mark)


# ============================================================================ notifications


@pytest.mark.parametrize("method", ["textDocument/didOpen", "textDocument/didChange"])
def test_notification_sent_with_an_id_gets_invalid_request(
    session: LspClient, tmp_path: Path, method: str
) -> None:
    uri = (tmp_path / "train.py").as_uri()
    if method == "textDocument/didChange":
        session.open(uri, "import keras\n")
        assert session.diagnostics(uri, version=1) == []
        params = did_change(uri, 2, SYNTAX_BROKEN)
    else:
        params = did_open(uri)
    session.send({"jsonrpc": "2.0", "id": 51, "method": method, "params": params})
    reply = reply_to(session, 51)
    assert reply["error"]["code"] == INVALID_REQUEST
    assert "notification" in reply["error"]["message"]
    assert session.alive()
    # Not acted on: no diagnostics for the rejected text.
    assert [p["version"] for p in published(session, uri)] == (
        [1] if method == "textDocument/didChange" else []
    )
    assert not popups(session)


def test_request_sent_without_an_id_is_dropped(session: LspClient) -> None:
    session.notify("textDocument/hover", HOVER_NOWHERE)
    assert session.alive()
    assert logged(session, "textDocument/hover is a request")
    assert not popups(session)


@pytest.mark.parametrize(
    "method",
    ["textDocument/didChange", "notebookDocument/didChange"],
)
def test_change_of_a_document_that_is_not_open_is_logged(
    session: LspClient, tmp_path: Path, method: str
) -> None:
    uri = (tmp_path / "never-opened.py").as_uri()
    if method == "textDocument/didChange":
        params = did_change(uri, 2, "x = 1\n")
    else:
        params = {"notebookDocument": {"uri": uri, "version": 2}, "change": {}}
    session.notify(method, params)
    assert session.alive()
    assert logged(session, uri, "not open")
    assert not popups(session)
    # The server goes on as before: the document can be opened and is linted.
    session.open(uri, SYNTAX_BROKEN)
    assert [d["code"] for d in session.diagnostics(uri, version=1)] == ["FL000"]


def test_notification_with_invalid_params_is_logged(session: LspClient) -> None:
    send_raw(session, b'{"jsonrpc": "2.0", "method": "textDocument/didOpen"}')
    session.notify("textDocument/didOpen", {"textDocument": 5})
    session.notify("$/cancelRequest", {})
    assert session.alive()
    assert len(logged(session, "invalid params for textDocument/didOpen")) == 2
    assert logged(session, "invalid params for $/cancelRequest")
    assert not popups(session)


def test_invalid_params_of_a_request_get_invalid_params(session: LspClient) -> None:
    response = session.call("textDocument/codeAction", {"textDocument": 5})
    assert response["error"]["code"] == INVALID_PARAMS
    assert session.alive()


# ============================================================================ the lifecycle


def test_requests_after_shutdown_get_invalid_request(session: LspClient, tmp_path: Path) -> None:
    """LSP: after shutdown, requests error with InvalidRequest and notifications other than
    exit are dropped."""
    assert session.result("shutdown") is None
    for method, params in (("textDocument/hover", HOVER_NOWHERE), ("shutdown", None)):
        response = session.call(method, params)
        assert response["error"]["code"] == INVALID_REQUEST, method
        assert "shutdown" in response["error"]["message"]
    uri = (tmp_path / "train.py").as_uri()
    session.open(uri, SYNTAX_BROKEN)  # dropped
    response = session.call("initialize", {"processId": None, "capabilities": {}})
    assert response["error"]["code"] == INVALID_REQUEST
    assert not published(session, uri)
    assert not popups(session)
    session.notify("exit")
    assert session.proc.wait(TIMEOUT) == 0


def test_before_initialize_requests_get_server_not_initialized(client: LspClient) -> None:
    response = client.call("textDocument/hover", HOVER_NOWHERE)
    assert response["error"]["code"] == SERVER_NOT_INITIALIZED
    client.notify("textDocument/didOpen", did_open("file:///early.py"))  # dropped
    assert client.initialize()["capabilities"]["hoverProvider"] is True
    assert client.alive()
    assert not published(client, "file:///early.py")
    assert not popups(client)
    assert client.stop() == 0


def test_second_initialize_is_refused_and_keeps_the_session(
    client: LspClient, tmp_path: Path
) -> None:
    """A second initialize gets InvalidRequest; the open documents and the negotiated position
    encoding stay as they were."""
    caps: Message = {**CAPABILITIES, "general": {"positionEncodings": ["utf-32"]}}
    assert client.initialize(caps)["capabilities"]["positionEncoding"] == "utf-32"
    uri = (tmp_path / "train.py").as_uri()
    prefix = 's = "é😀" + '
    client.open(uri, f"import keras\n{prefix}(\n")
    (diag,) = client.diagnostics(uri, version=1)
    assert diag["range"]["start"] == {"line": 1, "character": len(prefix)}
    again = client.call(
        "initialize",
        {"processId": None, "rootUri": None, "capabilities": {"general": {}}},
    )
    assert again["error"]["code"] == INVALID_REQUEST
    assert "initialize" in again["error"]["message"]
    hover = client.result(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": diag["range"]["start"]}
    )
    assert hover is not None and "FL000" in hover["contents"]["value"]  # still open
    client.change(uri, 2, f"import keras\n{prefix}(\n\n")
    (diag,) = client.diagnostics(uri, version=2)
    assert diag["range"]["start"] == {"line": 1, "character": len(prefix)}  # still UTF-32
    assert not popups(client)
    assert client.stop() == 0


def test_second_initialized_is_ignored(client: LspClient) -> None:
    caps: Message = {
        **CAPABILITIES,
        "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}},
    }
    client.initialize(caps)
    client.notify("initialized", {})
    assert client.alive()
    registrations = [
        m for m in everything(client) if m.get("method") == "client/registerCapability"
    ]
    assert len(registrations) == 1
    assert logged(client, "initialized")


def test_an_error_in_a_notification_handler_is_logged_not_shown(
    session: LspClient, tmp_path: Path
) -> None:
    """The safety net: pygls fails on a change to a cell that its notebook does not hold; the
    error goes to the output log, not to a pop-up, and the server goes on."""
    nb = (tmp_path / "train.ipynb").as_uri()
    cell = f"vscode-notebook-cell:{tmp_path}/train.ipynb#c0"
    session.notify(
        "notebookDocument/didOpen",
        {
            "notebookDocument": {
                "uri": nb, "notebookType": "jupyter-notebook", "version": 1,
                "cells": [{"kind": 2, "document": cell}],
            },
            "cellTextDocuments": [
                {"uri": cell, "languageId": "python", "version": 1, "text": "import keras\n"}
            ],
        },
    )  # fmt: skip
    assert session.diagnostics(cell, version=1) == []
    stranger = f"vscode-notebook-cell:{tmp_path}/train.ipynb#nowhere"
    change = {"document": {"uri": stranger, "version": 2}, "changes": [{"text": "x = 1\n"}]}
    session.notify(
        "notebookDocument/didChange",
        {
            "notebookDocument": {"uri": nb, "version": 2},
            "change": {"cells": {"textContent": [change]}},
        },
    )
    assert session.alive()
    assert logged(session, "fitlint: internal error")
    assert not popups(session)
    assert session.stop() == 0


# ============================================================================ deep nesting


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("import keras\nx = " + "(" * 1500 + "1" + ")" * 1500 + "\n", "too many nested"),
        ("import keras\nx = a" + ".b" * 20_000 + "\n", "too deeply nested"),
        ("import keras\nx = " + "+".join(["1"] * 8000) + "\n", "too deeply nested"),
    ],
    ids=["1500-parentheses", "20000-attributes", "8000-terms"],
)
def test_deeply_nested_documents_are_a_syntax_error_and_the_server_lives(
    session: LspClient, tmp_path: Path, source: str, message: str
) -> None:
    """What would overflow the native parser's stack is refused before it, as CPython refuses
    it; the server goes on answering."""
    uri = (tmp_path / "deep.py").as_uri()
    session.open(uri, source)
    (diagnostic,) = session.diagnostics(uri, version=1)
    assert diagnostic["code"] == "FL000" and message in diagnostic["message"]
    assert session.alive()
    assert not popups(session)


# ============================================================================ a worker that hangs


def _all_end(pids: list[int], *, within: float) -> bool:
    """Whether every one of ``pids`` has ended within ``within`` seconds (polled)."""
    import time

    deadline = time.monotonic() + within
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(map(_alive, pids))


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize("ending", ["exit", "stdin-closed", "killed"])
def test_a_hung_lint_worker_does_not_outlive_the_server(
    session: LspClient, tmp_path: Path, ending: str
) -> None:
    """A job that never ends (a stopped worker stands for a rule caught in a loop, or one too
    busy to read its pipe) neither keeps the server from ending nor is left behind by it, even
    when the server is killed with -9 and cleans up nothing: the kernel ends the worker."""
    import os
    import signal

    from test_lsp import _children

    uri = (tmp_path / "train.py").as_uri()
    session.open(uri, "import keras\n")
    assert session.diagnostics(uri, version=1) == []
    workers = _children(session.proc.pid)
    assert workers
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        session.change(uri, 2, SYNTAX_BROKEN)  # its lint never answers
        assert session.alive()
        if ending == "exit":
            session.notify("exit")
        elif ending == "stdin-closed":
            assert session.proc.stdin is not None
            session.proc.stdin.close()
        else:
            session.proc.send_signal(signal.SIGKILL)
        assert session.proc.wait(TIMEOUT) == (-signal.SIGKILL if ending == "killed" else 1)
        assert _all_end(workers, within=TIMEOUT)
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_editors_working_directory_does_not_shadow_the_workers_standard_library(
    tmp_path: Path,
) -> None:
    """A project holding its own ``struct.py`` (or ``types.py``...): the server started by an
    editor in that directory still lints, its workers import the standard library."""
    import shutil

    project = tmp_path / "project"
    project.mkdir()
    (project / "struct.py").write_text("raise SystemExit('the project shadowed struct')\n")
    command = shutil.which("fitlint", path=str(Path(sys.executable).parent))
    assert command is not None
    client = LspClient([command, "server"], tmp_path / "server.log", cwd=project)
    try:
        client.initialize()
        uri = (project / "train.py").as_uri()
        client.open(uri, SYNTAX_BROKEN)
        assert [d["code"] for d in client.diagnostics(uri, version=1)] == ["FL000"]
    finally:
        client.close()


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_lint_that_runs_past_its_time_is_stopped_and_the_next_one_runs(
    tmp_path: Path,
) -> None:
    """A job that never answers (a stopped worker stands for a rule caught in a loop): past
    ``--lint-timeout`` its worker is stopped, the log says so, a hover gets its answer, and
    the next change is linted by a new worker."""
    import os
    import signal

    from test_lsp import _children

    client = LspClient([*SERVER, "--lint-timeout", "1"], tmp_path / "server.log")
    try:
        client.initialize()
        uri = (tmp_path / "train.py").as_uri()
        client.open(uri, "import keras\n")
        assert client.diagnostics(uri, version=1) == []
        workers = _children(client.proc.pid)
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        client.change(uri, 2, SYNTAX_BROKEN)
        hover = client.call(  # answered (within the client's timeout), not left waiting
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": 2, "character": 0}},
        )
        assert "result" in hover
        assert logged(client, "ran for more than", "stopped")
        assert _all_end(workers, within=TIMEOUT)  # killed: its death is delivered soon
        client.change(uri, 3, SYNTAX_BROKEN + "\n")
        assert [d["code"] for d in client.diagnostics(uri, version=3)] == ["FL000"]
    finally:
        client.close()
