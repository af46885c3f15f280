"""Times the diagnosis engine on a large synthetic run.

The run: 100,000 steps of training loss, validation loss and learning rate, and 200 layers x
5,000 records of each of the 7 per-layer gradient statistics (7 million values), plus the
global statistics. Target: ``diagnose()`` in <= 1 s.

The baseline, measured in the same process on the same arrays, is one ``np.sort`` of every
series: the cost of touching each value once with a plain numpy pass.

    python benchmarks/diagnose_speed.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from tb_fitdiag import metadata
from tb_fitdiag.diagnosis import RunData, Series, diagnose

STEPS = 100_000
LAYERS = 200
RECORDS = 5_000
TARGET_S = 1.0


def build_run(seed: int = 0) -> RunData:
    """The synthetic run: a converging loss with noise and healthy gradient statistics."""
    rng = np.random.default_rng(seed)
    steps = np.arange(STEPS, dtype=np.int64)
    t = steps / STEPS
    train = 0.2 + 2.0 * np.exp(-8 * t) + rng.normal(0, 0.05, STEPS)
    val = 0.25 + 2.0 * np.exp(-8 * t) + rng.normal(0, 0.05, STEPS)
    data = RunData(
        train={
            "batch_loss": Series(steps, train),
            "learning_rate": Series(steps, np.full(STEPS, 1e-3)),
        },
        validation={"val_loss": Series(steps, val)},
    )
    rec = np.arange(RECORDS, dtype=np.int64) * 20
    layers = [f"model/dense_{i}" for i in range(LAYERS)]
    levels = {
        "grad_norm": 0.1,
        "weight_norm": 5.0,
        "update_ratio": 1e-3,
        "zero_fraction": 0.05,
        "nonfinite": 0.0,
        "dead_fraction": 0.1,
        "saturated_fraction": 0.05,
    }
    for stat in metadata.LAYER_STATS:
        level = levels[stat]
        data.layer_stats[stat] = {
            layer: Series(
                rec, level * np.exp(rng.normal(0, 0.2, RECORDS)) if level else np.zeros(RECORDS)
            )
            for layer in layers
        }
    data.global_stats = {
        "global_grad_norm": Series(rec, 1.0 * np.exp(rng.normal(0, 0.2, RECORDS))),
        "batch_loss": Series(rec, train[rec // 20]),
        "learning_rate": Series(rec, np.full(RECORDS, 1e-3)),
    }
    data.layers = layers
    return data


def _every_series(data: RunData) -> list[np.ndarray]:
    arrays = [s.values for s in (*data.train.values(), *data.validation.values())]
    arrays += [s.values for s in data.global_stats.values()]
    arrays += [s.values for by in data.layer_stats.values() for s in by.values()]
    return arrays


def _median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    """Prints the engine time, the baseline time, their ratio and the verdict on the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = build_run()
    arrays = _every_series(data)
    values = sum(a.size for a in arrays)
    findings = diagnose(data)  # warm-up, and the result must be clean on a healthy run
    engine = _median_time(lambda: diagnose(data), args.repeat)
    baseline = _median_time(lambda: [np.sort(a) for a in arrays], args.repeat)
    print(
        f"synthetic run: {STEPS:,} scalar steps x 3 series, {LAYERS} layers x {RECORDS:,} records "
        f"x {len(metadata.LAYER_STATS)} statistics ({values:,} values)"
    )
    print(f"findings on the healthy synthetic run: {[f.name for f in findings] or 'none'}")
    print(f"diagnose():            {engine:.3f} s (median of {args.repeat})")
    print(f"baseline np.sort pass: {baseline:.3f} s (median of {args.repeat})")
    print(f"ratio engine/baseline: {engine / baseline:.2f}x")
    verdict = "meets" if engine <= TARGET_S else "MISSES"
    print(f"target <= {TARGET_S:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
