"""The per-step ring's folding (tb_fitdiag.probes.Ring), unmeasured norms included."""

from __future__ import annotations

import math

import numpy as np

from tb_fitdiag import metadata
from tb_fitdiag.gradient_stats import aggregate_values
from tb_fitdiag.probes import UNMEASURED, Ring


def _tag(name: str) -> str:
    return metadata.global_tag(name)


def _fold(rows: list[list[float]], *, halves: bool = False) -> dict[str, float]:
    packed = Ring().fold_packed(np.array(rows), halves=halves)
    return {tag: value for tag, (value, _) in aggregate_values(packed).items()}


def test_unmeasured_norms_count_in_neither_the_largest_norm_nor_the_non_finite_ones() -> None:
    got = _fold([[0, 2.0, 3.0, 1], [1, 1.5, UNMEASURED, 1], [2, 1.0, UNMEASURED, 1]])
    assert got[_tag("grad_norm_max")] == 3.0
    assert got[_tag("batch_loss_max")] == 2.0 and got[_tag("batch_loss_min")] == 1.0
    assert _tag("first_nonfinite_grad_step") not in got


def test_a_window_of_unmeasured_norms_only_writes_no_largest_norm() -> None:
    got = _fold([[4, 2.0, UNMEASURED, 1], [5, 1.0, UNMEASURED, 1]])
    assert _tag("grad_norm_max") not in got
    assert got[_tag("batch_loss_max")] == 2.0


def test_a_non_finite_norm_beside_unmeasured_ones_is_counted_and_dated() -> None:
    got = _fold([[6, 2.0, UNMEASURED, 1], [7, math.nan, math.nan, 1], [8, 1.0, UNMEASURED, 1]])
    assert got[_tag("first_nonfinite_grad_step")] == 7.0
    assert got[_tag("first_nonfinite_loss_step")] == 7.0
    assert _tag("grad_norm_max") not in got  # the only measured norm was NaN


def test_halves_of_squares_are_unchanged() -> None:
    # The TensorFlow ring: half the squared norm (never negative); an Inf one is non-finite.
    got = _fold([[0, 1.0, 8.0, 1], [1, 1.0, math.inf, 1]], halves=True)
    assert got[_tag("grad_norm_max")] == 4.0
    assert got[_tag("first_nonfinite_grad_step")] == 1.0
