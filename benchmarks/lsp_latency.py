"""Latency of the fitlint language server: from a change sent to its diagnostics received.

Drives the real server (``python -m fitlint.lsp``) over stdio with a realistic 300-line Keras
training script. Each edit changes one line (incremental sync, as editors send it) and waits
for the ``publishDiagnostics`` of that version; the time between the two is the latency.

Three runs:

1. a single edit after a pause (debounce + lint);
2. the last of a burst of 10 keystrokes 10 ms apart (coalesced into one lint after the
   debounce; from the last keystroke);
3. back-to-back edits with ``--debounce 0`` (the server's own cost).

Target: median < 75 ms for runs 1 and 2. The baseline, measured in the same run, is the
in-process ``api.lint_source`` time of the same text: the ratio shows what the protocol, the
document sync and the debounce add to linting itself.

Two more runs:

4. memory: 1,000 back-to-back edits of the same file; the resident memory of the server and
   its lint workers after the first 100 edits and after all of them (target: within 10%);
5. a 1 MB document opened beside the 300-line one: hovers on the small document while the
   big one is linted, against hovers on it when the server is idle (target: no hover
   delayed by more than 200 ms).

Usage: python benchmarks/lsp_latency.py [--edits N] [--debounce MS] [--memory-edits N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30.0


class _Client:
    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.inbox: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b"\n"):
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(out.read(length))
            self.inbox.put((time.perf_counter(), message))

    def send(self, method: str, params: Any, msg_id: int | None = None) -> float:
        payload: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
        if msg_id is not None:
            payload["id"] = msg_id
        body = json.dumps(payload).encode()
        assert self.proc.stdin is not None
        sent = time.perf_counter()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return sent

    def wait(self, match: Any) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            at, msg = self.inbox.get(timeout=max(deadline - time.monotonic(), 0.001))
            if match(msg):
                return at, msg


def script_300_lines() -> str:
    """A realistic Keras training script of exactly 300 lines (with a few findings)."""
    head = [
        '"""Train an image classifier on CIFAR-10 with augmentation and a cosine schedule."""',
        "",
        "import argparse",
        "import os",
        "",
        "import numpy as np",
        "import tensorflow as tf",
        "from tensorflow import keras",
        "from tensorflow.keras import layers",
        "",
        "AUTOTUNE = tf.data.AUTOTUNE",
        "",
        "",
        "def parse_args():",
        "    parser = argparse.ArgumentParser()",
        '    parser.add_argument("--epochs", type=int, default=30)',
        '    parser.add_argument("--batch-size", type=int, default=128)',
        '    parser.add_argument("--log-dir", default="logs/cifar")',
        "    return parser.parse_args()",
        "",
        "",
        "def load_data():",
        "    (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()",
        '    x_train = x_train.astype("float32") / 255.0',
        '    x_test = x_test.astype("float32") / 255.0',
        "    return (x_train, y_train), (x_test, y_test)",
        "",
    ]
    body: list[str] = []
    for i in range(12):
        body += [
            "",
            f"def conv_block_{i}(x, filters={32 * (1 + i % 3)}, dropout={0.1 * (i % 4):.1f}):",
            f'    """Convolution block {i}: conv, norm, activation, pooling, dropout."""',
            '    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)',
            "    x = layers.BatchNormalization()(x)",
            '    x = layers.Activation("relu")(x)',
            '    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)',
            "    x = layers.BatchNormalization()(x)",
            '    x = layers.Activation("relu")(x)',
            "    if dropout:",
            "        x = layers.Dropout(dropout)(x)",
            "    return layers.MaxPooling2D()(x) if filters > 32 else x",
            "",
            f"def augment_{i}(image, label):",
            "    image = tf.image.random_flip_left_right(image)",
            f"    image = tf.image.random_brightness(image, {0.05 * (1 + i % 3):.2f})",
            "    return image, label",
        ]
    tail = [
        "",
        "",
        "def build_model(num_classes=10):",
        "    inputs = keras.Input(shape=(32, 32, 3))",
        "    x = conv_block_0(inputs)",
        "    x = conv_block_1(x)",
        "    x = conv_block_2(x)",
        "    x = layers.GlobalAveragePooling2D()(x)",
        '    x = layers.Dense(256, activation="relu")(x)',
        '    outputs = layers.Dense(num_classes, activation="softmax")(x)',
        '    return keras.Model(inputs, outputs, name="cifar_net")',
        "",
        "",
        "def make_dataset(x, y, batch_size, training):",
        "    ds = tf.data.Dataset.from_tensor_slices((x, y))",
        "    if training:",
        "        ds = ds.shuffle(10_000).map(augment_0, num_parallel_calls=AUTOTUNE)",
        "    return ds.batch(batch_size).prefetch(AUTOTUNE)",
        "",
        "",
        "def main():",
        "    args = parse_args()",
        "    (x_train, y_train), (x_test, y_test) = load_data()",
        "    train_ds = make_dataset(x_train, y_train, args.batch_size, training=True)",
        "    test_ds = make_dataset(x_test, y_test, args.batch_size, training=False)",
        "    model = build_model()",
        "    steps = args.epochs * (len(x_train) // args.batch_size)",
        "    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=steps)",
        "    model.compile(",
        "        optimizer=keras.optimizers.Adam(lr=schedule),",
        '        loss="sparse_categorical_crossentropy",',
        '        metrics=["accuracy"],',
        "    )",
        "    callbacks = [",
        "        keras.callbacks.TensorBoard(log_dir=args.log_dir),",
        "        keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True),",
        "    ]",
        "    model.fit(train_ds, validation_data=test_ds, epochs=args.epochs, callbacks=callbacks)",
        "    model.evaluate(test_ds)",
        '    model.save(os.path.join(args.log_dir, "model.keras"))',
        "",
        "",
        'if __name__ == "__main__":',
        "    main()",
    ]
    lines = head + body
    lines = lines[: 300 - len(tail)] + tail
    lines += ["# padding"] * (300 - len(lines))
    assert len(lines) == 300, len(lines)
    return "\n".join(lines) + "\n"


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(debounce_ms: int, edits: int, text: str, *, pause: float, burst: int) -> list[float]:
    """Latencies (seconds) of ``edits`` changes to one line of ``text`` against a real server.

    Each measured change is the last of ``burst`` keystrokes sent 10 ms apart (1: a single
    change), after a pause of ``pause`` seconds; its latency runs from sending that last
    keystroke to receiving the diagnostics of its version.
    """
    client = _Client([sys.executable, "-m", "fitlint.lsp", "--debounce", str(debounce_ms)])
    try:
        client.send("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 1)
        client.wait(lambda m: m.get("id") == 1)
        client.send("initialized", {})
        with tempfile.TemporaryDirectory() as tmp:
            uri = (Path(tmp) / "train_cifar.py").as_uri()
            item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            client.send("textDocument/didOpen", {"textDocument": item})
            client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
            target = text.splitlines().index(
                '    parser.add_argument("--epochs", type=int, default=30)'
            )
            old_len = len(text.splitlines()[target])
            latencies = []
            version = 1
            for _ in range(edits):
                time.sleep(pause)
                for key in range(burst):
                    if key:
                        time.sleep(0.01)
                    version += 1
                    new = f'    parser.add_argument("--epochs", type=int, default={version})'
                    rng = {
                        "start": {"line": target, "character": 0},
                        "end": {"line": target, "character": old_len},
                    }
                    sent = client.send(
                        "textDocument/didChange",
                        {
                            "textDocument": {"uri": uri, "version": version},
                            "contentChanges": [{"range": rng, "text": new}],
                        },
                    )
                    old_len = len(new)
                got, _ = client.wait(
                    lambda m, v=version: (
                        m.get("method") == "textDocument/publishDiagnostics"
                        and m["params"].get("version") == v
                    )
                )
                latencies.append(got - sent)
        client.send("shutdown", None, 2)
        client.wait(lambda m: m.get("id") == 2)
        client.send("exit", None)
        client.proc.wait(TIMEOUT)
        return latencies
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def _rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, in KiB (Linux's /proc)."""
    total = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        for task in tasks:
            with contextlib.suppress(OSError):
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


def _session(debounce_ms: int) -> _Client:
    client = _Client([sys.executable, "-m", "fitlint.lsp", "--debounce", str(debounce_ms)])
    client.send("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, 1)
    client.wait(lambda m: m.get("id") == 1)
    client.send("initialized", {})
    return client


def _close(client: _Client) -> None:
    client.send("shutdown", None, 2)
    client.wait(lambda m: m.get("id") == 2)
    client.send("exit", None)
    client.proc.wait(TIMEOUT)


def memory(text: str, edits: int) -> tuple[int, int]:
    """Resident KiB of the server and its workers after 100 back-to-back edits and after
    ``edits`` of them (each waits for its diagnostics)."""
    client = _session(0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            uri = (Path(tmp) / "train_cifar.py").as_uri()
            item = {"uri": uri, "languageId": "python", "version": 1, "text": text}
            client.send("textDocument/didOpen", {"textDocument": item})
            early = 0
            for version in range(2, edits + 2):
                edited = text.replace("default=30)", f"default={version})", 1)
                client.send(
                    "textDocument/didChange",
                    {
                        "textDocument": {"uri": uri, "version": version},
                        "contentChanges": [{"text": edited}],
                    },
                )
                client.wait(
                    lambda m, v=version: (
                        m.get("method") == "textDocument/publishDiagnostics"
                        and m["params"].get("version") == v
                    )
                )
                if version == 101:
                    early = _rss_kib(client.proc.pid)
            late = _rss_kib(client.proc.pid)
        _close(client)
        return early, late
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def big_document(target_bytes: int) -> str:
    """A valid Keras script of about ``target_bytes``."""
    lines = ["import keras", "x0 = keras.Input((8,))"]
    size, i = 0, 1
    while size < target_bytes:
        line = f"x{i} = keras.layers.Dense({i % 64 + 1}, activation='relu')(x{i - 1})"
        lines.append(line)
        size += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def hovers(text: str, big: str, count: int) -> tuple[list[float], list[float], float]:
    """Hover latencies on the small document when idle and while ``big`` is linted, and how
    long the big document's lint took (open to its diagnostics)."""
    client = _session(0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            small_uri = (Path(tmp) / "train_cifar.py").as_uri()
            big_uri = (Path(tmp) / "generated.py").as_uri()
            item = {"uri": small_uri, "languageId": "python", "version": 1, "text": text}
            client.send("textDocument/didOpen", {"textDocument": item})
            client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
            hover = {"textDocument": {"uri": small_uri}, "position": {"line": 0, "character": 0}}
            next_id = 10

            done: float | None = None

            def one() -> float:
                """One hover's latency; notes the big document's diagnostics on the way."""
                nonlocal next_id, done
                next_id += 1
                sent = client.send("textDocument/hover", hover, next_id)
                while True:
                    at, msg = client.inbox.get(timeout=TIMEOUT)
                    if msg.get("id") == next_id and "method" not in msg:
                        return at - sent
                    if msg.get("method") == "textDocument/publishDiagnostics" and (
                        msg["params"]["uri"] == big_uri
                    ):
                        done = at

            idle = [one() for _ in range(count)]
            item = {"uri": big_uri, "languageId": "python", "version": 1, "text": big}
            opened = client.send("textDocument/didOpen", {"textDocument": item})
            busy = []
            while done is None:
                busy.append(one())
                time.sleep(0.05)
                if time.perf_counter() - opened > TIMEOUT * 4:
                    raise SystemExit("the big document's diagnostics never came")
        _close(client)
        assert done is not None
        return idle, busy, done - opened
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def baseline(text: str, repeat: int) -> tuple[float, int]:
    """The median in-process lint time of ``text`` and its number of findings."""
    from fitlint import api

    api.lint_source(text, "train_cifar.py")  # import the rules first
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = api.lint_source(text, "train_cifar.py")
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(result.findings)


def main() -> int:
    from fitlint.lsp import service as lsp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40, help="changes per run (default 40)")
    parser.add_argument(
        "--debounce", type=int, default=lsp.DEFAULT_DEBOUNCE_MS, help="debounce of run 1 (ms)"
    )
    parser.add_argument(
        "--memory-edits", type=int, default=1000, help="edits of the memory run (default 1000)"
    )
    parser.add_argument(
        "--big-kib", type=int, default=1024, help="size of run 5's big document (default 1024)"
    )
    args = parser.parse_args()
    text = script_300_lines()
    lint_s, findings = baseline(text, max(args.edits, 20))
    print(f"script: 300 lines, {findings} findings; in-process api.lint_source median "
          f"{lint_s * 1000:.1f} ms (baseline)")  # fmt: skip
    runs = [
        (f"single edit after a 300 ms pause, debounce {args.debounce} ms", args.debounce, 0.3, 1),
        (f"last of 10 keystrokes 10 ms apart, debounce {args.debounce} ms", args.debounce, 0.1, 10),
        ("back-to-back edits, debounce 0 ms (the server's own cost)", 0, 0.0, 1),
    ]
    for label, debounce, pause, burst in runs:
        lat = measure(debounce, args.edits, text, pause=pause, burst=burst)
        med, p90 = statistics.median(lat), _quantile(lat, 0.9)
        print(
            f"{label}:\n  change -> diagnostics median {med * 1000:6.1f} ms, "
            f"p90 {p90 * 1000:6.1f} ms over {len(lat)} edits; "
            f"ratio to in-process lint {med / lint_s:5.2f}x"
        )
    early, late = memory(text, args.memory_edits)
    print(
        f"memory over {args.memory_edits} edits (server and workers): {early / 1024:.1f} MiB "
        f"after 100, {late / 1024:.1f} MiB after {args.memory_edits}: "
        f"ratio {late / early:.3f} (target <= 1.10)"
    )
    idle, busy, took = hovers(text, big_document(args.big_kib * 1024), 20)
    delay = max(busy) - statistics.median(idle)
    print(
        f"hover on the small document while a {args.big_kib} KiB one is linted ({took:.1f} s): "
        f"median {statistics.median(busy) * 1000:.1f} ms, max {max(busy) * 1000:.1f} ms over "
        f"{len(busy)} hovers; idle median {statistics.median(idle) * 1000:.1f} ms; "
        f"worst delay {delay * 1000:.1f} ms (target <= 200)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
