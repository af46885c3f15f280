"""The diagnosis engine on synthetic numpy series, with exact expected findings."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest

from tb_fitdiag.diagnosis import (
    FINDING_KINDS,
    DiagnosisConfig,
    Finding,
    RunData,
    Series,
    coverage_notes,
    diagnose,
    threshold_docs,
)
from tb_fitdiag.diagnosis.config import TagMapping
from tb_fitdiag.diagnosis.robust import (
    bin_medians,
    count_swings,
    mann_kendall,
    median,
    row_medians,
    running_median,
    theil_sen_slope,
)


def _fitlint_rule_names() -> set[str]:
    from fitlint.rules.base import all_rules

    return {rule.name for rule in all_rules().values()}


FITLINT_RULES = _fitlint_rule_names()

EPOCHS = np.arange(30)
RNG = np.random.default_rng(1234)


def _s(values: np.ndarray | list[float], steps: np.ndarray | None = None) -> Series:
    v = np.asarray(values, dtype=np.float64)
    return Series.from_points(np.arange(v.size) if steps is None else steps, v)


def _noise(n: int, scale: float) -> np.ndarray:
    return RNG.normal(0.0, scale, n)


def _converging(n: int = 30, floor: float = 0.3, noise: float = 0.01) -> np.ndarray:
    e = np.arange(n)
    return floor + 2.0 * np.exp(-e / 4) + _noise(n, noise)


def _keras(train: np.ndarray, val: np.ndarray | None = None) -> RunData:
    return RunData(
        train={"epoch_loss": _s(train)},
        validation={} if val is None else {"epoch_loss": _s(val)},
    )


def _grad_run(
    norms: dict[str, float],
    n: int = 40,
    extra: dict[str, dict[str, np.ndarray]] | None = None,
    global_norm: np.ndarray | None = None,
) -> RunData:
    steps = np.arange(n) * 10
    layer_stats: dict[str, dict[str, Series]] = {
        "grad_norm": {
            layer: Series.from_points(steps, level * np.exp(_noise(n, 0.1)))
            for layer, level in norms.items()
        }
    }
    for stat, by_layer in (extra or {}).items():
        layer_stats[stat] = {
            layer: Series.from_points(steps[: v.size], v) for layer, v in by_layer.items()
        }
    data = _keras(_converging(), _converging(floor=0.35))
    data.layer_stats = layer_stats
    data.layers = list(norms)
    if global_norm is not None:
        data.global_stats["global_grad_norm"] = Series.from_points(
            np.arange(global_norm.size) * 10, global_norm
        )
    return data


def _names(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.name, f.severity) for f in findings]


def _overfit_val() -> np.ndarray:
    e = np.arange(30)
    down = 0.3 + 2.0 * np.exp(-e[:12] / 4)
    up = down[-1] + 0.025 * np.arange(1, 19)
    return np.r_[down, up] + _noise(30, 0.005)


CASES = [
    pytest.param(_keras(_converging(), _converging(floor=0.35)), [], id="healthy"),
    pytest.param(
        _keras(_converging(noise=0.03), _converging(floor=0.35, noise=0.03)),
        [],
        id="healthy-noisy",
    ),
    pytest.param(_keras(_converging()), [], id="healthy-no-validation"),
    pytest.param(
        _keras(2.0 * np.exp(-EPOCHS / 5) + 0.05, _overfit_val()),
        [("overfitting", "warning")],
        id="overfitting",
    ),
    pytest.param(
        _keras(
            2.0 * np.exp(-EPOCHS / 5) + 0.05,
            np.r_[0.3 + 2.0 * np.exp(-EPOCHS[:12] / 4), 0.40 + 0.0015 * np.arange(1, 19)],
        ),
        [("overfitting", "info")],
        id="overfitting-mild-is-info",
    ),
    pytest.param(
        _keras(np.r_[1.0, 0.8, 0.7, 0.6 * 1.15 ** np.arange(27)]),
        [("diverging-loss", "error")],
        id="diverging",
    ),
    pytest.param(
        _keras(np.r_[0.7, 5.0 + np.abs(_noise(29, 1.0))]),
        [("diverging-loss", "error")],
        id="jumped-up-and-stayed",
    ),
    pytest.param(
        _keras(np.r_[1.0, 0.9, 5.0, 1e6, np.nan, np.inf, np.nan]),
        [("non-finite-loss", "error")],
        id="nan-loss",
    ),
    pytest.param(
        _keras(0.693 - 0.0003 * EPOCHS + _noise(30, 0.001)),
        [("loss-plateau", "warning")],
        id="plateau",
    ),
    pytest.param(
        _keras(1.0 + 0.3 * (-1.0) ** EPOCHS + _noise(30, 0.02)),
        [("oscillating-loss", "warning")],
        id="oscillating",
    ),
    pytest.param(
        _keras(1.0 + 0.3 * (-1.0) ** EPOCHS - 0.02 * EPOCHS),
        [],
        id="zigzag-but-converging",
    ),
    pytest.param(_grad_run({"d1": 0.5, "d2": 0.4, "d3": 0.3}), [], id="healthy-gradients"),
    pytest.param(
        _grad_run({"d1": 2e-6, "d2": 1e-4, "d3": 0.05}),
        [("vanishing-gradients", "warning")],
        id="vanishing",
    ),
    pytest.param(
        _grad_run({"d1": 200.0, "d2": 5.0, "d3": 1.0}),
        [("exploding-gradients", "warning")],
        id="exploding-ratio",
    ),
    pytest.param(
        _grad_run({"d1": 1.0, "d2": 1.0}, global_norm=np.geomspace(0.1, 1e3, 40)),
        [("exploding-gradients", "error")],
        id="exploding-growth",
    ),
    pytest.param(
        _grad_run(
            {"d1": 1.0, "d2": 1.0},
            extra={"nonfinite": {"d1": np.r_[np.zeros(20), 3.0 * np.ones(20)]}},
        ),
        [("exploding-gradients", "error")],
        id="non-finite-gradients",
    ),
    pytest.param(
        _grad_run({"d1": 1.0, "d2": 1.0}, extra={"dead_fraction": {"d1": np.full(40, 0.9)}}),
        [("dead-units", "warning")],
        id="dead-units",
    ),
    pytest.param(
        _grad_run({"d1": 1.0, "d2": 1.0}, extra={"dead_fraction": {"d1": np.full(40, 0.3)}}),
        [],
        id="some-dead-units-are-fine",
    ),
    pytest.param(
        _grad_run({"d1": 1.0, "d2": 1.0}, extra={"update_ratio": {"d1": np.full(40, 0.5)}}),
        [("update-ratio-too-high", "warning")],
        id="update-ratio-high",
    ),
    pytest.param(
        _grad_run(
            {"d1": 1.0, "d2": 1.0},
            extra={"update_ratio": {"d1": np.full(40, 1e-7), "d2": np.full(40, 2e-7)}},
        ),
        [("update-ratio-too-low", "warning")],
        id="update-ratio-low",
    ),
    pytest.param(
        _grad_run(
            {"d1": 1.0, "d2": 1.0},
            extra={"update_ratio": {"d1": np.full(40, 2e-3), "d2": np.full(40, 8e-4)}},
        ),
        [],
        id="update-ratio-rule-of-thumb",
    ),
]


@pytest.mark.parametrize(("data", "expected"), CASES)
def test_findings(data: RunData, expected: list[tuple[str, str]]) -> None:
    assert _names(diagnose(data)) == expected


def test_overfitting_message_states_the_evidence_in_numbers() -> None:
    (finding,) = diagnose(_keras(2.0 * np.exp(-EPOCHS / 5) + 0.05, _overfit_val()))
    assert finding.message.startswith("validation loss (epoch_loss) rose ")
    assert "above its minimum" in finding.message and "at epoch 1" in finding.message
    assert "while training loss fell" in finding.message
    assert finding.evidence["generalization_loss"] >= 0.10
    assert finding.evidence["step_unit"] == "epoch"
    assert finding.step_start == finding.evidence["validation_minimum_step"]
    assert finding.step_end == 29


def test_non_finite_reports_first_bad_step_and_last_finite_value() -> None:
    (finding,) = diagnose(_keras(np.r_[1.0, 0.9, 5.0, 1e6, np.nan, np.inf, np.nan]))
    assert finding.step_start == 4
    assert finding.evidence["non_finite_count"] == 3
    assert finding.evidence["last_finite_value"] == 1e6
    assert "became nan at epoch 4" in finding.message


def test_non_finite_found_in_validation_only_run() -> None:
    data = RunData(validation={"epoch_loss": _s([0.5, np.nan])})
    assert _names(diagnose(data)) == [("non-finite-loss", "error")]


def test_batch_loss_is_used_without_epoch_loss() -> None:
    steps = np.arange(200) * 5
    values = 0.693 + _noise(200, 0.002)
    data = RunData(train={"batch_loss": Series.from_points(steps, values)})
    (finding,) = diagnose(data)
    assert finding.name == "loss-plateau"
    assert finding.evidence["step_unit"] == "step"
    assert (finding.step_start, finding.step_end) == (0, 995)


@pytest.mark.parametrize(
    ("train_tag", "val_tag"),
    [
        ("loss", "val_loss"),
        ("train/loss", "val/loss"),
        ("Loss/train", "Loss/val"),
        ("epoch_loss", "epoch_val_loss"),
    ],
)
def test_default_tag_mapping_covers_common_frameworks(train_tag: str, val_tag: str) -> None:
    data = RunData(
        train={train_tag: _s(2.0 * np.exp(-EPOCHS / 5) + 0.05)},
        validation={val_tag: _s(_overfit_val())},
    )
    assert _names(diagnose(data)) == [("overfitting", "warning")]


def test_custom_tag_mapping() -> None:
    data = RunData(train={"my_loss": _s(0.693 + _noise(30, 0.001))})
    assert diagnose(data) == []
    config = DiagnosisConfig(tags=TagMapping(train_loss=("my_loss",)))
    assert _names(diagnose(data, config)) == [("loss-plateau", "warning")]


def test_validation_twin_pattern() -> None:
    tags = TagMapping()
    for tag in ("val_loss", "epoch_val_accuracy", "Loss/val", "validation/loss", "eval/loss"):
        assert tags.is_validation_twin(tag), tag
    for tag in ("loss", "epoch_loss", "Loss/train", "interval", "valence"):
        assert not tags.is_validation_twin(tag), tag


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(RunData(), id="empty"),
        pytest.param(_keras(np.array([0.7, 0.2, 5.0])), id="three-points"),
        pytest.param(_keras(np.array([0.693] * 7)), id="seven-flat-points"),
        pytest.param(_keras(_converging(7), np.array([0.3, 0.2, 0.9, 1.5])), id="short-both"),
        pytest.param(RunData(validation={"epoch_loss": _s(_overfit_val())}), id="val-only"),
        pytest.param(
            _grad_run({"d1": 1e-9, "d2": 1.0}, n=4), id="four-gradient-records-no-verdict"
        ),
    ],
)
def test_short_or_partial_runs_get_no_verdict(data: RunData) -> None:
    assert diagnose(data) == []


def test_short_run_is_explained() -> None:
    notes = coverage_notes(_keras(np.array([0.7, 0.6, 0.5])))
    assert any("3 finite point(s); trend verdicts need 8" in n for n in notes)
    assert any("no validation loss" in n for n in notes)
    assert any("no fitdiag gradient statistics" in n for n in notes)
    assert coverage_notes(RunData()) == ["the run holds no scalar data"]
    assert any(
        "no training loss found" in n
        for n in coverage_notes(RunData(validation={"loss": _s([1.0])}))
    )


def test_findings_sorted_most_severe_first() -> None:
    data = _grad_run(
        {"d1": 1.0, "d2": 1.0},
        extra={"dead_fraction": {"d1": np.full(40, 0.9)}, "nonfinite": {"d2": np.ones(40)}},
    )
    data.train["epoch_loss"] = _s(np.r_[0.7, 0.6, np.nan])
    names = _names(diagnose(data))
    assert names == [
        ("exploding-gradients", "error"),
        ("non-finite-loss", "error"),
        ("dead-units", "warning"),
    ]


def test_static_causes_are_linked() -> None:
    data = _keras(np.r_[1.0, 0.9, np.nan])
    data.static_findings = {
        "version": 1,
        "findings": [
            {"name": "learning-rate-too-high", "path": "train.py", "line": 12, "message": "lr=5"},
            {"name": "deep-stacked-rnn", "path": "train.py", "line": 3, "message": "rnn"},
        ],
    }
    (finding,) = diagnose(data)
    assert finding.evidence["static_causes"] == [
        {"path": "train.py", "line": 12, "name": "learning-rate-too-high", "message": "lr=5"}
    ]


def test_suggestions_are_fitlint_rule_names() -> None:
    every: set[str] = set()
    for case in CASES:
        for finding in diagnose(case.values[0]):
            every.update(finding.suggestions)
            assert finding.name in FINDING_KINDS
    assert every and every <= FITLINT_RULES


def test_to_json_keeps_nan_serialisable() -> None:
    (finding,) = diagnose(_keras(np.r_[1.0, np.nan]))
    doc = finding.to_json()
    assert set(doc) == {
        "name",
        "severity",
        "step_start",
        "step_end",
        "message",
        "evidence",
        "suggestions",
        "remedy",
    }
    text = json.dumps(doc)
    back = json.loads(text)
    assert math.isnan(back["evidence"]["first_non_finite_value"])
    assert back["suggestions"][0] == "learning-rate-too-high"


def test_every_threshold_is_documented_with_a_source() -> None:
    docs = threshold_docs()
    assert len(docs) >= 20
    for name, _default, doc, source in docs:
        assert doc, name
        assert source, name
    for f in fields(TagMapping):
        assert f.metadata["doc"], f.name


def test_thresholds_are_configurable() -> None:
    data = _keras(2.0 * np.exp(-EPOCHS / 5) + 0.05, _overfit_val())
    assert (
        diagnose(data, DiagnosisConfig().with_overrides(overfit_generalization_loss=5.0))[
            0
        ].severity
        == "info"
    )
    with pytest.raises(ValueError, match="unknown diagnosis setting"):
        DiagnosisConfig().with_overrides(no_such_threshold=1)


def test_series_sorts_and_keeps_last_of_duplicate_steps() -> None:
    s = Series.from_points([3, 1, 2, 1], [30.0, 10.0, 20.0, 11.0])
    assert s.steps.tolist() == [1, 2, 3]
    assert s.values.tolist() == [11.0, 20.0, 30.0]
    assert s.steps.dtype == np.int64 and s.values.dtype == np.float64


def test_robust_statistics() -> None:
    up = mann_kendall(np.arange(20, dtype=np.float64))
    assert up.p_increasing < 1e-6 and up.tau == 1.0
    flat = mann_kendall(np.ones(20))
    assert flat.p_increasing == 1.0 and flat.p_decreasing == 1.0
    x = np.arange(10, dtype=np.float64)
    assert theil_sen_slope(x, 3 * x + 1) == pytest.approx(3.0)
    y = 3 * x + 1
    y[4] = 1000.0  # one outlier does not move Theil-Sen
    assert theil_sen_slope(x, y) == pytest.approx(3.0)
    smooth = running_median(np.array([1.0, 1.0, 100.0, 1.0, 1.0]), 3)
    assert smooth.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    ends = running_median(np.array([50.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 90.0]), 5)
    assert ends.tolist() == [1.0] * 8  # an outlier at either end does not pass
    steps, values = bin_medians(np.arange(1000, dtype=np.int64), np.arange(1000.0), 100)
    assert values.size == 100 and steps[-1] == 999
    assert count_swings(np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0]), 0.1) == 2
    assert count_swings(np.array([1.0, 1.01, 1.0, 1.01, 1.0]), 0.1) == 0


def test_median_is_numpys_median_of_one_dimension() -> None:
    rng = np.random.default_rng(3)
    cases = [rng.normal(size=n) for n in (1, 2, 3, 8, 33)]
    cases += [np.array([1.0, np.inf]), np.array([-np.inf, np.inf, 2.0, 1.0])]
    cases += [np.array([1.0, np.nan, 2.0]), np.array([3, 1, 2]), np.arange(6.0)[::-2]]
    for values in cases:
        expected = float(np.median(values))
        got = median(values)
        assert got == expected or (math.isnan(got) and math.isnan(expected)), values
    assert math.isnan(median(np.array([])))  # numpy's NaN, without its warning


def test_row_medians_are_numpys_medians_along_rows() -> None:
    rng = np.random.default_rng(4)
    for width in (1, 2, 3, 8, 33, 512):
        rows = rng.normal(size=(6, width))
        rows[1] = np.round(rows[1])  # ties
        rows[2, 0] = np.inf
        rows[3, -1] = -np.inf
        rows[4, width // 2] = np.nan
        rows[5] = rows[5][::-1]
        expected = np.median(rows, axis=1)
        got = row_medians(rows)
        assert np.array_equal(got, expected, equal_nan=True), width
        assert got.dtype == np.float64 and got.flags.c_contiguous
    # Not float64 (taken as float64 first), a strided view, no values, not 2-D.
    ints = np.array([[3, 1, 2, 4], [1, 1, 2, 2]])
    assert row_medians(ints).tolist() == [2.5, 1.5]
    assert row_medians(np.arange(24.0).reshape(4, 6)[::2, ::2]).tolist() == [2.0, 14.0]
    assert np.isnan(row_medians(np.empty((2, 0)))).all()
    signed = np.signbit(row_medians(np.array([[-0.0], [0.0]]))).tolist()
    assert signed == np.signbit(np.median(np.array([[-0.0], [0.0]]), axis=1)).tolist()
    assert not np.signbit(row_medians(np.array([[-0.0, -0.0], [-0.0, 1.0]]))).any()
    with pytest.raises(ValueError, match="2-D"):
        row_medians(np.arange(3.0))


@pytest.mark.slow
def test_diagnosis_imports_neither_tensorflow_nor_tensorboard() -> None:
    code = (
        "import sys, tb_fitdiag.diagnosis as d; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorboard', "
        "'keras')]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docs_list_every_threshold_and_finding() -> None:
    from pathlib import Path

    from tb_fitdiag.diagnosis.config import threshold_table

    doc = (Path(__file__).parents[2] / "docs" / "diagnose.md").read_text()
    # The table is generated: regenerate it with `python -m tb_fitdiag.diagnosis.docs`.
    assert threshold_table() in doc
    for name, *_ in threshold_docs():
        assert f"`{name}`" in doc, name
    for name in FINDING_KINDS:
        assert f"`{name}`" in doc, name


def _random_series(rng: np.random.Generator) -> Series:
    n = int(rng.integers(0, 60))
    kind = rng.integers(0, 5)
    values = {
        0: rng.normal(0, 1, n),
        1: np.zeros(n),
        2: rng.choice([np.nan, np.inf, -np.inf, 1.0, 0.0, -1.0], n),
        3: np.exp(rng.normal(0, 20, n)),
        4: -np.abs(rng.normal(0, 1, n)),
    }[int(kind)]
    return Series.from_points(rng.integers(-5, 100, n), values)


def test_arbitrary_series_never_raise_and_stay_json_serialisable() -> None:
    rng = np.random.default_rng(7)
    for _ in range(300):
        layers = [f"m/l{i}" for i in range(int(rng.integers(0, 4)))]
        data = RunData(
            train={"epoch_loss": _random_series(rng), "batch_loss": _random_series(rng)},
            validation={"epoch_loss": _random_series(rng)},
            layer_stats={
                stat: {layer: _random_series(rng) for layer in layers}
                for stat in ("grad_norm", "update_ratio", "dead_fraction", "zero_fraction")
            },
            global_stats={"global_grad_norm": _random_series(rng)},
            layers=layers,
        )
        for finding in diagnose(data):
            json.dumps(finding.to_json())
        coverage_notes(data)


def test_one_bad_last_batch_is_not_divergence() -> None:
    steps = np.arange(100) * 10
    values = 0.2 + np.exp(-np.arange(100) / 10) + _noise(100, 0.01)
    values[-1] = 50.0
    data = RunData(train={"batch_loss": Series.from_points(steps, values)})
    assert diagnose(data) == []
    values[-3:] = 50.0  # three in a row is a blow-up
    (finding,) = diagnose(RunData(train={"batch_loss": Series.from_points(steps, values)}))
    assert (finding.name, finding.evidence["kind"]) == ("diverging-loss", "spike")


def test_a_loss_that_is_zero_from_the_start_is_a_plateau_but_one_that_reaches_zero_is_not() -> None:
    # Exactly 0 from the first epoch: the untrained model cannot be perfect, so the loss does not
    # measure the output (categorical cross-entropy over one sigmoid unit, say).
    (finding,) = diagnose(_keras(np.zeros(30)))
    assert (finding.name, finding.evidence["kind"]) == ("loss-plateau", "zero-loss")
    converged = np.r_[np.geomspace(1.0, 1e-6, 10), np.zeros(20)]
    assert diagnose(_keras(converged)) == []
