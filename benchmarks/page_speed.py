"""How long the Fit Diagnosis tab takes from selecting a run to a fully drawn page.

Writes a synthetic log directory (``--layers`` x ``--records`` gradient records per run, with
``tb_fitdiag.summary``, the writer FitDiagCallback uses), starts a real ``tensorboard``, waits
until TensorBoard has loaded every run, then in headless Chromium measures, in the page:

Session 1 (``FITDIAG_PREFETCH=0``: the plugin reads a run only when it is selected):

* select -> drawn, cold: the first selection of a run (the plugin reads it through the data
  provider and diagnoses it);
* select -> drawn, warm: selecting it again (the plugin's per-run cache answers);
* the baseline, measured in the same browser and the same run of this script: fetching and
  parsing the same JSON routes the page fetches, without drawing (cold on unseen copies of
  the run, warm on seen ones).

Session 2 (the default: the plugin reads the listed runs in the background once the tab has
listed them): select -> drawn for runs the page has not shown yet, after the background reads
finished.

"Drawn" is the page's own marker (``document.body.dataset.drawn == run``), set two animation
frames after every chart and the heatmap are drawn. Targets, for 200 layers x 1,000 records once
TensorBoard has loaded the data: cold and first view <= 1.5 s, warm <= 300 ms.
Run: ``.venv/bin/python benchmarks/page_speed.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PER_STEP_STATS = ("grad_norm", "weight_norm", "update_ratio", "zero_fraction", "nonfinite")
ACTIVATION_STATS = ("dead_fraction",)
TARGET_MS = 1500.0
WARM_TARGET_MS = 300.0

_MEASURE_DRAW = """async (run) => {
  const button = Array.from(document.querySelectorAll('button.run'))
    .find((b) => b.dataset.run === run);
  const t0 = performance.now();
  button.click();
  await new Promise((resolve) => {
    const check = () =>
      document.body.dataset.drawn === run ? resolve() : requestAnimationFrame(check);
    check();
  });
  return performance.now() - t0;
}"""

_MEASURE_SIZE = """async (run) => {
  const r = await fetch(`./gradients?run=${encodeURIComponent(run)}`
    + '&stat=grad_norm&stat=zero_fraction&stat=update_ratio&stat=dead_fraction&format=base64');
  return (await r.text()).length;
}"""

_MEASURE_FETCH = """async (run) => {
  const q = encodeURIComponent(run);
  const t0 = performance.now();
  const responses = await Promise.all([
    fetch(`./diagnosis?run=${q}`),
    fetch(`./gradients?run=${q}&stat=grad_norm&stat=zero_fraction&stat=update_ratio&stat=dead_fraction`
      + '&format=base64'),
    fetch(`./static_findings?run=${q}`),
  ]);
  await Promise.all(responses.map((r) => r.json()));
  return performance.now() - t0;
}"""


def _write_run(log_dir: Path, layers: int, records: int, interval: int) -> None:
    from tb_fitdiag import metadata
    from tb_fitdiag.summary import RunWriters

    names = [f"model/block_{i // 4}/dense_{i}" for i in range(layers)]
    writers = RunWriters(str(log_dir))
    writers.train.document(
        metadata.RUN_INFO_TAG,
        {
            "version": metadata.SCHEMA_VERSION,
            "layers": names,
            "interval": interval,
            "activation_interval": interval * 5,
            "optimizer": "SGD",
            "strategy": "default",
            "mixed_precision": False,
            "script": "train.py",
        },
        0,
        metadata.KIND_RUN_INFO,
    )
    layer_kind = metadata.KIND_LAYER_STAT
    for r in range(records):
        step = r * interval
        progress = r / max(records - 1, 1)
        values: dict[str, tuple[float, str]] = {}
        for i, layer in enumerate(names):
            depth = i / max(layers - 1, 1)  # 0 at the input
            # Gradients vanish toward the input and explode late in the run near the output.
            norm = 10 ** (-7 + 6 * depth + 0.3 * math.sin(r / 7 + i))
            if progress > 0.8 and depth > 0.7:
                norm *= 10 ** (8 * (progress - 0.8) / 0.2)
            values[metadata.layer_tag("grad_norm", layer)] = (norm, layer_kind)
            values[metadata.layer_tag("weight_norm", layer)] = (1.0 + depth, layer_kind)
            values[metadata.layer_tag("update_ratio", layer)] = (
                10 ** (-3 + 0.5 * math.sin(r / 11 + i / 3)),
                layer_kind,
            )
            values[metadata.layer_tag("zero_fraction", layer)] = (0.01, layer_kind)
            values[metadata.layer_tag("nonfinite", layer)] = (0.0, layer_kind)
            if r % 5 == 0 and i % 2 == 0:
                values[metadata.layer_tag("dead_fraction", layer)] = (0.1 + 0.3 * depth, layer_kind)
        values[metadata.global_tag("batch_loss")] = (
            2.0 * math.exp(-3 * progress) + 0.05,
            metadata.KIND_GLOBAL_STAT,
        )
        writers.train.stats(values, step)
    epochs = 20
    for epoch in range(epochs):
        writers.train.scalar("epoch_loss", 2.0 * math.exp(-3 * epoch / epochs) + 0.05, epoch)
        writers.validation.scalar("epoch_loss", 2.1 * math.exp(-3 * epoch / epochs) + 0.08, epoch)
    writers.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=120) as response:
        return json.loads(response.read().decode())


def _wait_loaded(base: str, names: list[str], layers: int, last_step: int, proc: Any) -> float:
    """Polls /runs until every run is fully loaded; returns the seconds waited."""
    t0 = time.monotonic()
    stable = 0
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"tensorboard exited with {proc.returncode}")
        try:
            runs = {r["name"]: r for r in _get_json(base + "/data/plugin/fitdiag/runs")["runs"]}
        except OSError:
            runs = {}
        done = all(
            n in runs and runs[n]["layer_count"] == layers and runs[n]["max_step"] == last_step
            for n in names
        )
        stable = stable + 1 if done else 0
        if stable >= 3:
            return time.monotonic() - t0
        if time.monotonic() - t0 > 900:
            raise SystemExit("tensorboard did not load the runs within 15 minutes")
        time.sleep(1.0)


class _Session:
    """A tensorboard process on the log directory and the tab open in headless Chromium."""

    def __init__(self, logdir: Path, names: list[str], args: Any, prefetch: bool) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(logdir.parent / f"tensorboard_{self.port}.log", "w")  # noqa: SIM115
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        env["FITDIAG_PREFETCH"] = "1" if prefetch else "0"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tensorboard.main",
                "--logdir",
                str(logdir),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--load_fast",
                args.load_fast,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        last_step = (args.records - 1) * args.interval
        self.load_s = _wait_loaded(self.base, names, args.layers, last_step, self.proc)

    def open_tab(self, playwright: Any) -> Any:
        self.browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = self.browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(self.base + "/#fitdiag")
        iframe = page.wait_for_selector("iframe", state="attached", timeout=120_000)
        frame = iframe.content_frame() if iframe else None
        if frame is None:
            raise SystemExit("the plugin iframe did not appear")
        frame.wait_for_selector("button.run", timeout=120_000)
        # Let the page's automatic first selection finish before measuring.
        frame.wait_for_function("document.body.dataset.drawn", timeout=300_000)
        return frame

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.log.close()


def _wait_prefetched(base: str, names: list[str]) -> float:
    t0 = time.monotonic()
    while True:
        runs = {r["name"]: r for r in _get_json(base + "/data/plugin/fitdiag/runs")["runs"]}
        if all(runs[n]["loaded"] for n in names):
            return time.monotonic() - t0
        if time.monotonic() - t0 > 600:
            raise SystemExit("the plugin did not prefetch the runs within 10 minutes")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints its report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=200)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="cold selections (and baselines)")
    parser.add_argument("--warm-repeats", type=int, default=5)
    parser.add_argument("--load-fast", default="auto", help="TensorBoard's --load_fast flag")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"page_speed: {CHROMIUM} is missing (install Debian's chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="fitdiag_page_speed_") as tmp:
        logdir = Path(tmp) / "logs"
        t0 = time.monotonic()
        _write_run(logdir / "big_0", args.layers, args.records, args.interval)
        cold = [f"big_{i}" for i in range(args.repeats)]
        baseline_cold = [f"fetch_{i}" for i in range(args.repeats)]
        # "_initial" sorts first: the page selects it on load, before anything is measured.
        for name in [*cold[1:], *baseline_cold, "_initial"]:
            shutil.copytree(logdir / "big_0", logdir / name)
        write_s = time.monotonic() - t0
        names = [*cold, *baseline_cold, "_initial"]

        # Session 1, background reads off: the plugin reads a run when it is selected.
        session = _Session(logdir, names, args, prefetch=False)
        try:
            with sync_playwright() as playwright:
                frame = session.open_tab(playwright)
                cold_ms = [frame.evaluate(_MEASURE_DRAW, n) for n in cold]
                warm_ms = [
                    frame.evaluate(_MEASURE_DRAW, cold[i % len(cold)])
                    for i in range(args.warm_repeats)
                ]
                fetch_cold_ms = [frame.evaluate(_MEASURE_FETCH, n) for n in baseline_cold]
                fetch_warm_ms = [
                    frame.evaluate(_MEASURE_FETCH, baseline_cold[i % len(baseline_cold)])
                    for i in range(args.warm_repeats)
                ]
                sizes = frame.evaluate(_MEASURE_SIZE, cold[0])
                session.browser.close()
        finally:
            session.close()
        load_s = session.load_s

        # Session 2, background reads on (the default): select runs the page has not shown
        # yet, once the plugin has read them.
        session = _Session(logdir, names, args, prefetch=True)
        try:
            with sync_playwright() as playwright:
                frame = session.open_tab(playwright)
                prefetch_s = _wait_prefetched(session.base, names)
                shown = [n for n in [*cold, *baseline_cold] if n != "_initial"]
                prefetched_ms = [frame.evaluate(_MEASURE_DRAW, n) for n in shown]
                session.browser.close()
        finally:
            session.close()

    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    print(
        f"page_speed: {args.layers} layers x {args.records} records per run "
        f"(interval {args.interval}), viewport 1280x800, --load_fast={args.load_fast}"
    )
    print(
        f"  wrote {len(names)} runs in {write_s:.1f} s; TensorBoard loaded them in {load_s:.1f} s"
    )
    print(f"  the page's /gradients answer (4 stats, base64): {sizes / 1e6:.2f} MB of JSON")
    print(
        f"  background reads (session 2) held all {len(names)} runs "
        f"{prefetch_s:.1f} s after the tab opened"
    )
    rows = [
        ("select -> drawn, cold (plugin reads + diagnoses)", cold_ms),
        ("select -> drawn, warm (plugin cache hit)", warm_ms),
        ("select -> drawn, first view, run read in background", prefetched_ms),
        ("baseline: fetch + parse the same routes, cold", fetch_cold_ms),
        ("baseline: fetch + parse the same routes, warm", fetch_warm_ms),
    ]
    for label, xs in rows:
        shown_ms = ", ".join(f"{x:.0f}" for x in xs)
        print(f"  {label:<54} median {med(xs):7.0f} ms   [{shown_ms}]")
    print(f"  ratio drawn / fetch-only, cold: {med(cold_ms) / med(fetch_cold_ms):.2f}x")
    print(f"  ratio drawn / fetch-only, warm: {med(warm_ms) / med(fetch_warm_ms):.2f}x")
    for label, xs, target in (
        ("cold", cold_ms, TARGET_MS),
        ("first view after background read", prefetched_ms, TARGET_MS),
        ("warm", warm_ms, WARM_TARGET_MS),
    ):
        verdict = "met" if med(xs) <= target else "NOT met"
        print(f"  target {label} median <= {target:.0f} ms: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
