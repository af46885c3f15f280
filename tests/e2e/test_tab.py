"""End to end: real runs written by FitDiagCallback, a real ``tensorboard`` process, and the
Fit Diagnosis tab in headless Chromium driven by Playwright.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it); never downloads a
browser. The screenshot is saved to ``test-artifacts/fitdiag_tab.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tb_fitdiag import metadata

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
# ... and a fitlint finding in it whose path is hostile too: HTML, quotes, a URL's own syntax.
HOSTILE_PATH = '/tmp/<img id=injected2 src=x>/"a b"#?%.py'
# A copy of the healthy run that the live-refresh test appends to while the page shows it.
LIVE_RUN = "live"
# A 10,000-step run with a record at every step, as the callback writes it (schema 2), and the
# same run as fitdiag's first event format wrote it (schema 1: one tag per statistic and layer).
LONG_RUN = "long_10000_steps"
LONG_RUN_SCHEMA_1 = "long_10000_steps_schema1"

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
    diverging.fit(  # the callback at its defaults: it says what goes wrong while training
        x, y, validation_split=0.25, epochs=12, batch_size=32, verbose=0,
        callbacks=[FitDiagCallback(log_dir=os.path.join(logdir, "diverging"))],
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
    shutil.copytree(logs / "healthy", logs / LIVE_RUN)
    hostile_doc = {
        "version": 1,
        "script": HOSTILE_PATH,
        "sha256": "0" * 64,
        "fitlint_version": "0.1.0",
        "error": None,
        "findings": [
            {
                "code": "FL201",
                "name": "learning-rate-too-high",
                "severity": "warning",
                "path": HOSTILE_PATH,
                "line": 7,
                "column": 3,
                "message": "<i id=injected3>not markup</i>",
            }
        ],
    }
    _write_events(
        logs / HOSTILE_RUN / "train", documents={metadata.STATIC_FINDINGS_TAG: hostile_doc}, step=1
    )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tb_fitdiag"))
    from labelled_runs import write_long_run

    write_long_run(logs / LONG_RUN)
    write_long_run(logs / LONG_RUN_SCHEMA_1, schema=1)
    return logs


def _write_events(
    run_dir: Path,
    *,
    layer_stats: dict[str, dict[str, float]] | None = None,
    documents: dict[str, Any] | None = None,
    step: int = 0,
    steps: list[int] | None = None,
) -> None:
    """Writes one more event file into a run with the writer FitDiagCallback uses."""
    from tb_fitdiag.summary import RunWriter

    writer = RunWriter(str(run_dir))
    for tag, doc in (documents or {}).items():
        writer.document(tag, doc, step, metadata.KIND_STATIC_FINDINGS)
    for at in steps or []:
        writer.stats(
            {
                metadata.layer_tag(stat, layer): (value, metadata.KIND_LAYER_STAT)
                for stat, by_layer in (layer_stats or {}).items()
                for layer, value in by_layer.items()
            },
            at,
        )
    writer.close()


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
            "--reload_interval",
            "1",  # the live-refresh test waits for TensorBoard to read a new file
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
                long_done = {r["name"] for r in runs if r["max_step"] == 9_999}
                if (
                    with_gradients >= {"healthy", "diverging"}
                    and "plain_keras" in with_losses
                    and long_done >= {LONG_RUN, LONG_RUN_SCHEMA_1}
                ):
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


@contextlib.contextmanager
def _tab(server: str, width: int = 1280, height: int = 900) -> Iterator[tuple[Any, Any, list[str]]]:
    """The Fit Diagnosis tab in headless Chromium: ``(page, frame, errors)``; no page error
    or console error may happen while it is open."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
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
            frame.wait_for_selector("button.run", timeout=60_000)
            yield page, frame, errors
        finally:
            browser.close()
    assert errors == []


def _show(frame: Any, run: str) -> None:
    frame.click(f"button.run[data-run={json.dumps(run)}]")
    frame.wait_for_function(f"document.body.dataset.drawn === {json.dumps(run)}", timeout=60_000)


_CANVAS_DIGEST = """() => {
    const c = document.querySelector('canvas.heatmap-canvas');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i] * 7 + d[i + 1] * 3 + d[i + 2]) >>> 0;
    return [c.dataset.mode, h];
}"""


def test_fitlint_locations_are_editor_links_with_a_copy_button(server: str) -> None:
    static = _get(server + "/data/plugin/fitdiag/static_findings?run=diverging")["static_findings"]
    (finding,) = [f for f in static["findings"] if f["name"] == "learning-rate-too-high"]
    path, line, column = finding["path"], finding["line"], finding["column"]
    assert path.startswith("/")  # FitDiagCallback records the script's absolute path
    href = f"vscode://file{urllib.parse.quote(path)}:{line}:{column}"
    with _tab(server) as (_page, frame, _errors):
        _show(frame, "diverging")
        row = frame.query_selector(".static-table td.where")
        assert row is not None
        assert row.eval_on_selector("a.loc-link", "a => a.getAttribute('href')") == href
        assert row.eval_on_selector("a.loc-link", "a => a.textContent") == f"{path}:{line}"
        # The cards and the headline link to the same line.
        card_links = frame.eval_on_selector_all(
            "article.card .flagged a.loc-link", "els => els.map(a => a.getAttribute('href'))"
        )
        assert card_links and set(card_links) == {href}
        headline = frame.eval_on_selector(".headline a.loc-link", "a => a.getAttribute('href')")
        assert headline == href
        # The copy button puts `path:line` on the clipboard.
        frame.evaluate(
            "() => { navigator.clipboard.writeText = async (t) => { window.__copied = t; }; }"
        )
        row.query_selector("button.copy").click()
        frame.wait_for_function("window.__copied !== undefined", timeout=10_000)
        assert frame.evaluate("window.__copied") == f"{path}:{line}"


def test_hostile_paths_are_text_and_percent_encoded_links(server: str) -> None:
    with _tab(server) as (_page, frame, _errors):
        _show(frame, HOSTILE_RUN)
        link = frame.query_selector(".static-table a.loc-link")
        assert link is not None
        assert link.text_content() == f"{HOSTILE_PATH}:7"
        href = link.get_attribute("href")
        assert href == f"vscode://file{urllib.parse.quote(HOSTILE_PATH, safe='/')}:7:3"
        assert not any(ch in href for ch in '<>" #?')
        for injected in ("#injected", "#injected2", "#injected3", "img"):
            assert frame.query_selector(injected) is None
        assert "<i id=injected3>" in (frame.text_content(".static-table") or "")


def test_heatmap_view_switch_changes_what_is_drawn(server: str) -> None:
    with _tab(server) as (page, frame, _errors):
        _show(frame, "healthy")
        modes = frame.eval_on_selector_all(
            ".segmented .segment", "els => els.map(e => e.dataset.mode)"
        )
        assert modes == ["grad_norm", "zero_fraction", "update_ratio"]
        before = frame.evaluate(_CANVAS_DIGEST)
        assert before[0] == "grad_norm"
        seen = {tuple(before)}
        for mode in ("update_ratio", "zero_fraction", "grad_norm"):
            frame.click(f".segment[data-mode={mode}]")
            after = frame.evaluate(_CANVAS_DIGEST)
            assert after[0] == mode
            assert frame.get_attribute(f".segment[data-mode={mode}]", "aria-checked") == "true"
            seen.add(tuple(after))
        assert len(seen) == 3  # three views, three pictures; back to the first is the first
        assert tuple(frame.evaluate(_CANVAS_DIGEST)) == tuple(before)
        caption = frame.text_content(".heatmap-section .caption") or ""
        assert caption.startswith("Gradient norm per layer")
        # The tooltip stays over the cells, never over the legend and the switch above them.
        # (Bounding boxes are in the page's coordinates, the iframe's offset included.)
        box = frame.query_selector("canvas.heatmap-canvas").bounding_box()
        page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] - 30)
        frame.wait_for_selector(".tooltip:not([hidden])", timeout=5_000)
        tip = frame.query_selector(".tooltip").bounding_box()
        legend = frame.query_selector(".heatmap-bar").bounding_box()
        assert tip["y"] >= legend["y"] + legend["height"]
        assert tip["x"] + tip["width"] <= box["x"] + box["width"] + 1


def test_run_list_is_a_listbox_that_arrow_keys_move_through(server: str) -> None:
    with _tab(server) as (page, frame, _errors):
        frame.wait_for_function("document.body.dataset.drawn", timeout=60_000)
        assert frame.get_attribute("ul.run-list", "role") == "listbox"
        roles = frame.eval_on_selector_all(
            "ul.run-list > li",
            "els => els.map(li => [li.getAttribute('role'),"
            " li.firstElementChild.getAttribute('role')])",
        )
        assert roles and all(r == ["none", "option"] for r in roles)
        names = frame.eval_on_selector_all("button.run", "els => els.map(e => e.dataset.run)")

        def selected() -> list[str]:
            return frame.eval_on_selector_all(
                "button.run[aria-selected=true]", "els => els.map(e => e.dataset.run)"
            )

        _show(frame, names[0])
        frame.focus(f"button.run[data-run={json.dumps(names[0])}]")
        page.keyboard.press("ArrowDown")
        frame.wait_for_function(f"document.body.dataset.drawn === {json.dumps(names[1])}")
        assert selected() == [names[1]]
        assert frame.evaluate("document.activeElement.dataset.run") == names[1]
        page.keyboard.press("End")
        frame.wait_for_function(f"document.body.dataset.drawn === {json.dumps(names[-1])}")
        assert selected() == [names[-1]]
        page.keyboard.press("ArrowDown")  # the last stays the last
        assert selected() == [names[-1]]
        page.keyboard.press("ArrowUp")
        frame.wait_for_function(f"document.body.dataset.drawn === {json.dumps(names[-2])}")
        page.keyboard.press("Home")
        frame.wait_for_function(f"document.body.dataset.drawn === {json.dumps(names[0])}")
        assert selected() == [names[0]]
        # One tab stop: the selected option.
        stops = frame.eval_on_selector_all(
            "button.run[tabindex='0']", "els => els.map(e => e.dataset.run)"
        )
        assert stops == [names[0]]


def test_epoch_ticks_are_whole_numbers(server: str) -> None:
    # plain_keras has 3 epochs: an axis left to itself labels 0.25, 0.5, ...
    for width in (1280, 900):
        with _tab(server, width=width) as (_page, frame, _errors):
            _show(frame, "plain_keras")
            ticks = json.loads(frame.get_attribute("figure.chart", "data-x-ticks") or "[]")
            labels = [t for t in ticks if t]
            assert labels and all(t.lstrip("-").isdigit() for t in labels), ticks
            assert len(set(labels)) == len(labels)


def test_overview_is_above_the_fold_and_shades_are_the_findings_ranges(server: str) -> None:
    diagnosis = _get(server + "/data/plugin/fitdiag/diagnosis?run=diverging")
    with _tab(server, 1280, 900) as (_page, frame, _errors):
        _show(frame, "diverging")
        # (Bounding boxes are in the page's coordinates, TensorBoard's header included.)
        for selector in (".headline", ".overview figure.chart", "canvas.heatmap-canvas"):
            box = frame.query_selector(selector).bounding_box()
            assert box["y"] + min(box["height"], 60) < 900, selector
        # Each loss finding is shaded over its own step range, on the chart of its unit.
        shaded = [
            shade
            for raw in frame.eval_on_selector_all(
                "figure.chart", "els => els.map(e => e.dataset.shades)"
            )
            for shade in json.loads(raw or "[]")
        ]
        expected = [
            {"label": f["name"], "start": f["step_start"], "end": f["step_end"]}
            for f in diagnosis["findings"]
            if isinstance(f["evidence"].get("tag"), str)
        ]
        assert expected
        assert sorted(shaded, key=str) == sorted(expected, key=str)


def test_page_refreshes_when_the_run_gets_new_data(server: str, logdir: Path) -> None:
    grads = _get(server + f"/data/plugin/fitdiag/gradients?run={LIVE_RUN}")
    layers, steps = grads["layers"], grads["stats"]["grad_norm"]["steps"]
    with _tab(server) as (_page, frame, _errors):
        _show(frame, LIVE_RUN)
        caption = frame.text_content(".heatmap-section .caption") or ""
        assert f"{len(steps)} records" in caption
        frame.click(".segment[data-mode=update_ratio]")  # a view the refresh must keep
        new_steps = [steps[-1] + 2, steps[-1] + 4, steps[-1] + 6]
        _write_events(
            logdir / LIVE_RUN / "train",
            layer_stats={
                "grad_norm": dict.fromkeys(layers, 0.5),
                "update_ratio": dict.fromkeys(layers, 1e-3),
            },
            steps=new_steps,
        )
        frame.wait_for_function(
            "Number(document.body.dataset.refreshes || 0) >= 1"
            f" && document.body.dataset.drawn === {json.dumps(LIVE_RUN)}",
            timeout=60_000,
        )
        frame.wait_for_function(
            "document.querySelector('.heatmap-section .caption').textContent"
            f".includes('{len(steps) + len(new_steps)} records')",
            timeout=30_000,
        )
        assert frame.get_attribute("canvas.heatmap-canvas", "data-mode") == "update_ratio"
        assert frame.query_selector(f"button.run[data-run={LIVE_RUN}][aria-selected=true]")


def test_what_was_said_while_training_is_on_the_cards_and_the_loss_chart(server: str) -> None:
    diagnosis = _get(server + "/data/plugin/fitdiag/diagnosis?run=diverging")
    live = diagnosis["live"]
    assert live, "FitDiagCallback at its defaults says the divergence while training"
    carded = [said for said in live if said["name"] in {f["name"] for f in diagnosis["findings"]}]
    assert carded
    with _tab(server, 1280, 900) as (page, frame, _errors):
        _show(frame, "diverging")
        # Each card whose finding was said while training says where.
        for said in carded:
            text = frame.text_content(
                f"article.card[data-finding={json.dumps(said['name'])}] .card-live"
            )
            assert text is not None
            assert f"aid while training at step {said['step']} " in text
            assert f"(Keras's epoch {said['epoch'] + 1})" in text
        # The loss chart marks each, at its step (per-step chart) or epoch, with the words as
        # its tooltip. (This run's epoch loss is NaN: the overview shows the batch loss too.)
        charts = frame.query_selector_all(".overview figure.chart[data-markers]")
        assert charts
        for chart in charts:
            per_step = chart.get_attribute("data-chart") == "batch-loss"
            marked = json.loads(chart.get_attribute("data-markers") or "[]")
            # One mark a step, whatever was said there.
            expected = {said["step" if per_step else "epoch"] for said in live}
            assert [m["x"] for m in marked] == sorted(expected)
        overview = charts[0]
        marks = overview.query_selector_all(".chart-marker")
        assert len(marks) == len(json.loads(overview.get_attribute("data-markers") or "[]"))
        titles = [m.get_attribute("title") or "" for m in marks]
        lines = [line for t in titles for line in t.split("\n")]
        for said in live:
            assert any(
                line.startswith(f"{said['name']}: said while training at step {said['step']} ")
                for line in lines
            ), titles
        # The mark is what the pointer finds there, so its tooltip shows.
        head = marks[0].query_selector(".chart-marker-head")
        box = head.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 2)
        under = frame.evaluate(
            """([x, y]) => {
                const el = document.elementFromPoint(x, y);
                return el && el.closest('.chart-marker') ? el.closest('.chart-marker').title : null;
            }""",
            [box["x"] + box["width"] / 2 - _frame_left(page), box["y"] + 2 - _frame_top(page)],
        )
        assert under == titles[0]


def _frame_left(page: Any) -> float:
    return float(page.query_selector("iframe").bounding_box()["x"])


def _frame_top(page: Any) -> float:
    return float(page.query_selector("iframe").bounding_box()["y"])


def test_a_10000_step_run_is_whole_at_tensorboards_default_flags(server: str) -> None:
    """TensorBoard keeps a sample of each tag of a plugin it does not know (1,000 scalars under
    its default loader); the callback's records still arrive whole, and a run of the first
    event format says what TensorBoard dropped and the flag that keeps it."""
    grads = _get(server + f"/data/plugin/fitdiag/gradients?run={LONG_RUN}&format=base64")
    assert grads["stats"]["grad_norm"]["steps"] == list(range(10_000))
    with _tab(server) as (_page, frame, _errors):
        _show(frame, LONG_RUN)
        caption = frame.text_content(".heatmap-section .caption") or ""
        assert "10000 records" in caption
        assert frame.query_selector(".notice-retention") is None
        cards = frame.eval_on_selector_all("article.card", "els => els.map(e => e.dataset.finding)")
        assert "exploding-gradients" in cards  # the burst of Inf at steps 6,543-6,545

        _show(frame, LONG_RUN_SCHEMA_1)
        notice = frame.text_content(".notice-retention") or ""
        assert "TensorBoard's default loader" in notice
        assert "keeps 1,000 values of such a tag" in notice
        assert frame.text_content(".notice-retention code") == "--samples_per_plugin=fitdiag=0"
        caption = frame.text_content(".heatmap-section .caption") or ""
        assert "1000 records" in caption
