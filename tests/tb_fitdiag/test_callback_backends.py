"""FitDiagCallback on the JAX and PyTorch backends of Keras 3, against the TensorFlow backend.

Keras fixes its backend at import, so each backend trains in its own process
(``backend_run.py`` under ``KERAS_BACKEND``): the same model, initial weights (set from numpy),
data and SGD schedule, no shuffling. The JAX and PyTorch processes run with TensorFlow hidden
from the importer, as where it is not installed. The processes run once, side by side, for the
whole module; a backend whose package cannot be imported here is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_plugin import PREFIX, _app

from tb_fitdiag import metadata
from tb_fitdiag.gradient_stats import DENSE_STEPS

# One worker runs the whole module (pytest -n 2 --dist loadgroup), so the backends train once.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("backends")]

_SCRIPT = Path(__file__).with_name("backend_run.py")
_PACKAGES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
_OTHERS = ["jax", "torch"]
# float32 statistics computed by three different kernels, summed in different orders.
_RTOL = 1e-4
_ATOL = 1e-7


def _available(backend: str) -> bool:
    return importlib.util.find_spec(_PACKAGES[backend]) is not None


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``backend -> (log root, the script's JSON report)``, or the error text of a failed run."""
    root = tmp_path_factory.mktemp("backends")
    processes = {}
    for backend in _PACKAGES:
        if not _available(backend):
            continue
        command = [sys.executable, str(_SCRIPT), str(root / backend)]
        if backend != "tensorflow":
            command.append("--block-tensorflow")
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        processes[backend] = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    results: dict[str, Any] = {}
    for backend, process in processes.items():
        out, err = process.communicate(timeout=300)
        if process.returncode != 0:
            results[backend] = f"{backend} run failed ({process.returncode}):\n{err[-3000:]}"
            continue
        results[backend] = (root / backend, json.loads(out.strip().splitlines()[-1]))
    return results


def _run_of(trained: dict[str, Any], backend: str) -> tuple[Path, dict[str, Any]]:
    if not _available(backend):
        pytest.skip(
            f"{_PACKAGES[backend]} cannot be imported here: the {backend} backend is not tested"
        )
    result = trained[backend]
    assert not isinstance(result, str), result
    return result  # type: ignore[no-any-return]


def _statistics(cb_load_run: Any, root: Path) -> dict[str, dict[int, float]]:
    run = cb_load_run(str(root / "train"))
    return {
        tag: run.series(tag)
        for tag in run.values
        if metadata.parse_tag(tag) is not None and isinstance(run.values[tag][0][1], float)
    }


def _findings(root: Path) -> list[tuple[str, str, int | None, int | None]]:
    done = subprocess.run(
        [sys.executable, "-m", "tb_fitdiag.cli", "diagnose", "--format", "json", str(root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    (run,) = json.loads(done.stdout)["runs"]
    return sorted(
        (f["name"], f["severity"], f.get("step_start"), f.get("step_end")) for f in run["findings"]
    )


@pytest.mark.parametrize("backend", _OTHERS)
def test_records_without_tensorflow(
    backend: str, trained: dict[str, Any], cb_load_run: Any
) -> None:
    root, report = _run_of(trained, backend)
    assert report["backend"] == backend
    assert report["tensorflow_imported"] is False
    assert report["warnings"] == []
    (failed,) = report["failed_warnings"]
    assert failed.startswith("fitdiag: recording stopped after an internal error")
    assert report["failed_epochs"] == 2
    run = cb_load_run(str(root / "same" / "train"))
    info = json.loads(run.values[metadata.RUN_INFO_TAG][0][1])
    assert info["strategy"] == "default"
    assert info["interval"] > 0
    for layer in info["layers"]:
        assert metadata.layer_tag("grad_norm", layer) in run.values
        assert metadata.layer_tag("update_ratio", layer) in run.values
    static = json.loads(run.values[metadata.STATIC_FINDINGS_TAG][0][1])
    assert static["error"] is None
    assert static["script"] == str(_SCRIPT)
    # The probe batch ran on the trained weights: half the first layer's units never activate.
    first, second = info["layers"][:2]
    assert run.series(metadata.layer_tag("dead_fraction", first))[10] == 0.5
    assert metadata.layer_tag("dead_fraction", second) in run.values


@pytest.mark.parametrize("backend", _OTHERS)
def test_statistics_equal_tensorflow_s(
    backend: str, trained: dict[str, Any], cb_load_run: Any
) -> None:
    root, report = _run_of(trained, backend)
    reference_root, _ = _run_of(trained, "tensorflow")
    reference = _statistics(cb_load_run, reference_root / "same")
    got = _statistics(cb_load_run, root / "same")
    assert sorted(got) == sorted(reference)
    layers = [t for t in reference if t.startswith("fitdiag/grad_norm/")]
    assert len(layers) == 3
    largest = metadata.global_tag("grad_norm_max")
    if not report["per_step_norm"]:
        # The light steps did not measure their norm (too dear beside these tiny steps): the
        # largest norm is that of the measured steps, the same as TensorFlow's over the dense
        # first steps (every one a record), at most it after them, absent for a window of
        # light steps only.
        series, mine = reference.pop(largest), got.pop(largest)
        assert set(mine) <= set(series)
        for step, value in mine.items():
            if step < DENSE_STEPS:
                assert math.isclose(value, series[step], rel_tol=_RTOL, abs_tol=_ATOL), step
            else:
                assert value <= series[step] * (1 + _RTOL) + _ATOL, step
        assert set(series) - set(mine), "some window should have had light steps only"
    for tag, series in reference.items():
        assert sorted(got[tag]) == sorted(series), tag  # the same steps: the same schedule
        for step, value in series.items():
            assert math.isclose(got[tag][step], value, rel_tol=_RTOL, abs_tol=_ATOL), (
                tag,
                step,
                got[tag][step],
                value,
            )


@pytest.mark.parametrize("backend", _OTHERS)
def test_mixed_precision_records_unscaled_gradients(
    backend: str, trained: dict[str, Any], cb_load_run: Any
) -> None:
    root, _ = _run_of(trained, backend)
    tag = metadata.global_tag("global_grad_norm")
    exact = cb_load_run(str(root / "same" / "train")).series(tag)
    mixed = cb_load_run(str(root / "mixed" / "train")).series(tag)
    assert sorted(mixed) == list(range(8))
    for step, norm in mixed.items():
        # float16 activations: a few parts in a thousand; a scaled gradient would be 32768x.
        assert math.isclose(norm, exact[step], rel_tol=1e-2), (step, norm, exact[step])


@pytest.mark.parametrize("backend", _OTHERS)
def test_findings_and_tab_data_equal_tensorflow_s(backend: str, trained: dict[str, Any]) -> None:
    root, _ = _run_of(trained, backend)
    reference_root, _ = _run_of(trained, "tensorflow")
    expected = _findings(reference_root / "same")
    assert expected, "the reference run should have a finding to compare"
    assert _findings(root / "same") == expected

    def tab(logdir: Path) -> tuple[Any, Any]:
        client, _, _ = _app(logdir)
        diagnosis = json.loads(client.get(f"{PREFIX}/diagnosis?run=same").get_data(as_text=True))
        gradients = json.loads(
            client.get(f"{PREFIX}/gradients?run=same&stats=grad_norm").get_data(as_text=True)
        )
        return diagnosis, gradients

    diagnosis, gradients = tab(root)
    expected_diagnosis, expected_gradients = tab(reference_root)
    assert sorted(f["name"] for f in diagnosis["findings"]) == sorted(
        f["name"] for f in expected_diagnosis["findings"]
    )
    assert gradients["layers"] == expected_gradients["layers"]
    matrix, reference = gradients["stats"]["grad_norm"], expected_gradients["stats"]["grad_norm"]
    assert matrix["steps"] == reference["steps"]
    assert len(matrix["values"]) == len(reference["values"]) == 3
    for row, expected_row in zip(matrix["values"], reference["values"], strict=True):
        assert [v is None for v in row] == [v is None for v in expected_row]
        for value, expected_value in zip(row, expected_row, strict=True):
            if expected_value is not None:
                assert math.isclose(value, expected_value, rel_tol=_RTOL, abs_tol=_ATOL)


@pytest.mark.parametrize("backend", _OTHERS)
def test_non_finite_steps_are_recorded_and_the_origin_says_why_not_located(
    backend: str, trained: dict[str, Any], cb_load_run: Any
) -> None:
    root, _ = _run_of(trained, backend)
    reference_root, _ = _run_of(trained, "tensorflow")
    run = cb_load_run(str(root / "nan" / "train"))
    reference = cb_load_run(str(reference_root / "nan" / "train"))
    for stat in ("first_nonfinite_loss_step", "first_nonfinite_grad_step"):
        tag = metadata.global_tag(stat)
        assert run.values[tag][0][1] == reference.values[tag][0][1]
    (origin,) = run.values[metadata.NONFINITE_ORIGIN_TAG]
    document = json.loads(origin[1])
    (expected_origin,) = reference.values[metadata.NONFINITE_ORIGIN_TAG]
    expected = json.loads(expected_origin[1])
    assert document["located"] is False
    assert (document["step"], document["trigger"]) == (expected["step"], expected["trigger"])
    name = {"jax": "JAX", "torch": "PyTorch"}[backend]
    assert document["error"] == (
        f"not located: this run uses the {name} backend "
        "(the replay of a failing batch needs the TensorFlow backend)"
    )


@pytest.mark.parametrize("backend", _OTHERS)
def test_a_later_fit_reports_its_own_first_non_finite_step(
    backend: str, trained: dict[str, Any], cb_load_run: Any
) -> None:
    """A second fit() reuses the probe: the first fit's failing step (3) must not hide the
    second fit's (13), as on TensorFlow."""
    tag = metadata.global_tag("first_nonfinite_loss_step")
    seen = {}
    for name in (backend, "tensorflow"):
        root, _ = _run_of(trained, name)
        run = cb_load_run(str(root / "again" / "train"))
        seen[name] = sorted({value for _, value in run.values[tag]})
    assert seen[backend] == seen["tensorflow"] == [3.0, 13.0]


_UNIMPORTED = """
import json, sys
import numpy as np, keras
from tb_fitdiag import FitDiagCallback
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
model.compile("sgd", "mse")
x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
callback = FitDiagCallback(sys.argv[1], lint_script=False)
model.fit(x, x[:, :1], batch_size=8, epochs=2, verbose=0, callbacks=[callback])
print(json.dumps({"tensorflow_imported": "tensorflow" in sys.modules}))
"""


@pytest.mark.skipif(not _available("tensorflow"), reason="needs TensorFlow installed, not imported")
@pytest.mark.parametrize("backend", [b for b in _OTHERS if _available(b)])
def test_an_installed_tensorflow_is_not_imported_on_another_backend(
    backend: str, tmp_path: Path, cb_load_run: Any
) -> None:
    # TensorBoard's event writer would import it (tf.io.gfile) for a local log directory.
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", _UNIMPORTED, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"tensorflow_imported": False}
    run = cb_load_run(str(tmp_path / "train"))
    steps = sorted(run.series(metadata.global_tag("global_grad_norm")))
    assert steps == list(range(16))  # every step of the two 8-step epochs: the dense ones
