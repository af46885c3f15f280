"""Checks on the gradient statistics that ``FitDiagCallback`` records."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tb_fitdiag.diagnosis.context import CheckContext
from tb_fitdiag.diagnosis.model import ERROR, WARNING, Finding, LayerSeries, Series
from tb_fitdiag.diagnosis.robust import (
    bin_medians,
    edge_level,
    mann_kendall,
    median,
    row_medians,
)

EXPLODING_GRADIENTS = "exploding-gradients"
VANISHING_GRADIENTS = "vanishing-gradients"
DEAD_UNITS = "dead-units"
UPDATE_RATIO_TOO_HIGH = "update-ratio-too-high"
UPDATE_RATIO_TOO_LOW = "update-ratio-too-low"

_MAX_LISTED = 8  # layers named in a message; the evidence lists them all


def _ordered_layers(ctx: CheckContext, stat: str) -> list[str]:
    """Layers with data for ``stat``, input to output (run_info order, then the rest sorted),
    worked out once per diagnosis."""
    key = f"layers/{stat}"
    cached = ctx.derived.get(key)
    if isinstance(cached, list):
        return list(cached)
    by_layer = ctx.data.layer_stats.get(stat, {})
    ordered = [layer for layer in ctx.data.layers if layer in by_layer]
    known = set(ordered)
    ordered += sorted(layer for layer in by_layer if layer not in known)
    ctx.derived[key] = ordered
    return list(ordered)


def _tail_level(series: Series, ctx: CheckContext) -> float | None:
    """Median of the finite records in the last ``tail_fraction`` of the recorded steps (at
    least ``min_records`` of them), or None if too few: by steps, not by records, so the dense
    records of the first steps do not count for more than their share of the run."""
    finite = series.finite()
    n = ctx.config.min_records
    if len(finite) < n:
        return None
    steps, values = finite.steps, finite.values
    cut = steps[0] + (1.0 - ctx.config.tail_fraction) * (steps[-1] - steps[0])
    tail = values[steps >= cut]
    if tail.size < n:
        tail = values[-n:]
    return median(tail)


@dataclass(frozen=True)
class _Group:
    """Layers whose ``stat`` was recorded at the same steps: one row of ``values`` each."""

    steps: np.ndarray
    layers: list[str]
    values: np.ndarray  # (layers, steps)


def _groups(ctx: CheckContext, stat: str) -> list[_Group]:
    """The layers with data for ``stat``, in layer order, grouped by their steps (nearly
    always one group: the callback records every layer at once), computed once per
    diagnosis. The tables of a :class:`LayerSeries` (the live copy) come stacked already;
    other series are stacked here, and blocks at equal steps are joined."""
    key = f"groups/{stat}"
    cached = ctx.derived.get(key)
    if isinstance(cached, list):
        return cached
    by_layer = ctx.data.layer_stats.get(stat, {})
    ordered = _ordered_layers(ctx, stat)
    position = {layer: i for i, layer in enumerate(ordered)}
    blocks: list[tuple[np.ndarray, list[str], list[np.ndarray]]] = []

    def place(steps: np.ndarray, layers: list[str], values: np.ndarray) -> None:
        for first, names, parts in blocks:
            if first is steps or np.array_equal(first, steps):
                names.extend(layers)
                parts.append(values)
                return
        blocks.append((steps, list(layers), [values]))

    loose: Mapping[str, Series] = by_layer
    if isinstance(by_layer, LayerSeries):
        for table in by_layer.tables:
            if table.layers:
                place(table.steps, list(table.layers), table.values)
        loose = by_layer.others
    for layer in ordered:
        if layer in loose:
            series = loose[layer]
            place(series.steps, [layer], series.values[np.newaxis])
    groups: list[_Group] = []
    for steps, names, parts in blocks:
        values = parts[0] if len(parts) == 1 else np.vstack(parts)
        where = np.fromiter((position[layer] for layer in names), np.intp, len(names))
        if np.any(where[1:] < where[:-1]):
            order = np.argsort(where, kind="stable")
            names, values = [names[i] for i in order], values[order]
        groups.append(_Group(steps, names, values))
    groups.sort(key=lambda group: position[group.layers[0]])
    ctx.derived[key] = groups
    return groups


def _levels(ctx: CheckContext, stat: str) -> dict[str, float]:
    """Layer -> tail level of ``stat``, for layers with enough records, in layer order.

    The layers of a group with only finite values (nearly always all of them) get their
    medians in one vectorized pass; the others one by one (:func:`_tail_level`)."""
    key = f"levels/{stat}"
    cached = ctx.derived.get(key)
    if isinstance(cached, dict):
        return dict(cached)
    by_layer = ctx.data.layer_stats.get(stat, {})
    levels: dict[str, float] = {}
    n = ctx.config.min_records
    for group in _groups(ctx, stat):
        clean = np.isfinite(group.values).all(axis=1)
        names = np.asarray(group.layers)
        steps = group.steps
        if steps.size >= n and clean.any():
            cut = steps[0] + (1.0 - ctx.config.tail_fraction) * (steps[-1] - steps[0])
            mask = steps >= cut
            rows = group.values[clean]
            tail = rows[:, mask] if mask.sum() >= n else rows[:, -n:]
            for layer, level in zip(names[clean], row_medians(tail), strict=True):
                levels[str(layer)] = float(level)
        for layer in names[~clean]:
            level = _tail_level(by_layer[str(layer)], ctx)
            if level is not None:
                levels[str(layer)] = level
    ordered = {layer: levels[layer] for layer in _ordered_layers(ctx, stat) if layer in levels}
    ctx.derived[key] = ordered
    return dict(ordered)


def _span(series_list: list[Series]) -> tuple[int, int]:
    starts = [int(s.steps[0]) for s in series_list if len(s)]
    ends = [int(s.steps[-1]) for s in series_list if len(s)]
    return (min(starts), max(ends)) if starts else (0, 0)


def _names(layers: list[str]) -> str:
    shown = ", ".join(layers[:_MAX_LISTED])
    more = len(layers) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _with_lr(ctx: CheckContext, evidence: dict[str, Any]) -> dict[str, Any]:
    if ctx.learning_rate is not None:
        evidence["learning_rate"] = ctx.learning_rate
    if ctx.optimizer:
        evidence["optimizer"] = ctx.optimizer
    evidence["step_unit"] = "step"
    return evidence


def check_exploding(ctx: CheckContext) -> Finding | None:
    """exploding-gradients: non-finite gradients, gradients that grow by orders of magnitude,
    or a first layer whose gradient dwarfs the last layer's (AUTOTRAINER's beta_3)."""
    cfg = ctx.config
    # 1. Non-finite gradient entries.
    nonfinite = ctx.data.layer_stats.get("nonfinite", {})
    grad_norms = ctx.data.layer_stats.get("grad_norm", {})
    bad_layers: list[str] = []
    first_bad: int | None = None
    involved: list[Series] = []
    for stat, by_layer in (("nonfinite", nonfinite), ("grad_norm", grad_norms)):
        for group in _groups(ctx, stat):
            bad = ~np.isfinite(group.values)
            if stat == "nonfinite":
                bad |= group.values > 0
            for row in np.nonzero(bad.any(axis=1))[0]:
                layer = group.layers[row]
                if layer not in bad_layers:
                    bad_layers.append(layer)
                    involved.append(by_layer[layer])
                step = int(group.steps[np.argmax(bad[row])])
                first_bad = step if first_bad is None else min(first_bad, step)
    counts = ctx.aggregate("nonfinite_grad_count")
    first_series = ctx.aggregate("first_nonfinite_grad_step")
    if not bad_layers and counts is not None and bool(np.any(counts.values > 0)):
        # Non-finite gradients between two records: the callback's running counts saw them.
        bad_layers = ["(between records)"]
        involved.append(counts)
        first_bad = int(counts.steps[np.nonzero(counts.values > 0)[0][0]])
        if first_series is not None:
            first_bad = int(np.min(first_series.values))
    if bad_layers and first_bad is not None:
        _, end = _span(involved)
        return Finding(
            name=EXPLODING_GRADIENTS,
            severity=ERROR,
            step_start=first_bad,
            step_end=end,
            message=(
                f"gradients became NaN/Inf at step {first_bad} in {len(bad_layers)} layer(s): "
                f"{_names(bad_layers)}"
            ),
            evidence=_with_lr(
                ctx, {"kind": "non-finite", "layers": bad_layers, "first_step": first_bad}
            ),
            suggestions=("learning-rate-too-high", "missing-input-normalization"),
        )
    # 2. Global gradient norm growing by orders of magnitude.
    global_norm = ctx.data.global_stats.get("global_grad_norm")
    if global_norm is not None:
        g = global_norm.finite()
        g = g if len(g) == 0 else Series(g.steps[g.values > 0], g.values[g.values > 0])
        if len(g) >= max(cfg.min_records, cfg.min_points):
            steps, values = bin_medians(g.steps, np.log10(g.values), cfg.max_trend_points)
            start = edge_level(values, at_end=False)
            end_level = edge_level(values, at_end=True)
            growth = 10.0 ** (end_level - start)
            trend = mann_kendall(values)
            if growth >= cfg.explode_growth and trend.p_increasing < cfg.trend_alpha:
                return Finding(
                    name=EXPLODING_GRADIENTS,
                    severity=ERROR,
                    step_start=int(steps[0]),
                    step_end=int(steps[-1]),
                    message=(
                        f"the global gradient norm grew {growth:.3g}x, from {10**start:.3g} to "
                        f"{10**end_level:.3g} (Mann-Kendall p={trend.p_increasing:.2g})"
                    ),
                    evidence=_with_lr(
                        ctx,
                        {
                            "kind": "growth",
                            "growth": growth,
                            "start_norm": 10.0**start,
                            "end_norm": 10.0**end_level,
                            "mann_kendall_p": trend.p_increasing,
                        },
                    ),
                    suggestions=("learning-rate-too-high", "missing-input-normalization"),
                )
    # 3. Large but finite: an adaptive optimizer keeps the loss finite, the weights still jump.
    large = _large_gradients(ctx)
    if large is not None:
        return large
    # 4. First layer's gradient far larger than the last layer's.
    levels = _levels(ctx, "grad_norm")
    if len(levels) >= 2:
        layers = list(levels)
        first, last = levels[layers[0]], levels[layers[-1]]
        if last > 0 and first / last >= cfg.explode_ratio:
            start, end = _span([grad_norms[layers[0]], grad_norms[layers[-1]]])
            return Finding(
                name=EXPLODING_GRADIENTS,
                severity=WARNING,
                step_start=start,
                step_end=end,
                message=(
                    f"the first layer's gradient norm ({layers[0]}: {first:.3g}) is "
                    f"{first / last:.3g}x the last layer's ({layers[-1]}: {last:.3g}); "
                    f"gradients grow toward the input"
                ),
                evidence=_with_lr(
                    ctx,
                    {
                        "kind": "ratio",
                        "first_layer": layers[0],
                        "last_layer": layers[-1],
                        "ratio": first / last,
                        "grad_norm_by_layer": levels,
                    },
                ),
                suggestions=("missing-input-normalization", "learning-rate-too-high"),
            )
    return None


def _large_gradients(ctx: CheckContext) -> Finding | None:
    cfg = ctx.config
    series = ctx.data.global_stats.get("global_grad_norm")
    if series is None:
        return None
    g = series.finite()
    if len(g) < cfg.min_records:
        return None
    level = median(g.values)
    if level < cfg.large_gradient_norm:
        return None
    k = min(len(g), cfg.min_records)
    first_level = median(g.values[:k])
    return Finding(
        name=EXPLODING_GRADIENTS,
        severity=WARNING,
        step_start=int(g.steps[0]),
        step_end=int(g.steps[-1]),
        message=(
            f"the global gradient norm is {level:.3g} (median of {len(g)} records, "
            f"{first_level:.3g} over the first {k}), above {cfg.large_gradient_norm:g}: every "
            f"update is as large as the optimizer allows"
        ),
        evidence=_with_lr(
            ctx,
            {
                "kind": "large",
                "median_norm": level,
                "first_records_norm": first_level,
                "largest_norm": float(np.max(g.values)),
                "records": len(g),
            },
        ),
        suggestions=("missing-input-normalization", "learning-rate-too-high"),
    )


def check_vanishing(ctx: CheckContext) -> Finding | None:
    """vanishing-gradients: the first layer's gradient is a tiny fraction of the last layer's
    and tiny in absolute terms (AUTOTRAINER's beta_1 and beta_2)."""
    cfg = ctx.config
    levels = _levels(ctx, "grad_norm")
    if len(levels) < 2:
        return None
    layers = list(levels)
    first, last = levels[layers[0]], levels[layers[-1]]
    if last <= 0 or not math.isfinite(last):
        return None
    ratio = first / last
    if ratio > cfg.vanish_ratio or first >= cfg.vanish_first_layer_norm:
        return None
    grad_norms = ctx.data.layer_stats["grad_norm"]
    start, end = _span([grad_norms[layers[0]], grad_norms[layers[-1]]])
    evidence: dict[str, Any] = {
        "first_layer": layers[0],
        "last_layer": layers[-1],
        "ratio": ratio,
        "first_layer_norm": first,
        "grad_norm_by_layer": levels,
    }
    saturated = _levels(ctx, "saturated_fraction")
    if saturated:
        evidence["saturated_fraction_by_layer"] = saturated
    return Finding(
        name=VANISHING_GRADIENTS,
        severity=WARNING,
        step_start=start,
        step_end=end,
        message=(
            f"the first layer's gradient norm ({layers[0]}: {first:.3g}) is {ratio:.2g} of the "
            f"last layer's ({layers[-1]}: {last:.3g}) over the last "
            f"{cfg.tail_fraction:.0%} of the records"
        ),
        evidence=_with_lr(ctx, evidence),
        suggestions=("deep-saturating-activations", "deep-stacked-rnn"),
    )


def check_dead_units(ctx: CheckContext) -> Finding | None:
    """dead-units: layers where most ReLU units never fire, or most gradients are exactly 0
    (AUTOTRAINER's gamma)."""
    cfg = ctx.config
    # The output layer is never "dead": a saturated or single-unit softmax output gets zero
    # gradients for reasons that other findings name.
    output = _ordered_layers(ctx, "grad_norm")[-1:] or ctx.data.layers[-1:]
    dead = {k: v for k, v in _levels(ctx, "dead_fraction").items() if k not in output}
    zero = {k: v for k, v in _levels(ctx, "zero_fraction").items() if k not in output}
    flagged: dict[str, dict[str, float]] = {}
    for layer, level in dead.items():
        if level >= cfg.dead_fraction:
            flagged.setdefault(layer, {})["dead_fraction"] = level
    for layer, level in zero.items():
        if level >= cfg.dead_fraction:
            flagged.setdefault(layer, {})["zero_gradient_fraction"] = level
    if not flagged:
        return None
    order = {layer: i for i, layer in enumerate(ctx.data.layers)}
    layers = sorted(flagged, key=lambda layer: (order.get(layer, len(order)), layer))
    flagged = {layer: flagged[layer] for layer in layers}
    stats = ctx.data.layer_stats
    series = [
        stats[stat][layer]
        for layer in layers
        for stat in ("dead_fraction", "zero_fraction")
        if layer in stats.get(stat, {})
    ]
    start, end = _span(series)
    parts = []
    for layer in layers[:_MAX_LISTED]:
        d = flagged[layer]
        if "dead_fraction" in d:
            parts.append(f"{layer}: {d['dead_fraction']:.0%} of units never active")
        else:
            parts.append(f"{layer}: {d['zero_gradient_fraction']:.0%} of gradients exactly 0")
    more = len(layers) - _MAX_LISTED
    return Finding(
        name=DEAD_UNITS,
        severity=WARNING,
        step_start=start,
        step_end=end,
        message=(
            f"{len(layers)} layer(s) have at least {cfg.dead_fraction:.0%} dead units: "
            + "; ".join(parts)
            + (f"; and {more} more" if more > 0 else "")
        ),
        evidence=_with_lr(ctx, {"layers": flagged}),
        suggestions=("learning-rate-too-high", "missing-input-normalization"),
    )


def _ratio_levels(ctx: CheckContext) -> dict[str, float]:
    """Layer -> median update-to-weight ratio over all its finite records (a group's clean
    layers in one vectorized median)."""
    out: dict[str, float] = {}
    for group in _groups(ctx, "update_ratio"):
        finite = np.isfinite(group.values)
        clean = finite.all(axis=1)
        if clean.any() and group.steps.size >= ctx.config.min_records:
            medians = row_medians(group.values[clean])
            for row, level in zip(np.nonzero(clean)[0], medians, strict=True):
                out[group.layers[row]] = float(level)
        for row in np.nonzero(~clean)[0]:
            values = group.values[row][finite[row]]
            if values.size >= ctx.config.min_records:
                out[group.layers[row]] = median(values)
    return {layer: out[layer] for layer in _ordered_layers(ctx, "update_ratio") if layer in out}


def check_update_ratio(ctx: CheckContext) -> Finding | None:
    """update-ratio-too-high / update-ratio-too-low: the size of each step against the size of
    the weights, compared with the ~1e-3 rule of thumb."""
    cfg = ctx.config
    levels = _ratio_levels(ctx)
    if not levels:
        return None
    by_layer = ctx.data.layer_stats["update_ratio"]
    high = {layer: r for layer, r in levels.items() if r > cfg.update_ratio_high}
    if high:
        layers = list(high)
        start, end = _span([by_layer[layer] for layer in layers])
        worst = max(high, key=lambda layer: high[layer])
        return Finding(
            name=UPDATE_RATIO_TOO_HIGH,
            severity=WARNING,
            step_start=start,
            step_end=end,
            message=(
                f"{len(layers)} layer(s) change by more than {cfg.update_ratio_high:.0e} of "
                f"their weight norm per step (median); the largest is {worst} at "
                f"{high[worst]:.3g}, against a rule of thumb of ~1e-3"
            ),
            evidence=_with_lr(ctx, {"update_ratio_by_layer": levels, "layers": layers}),
            suggestions=("learning-rate-too-high",),
        )
    overall = median(np.array(list(levels.values())))
    if overall < cfg.update_ratio_low:
        start, end = _span(list(by_layer.values()))
        return Finding(
            name=UPDATE_RATIO_TOO_LOW,
            severity=WARNING,
            step_start=start,
            step_end=end,
            message=(
                f"the median layer changes by {overall:.3g} of its weight norm per step, below "
                f"{cfg.update_ratio_low:.0e} (rule of thumb ~1e-3): the weights barely move"
            ),
            evidence=_with_lr(
                ctx, {"median_update_ratio": overall, "update_ratio_by_layer": levels}
            ),
            suggestions=("learning-rate-too-low", "deep-saturating-activations"),
        )
    return None
