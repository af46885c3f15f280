"""The arithmetic of benchmarks/callback_overhead.py: what its headline ratio leaves out."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "callback_overhead.py"
_spec = importlib.util.spec_from_file_location("callback_overhead", _PATH)
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def test_a_stalled_epoch_drops_its_round_and_a_dear_record_does_not() -> None:
    k = bench.EPOCHS_PER_ROUND
    plain = [1.0] * k + [0.10, 0.11, 0.10, 0.09] * 5  # round 0 (traced) first, then 10 rounds
    mine = [2.0] * k + [0.102, 0.11, 0.103, 0.09] * 5
    mine[k + 4] = 0.104  # an epoch with a record in it: dearer, kept
    mine[k + 7] = 0.5  # a stall of the machine in round 3
    assert bench._stalled_rounds([plain, mine]) == {3}
    kept = [i for i in range(k, len(plain)) if (i - k) // k != 3]
    expected = sum(mine[i] for i in kept) / sum(plain[i] for i in kept)
    assert bench._total_ratio(mine, plain, {3}) == pytest.approx(expected)
    assert bench._total_ratio(mine, plain, set()) > expected + 0.05  # the stall, left in
    assert len(bench._round_ratios(mine, plain)) == (len(plain) - k) // k
    # Steady epochs and a record every few rounds that costs 3%: no round is a stall.
    steady = [1.0] * k + [0.1] * 40
    recorded = list(steady)
    for i in range(k, len(recorded), 7):
        recorded[i] = 0.103
    assert bench._stalled_rounds([steady, recorded]) == set()
