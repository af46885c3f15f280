"""Checks on the loss curves: they need only the scalars of a plain TensorBoard callback."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tb_fitdiag.diagnosis.context import CheckContext, NamedSeries
from tb_fitdiag.diagnosis.model import ERROR, INFO, WARNING, Finding
from tb_fitdiag.diagnosis.robust import (
    FloatArray,
    IntArray,
    bin_medians,
    count_swings,
    edge_level,
    mann_kendall,
    median,
    running_median,
    theil_sen_slope,
)

NON_FINITE_LOSS = "non-finite-loss"
DIVERGING_LOSS = "diverging-loss"
OSCILLATING_LOSS = "oscillating-loss"
LOSS_PLATEAU = "loss-plateau"
OVERFITTING = "overfitting"


def _fmt(x: float) -> str:
    """A number for a message: 4 significant digits."""
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4g}"


def _pct(fraction: float) -> str:
    pct = abs(fraction) * 100
    if 99.5 <= pct < 100:
        return f"{pct:.1f}%"  # not "100%" for a loss that did not reach 0
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%"


def _rel(ref: float, value: float) -> float:
    """``(value - ref) / |ref|`` with a guard for a reference at zero."""
    return (value - ref) / max(abs(ref), 1e-12)


def _prepared(ctx: CheckContext, named: NamedSeries) -> tuple[IntArray, FloatArray]:
    finite = named.series.finite()
    return bin_medians(finite.steps, finite.values, ctx.config.max_trend_points)


def _base_evidence(ctx: CheckContext, named: NamedSeries) -> dict[str, Any]:
    evidence: dict[str, Any] = {"tag": named.tag, "step_unit": named.unit}
    if ctx.learning_rate is not None:
        evidence["learning_rate"] = ctx.learning_rate
    if ctx.optimizer:
        evidence["optimizer"] = ctx.optimizer
    return evidence


def check_non_finite(ctx: CheckContext) -> Finding | None:
    """non-finite-loss: a training or validation loss became NaN or Inf.

    Two stories are told apart: a loss that is non-finite from the very first step (a
    numerical bug in the loss or the data: no update has happened yet, so the learning rate
    cannot be the cause), and a loss that was finite and grew until it overflowed.
    """
    candidates = [ctx.train_loss, *ctx.batch_losses, ctx.validation_loss]
    seen: set[tuple[str, str]] = set()
    hits: list[tuple[NamedSeries, int]] = []
    for named in candidates:
        if named is None or (named.role, named.tag) in seen:
            continue
        seen.add((named.role, named.tag))
        bad = np.nonzero(~np.isfinite(named.series.values))[0]
        if bad.size:
            hits.append((named, int(bad[0])))
    first_step = _first_nonfinite_step(ctx)
    if not hits and first_step is None:
        return None
    evidence: dict[str, Any]
    if hits:
        # Report the finest series (per step before per epoch), then the earliest bad point.
        named, first = min(
            hits, key=lambda h: (h[0].unit != "step", h[1] / max(len(h[0].series), 1))
        )
        steps, values = named.series.steps, named.series.values
        n_bad = int(np.count_nonzero(~np.isfinite(values)))
        first_value = float(values[first])
        finite_before = np.nonzero(np.isfinite(values[:first]))[0]
        evidence = _base_evidence(ctx, named)
        evidence.update(
            first_non_finite_step=int(steps[first]),
            first_non_finite_value=first_value,
            non_finite_count=n_bad,
            point_count=int(values.size),
            series_affected=[f"{h[0].role}: {h[0].tag}" for h in hits],
        )
        where = named.at(int(steps[first]))
        message = f"{named.label()} became {first_value} at {where}"
        message += f"; {n_bad} of {values.size} values are non-finite"
        if finite_before.size:
            last = int(finite_before[-1])
            evidence["last_finite_step"] = int(steps[last])
            evidence["last_finite_value"] = float(values[last])
            message += (
                f"; the last finite value was {_fmt(float(values[last]))} at "
                f"{named.at(int(steps[last]))}"
            )
        start, end = int(steps[first]), int(steps[-1])
    else:
        evidence = {"tag": "fitdiag/nonfinite_loss_count", "step_unit": "step"}
        if ctx.learning_rate is not None:
            evidence["learning_rate"] = ctx.learning_rate
        message = "a batch loss was NaN or Inf between two records"
        start = end = int(first_step or 0)
    counts = ctx.aggregate("nonfinite_loss_count")
    if counts is not None:
        evidence["non_finite_batches"] = int(np.nansum(counts.values))
    from_start = _non_finite_from_start(ctx, first_step, hits)
    if first_step is not None:
        evidence["first_non_finite_step"] = first_step
        start = min(start, first_step)
        if not hits:
            message = f"the batch loss became NaN or Inf at step {first_step}"
    peak = _largest_finite_loss(ctx)
    if from_start:
        evidence["kind"] = "from-start"
        message = (
            "the loss was NaN or Inf from the very first step, before any update: a numerical "
            "error in the loss or the data, not a learning rate; " + message
        )
        suggestions: tuple[str, ...] = (
            "output-activation-loss-mismatch",
            "missing-input-normalization",
        )
    else:
        evidence["kind"] = "overflow"
        if peak is not None:
            evidence["largest_finite_loss"] = peak
            if ctx.initial_loss is not None:
                evidence["initial_loss"] = ctx.initial_loss
                message += (
                    f"; before that the loss grew from {_fmt(ctx.initial_loss)} to {_fmt(peak)}"
                )
        suggestions = (
            "learning-rate-too-high",
            "missing-input-normalization",
            "output-activation-loss-mismatch",
        )
    return Finding(
        name=NON_FINITE_LOSS,
        severity=ERROR,
        step_start=start,
        step_end=end,
        message=message,
        evidence=evidence,
        suggestions=suggestions,
    )


def _first_nonfinite_step(ctx: CheckContext) -> int | None:
    """The first step whose batch loss was non-finite, from the callback's aggregates."""
    series = ctx.aggregate("first_nonfinite_loss_step")
    if series is not None:
        finite = series.values[np.isfinite(series.values) & (series.values >= 0)]
        if finite.size:
            return int(np.min(finite))
    counts = ctx.aggregate("nonfinite_loss_count")
    if counts is not None:
        bad = np.nonzero(counts.values > 0)[0]
        if bad.size:
            return int(counts.steps[bad[0]])
    return None


def _non_finite_from_start(
    ctx: CheckContext, first_step: int | None, hits: list[tuple[NamedSeries, int]]
) -> bool:
    """True when no finite training loss was ever seen before the first non-finite one."""
    starts = [int(named.series.steps[0]) for named in ctx.batch_losses if len(named.series)]
    if first_step is not None and starts:
        if first_step > min(starts):
            return False
        # No batch loss before the first non-finite step: the aggregates confirm it when the
        # first window holds no finite value at all.
        maxima = ctx.aggregate("batch_loss_max")
        return maxima is None or not bool(np.any(maxima.steps < first_step))
    for named, first in hits:
        if named.role == "training loss" and named.unit == "step" and first == 0:
            return True
    train = ctx.train_loss
    lr = ctx.learning_rate
    # Epoch-level logs only: never a finite loss, at a rate that trains stably.
    return bool(
        train is not None
        and not ctx.batch_losses
        and len(train.series)
        and not np.isfinite(train.series.values).any()
        and lr is not None
        and lr <= ctx.config.ordinary_learning_rate
    )


def _largest_finite_loss(ctx: CheckContext) -> float | None:
    values = [s.values for s in (ctx.aggregate("batch_loss_max"),) if s is not None]
    values += [named.series.values for named in ctx.batch_losses]
    finite = [v[np.isfinite(v)] for v in values]
    finite = [v for v in finite if v.size]
    return float(max(np.max(v) for v in finite)) if finite else None


def check_diverging(ctx: CheckContext) -> Finding | None:
    """diverging-loss: the training loss rose well above its minimum and stays there, or blew
    up by an order of magnitude for a while."""
    named = ctx.train_loss
    if named is None:
        return None
    sustained = _sustained_divergence(ctx, named)
    if sustained is not None:
        return sustained
    for candidate in [named, *ctx.batch_losses]:
        spike = _loss_spike(ctx, candidate)
        if spike is not None:
            return spike
    return _above_initial(ctx, named)


def _above_initial(ctx: CheckContext, named: NamedSeries) -> Finding | None:
    """The loss against the untrained model's: a blow-up far above it (per-step losses or the
    callback's running maxima between records), or a run that ends well above it."""
    cfg = ctx.config
    initial = ctx.initial_loss
    if initial is None or initial <= 0:
        return None
    evidence = _base_evidence(ctx, named)
    evidence["initial_loss"] = initial
    for batch in ctx.batch_losses:
        steps, values = _prepared(ctx, batch)
        if values.size < cfg.min_points:
            continue
        smooth = running_median(values, cfg.smoothing_window)
        over = np.nonzero(smooth >= cfg.divergence_initial_factor * initial)[0]
        if over.size:
            # The blow-up is where the smoothed loss is over the line; its peak is the largest
            # loss recorded there.
            peak = int(over[0] + np.argmax(values[over[0] : over[-1] + 1]))
            evidence.update(
                kind="above-initial",
                tag=batch.tag,
                step_unit=batch.unit,
                peak=float(values[peak]),
                peak_step=int(steps[peak]),
                factor=float(values[peak] / initial),
                end_level=edge_level(values, at_end=True, fraction=0.25),
            )
            return _diverging(
                int(steps[0]),
                int(steps[over[-1]]),
                (
                    f"{batch.label()} blew up from the untrained model's {_fmt(initial)} to "
                    f"{_fmt(float(values[peak]))} at {batch.at(int(steps[peak]))} "
                    f"({values[peak] / initial:.3g}x; its running median of "
                    f"{cfg.smoothing_window} points stayed above "
                    f"{cfg.divergence_initial_factor:g}x until {batch.at(int(steps[over[-1]]))})"
                ),
                evidence,
            )
    maxima = ctx.aggregate("batch_loss_max")
    if maxima is not None:
        m = maxima.finite()
        over = np.nonzero(m.values >= cfg.divergence_peak_factor * initial)[0]
        if over.size >= cfg.divergence_peak_windows:
            top = int(np.argmax(m.values))
            evidence.update(
                kind="peak",
                tag="fitdiag/batch_loss_max",
                step_unit="step",
                peak=float(m.values[top]),
                peak_step=int(m.steps[top]),
                factor=float(m.values[top] / initial),
                windows_over=int(over.size),
            )
            return _diverging(
                int(m.steps[over[0]]),
                int(m.steps[over[-1]]),
                (
                    f"the largest batch loss reached {_fmt(float(m.values[top]))} around step "
                    f"{int(m.steps[top])}, {m.values[top] / initial:.3g}x the untrained "
                    f"model's loss {_fmt(initial)} ({over.size} windows between records above "
                    f"{cfg.divergence_peak_factor:g}x)"
                ),
                evidence,
            )
    steps, values = _prepared(ctx, named)
    if values.size < cfg.min_points:
        return None
    end = edge_level(values, at_end=True, fraction=0.25)
    rise = _rel(initial, end)
    stayed = _rel(initial, median(values[values.size // 2 :]))
    if rise < cfg.divergence_rise or stayed < cfg.divergence_rise:
        return None
    evidence.update(kind="ended-above-initial", end_level=end, rise_above_initial=rise)
    return _diverging(
        int(steps[0]),
        int(steps[-1]),
        (
            f"{named.label()} ended {_pct(rise)} above the untrained model's loss "
            f"{_fmt(initial)} ({_fmt(end)} by {named.at(int(steps[-1]))}): training made the "
            f"model worse than it started"
        ),
        evidence,
    )


def _diverging(start: int, end: int, message: str, evidence: dict[str, Any]) -> Finding:
    return Finding(
        name=DIVERGING_LOSS,
        severity=ERROR,
        step_start=start,
        step_end=end,
        message=message,
        evidence=evidence,
        suggestions=_DIVERGENCE_CAUSES,
    )


_DIVERGENCE_CAUSES = ("learning-rate-too-high", "missing-input-normalization")


def _loss_spike(ctx: CheckContext, named: NamedSeries) -> Finding | None:
    cfg = ctx.config
    steps, values = _prepared(ctx, named)
    if values.size < cfg.min_points:
        return None
    smooth = running_median(values, cfg.smoothing_window)
    best = np.minimum.accumulate(smooth)
    positive = best > 0
    if not positive.any():
        return None
    ratio = np.where(positive, smooth / np.where(positive, best, 1.0), 0.0)
    peak = int(np.argmax(ratio))
    if ratio[peak] < cfg.divergence_spike:
        return None
    if (
        ctx.initial_loss is not None
        and smooth[peak] < (1.0 + cfg.divergence_rise) * ctx.initial_loss
    ):
        # Far above a best value close to 0, but never above the untrained model's loss: the
        # noise of a nearly fitted training set, not a blow-up.
        return None
    i_min = int(np.argmin(smooth[: peak + 1]))
    evidence = _base_evidence(ctx, named)
    evidence.update(
        kind="spike",
        minimum=float(smooth[i_min]),
        minimum_step=int(steps[i_min]),
        peak=float(smooth[peak]),
        peak_step=int(steps[peak]),
        factor=float(ratio[peak]),
        end_level=edge_level(values, at_end=True, fraction=0.25),
        points=int(values.size),
    )
    return _diverging(
        int(steps[i_min]),
        int(steps[peak]),
        (
            f"{named.label()} blew up {ratio[peak]:.3g}x, from {_fmt(float(smooth[i_min]))} at "
            f"{named.at(int(steps[i_min]))} to {_fmt(float(smooth[peak]))} around "
            f"{named.at(int(steps[peak]))} (running median of {cfg.smoothing_window} points)"
        ),
        evidence,
    )


def _sustained_divergence(ctx: CheckContext, named: NamedSeries) -> Finding | None:
    cfg = ctx.config
    steps, values = _prepared(ctx, named)
    if values.size < cfg.min_points:
        return None
    smooth = running_median(values, cfg.smoothing_window)
    i_min = int(np.argmin(smooth))
    ref = float(smooth[i_min])
    end = edge_level(values, at_end=True, fraction=0.25)
    rise = _rel(ref, end)
    tail = values[i_min:]
    trend = mann_kendall(tail)
    start = float(values[0])
    above_start = _rel(start, end)
    # The second half must stay up too, so a late single excursion is not "ended above start".
    stayed_up = _rel(start, median(values[values.size // 2 :])) >= cfg.divergence_rise
    trending = (
        rise >= cfg.divergence_rise
        and tail.size >= cfg.min_points
        and trend.p_increasing < cfg.trend_alpha
    )
    if not (trending or (above_start >= cfg.divergence_rise and stayed_up)):
        return None
    if not trending:  # the loss went up right away: its first value is the reference
        ref, i_min, rise = start, 0, above_start
    evidence = _base_evidence(ctx, named)
    evidence.update(
        kind="sustained",
        minimum=ref,
        minimum_step=int(steps[i_min]),
        end_level=end,
        rise_above_minimum=rise,
        start_value=start,
        rise_above_start=above_start,
        mann_kendall_p=trend.p_increasing,
        kendall_tau=trend.tau,
        points=int(values.size),
    )
    last = named.at(int(steps[-1]))
    if trending:
        message = (
            f"{named.label()} rose {_pct(rise)} above its minimum {_fmt(ref)} at "
            f"{named.at(int(steps[i_min]))} to {_fmt(end)} by {last}, a significant upward "
            f"trend (Mann-Kendall p={trend.p_increasing:.2g})"
        )
    else:
        message = (
            f"{named.label()} ended {_pct(rise)} above its first value {_fmt(ref)} at "
            f"{named.at(int(steps[0]))} ({_fmt(end)} by {last}) and stayed up over the "
            f"second half"
        )
    return _diverging(
        int(steps[i_min]),
        int(steps[-1]),
        message,
        evidence,
    )


def check_oscillating(ctx: CheckContext) -> Finding | None:
    """oscillating-loss: the training loss swings up and down by large amounts without
    making progress."""
    named = ctx.train_loss
    cfg = ctx.config
    if named is None:
        return None
    steps, values = _prepared(ctx, named)
    if values.size < cfg.min_points:
        return None
    # An epoch value is already an average; per-step values are smoothed first, so ordinary
    # mini-batch noise is not taken for oscillation.
    curve = values if named.unit == "epoch" else running_median(values, cfg.smoothing_window)
    swings = count_swings(curve, cfg.oscillation_amplitude)
    rate = swings / values.size
    if rate < cfg.oscillation_rate:
        return None
    second_half = values[values.size // 2 :]
    trend = mann_kendall(second_half)
    if trend.p_decreasing < cfg.trend_alpha:
        return None  # still making significant progress: noisy but converging
    evidence = _base_evidence(ctx, named)
    evidence.update(
        swings=swings,
        points=int(values.size),
        swing_rate=rate,
        amplitude_threshold=cfg.oscillation_amplitude,
        second_half_mann_kendall_p_decreasing=trend.p_decreasing,
        minimum=float(np.min(values)),
        maximum=float(np.max(values)),
    )
    return Finding(
        name=OSCILLATING_LOSS,
        severity=WARNING,
        step_start=int(steps[0]),
        step_end=int(steps[-1]),
        message=(
            f"{named.label()} swung by at least {_pct(cfg.oscillation_amplitude)} of its level "
            f"{swings} times in {values.size} points (between {_fmt(float(np.min(values)))} and "
            f"{_fmt(float(np.max(values)))}) with no significant decrease over the second half"
        ),
        evidence=evidence,
        suggestions=("learning-rate-too-high", "missing-input-normalization"),
    )


def check_plateau(ctx: CheckContext) -> Finding | None:
    """loss-plateau: the training loss barely improved over the whole run."""
    named = ctx.train_loss
    cfg = ctx.config
    if named is None:
        return None
    steps, values = _prepared(ctx, named)
    if values.size < cfg.min_points:
        return None
    start = edge_level(values, at_end=False)
    end = edge_level(values, at_end=True)
    levels = {"start_level": start, "end_level": end, "points": int(values.size)}
    if bool(np.all(np.abs(values) < 1e-12)):
        return _plateau(
            ctx,
            named,
            steps,
            f"{named.label()} is exactly 0 from the first {named.unit} on: the loss gives the "
            f"model nothing to learn from (it does not measure this output)",
            kind="zero-loss",
            **levels,
        )
    frozen = _frozen_accuracy(ctx)
    if frozen is not None and ctx.accuracy is not None:
        acc_points, acc = frozen
        return _plateau(
            ctx,
            named,
            steps,
            f"training accuracy is exactly {acc:.4g} in every one of {acc_points} "
            f"{named.unit}s while the loss went {_fmt(start)} -> {_fmt(end)}: the predictions "
            f"never change",
            kind="constant-accuracy",
            accuracy_tag=ctx.accuracy.tag,
            accuracy=acc,
            **levels,
        )
    if abs(start) < 1e-12:
        return None  # a loss that starts at 0 has no scale to judge progress against
    chance = ctx.chance_loss
    if chance is not None and (
        cfg.plateau_chance_fraction * chance <= end <= (1.0 + cfg.divergence_rise) * chance
    ):
        return _plateau(
            ctx,
            named,
            steps,
            f"{named.label()} ended at {_fmt(end)}, the loss of a uniform guess "
            f"(chance level {_fmt(chance)}): after {int(steps[-1] - steps[0])} {named.unit}s "
            f"the model predicts no better than chance",
            kind="at-chance",
            chance_loss=chance,
            **levels,
        )
    improvement = -_rel(start, end)
    if improvement >= cfg.plateau_min_improvement or -improvement >= cfg.divergence_rise:
        return None
    trend = mann_kendall(values)
    slope = theil_sen_slope(steps.astype(np.float64), values)
    change = (
        f"improved only {_pct(improvement)}" if improvement >= 0 else f"rose {_pct(improvement)}"
    )
    return _plateau(
        ctx,
        named,
        steps,
        f"{named.label()} {change} over {int(steps[-1] - steps[0])} {named.unit}s "
        f"({_fmt(start)} -> {_fmt(end)}; Theil-Sen slope {slope:.3g} per {named.unit})",
        start_level=start,
        end_level=end,
        improvement=improvement,
        theil_sen_slope=slope,
        mann_kendall_p_decreasing=trend.p_decreasing,
        points=int(values.size),
    )


def _frozen_accuracy(ctx: CheckContext) -> tuple[int, float] | None:
    """``(points, value)`` when the training accuracy never changed over the whole run (and is
    not perfect: a model that fits everything from its first epoch on is done, not stuck)."""
    acc = ctx.accuracy
    if acc is None:
        return None
    values = acc.series.values[np.isfinite(acc.series.values)]
    if values.size < ctx.config.min_points:
        return None
    if float(np.max(values) - np.min(values)) > 1e-7 or float(values[0]) >= 0.999:
        return None
    return int(values.size), float(values[0])


def _plateau(
    ctx: CheckContext, named: NamedSeries, steps: IntArray, message: str, **evidence: Any
) -> Finding:
    """A loss-plateau finding over the whole series, with the evidence given."""
    return Finding(
        name=LOSS_PLATEAU,
        severity=WARNING,
        step_start=int(steps[0]),
        step_end=int(steps[-1]),
        message=message,
        evidence={**_base_evidence(ctx, named), **evidence},
        suggestions=_PLATEAU_CAUSES,
    )


_PLATEAU_CAUSES = (
    "single-unit-softmax",
    "output-activation-loss-mismatch",
    "learning-rate-too-low",
    "deep-saturating-activations",
    "deep-stacked-rnn",
    "missing-input-normalization",
    "missing-hidden-activation",
)


def check_overfitting(ctx: CheckContext) -> Finding | None:
    """overfitting: validation loss rose above its minimum while training loss did not rise
    (Prechelt's generalization loss, with a Mann-Kendall test in place of his UP strips)."""
    val, train = ctx.validation_loss, ctx.train_loss
    cfg = ctx.config
    if val is None or train is None:
        return None
    v_steps, v = _prepared(ctx, val)
    if v.size < cfg.min_points:
        return None
    smooth = running_median(v, min(cfg.smoothing_window, 3))
    i_min = int(np.argmin(smooth))
    after = v.size - 1 - i_min
    if after < cfg.overfit_min_points_after_min:
        return None
    opt = float(smooth[i_min])
    end = edge_level(v, at_end=True)
    gl = _rel(opt, end)
    if gl < cfg.overfit_generalization_loss_info:
        return None
    trend = mann_kendall(v[i_min:])
    if trend.p_increasing >= cfg.trend_alpha:
        return None
    t_steps, t = _prepared(ctx, train)
    stretch = t[t_steps >= v_steps[i_min]]
    if stretch.size < 2:
        return None
    t_trend = mann_kendall(stretch)
    if t_trend.p_increasing < cfg.trend_alpha:
        return None  # training loss rises too: that is divergence, not overfitting
    t_change = _rel(float(stretch[0]), edge_level(stretch, at_end=True))
    if t_change > -cfg.overfit_train_drop and t_trend.p_decreasing >= cfg.trend_alpha:
        return None  # training loss is not improving either: not overfitting
    k = min(cfg.progress_strip, t.size)
    strip = t[-k:]
    progress = 1000.0 * (float(np.sum(strip)) / (k * max(float(np.min(strip)), 1e-12)) - 1.0)
    severity = WARNING if gl >= cfg.overfit_generalization_loss else INFO
    evidence = _base_evidence(ctx, val)
    evidence.update(
        train_tag=train.tag,
        validation_minimum=opt,
        validation_minimum_step=int(v_steps[i_min]),
        validation_end_level=end,
        generalization_loss=gl,
        mann_kendall_p=trend.p_increasing,
        points_after_minimum=after,
        train_change_since_minimum=t_change,
        training_progress=progress,
        progress_quotient=(100.0 * gl / progress) if progress > 0 else math.inf,
    )
    t_move = f"fell {_pct(t_change)}" if t_change <= 0 else f"rose only {_pct(t_change)}"
    return Finding(
        name=OVERFITTING,
        severity=severity,
        step_start=int(v_steps[i_min]),
        step_end=int(v_steps[-1]),
        message=(
            f"{val.label()} rose {_pct(gl)} above its minimum {_fmt(opt)} at "
            f"{val.at(int(v_steps[i_min]))} (to {_fmt(end)} by {val.at(int(v_steps[-1]))}, "
            f"Mann-Kendall p={trend.p_increasing:.2g}) while training loss {t_move}"
        ),
        evidence=evidence,
        suggestions=(),
    )
