"""Noise-aware statistics on short, noisy series: binning, running medians, Mann-Kendall, Theil-Sen.

All functions take finite float64 arrays; callers drop non-finite values first.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def median(values: Any) -> float:
    """The median of a 1-D array as float64, as ``np.median`` has it for float64 values (NaN
    where a value is NaN or there is none), without its general machinery: a diagnosis takes
    dozens of small medians. Values of other dtypes are taken as float64 first (np.median
    would average the middle two in their own precision)."""
    ordered = np.sort(np.asarray(values, dtype=np.float64), axis=None)
    n = ordered.size
    if n == 0 or math.isnan(ordered[-1]):  # NaN sorts last
        return math.nan
    half = n // 2
    return float(ordered[half]) if n % 2 else float((ordered[half - 1] + ordered[half]) / 2)


def row_medians(rows: Any) -> FloatArray:
    """The median of each row of a 2-D array, equal to ``np.median(rows, axis=1)`` for
    float64 values (NaN for a row with a NaN or no values) at a fraction of its cost: one
    partition at the middle, where ``np.median`` partitions at two points and at the end
    (several times slower on the per-layer matrices of a live diagnosis)."""
    a = np.asarray(rows, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"row_medians takes a 2-D array; got {a.ndim}-D")
    n = a.shape[1]
    if n == 0:
        return np.full(a.shape[0], math.nan)
    half = n // 2
    part = np.partition(a, half, axis=1)
    out = part[:, half]
    if n % 2 == 0:
        # The lower middle value is the largest of those the partition put before ``half``.
        out = (part[:, :half].max(axis=1) + out) / 2
    nan = np.isnan(a).any(axis=1)
    if nan.any():
        out = np.where(nan, math.nan, out)
    # + 0.0 makes a median of -0.0 a 0.0, as np.median's mean of the middle values has it.
    return np.ascontiguousarray(out + 0.0, dtype=np.float64)


def bin_medians(
    steps: IntArray, values: FloatArray, max_points: int
) -> tuple[IntArray, FloatArray]:
    """Reduces a series to at most ``max_points`` points: the median of consecutive bins.

    Each bin keeps its last step, so a reduced series still ends where the original ends.
    """
    n = values.size
    if n <= max_points:
        return steps, values
    size = math.ceil(n / max_points)
    full = (n // size) * size
    head = values[:full].reshape(-1, size)
    med = row_medians(head)
    last_steps = steps[size - 1 : full : size]
    if full < n:
        med = np.append(med, median(values[full:]))
        last_steps = np.append(last_steps, steps[-1])
    return last_steps.astype(np.int64), med.astype(np.float64)


def running_median(values: FloatArray, window: int) -> FloatArray:
    """Centred running median; near the ends the window is cut off (not shrunk symmetrically),
    so one outlier at either end never passes. ``window`` <= 1 is a copy."""
    n = values.size
    if window <= 1 or n < 3:
        return values.copy()
    w = min(window, n if n % 2 else n - 1)
    if w % 2 == 0:
        w -= 1
    if w <= 1:
        return values.copy()
    half = w // 2
    out = np.empty(n, dtype=np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(values, w)
    out[half : n - half] = row_medians(windows)
    head: Any = values[: 2 * half]
    tail: Any = values[n - 2 * half :]
    median: Callable[[Any], Any] = np.median  # propagates NaN
    if np.isfinite(head).all() and np.isfinite(tail).all():
        # The cut-off windows at the ends are short: sorting Python floats beats a numpy call
        # per window (a quarter of a live diagnosis, before).
        head, tail, median = head.tolist(), tail.tolist(), statistics.median
    for i in range(half):
        out[i] = median(head[: i + half + 1])
        out[n - 1 - i] = median(tail[half - 1 - i :])
    return out


@dataclass(frozen=True)
class Trend:
    """The result of a Mann-Kendall test.

    Attributes:
        s: The Mann-Kendall statistic (positive: increasing).
        z: Its normal score (with continuity and tie correction).
        p_increasing: One-sided p-value of "no trend" against "increasing".
        p_decreasing: One-sided p-value of "no trend" against "decreasing".
        tau: Kendall's tau-a (S over the number of pairs), in [-1, 1].
    """

    s: float
    z: float
    p_increasing: float
    p_decreasing: float
    tau: float


@functools.lru_cache(maxsize=8)
def _upper_triangle(n: int) -> npt.NDArray[np.bool_]:
    """The pairs ``i < j`` of ``n`` points, as a read-only boolean matrix (``[i, j]``)."""
    mask = np.triu(np.ones((n, n), dtype=bool), k=1)
    mask.flags.writeable = False
    return mask


def mann_kendall(values: FloatArray) -> Trend:
    """Mann-Kendall trend test (normal approximation, tie-corrected variance)."""
    n = values.size
    if n < 3:
        return Trend(0.0, 0.0, 1.0, 1.0, 0.0)
    # S = #(pairs i < j that rise) - #(pairs i < j that fall), counted on boolean matrices.
    upper = _upper_triangle(n)
    rises = np.count_nonzero((values[None, :] > values[:, None]) & upper)
    falls = np.count_nonzero((values[None, :] < values[:, None]) & upper)
    s = float(rises - falls)
    _, counts = np.unique(values, return_counts=True)
    ties = counts[counts > 1].astype(np.float64)
    var = (n * (n - 1) * (2 * n + 5) - float(np.sum(ties * (ties - 1) * (2 * ties + 5)))) / 18.0
    if var <= 0:
        return Trend(s, 0.0, 1.0, 1.0, 0.0)
    if s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    p_inc = 0.5 * math.erfc(z / math.sqrt(2))
    p_dec = 0.5 * math.erfc(-z / math.sqrt(2))
    return Trend(s, z, p_inc, p_dec, s / (n * (n - 1) / 2))


def theil_sen_slope(x: FloatArray, y: FloatArray) -> float:
    """Theil-Sen estimator: the median of the slopes between all pairs of points."""
    n = y.size
    if n < 2:
        return 0.0
    i, j = np.triu_indices(n, k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return 0.0
    return median((y[j][ok] - y[i][ok]) / dx[ok])


def relative_change(start: float, end: float, floor: float = 1e-12) -> float:
    """``(end - start) / |start|``, guarded against a zero start."""
    return (end - start) / max(abs(start), floor)


def edge_level(values: FloatArray, at_end: bool, fraction: float = 0.1) -> float:
    """Median of the first (or last) ``fraction`` of a series, at least one point."""
    k = max(1, round(values.size * fraction))
    part = values[-k:] if at_end else values[:k]
    return median(part)


def count_swings(values: FloatArray, amplitude: float) -> int:
    """Counts local-maximum -> next-local-minimum swings at least ``amplitude`` times the
    local level (the mean of the two extremes' absolute values)."""
    if values.size < 3:
        return 0
    d = np.diff(values)
    # Plateaus (d == 0) take the sign of the previous move so they do not split an extreme.
    sign = np.sign(d)
    for k in range(1, sign.size):
        if sign[k] == 0:
            sign[k] = sign[k - 1]
    turns = np.nonzero(sign[1:] != sign[:-1])[0] + 1
    extremes = values[turns]
    kinds = sign[turns - 1]  # +1: a maximum (rose into it), -1: a minimum
    swings = 0
    for a in range(extremes.size - 1):
        if kinds[a] > 0 and kinds[a + 1] < 0:
            level = max((abs(extremes[a]) + abs(extremes[a + 1])) / 2, 1e-12)
            if (extremes[a] - extremes[a + 1]) / level >= amplitude:
                swings += 1
    return swings
