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
import shutil
import socket
import subprocess
import sys
from pathlib import Path

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


def _banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--port", type=int, default=6006)
    parser.add_argument("--no-serve", action="store_true", help="stop after the diagnosis")
    args = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}

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
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc != 0:
            print(f"demo: training {name} failed with exit code {rc}", file=sys.stderr)
            return 2

    _banner("fitdiag diagnose demo_logs  (the runtime symptoms, linked to their static causes)")
    rc = subprocess.call([_bin("fitdiag"), "diagnose", str(LOGDIR)], cwd=ROOT, env=env)
    if rc not in (0, 1):
        return rc

    if args.no_serve:
        return 0
    port = _free_port(args.port)
    _banner("TensorBoard")
    print(f"Open http://127.0.0.1:{port}/#fitdiag  (the Fit Diagnosis tab); Ctrl-C stops it.")
    server = subprocess.Popen(
        [
            _bin("tensorboard"),
            "--logdir",
            str(LOGDIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait(timeout=10)
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
