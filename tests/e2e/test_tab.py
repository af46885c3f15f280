"""End to end: real runs written by FitDiagCallback, a real ``tensorboard`` process, and the
Fit Diagnosis tab in headless Chromium driven by Playwright.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); never downloads a
browser. The screenshot is saved to ``test-artifacts/fitdiag_tab.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)",
    ),
]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
FAILURE_FINDINGS = ("non-finite-loss", "diverging-loss", "exploding-gradients")
# A run whose name is HTML: the page must show it as text.
HOSTILE_RUN = "<b id=injected>bold</b>"

TRAIN_SCRIPT = textwrap.dedent(
    '''
    """Trains two tiny models with FitDiagCallback: one healthy, one diverging."""
    import os
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    import numpy as np

    from tb_fitdiag import FitDiagCallback

    logdir = sys.argv[1]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1))).astype("float32")


    def build():
        return keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(1),
            ]
        )


    keras.utils.set_random_seed(0)
    healthy = build()
    healthy.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse")
    healthy.fit(
        x, y, validation_split=0.25, epochs=12, batch_size=32, verbose=0,
        callbacks=[FitDiagCallback(log_dir=os.path.join(logdir, "healthy"), interval=2)],
    )
    diverging = build()
    diverging.compile(optimizer=keras.optimizers.SGD(learning_rate=5.0), loss="mse")
    diverging.fit(
        x, y, validation_split=0.25, epochs=12, batch_size=32, verbose=0,
        callbacks=[FitDiagCallback(log_dir=os.path.join(logdir, "diverging"), interval=2)],
    )
    plain = build()
    plain.compile(optimizer="adam", loss="mse")
    plain.fit(
        x, y, validation_split=0.25, epochs=3, batch_size=32, verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir=os.path.join(logdir, "plain_keras"))],
    )
    '''
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


@pytest.fixture(scope="module")
def logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("e2e")
    script = root / "train.py"
    script.write_text(TRAIN_SCRIPT)
    logs = root / "logs"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run(
        [sys.executable, str(script), str(logs)], check=True, env=env, cwd=root, timeout=300
    )
    shutil.copytree(logs / "healthy", logs / HOSTILE_RUN)
    return logs


@pytest.fixture(scope="module")
def server(logdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = (tmp_path_factory.mktemp("tb") / "tensorboard.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited with {proc.returncode}; see {log.name}")
            try:
                runs = _get(base + "/data/plugin/fitdiag/runs")["runs"]
                with_gradients = {r["name"] for r in runs if r["has_gradients"]}
                with_losses = {r["name"] for r in runs if r["has_losses"]}
                if with_gradients >= {"healthy", "diverging"} and "plain_keras" in with_losses:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"tensorboard did not load the runs in time; see {log.name}")
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def test_tab_shows_both_runs_the_diverging_finding_and_the_heatmap(server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")

    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on(
                "console",
                lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
            )
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto(server + "/#fitdiag")
            iframe = page.wait_for_selector("iframe", state="attached", timeout=60_000)
            assert iframe is not None
            frame = iframe.content_frame()
            assert frame is not None
            assert "plugin_entry.html?name=fitdiag" in frame.url

            # Both runs are listed.
            frame.wait_for_selector('button.run[data-run="diverging"]', timeout=60_000)
            names = frame.eval_on_selector_all("button.run", "els => els.map(e => e.dataset.run)")
            assert {"healthy", "diverging", "plain_keras", HOSTILE_RUN} <= set(names)
            hostile = frame.text_content(f"button.run[data-run={json.dumps(HOSTILE_RUN)}]")
            assert hostile is not None and HOSTILE_RUN in hostile
            assert frame.query_selector("#injected") is None

            # The diverging run: its finding with the evidence in numbers.
            frame.click('button.run[data-run="diverging"]')
            frame.wait_for_function("document.body.dataset.drawn === 'diverging'", timeout=60_000)
            cards = frame.eval_on_selector_all(
                "article.card",
                """els => els.map(e => ({
                    name: e.dataset.finding,
                    range: e.querySelector('.card-range').textContent,
                    evidence: Array.from(e.querySelectorAll('.evidence dd'))
                        .map(d => d.textContent),
                }))""",
            )
            failures = [c for c in cards if c["name"] in FAILURE_FINDINGS]
            assert failures, cards
            # The headline comes first: the most likely cause and its fix.
            cause = frame.text_content(".headline .headline-cause code")
            assert cause == "learning-rate-too-high"
            fix = frame.text_content(".headline .headline-fix") or ""
            assert "learning rate" in fix
            first = failures[0]
            assert any(ch.isdigit() for ch in first["range"])
            assert any(any(ch.isdigit() for ch in value) for value in first["evidence"])

            # The heatmap is drawn: many distinct colours on its canvas.
            colours = frame.evaluate(
                """() => {
                    const c = document.querySelector('canvas.heatmap-canvas');
                    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    const seen = new Set();
                    for (let i = 0; i < d.length; i += 4) {
                        if (d[i + 3] > 0) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
                    }
                    return seen.size;
                }"""
            )
            assert colours > 10

            # The healthy run draws too, with the fitlint findings panel.
            frame.click('button.run[data-run="healthy"]')
            frame.wait_for_function("document.body.dataset.drawn === 'healthy'", timeout=60_000)
            assert frame.query_selector("canvas.heatmap-canvas") is not None
            assert frame.query_selector("section.static-findings") is not None
            assert frame.query_selector(".headline") is None  # nothing raised, no headline

            frame.click('button.run[data-run="diverging"]')
            frame.wait_for_function("document.body.dataset.drawn === 'diverging'", timeout=60_000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "fitdiag_tab.png"))
        finally:
            browser.close()
    assert errors == []
