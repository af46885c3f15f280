"""The language server, driven as an editor drives it: a real process, JSON-RPC over stdio.

The client below speaks the wire protocol itself (Content-Length framing, JSON bodies); no
part of pygls runs in the test process. Every wait has a timeout, so a hang fails the test.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from fitlint import api
from fitlint.model import Config, Finding
from fitlint.rules.base import all_rules

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
REPO = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "fitlint.lsp"]
Message = dict[str, Any]


# ============================================================================ the client


class LspClient:
    """Starts a server and talks to it; messages not asked for yet are kept, in order."""

    def __init__(self, command: Sequence[str], log: Path, cwd: Path = REPO) -> None:
        self._log = log
        self._stderr = open(log, "wb")  # noqa: SIM115  (closed in close())
        self.proc = subprocess.Popen(
            list(command), cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._stderr,
        )  # fmt: skip
        self._inbox: queue.Queue[Message | None] = queue.Queue()
        self.received: list[Message] = []  # every message, in arrival order
        self._unread: list[Message] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        while True:
            length = None
            while (line := stream.readline()) not in (b"\r\n", b"\n"):
                if not line:
                    self._inbox.put(None)
                    return
                key, _, value = line.decode("ascii").partition(":")
                if key.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "a message without Content-Length"
            self._inbox.put(json.loads(stream.read(length)))

    def send(self, payload: Message) -> None:
        body = json.dumps(payload).encode("utf-8")
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: Any = None) -> int:
        self._next_id += 1
        self.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def wait_for(self, match: Callable[[Message], bool], timeout: float = TIMEOUT) -> Message:
        """The first message, received already or still to come, that ``match`` accepts."""
        for i, msg in enumerate(self._unread):
            if match(msg):
                return self._unread.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no matching message in {timeout}s{self._tail()}") from None
            if msg is None:
                self._inbox.put(None)
                raise AssertionError(f"the server closed its output{self._tail()}")
            self.received.append(msg)
            if match(msg):
                return msg
            self._unread.append(msg)

    def call(self, method: str, params: Any = None) -> Message:
        """Sends a request; returns the whole response (result or error)."""
        msg_id = self.request(method, params)
        return self.wait_for(lambda m: m.get("id") == msg_id and "method" not in m)

    def result(self, method: str, params: Any = None) -> Any:
        response = self.call(method, params)
        assert "error" not in response, response
        return response["result"]

    def diagnostics(self, uri: str, version: int | None = None) -> list[Message]:
        """The next diagnostics published for ``uri`` (for ``version`` when given)."""

        def match(m: Message) -> bool:
            p = m.get("params") or {}
            return m.get("method") == "textDocument/publishDiagnostics" and (
                p.get("uri") == uri and version in (None, p.get("version"))
            )

        diags: list[Message] = self.wait_for(match)["params"]["diagnostics"]
        return diags

    def initialize(self, capabilities: Message | None = None) -> Message:
        result: Message = self.result(
            "initialize",
            {"processId": None, "rootUri": None, "capabilities": capabilities or CAPABILITIES},
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        item = {"uri": uri, "languageId": "python", "version": version, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})

    def change(self, uri: str, version: int, text: str) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def alive(self) -> bool:
        """Whether the process runs and answers a request."""
        response = self.call("textDocument/hover", {
            "textDocument": {"uri": "file:///nowhere/never-opened.py"},
            "position": {"line": 0, "character": 0},
        })  # fmt: skip
        return "id" in response and self.proc.poll() is None

    def stop(self) -> int:
        """shutdown, exit, and the exit code."""
        self.result("shutdown")
        self.notify("exit")
        return self.proc.wait(TIMEOUT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
        self._stderr.close()

    def _tail(self) -> str:
        self._stderr.flush()
        text = self._log.read_text(encoding="utf-8", errors="replace")[-3000:]
        return f"\n--- server log ---\n{text}" if text else ""


CAPABILITIES: Message = {
    "workspace": {"workspaceEdit": {"documentChanges": True}},
    "textDocument": {
        "publishDiagnostics": {"versionSupport": True},
        "codeAction": {
            "codeActionLiteralSupport": {
                "codeActionKind": {"valueSet": ["quickfix", "source", "source.fixAll"]}
            }
        },
        "hover": {"contentFormat": ["markdown", "plaintext"]},
    },
}


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _offset(text: str, line: int, character: int) -> int:
    """A UTF-16 (line, character) position as an index into ``text``."""
    starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    if line >= len(starts):
        return len(text)
    i, units = starts[line], 0
    while units < character and i < len(text) and text[i] not in "\r\n":
        units += _units(text[i])
        i += 1
    return i


def apply_edits(text: str, edits: Sequence[Message]) -> str:
    """Applies LSP TextEdits (UTF-16 positions) to ``text``, as an editor does."""
    spans = []
    for e in edits:
        start = _offset(text, e["range"]["start"]["line"], e["range"]["start"]["character"])
        end = _offset(text, e["range"]["end"]["line"], e["range"]["end"]["character"])
        spans.append((start, end, e["newText"]))
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def edits_of(action: Message, uri: str) -> list[Message]:
    """The TextEdits of a code action's WorkspaceEdit for ``uri``."""
    edit = action["edit"]
    if "documentChanges" in edit:
        out: list[Message] = []
        for change in edit["documentChanges"]:
            assert change["textDocument"]["uri"] == uri
            out.extend(change["edits"])
        return out
    edits: list[Message] = edit["changes"][uri]
    return edits


@pytest.fixture
def client(tmp_path: Path) -> Iterator[LspClient]:
    c = LspClient(SERVER, tmp_path / "server.log")
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def session(client: LspClient) -> LspClient:
    client.initialize()
    return client


# ============================================================================ examples


SYNTAX_BROKEN = "import keras\n\nmodel = keras.Sequential(\nmodel.fit(x, y)\n"


def _default_findings(source: str, path: str) -> list[Finding]:
    return api.lint_source(source, path, Config()).findings


def _example(*, fixable: bool) -> tuple[str, str, int] | None:
    """A (code, source, line) that default linting flags exactly once with that code.

    FL402 (removed-keras-argument) first when registered, then any other rule's examples.
    """
    rules = sorted(all_rules().values(), key=lambda r: (r.code != "FL402", r.code))
    for rule in rules:
        if rule.code == "FL000" or not rule.default_enabled or (fixable and not rule.fixable):
            continue
        for invalid in rule.invalid:
            found = [f for f in _default_findings(invalid.code, "x.py") if f.code == rule.code]
            if len(found) == 1 and (found[0].fix is not None or not fixable):
                return rule.code, invalid.code, found[0].line
    return None


def _file_uri(tmp_path: Path, name: str = "train.py") -> str:
    return (tmp_path / name).as_uri()


# ============================================================================ the session


def test_initialize_advertises_the_features(client: LspClient) -> None:
    caps = client.initialize()["capabilities"]
    assert caps["textDocumentSync"]["change"] == 2  # incremental
    assert caps["textDocumentSync"]["openClose"] is True
    assert caps["textDocumentSync"]["save"] is not False
    assert caps["hoverProvider"] is True
    kinds = caps["codeActionProvider"]["codeActionKinds"]
    assert {"quickfix", "source.fixAll", "source.fixAll.fitlint"} <= set(kinds)
    assert caps["positionEncoding"] == "utf-16"
    assert client.stop() == 0


def test_broken_script_gets_one_syntax_diagnostic_with_rule_and_link(
    session: LspClient, tmp_path: Path
) -> None:
    uri = _file_uri(tmp_path)
    session.open(uri, SYNTAX_BROKEN)
    diags = session.diagnostics(uri, version=1)
    assert len(diags) == 1
    d = diags[0]
    assert d["code"] == "FL000"
    assert d["source"] == "fitlint"
    assert d["severity"] == 1  # Error
    assert "syntax-error" in d["message"]
    assert d["codeDescription"]["href"].endswith("#syntax-error")
    expected = _default_findings(SYNTAX_BROKEN, str(tmp_path / "train.py"))[0]
    assert d["range"]["start"] == {"line": expected.line - 1, "character": expected.column - 1}


def test_mid_typing_syntax_error_then_recovery(session: LspClient, tmp_path: Path) -> None:
    uri = _file_uri(tmp_path)
    good = "import keras\n\nmodel = keras.Sequential()\n"
    session.open(uri, good)
    assert session.diagnostics(uri, version=1) == []
    session.change(uri, 2, good + "model.compile(optimizer='adam',\n")
    diags = session.diagnostics(uri, version=2)
    assert [d["code"] for d in diags] == ["FL000"]
    assert session.alive()
    session.change(uri, 3, good + "model.compile(optimizer='adam')\n")
    assert session.diagnostics(uri, version=3) == []
    assert session.stop() == 0


def test_save_and_close(session: LspClient, tmp_path: Path) -> None:
    uri = _file_uri(tmp_path)
    session.open(uri, "import keras\n")
    assert session.diagnostics(uri, version=1) == []
    session.change(uri, 2, SYNTAX_BROKEN)
    session.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in session.diagnostics(uri, version=2)] == ["FL000"]
    session.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    cleared = session.wait_for(
        lambda m: (
            m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and m["params"].get("version") is None
        )  # a closed document has no version
    )
    assert cleared["params"]["diagnostics"] == []


def test_quick_fix_round_trip_clears_the_diagnostic(session: LspClient, tmp_path: Path) -> None:
    example = _example(fixable=True)
    if example is None:
        pytest.skip("no registered default rule has a fixable example (FL402 not written yet)")
    code, text, line = example
    uri = _file_uri(tmp_path)
    session.open(uri, text)
    diag = next(d for d in session.diagnostics(uri, version=1) if d["code"] == code)
    assert diag["range"]["start"]["line"] == line - 1
    actions = session.result(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": diag["range"],
            "context": {"diagnostics": [diag]},
        },
    )
    fixes = [
        a for a in actions
        if a["kind"] == "quickfix" and a["diagnostics"][0]["code"] == code
        and not a["title"].startswith("Suppress")
    ]  # fmt: skip
    assert len(fixes) == 1
    assert fixes[0]["isPreferred"] is True
    fixed = apply_edits(text, edits_of(fixes[0], uri))
    assert fixed != text
    session.change(uri, 2, fixed)
    assert code not in [d["code"] for d in session.diagnostics(uri, version=2)]
    assert session.stop() == 0


def test_fix_all_source_action(session: LspClient, tmp_path: Path) -> None:
    example = _example(fixable=True)
    if example is None:
        pytest.skip("no registered default rule has a fixable example (FL402 not written yet)")
    code, text, _ = example
    uri = _file_uri(tmp_path)
    session.open(uri, text)
    session.diagnostics(uri, version=1)
    actions = session.result(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": [], "only": ["source.fixAll"]},
        },
    )
    assert [a["kind"] for a in actions] == ["source.fixAll.fitlint"]
    fixed = apply_edits(text, edits_of(actions[0], uri))
    assert not [f for f in _default_findings(fixed, "x.py") if f.fix is not None]
    session.change(uri, 2, fixed)
    assert code not in [d["code"] for d in session.diagnostics(uri, version=2)]


def test_noqa_action_appends_the_code(session: LspClient, tmp_path: Path) -> None:
    example = _example(fixable=False)
    if example is None:
        pytest.skip("no registered default rule besides FL000 fires on its examples yet")
    code, text, line = example
    uri = _file_uri(tmp_path)
    session.open(uri, text)
    diag = next(d for d in session.diagnostics(uri, version=1) if d["code"] == code)
    actions = session.result(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": diag["range"],
            "context": {"diagnostics": [diag], "only": ["quickfix"]},
        },
    )
    suppress = [a for a in actions if a["title"] == f"Suppress {code} with # noqa"]
    assert len(suppress) == 1
    new = apply_edits(text, edits_of(suppress[0], uri))
    assert new.splitlines()[line - 1].endswith(f"# noqa: {code}")
    assert [ln for i, ln in enumerate(new.splitlines()) if i != line - 1] == [
        ln for i, ln in enumerate(text.splitlines()) if i != line - 1
    ]
    if any(f.code == code for f in _default_findings(new, "x.py")):
        pytest.skip("suppression comments are not applied by api.lint_source yet")
    session.change(uri, 2, new)
    assert code not in [d["code"] for d in session.diagnostics(uri, version=2)]


def test_hover_shows_the_rule_documentation(session: LspClient, tmp_path: Path) -> None:
    uri = _file_uri(tmp_path)
    session.open(uri, SYNTAX_BROKEN)
    diag = session.diagnostics(uri, version=1)[0]
    hover = session.result(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": diag["range"]["start"]}
    )
    value = hover["contents"]["value"]
    assert hover["contents"]["kind"] == "markdown"
    for part in ("FL000", "syntax-error", "What it does", "Why is this bad?", "Use instead"):
        assert part in value
    assert "https://fitdiag.readthedocs.io/rules/#syntax-error" in value
    assert hover["range"] == diag["range"]
    nothing = session.result(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}},
    )
    assert nothing is None


def test_thousand_rapid_changes_end_on_the_final_text(session: LspClient, tmp_path: Path) -> None:
    uri = _file_uri(tmp_path)
    text = "import keras\n\n"
    session.open(uri, text)
    session.diagnostics(uri, version=1)
    unit = "w = 'naïve 😀'\nv = (w,\n"  # unclosed while typing; astral chars test UTF-16
    payload = (unit * 100)[:999] + ")"
    line, character = 2, 0
    for version, ch in enumerate(payload, start=2):
        pos = {"line": line, "character": character}
        session.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": pos, "end": pos}, "text": ch}],
            },
        )
        text += ch
        line, character = (line + 1, 0) if ch == "\n" else (line, character + _units(ch))
    final_version = 1 + len(payload)
    assert final_version == 1001
    diags = session.diagnostics(uri, version=final_version)
    expected = _default_findings(text, str(tmp_path / "train.py"))
    assert [(d["code"], d["range"]["start"]["line"]) for d in diags] == [
        (f.code, f.line - 1) for f in expected
    ]
    assert session.alive()
    published = [
        m["params"]["version"]
        for m in session.received
        if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    ]
    assert published == sorted(published)  # never an older version after a newer one
    assert published[-1] == final_version
    assert session.stop() == 0


def test_a_percent_encoded_uri_gets_its_diagnostics_hover_and_close(
    session: LspClient, tmp_path: Path
) -> None:
    folder = tmp_path / "my dir"
    folder.mkdir()
    uri = (folder / "train.py").as_uri()
    assert "%20" in uri
    session.open(uri, SYNTAX_BROKEN)
    diags = session.diagnostics(uri, version=1)
    assert [d["code"] for d in diags] == ["FL000"]
    position = diags[0]["range"]["start"]
    hover = session.result(
        "textDocument/hover", {"textDocument": {"uri": uri}, "position": position}
    )
    assert "syntax-error" in hover["contents"]["value"]
    session.change(uri, 2, "import keras\n")
    assert session.diagnostics(uri, version=2) == []
    session.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    cleared = session.wait_for(
        lambda m: (
            m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and m["params"].get("version") is None
        )
    )
    assert cleared["params"]["diagnostics"] == []


def _slow_text() -> str:
    """A valid Keras script of some 400 KB: its lint takes seconds."""
    block = "".join(
        f"x{i} = keras.layers.Dense({i % 64 + 1}, activation='relu')(x{i - 1})\n"
        for i in range(1, 200)
    )
    return "import keras\nx0 = keras.Input((8,))\n" + block * 40


def test_a_slow_document_does_not_hold_up_a_hover_on_another(
    session: LspClient, tmp_path: Path
) -> None:
    small = _file_uri(tmp_path, "small.py")
    session.open(small, SYNTAX_BROKEN)
    position = session.diagnostics(small, version=1)[0]["range"]["start"]
    big = _file_uri(tmp_path, "big.py")
    session.open(big, _slow_text())
    hover_id = session.request(
        "textDocument/hover", {"textDocument": {"uri": small}, "position": position}
    )
    reply = session.wait_for(lambda m: m.get("id") == hover_id and "method" not in m)
    assert "syntax-error" in reply["result"]["contents"]["value"]
    big_published = [
        m
        for m in session.received
        if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == big
    ]
    assert big_published == []  # answered while the big document was still being linted
    session.diagnostics(big, version=1)
    assert session.stop() == 0


def test_a_code_action_after_a_change_that_keeps_the_text_has_the_new_version(
    session: LspClient, tmp_path: Path
) -> None:
    example = _example(fixable=True)
    if example is None:
        pytest.skip("no registered default rule has a fixable example")
    code, text, _ = example
    text += _slow_text()  # the lint of version 2 is still running when the request comes
    uri = _file_uri(tmp_path)
    session.open(uri, text)
    diag = next(d for d in session.diagnostics(uri, version=1) if d["code"] == code)
    session.change(uri, 2, text)  # a change that changes nothing (an undo) is a new version
    actions = session.result(
        "textDocument/codeAction",
        {
            "textDocument": {"uri": uri},
            "range": diag["range"],
            "context": {"diagnostics": [diag], "only": ["quickfix"]},
        },
    )
    assert actions
    versions = {c["textDocument"]["version"] for a in actions for c in a["edit"]["documentChanges"]}
    assert versions == {2}  # an edit for version 1 is refused by the editor
    assert session.stop() == 0


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_killed_lint_worker_is_replaced(session: LspClient, tmp_path: Path) -> None:
    import os
    import signal

    uri = _file_uri(tmp_path)
    session.open(uri, "import keras\n")
    assert session.diagnostics(uri, version=1) == []
    workers = _children(session.proc.pid)
    assert workers, "the server lints in a worker process"
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    session.change(uri, 2, SYNTAX_BROKEN)
    assert [d["code"] for d in session.diagnostics(uri, version=2)] == ["FL000"]
    assert session.stop() == 0


def test_unknown_request_gets_method_not_found(session: LspClient) -> None:
    response = session.call("fitlint/noSuchMethod", {"x": 1})
    assert response["error"]["code"] == -32601
    session.notify("$/noSuchNotification", {})
    assert session.alive()
    assert session.stop() == 0


def test_broken_pyproject_is_reported_and_the_server_stays_up(
    session: LspClient, tmp_path: Path
) -> None:
    pytest.importorskip("fitlint.config", reason="the [tool.fitlint] configuration layer")
    (tmp_path / "pyproject.toml").write_text("[tool.fitlint\nselect = [\n", encoding="utf-8")
    uri = _file_uri(tmp_path)
    session.open(uri, SYNTAX_BROKEN)
    shown = session.wait_for(lambda m: m.get("method") == "window/showMessage")
    assert shown["params"]["type"] == 1  # Error
    assert "fitlint" in shown["params"]["message"]
    assert "pyproject.toml" in shown["params"]["message"]
    assert [d["code"] for d in session.diagnostics(uri, version=1)] == ["FL000"]  # defaults
    assert session.alive()
    # Repaired and saved: linting goes on with the file's configuration, no new message.
    (tmp_path / "pyproject.toml").write_text("[tool.fitlint]\nignore = ['FL000']\n")
    session.notify(
        "textDocument/didSave", {"textDocument": {"uri": (tmp_path / "pyproject.toml").as_uri()}}
    )
    assert session.diagnostics(uri, version=1) == []
    assert session.stop() == 0


def test_unknown_rule_in_config_is_reported(session: LspClient, tmp_path: Path) -> None:
    pytest.importorskip("fitlint.config", reason="the [tool.fitlint] configuration layer")
    (tmp_path / "pyproject.toml").write_text("[tool.fitlint]\nselect = ['FL999']\n")
    uri = _file_uri(tmp_path)
    session.open(uri, SYNTAX_BROKEN)
    shown = session.wait_for(lambda m: m.get("method") == "window/showMessage")
    assert shown["params"]["type"] == 1
    assert "FL999" in shown["params"]["message"]
    assert [d["code"] for d in session.diagnostics(uri, version=1)] == ["FL000"]
    assert session.alive()


@pytest.mark.parametrize(
    ("offered", "encoding"),
    [
        pytest.param(["utf-8"], "utf-8", id="utf-8"),
        pytest.param(["utf-32", "utf-16"], "utf-32", id="utf-32"),
        pytest.param(None, "utf-16", id="utf-16-default"),
    ],
)
def test_positions_follow_the_negotiated_encoding(
    client: LspClient, tmp_path: Path, offered: list[str] | None, encoding: str
) -> None:
    caps: Message = {**CAPABILITIES}
    if offered is not None:
        caps["general"] = {"positionEncodings": offered}
    assert client.initialize(caps)["capabilities"]["positionEncoding"] == encoding
    prefix = 's = "é😀" + '
    uri = _file_uri(tmp_path)
    client.open(uri, f"import keras\n{prefix}(\n")
    (diag,) = client.diagnostics(uri, version=1)
    character = {
        "utf-8": len(prefix.encode("utf-8")),  # é is 2 bytes, 😀 is 4
        "utf-16": len(prefix.encode("utf-16-le")) // 2,  # 😀 is a surrogate pair
        "utf-32": len(prefix),
    }[encoding]
    assert diag["range"]["start"] == {"line": 1, "character": character}
    assert client.stop() == 0


def test_garbage_message_does_not_kill_the_server(session: LspClient) -> None:
    assert session.proc.stdin is not None
    body = b'{"jsonrpc": "2.0", "id": 99, "method": '  # truncated JSON
    session.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    session.proc.stdin.flush()
    parse_error = session.wait_for(lambda m: "error" in m and m.get("id") is None)
    assert parse_error["error"]["code"] == -32700
    invalid = session.call("textDocument/hover", {"textDocument": {}})  # params missing fields
    assert invalid["error"]["code"] == -32602
    assert not [m for m in session.received if m.get("method") == "window/showMessage"]
    assert session.alive()
    assert session.stop() == 0


@pytest.mark.parametrize(("shutdown", "code"), [(True, 0), (False, 1)])
def test_closing_stdin_ends_the_server(client: LspClient, shutdown: bool, code: int) -> None:
    client.initialize()
    if shutdown:
        client.result("shutdown")
    assert client.proc.stdin is not None
    client.proc.stdin.close()
    assert client.proc.wait(TIMEOUT) == code


def test_exit_without_shutdown_exits_1(client: LspClient) -> None:
    client.initialize()
    client.notify("exit")
    assert client.proc.wait(TIMEOUT) == 1


def test_notebook_cells_get_their_own_diagnostics(client: LspClient, tmp_path: Path) -> None:
    caps = {**CAPABILITIES, "notebookDocument": {"synchronization": {}}}
    result = client.initialize(caps)
    assert result["capabilities"]["notebookDocumentSync"]["notebookSelector"]
    nb = (tmp_path / "train.ipynb").as_uri()
    cells = [f"vscode-notebook-cell:{tmp_path}/train.ipynb#c{i}" for i in range(3)]
    texts = [
        "%matplotlib inline\nimport keras\nif True:\n    !pip list\n",
        "# Training\n",
        "model = keras.Sequential()\nmodel.fit(x, y\n",
    ]
    client.notify(
        "notebookDocument/didOpen",
        {
            "notebookDocument": {
                "uri": nb,
                "notebookType": "jupyter-notebook",
                "version": 1,
                "cells": [
                    {"kind": 2, "document": cells[0]},
                    {"kind": 1, "document": cells[1]},
                    {"kind": 2, "document": cells[2]},
                ],
            },
            "cellTextDocuments": [
                {"uri": u, "languageId": "python" if i != 1 else "markdown", "version": 1,
                 "text": t}
                for i, (u, t) in enumerate(zip(cells, texts, strict=True))
            ],
        },
    )  # fmt: skip
    assert client.diagnostics(cells[0], version=1) == []  # the magics are not syntax errors
    (diag,) = client.diagnostics(cells[2], version=1)
    assert diag["code"] == "FL000"
    assert diag["range"]["start"]["line"] == 1  # in the cell's own lines
    hover = client.result(
        "textDocument/hover",
        {"textDocument": {"uri": cells[2]}, "position": diag["range"]["start"]},
    )
    assert "FL000" in hover["contents"]["value"]
    client.notify(
        "notebookDocument/didChange",
        {
            "notebookDocument": {"uri": nb, "version": 2},
            "change": {
                "cells": {
                    "textContent": [
                        {
                            "document": {"uri": cells[2], "version": 2},
                            "changes": [{"text": "model = keras.Sequential()\n"}],
                        }
                    ]
                }
            },
        },
    )
    assert client.diagnostics(cells[2], version=2) == []
    client.notify(
        "notebookDocument/didClose",
        {"notebookDocument": {"uri": nb}, "cellTextDocuments": [{"uri": u} for u in cells]},
    )
    assert client.stop() == 0


def test_a_code_cell_turned_markdown_loses_its_diagnostics(
    client: LspClient, tmp_path: Path
) -> None:
    client.initialize({**CAPABILITIES, "notebookDocument": {"synchronization": {}}})
    nb = (tmp_path / "train.ipynb").as_uri()
    cells = [f"vscode-notebook-cell:{tmp_path}/train.ipynb#c{i}" for i in range(2)]
    texts = ["import keras\n", "model = keras.Sequential()\nmodel.fit(x, y\n"]
    client.notify(
        "notebookDocument/didOpen",
        {
            "notebookDocument": {
                "uri": nb,
                "notebookType": "jupyter-notebook",
                "version": 1,
                "cells": [{"kind": 2, "document": u} for u in cells],
            },
            "cellTextDocuments": [
                {"uri": u, "languageId": "python", "version": 1, "text": t}
                for u, t in zip(cells, texts, strict=True)
            ],
        },
    )
    assert [d["code"] for d in client.diagnostics(cells[1], version=1)] == ["FL000"]
    client.notify(
        "notebookDocument/didChange",
        {
            "notebookDocument": {"uri": nb, "version": 2},
            "change": {"cells": {"data": [{"kind": 1, "document": cells[1]}]}},
        },
    )
    assert client.diagnostics(cells[1], version=None) == []
    assert client.stop() == 0


def _cli_dispatches_server() -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "fitlint.cli", "server", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    return "language server" in out.stdout


def test_fitlint_server_command(tmp_path: Path) -> None:
    if not _cli_dispatches_server():
        pytest.skip("`fitlint server` is not dispatched by fitlint.cli yet")
    c = LspClient([sys.executable, "-m", "fitlint.cli", "server"], tmp_path / "server.log")
    try:
        assert c.initialize()["serverInfo"]["name"] == "fitlint"
        uri = _file_uri(tmp_path)
        c.open(uri, SYNTAX_BROKEN)
        assert [d["code"] for d in c.diagnostics(uri, version=1)] == ["FL000"]
        assert c.stop() == 0
    finally:
        c.close()
