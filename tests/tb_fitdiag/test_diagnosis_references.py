"""The diagnosis against references (initial, chance-level and largest losses), the callback's
running aggregates, and the headline: synthetic series with exact expected verdicts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from tb_fitdiag.diagnosis import (
    CAUSES,
    FINDING_KINDS,
    RunData,
    Series,
    diagnose,
    diagnose_run,
)
from tb_fitdiag.diagnosis.causes import symptom

RNG = np.random.default_rng(7)
LN10 = math.log(10.0)


def _s(values: Any, steps: Any = None) -> Series:
    v = np.asarray(values, dtype=np.float64)
    return Series.from_points(np.arange(v.size) if steps is None else steps, v)


def _run(
    epoch_loss: Any,
    batch: tuple[Any, Any] | None = None,
    *,
    val: Any = None,
    chance: float | None = None,
    optimizer: str = "Adam",
    lr: float | None = None,
    static: list[dict[str, Any]] | None = None,
    aggregates: dict[str, tuple[Any, Any]] | None = None,
    layers: dict[str, dict[str, Any]] | None = None,
    global_norm: tuple[Any, Any] | None = None,
) -> RunData:
    data = RunData(train={"epoch_loss": _s(epoch_loss)})
    if val is not None:
        data.validation = {"epoch_loss": _s(val)}
    if batch is not None:
        data.global_stats["batch_loss"] = _s(batch[1], batch[0])
    for stat, (steps, values) in (aggregates or {}).items():
        data.global_stats[stat] = _s(values, steps)
    if global_norm is not None:
        data.global_stats["global_grad_norm"] = _s(global_norm[1], global_norm[0])
    if lr is not None:
        data.global_stats["learning_rate"] = _s([lr])
    if layers:
        for stat, by_layer in layers.items():
            data.layer_stats[stat] = {name: _s(v[1], v[0]) for name, v in by_layer.items()}
        data.layers = list(next(iter(layers.values())))
    data.run_info = {
        "version": 1,
        "layers": data.layers,
        "optimizer": optimizer,
        "chance_loss": chance,
    }
    if static is not None:
        data.static_findings = {"version": 1, "findings": static, "error": None}
    return data


def _dense_then_sparse(n_dense: int = 32, total: int = 400, every: int = 20) -> np.ndarray:
    return np.r_[np.arange(n_dense), np.arange(n_dense + every - n_dense % every, total, every)]


def _names(findings: list[Any]) -> set[str]:
    return {f.name for f in findings if f.severity in ("error", "warning")}


def _lr_static(line: int = 22) -> dict[str, Any]:
    return {
        "code": "FL201",
        "name": "learning-rate-too-high",
        "severity": "warning",
        "path": "train.py",
        "line": line,
        "column": 5,
        "message": "learning rate 0.5 is too high for Adam",
    }


# ---- diverging against the initial loss -------------------------------------------------


def test_blow_up_then_collapse_to_chance_is_diverging_not_only_dead_units() -> None:
    steps = _dense_then_sparse()
    batch = np.full(steps.size, LN10) + RNG.normal(0, 0.01, steps.size)
    batch[:3] = [2.4, 2.3, 2.35]
    batch[5:20] = np.geomspace(10, 3e6, 15)  # the blow-up of epoch 1, in the dense records
    epoch = np.r_[4e5, np.full(14, LN10)]
    data = _run(epoch, (steps, batch), chance=LN10, lr=0.5, static=[_lr_static()])
    result = diagnose_run(data)
    assert "diverging-loss" in _names(result.findings)
    assert "loss-plateau" not in _names(result.findings)  # the collapse follows the blow-up
    assert result.headline is not None
    assert result.headline.cause == "learning-rate-too-high"
    assert result.headline.static is not None and result.headline.static["line"] == 22
    assert "for Adam from 0.5 to about 0.001" in result.headline.fix


def test_a_blow_up_between_records_is_seen_in_the_running_maxima() -> None:
    steps = np.arange(0, 400, 50)
    batch = np.r_[2.3, np.full(steps.size - 1, 1.2)]
    epoch = np.linspace(2.0, 1.2, 12)
    maxima = np.r_[2.3, 900.0, 5e4, np.full(steps.size - 3, 1.5)]
    data = _run(
        epoch,
        (np.r_[0, 1, 2, steps[1:]], np.r_[2.3, 2.31, 2.29, batch[1:]]),
        aggregates={"batch_loss_max": (steps, maxima)},
    )
    (finding,) = [f for f in diagnose(data) if f.name == "diverging-loss"]
    assert finding.evidence["kind"] == "peak"
    assert finding.evidence["peak"] == 5e4


def test_a_run_that_ends_far_above_its_initial_loss_diverged() -> None:
    # Adam too high: the loss jumps to 5x its initial value in epoch 0, then slowly decreases.
    steps = _dense_then_sparse(total=600)
    batch = np.r_[[0.7, 0.69, 0.7], np.full(steps.size - 3, 3.0)]
    epoch = np.linspace(4.0, 2.6, 15) + RNG.normal(0, 0.02, 15)
    data = _run(epoch, (steps, batch), chance=math.log(2))
    (finding,) = [f for f in diagnose(data) if f.name == "diverging-loss"]
    assert finding.evidence["kind"] in ("ended-above-initial", "above-initial")


def test_noisy_small_batches_of_a_healthy_run_are_not_divergence() -> None:
    steps = _dense_then_sparse(total=2000)
    # Cross-entropy batches of 4 with label noise: single batches reach 8, the trend falls.
    batch = np.clip(0.69 * np.exp(-steps / 800) + RNG.exponential(0.4, steps.size), 0, 8.0)
    batch[:3] = [0.69, 0.70, 0.68]
    maxima = np.clip(batch * 3, 0, 16.1)
    epoch = 0.69 * np.exp(-np.arange(20) / 8) + 0.2 + RNG.normal(0, 0.01, 20)
    data = _run(
        epoch,
        (steps, batch),
        chance=math.log(2),
        aggregates={"batch_loss_max": (steps, maxima)},
    )
    assert _names(diagnose(data)) == set()


# ---- non-finite: from the first step vs overflow ---------------------------------------


def test_nan_from_the_first_step_is_a_numerical_error_not_exploding_gradients() -> None:
    steps = _dense_then_sparse()
    batch = np.full(steps.size, np.nan)
    grads = {"d0": (steps, np.full(steps.size, np.nan)), "d1": (steps, np.full(steps.size, np.nan))}
    data = _run(
        np.full(10, np.nan),
        (steps, batch),
        lr=1e-3,
        static=[_lr_static()],
        aggregates={
            "first_nonfinite_loss_step": (steps[-1:], [0.0]),
            "nonfinite_loss_count": (steps, np.ones(steps.size)),
        },
        layers={"grad_norm": grads, "nonfinite": grads},
    )
    result = diagnose_run(data)
    names = _names(result.findings)
    assert "non-finite-loss" in names
    assert "exploding-gradients" not in names
    (nan,) = [f for f in result.findings if f.name == "non-finite-loss"]
    assert nan.evidence["kind"] == "from-start"
    assert result.headline is not None and result.headline.cause == "numerical-error"
    assert "learning rate" in result.headline.fix and "not the learning rate" in result.headline.fix


def test_nan_after_growth_is_an_overflow_and_blames_the_rate() -> None:
    steps = _dense_then_sparse()
    batch = np.r_[np.geomspace(2.3, 1e30, 20), np.full(steps.size - 20, np.nan)]
    data = _run(
        np.r_[1e20, np.full(9, np.nan)],
        (steps, batch),
        optimizer="SGD",
        lr=50.0,
        aggregates={"first_nonfinite_loss_step": (steps[-1:], [20.0])},
    )
    result = diagnose_run(data)
    (nan,) = [f for f in result.findings if f.name == "non-finite-loss"]
    assert nan.evidence["kind"] == "overflow"
    assert nan.evidence["first_non_finite_step"] == 20
    assert result.headline is not None and result.headline.cause == "learning-rate-too-high"
    assert "SGD" in result.headline.fix


def test_nan_seen_only_by_the_running_count_is_reported() -> None:
    steps = np.arange(0, 500, 50)
    batch = np.linspace(2.0, 0.5, steps.size)
    data = _run(
        np.linspace(2.0, 0.5, 10),
        (np.r_[0, 1, 2, steps[1:]], np.r_[2.0, 2.0, 2.0, batch[1:]]),
        aggregates={"nonfinite_loss_count": (steps, np.r_[0, 0, 1, np.zeros(steps.size - 3)])},
    )
    assert "non-finite-loss" in _names(diagnose(data))


# ---- plateau at chance ------------------------------------------------------------------


def test_a_loss_that_stays_at_chance_is_a_plateau_even_after_a_first_drop() -> None:
    epoch = np.r_[2.6, np.full(14, LN10) + RNG.normal(0, 0.002, 14)]  # > 5% drop, then ln 10
    result = diagnose_run(_run(epoch, chance=LN10))
    (plateau,) = [f for f in result.findings if f.name == "loss-plateau"]
    assert plateau.evidence["kind"] == "at-chance"
    assert result.headline is not None and result.headline.cause == "no-signal"


def test_a_plateau_is_blamed_on_the_single_unit_softmax_that_fitlint_flagged() -> None:
    epoch = np.full(15, 7.7) + RNG.normal(0, 0.001, 15)
    static = [
        {
            "name": "single-unit-softmax",
            "severity": "error",
            "path": "t.py",
            "line": 9,
            "message": "softmax over 1 unit",
        },
        {
            "name": "missing-input-normalization",
            "severity": "warning",
            "path": "t.py",
            "line": 3,
            "message": "x unscaled",
        },
    ]
    result = diagnose_run(_run(epoch, chance=math.log(2), static=static))
    assert result.headline is not None
    assert result.headline.cause == "single-unit-softmax"
    (plateau,) = [f for f in result.findings if f.name == "loss-plateau"]
    assert plateau.suggestions[0] == "single-unit-softmax"
    assert plateau.remedy == result.headline.fix


def test_a_healthy_run_below_chance_is_no_plateau() -> None:
    epoch = 0.2 + 0.5 * np.exp(-np.arange(15) / 3)
    assert _names(diagnose(_run(epoch, chance=math.log(2)))) == set()


# ---- gradients ----------------------------------------------------------------------------


def test_large_finite_gradients_are_exploding_and_blame_initialization() -> None:
    steps = _dense_then_sparse()
    norms = 800 * np.exp(RNG.normal(0, 0.3, steps.size))
    epoch = np.linspace(3.0, 1.5, 12)
    result = diagnose_run(_run(epoch, global_norm=(steps, norms)))
    (finding,) = [f for f in result.findings if f.name == "exploding-gradients"]
    assert (finding.severity, finding.evidence["kind"]) == ("warning", "large")
    assert result.headline is not None and result.headline.cause == "bad-initialization"


def test_moderate_gradients_are_not_large() -> None:
    steps = _dense_then_sparse()
    norms = 8 * np.exp(RNG.normal(0, 0.5, steps.size))
    epoch = 0.3 + 2.0 * np.exp(-np.arange(12) / 3)
    assert "exploding-gradients" not in _names(diagnose(_run(epoch, global_norm=(steps, norms))))


def test_the_output_layer_is_never_dead() -> None:
    steps = np.arange(0, 400, 10)
    zero = {
        "d0": (steps, np.full(steps.size, 0.1)),
        "out": (steps, np.full(steps.size, 0.99)),
    }
    grad = {"d0": (steps, np.full(steps.size, 0.5)), "out": (steps, np.full(steps.size, 0.5))}
    data = _run(
        0.3 + 2.0 * np.exp(-np.arange(12) / 3), layers={"grad_norm": grad, "zero_fraction": zero}
    )
    assert "dead-units" not in _names(diagnose(data))
    zero["d0"] = (steps, np.full(steps.size, 0.95))
    dead = [
        f
        for f in diagnose(
            _run(0.3 + np.exp(-np.arange(12)), layers={"grad_norm": grad, "zero_fraction": zero})
        )
        if f.name == "dead-units"
    ]
    assert [list(f.evidence["layers"]) for f in dead] == [["d0"]]


# ---- the headline and its fixes -----------------------------------------------------------


def test_no_fix_contradicts_the_headline() -> None:
    # A deep sigmoid net: vanishing gradients and a plateau; the plateau's own remedy would say
    # "raise the learning rate".
    steps = np.arange(0, 400, 10)
    grad = {
        "d0": (steps, np.full(steps.size, 1e-7)),
        "d9": (steps, np.full(steps.size, 1e-2)),
    }
    static = [
        {
            "name": "deep-saturating-activations",
            "severity": "warning",
            "path": "t.py",
            "line": 5,
            "message": "10 sigmoid layers",
        }
    ]
    data = _run(
        np.full(20, 0.69) + RNG.normal(0, 0.001, 20), layers={"grad_norm": grad}, static=static
    )
    result = diagnose_run(data)
    assert result.headline is not None
    assert result.headline.cause == "deep-saturating-activations"
    for f in result.findings:
        if f.severity in ("error", "warning"):
            assert "Raise the learning rate" not in f.remedy, f.name


def test_a_healthy_run_has_no_headline() -> None:
    epoch = 0.3 + 2.0 * np.exp(-np.arange(20) / 4)
    assert diagnose_run(_run(epoch, val=epoch + 0.05)).headline is None


def test_every_cause_explains_known_symptoms_and_has_a_fix() -> None:
    from fitlint.rules.base import all_rules

    rules = {rule.name for rule in all_rules().values()}
    runtime_only = {
        "numerical-error",
        "bad-initialization",
        "vanishing-gradients",
        "dead-units",
        "no-signal",
        "overfitting",
    }
    for name, cause in CAUSES.items():
        assert name in rules or name in runtime_only, name
        assert cause.fix and cause.summary and cause.explains
        for s in cause.explains:
            assert s.split(":")[0] in FINDING_KINDS, (name, s)


def test_symptom_names_the_kinds_that_tell_another_story() -> None:
    from tb_fitdiag.diagnosis import Finding

    def f(name: str, kind: str) -> Finding:
        return Finding(name, "error", 0, 1, "", {"kind": kind})

    assert symptom(f("non-finite-loss", "from-start")) == "non-finite-loss:from-start"
    assert symptom(f("non-finite-loss", "overflow")) == "non-finite-loss"
    assert symptom(f("exploding-gradients", "large")) == "exploding-gradients:large"


@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0])
def test_a_bad_learning_rate_value_keeps_the_plain_fix(lr: float) -> None:
    steps = _dense_then_sparse()
    batch = np.r_[[2.3, 2.3, 2.3], np.geomspace(10, 1e6, steps.size - 3)]
    data = _run(np.geomspace(10, 1e6, 10), (steps, batch), lr=lr)
    result = diagnose_run(data)
    assert result.headline is not None and result.headline.cause == "learning-rate-too-high"
    assert result.headline.fix == CAUSES["learning-rate-too-high"].fix


def test_docs_show_the_generated_causes_table() -> None:
    from pathlib import Path

    from tb_fitdiag.diagnosis.docs import causes_table

    doc = (Path(__file__).parents[2] / "docs" / "diagnose.md").read_text()
    # Regenerate with `python -m tb_fitdiag.diagnosis.docs`.
    assert causes_table() in doc


# ---- the classes the tune half of the zoo showed ------------------------------------------


def test_frozen_predictions_with_a_falling_loss_point_at_a_single_unit_softmax() -> None:
    data = _run(0.7 * np.exp(-np.arange(15) / 6) + 0.2)
    data.train["epoch_accuracy"] = _s(np.full(15, 0.4625))
    result = diagnose_run(data)
    (plateau,) = [f for f in result.findings if f.name == "loss-plateau"]
    assert plateau.evidence["kind"] == "constant-accuracy"
    assert result.headline is not None and result.headline.cause == "single-unit-softmax"


def test_perfect_accuracy_from_the_first_epoch_is_not_frozen() -> None:
    data = _run(0.05 * np.exp(-np.arange(15) / 3) + 0.001)
    data.train["epoch_accuracy"] = _s(np.ones(15))
    assert _names(diagnose(data)) == set()


def test_epoch_level_nan_from_the_first_epoch_at_an_ordinary_rate_is_numerical() -> None:
    data = _run(np.full(10, np.nan))
    data.global_stats.clear()
    data.train["epoch_learning_rate"] = _s(np.full(10, 1e-3))
    result = diagnose_run(data)
    (nan,) = [f for f in result.findings if f.name == "non-finite-loss"]
    assert nan.evidence["kind"] == "from-start"
    data.train["epoch_learning_rate"] = _s(np.full(10, 5.0))
    assert diagnose_run(data).headline.cause == "learning-rate-too-high"  # type: ignore[union-attr]


def test_a_nearly_fitted_training_set_is_not_a_blow_up() -> None:
    # Batches of 16 near a perfect fit: 1e-6 one step, 1.3 the next, never above the start.
    steps = _dense_then_sparse(total=800, every=50)
    batch = np.r_[[1.37, 1.35, 1.2], 10.0 ** RNG.uniform(-6, 0.1, steps.size - 3)]
    epoch = 0.45 + 0.25 * np.sin(np.arange(20) * 2.1)
    data = _run(epoch, (steps, batch), chance=math.log(4))
    assert "diverging-loss" not in _names(diagnose(data))


def test_a_divergence_that_starts_off_scale_blames_the_inputs() -> None:
    # Raw pixels: the untrained model's loss is 22x chance, then one batch blows up 200x.
    steps = _dense_then_sparse()
    batch = np.r_[24.5, 4751.0, 4.3, 2.4, np.full(steps.size - 4, 1.0986)]
    data = _run(
        np.r_[319.6, np.full(14, 1.095)],
        (steps, batch),
        chance=math.log(3),
        aggregates={"batch_loss_max": (steps, batch)},  # one window holds the blow-up
    )
    result = diagnose_run(data)
    assert "diverging-loss" in _names(result.findings)
    assert result.headline is not None
    assert result.headline.cause == "missing-input-normalization"


def test_a_plateau_at_a_tiny_rate_blames_the_rate_even_with_frozen_accuracy() -> None:
    data = _run(np.full(15, 1.109), lr=1.7e-7, optimizer="SGD")
    data.train["epoch_accuracy"] = _s(np.full(15, 0.38))
    result = diagnose_run(data)
    assert result.headline is not None and result.headline.cause == "learning-rate-too-low"
