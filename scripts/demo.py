"""The README's main job, end to end.

1. ``fitlint examples/``: the static findings on the bundled scripts.
2. Train the demo models (one healthy, two broken) with ``FitDiagCallback`` into ``demo_logs/``.
3. ``fitdiag diagnose demo_logs``: the headless diagnosis.
4. Start TensorBoard on ``demo_logs`` with the "Fit Diagnosis" tab and print its URL.

Usage: python scripts/demo.py [--epochs N] [--port P] [--no-serve]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
LOGDIR = ROOT / "demo_logs"
DEMOS = ("healthy", "lr_too_high", "deep_sigmoid")


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


# What TensorFlow's C++ runtime writes to stderr before Python can configure its logging (absl's
# "I0000 00:00:..." lines, the oneDNN notice) ignores TF_CPP_MIN_LOG_LEVEL; a demo shows only
# what the user came to see, so these lines are dropped and everything else passes through.
RUNTIME_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.]+:\d+\] .*)$"
)


def _start_quietly(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Starts ``cmd`` with its stdout passed through and its stderr without the runtime's
    noise (filtered by a thread, so that a long-running server's output keeps flowing)."""
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True, errors="replace"
    )

    def relay(stream: IO[str]) -> None:
        for line in stream:
            if not RUNTIME_NOISE.match(line.rstrip("\n")):
                sys.stderr.write(line)
                sys.stderr.flush()

    assert proc.stderr is not None
    threading.Thread(target=relay, args=(proc.stderr,), daemon=True).start()
    return proc


def _run_quietly(cmd: list[str], env: dict[str, str]) -> int:
    with _start_quietly(cmd, env) as proc:
        return proc.wait()


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--no-serve", action="store_true", help="stop after the diagnosis")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}

    _banner("fitlint examples/  (static findings, before anything trains)")
    rc = subprocess.call([_bin("fitlint"), "examples/"], cwd=ROOT)
    if rc not in (0, 1):
        return rc

    shutil.rmtree(LOGDIR, ignore_errors=True)
    for name in DEMOS:
        _banner(f"training examples/train_{name}.py -> demo_logs/{name}")
        cmd = [
            sys.executable,
            f"examples/train_{name}.py",
            "--log-dir",
            str(LOGDIR / name),
            "--epochs",
            str(args.epochs),
        ]
        rc = _run_quietly(cmd, env)
        if rc != 0:
            print(f"demo: training {name} failed with exit code {rc}", file=sys.stderr)
            return 2

    _banner("fitdiag diagnose demo_logs  (the runtime symptoms, linked to their static causes)")
    rc = _run_quietly([_bin("fitdiag"), "diagnose", str(LOGDIR)], env)
    if rc not in (0, 1):
        return rc

    if args.no_serve:
        return 0
    port = _free_port(args.port)
    _banner("TensorBoard")
    print(f"Open http://127.0.0.1:{port}/#fitdiag  (the Fit Diagnosis tab); Ctrl-C stops it.")
    server = _start_quietly(
        [_bin("tensorboard"), "--logdir", str(LOGDIR), "--host", "127.0.0.1", "--port", str(port)],
        env,
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait(timeout=10)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
