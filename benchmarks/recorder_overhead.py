"""What tb_fitdiag.Recorder costs a custom training loop, as a ratio against the same loop
without it, measured in the same run.

The loop is the one ``examples/custom_loop_tape.py`` shows: a compiled step folds its loss and
gradient norm into the recorder's running aggregates (``rec.fold``) and returns the loss and
the gradients, the recorder gets them, the optimizer applies them. Two copies of an MLP
(~1 ms steps on CPU) train side by side, one epoch each in turn: one with
``rec.record(step, grads, variables, loss=loss)`` before ``apply_gradients``, one without.
The recorder runs at its steady interval (every 100 steps, as in a long loop). Printed: the
median over rounds of the epoch-time ratio (with its quartiles) and the median time of a step
that records nothing, from per-step timings.

Usage: python benchmarks/recorder_overhead.py [--rounds R] [--steps S]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds (one epoch each)")
    parser.add_argument("--steps", type=int, default=100, help="steps per epoch")
    args = parser.parse_args(argv)

    import numpy as np
    import tensorflow as tf
    from tensorflow import keras

    from tb_fitdiag import Recorder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.steps * 32, 32)).astype("float32")
    y = rng.integers(0, 10, args.steps * 32)
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)]

    def loop(recorder_of: Any = None) -> dict[str, Any]:
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10),
            ]
        )
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(model.trainable_variables)

        recorder = None if recorder_of is None else recorder_of(model, optimizer)

        @tf.function
        def gradients(xb: Any, yb: Any) -> Any:
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            if recorder is not None:
                recorder.fold(grads, loss)  # as the example does
            return loss, grads

        return {"model": model, "optimizer": optimizer, "gradients": gradients, "step": 0}

    recorders: list[Any] = []

    def make_recorder(model: Any, optimizer: Any) -> Any:
        recorders.append(
            Recorder(tempfile.mkdtemp(prefix="fitdiag_rec_"), model, optimizer, interval=100)
        )
        return recorders[-1]

    plain, recorded = loop(), loop(make_recorder)
    (recorder,) = recorders
    epochs: dict[str, list[float]] = {"plain": [], "recorder": []}
    gaps: dict[str, list[float]] = {"plain": [], "recorder": []}

    def epoch(state: dict[str, Any], name: str, timed: bool) -> None:
        model, optimizer, step_fn = state["model"], state["optimizer"], state["gradients"]
        begin = last = time.perf_counter()
        for xb, yb in batches:
            loss, grads = step_fn(xb, yb)
            if name == "recorder":
                recorder.record(state["step"], grads, model.trainable_variables, loss=loss)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            now = time.perf_counter()
            if timed and state["step"] % 100 not in (0, 1):
                gaps[name].append(now - last)
            last = now
            state["step"] += 1
        if timed:
            epochs[name].append(time.perf_counter() - begin)

    for round_ in range(args.rounds + 1):  # round 0 warms up (traces)
        order = [("plain", plain), ("recorder", recorded)]
        for name, state in order if round_ % 2 else order[::-1]:
            epoch(state, name, timed=round_ > 0)
    recorder.close()

    ratios = [r / p for r, p in zip(epochs["recorder"], epochs["plain"], strict=True)]
    low, _, high = statistics.quantiles(ratios, n=4)
    print(
        f"Recorder overhead on a custom loop (MLP, {args.steps} steps per epoch, "
        f"{args.rounds} interleaved rounds, a record every 100 steps, CPU)"
    )
    print(
        f"epoch time ratio (median [quartiles]): {statistics.median(ratios):.3f}x "
        f"[{low:.2f}-{high:.2f}]   (plain epoch {statistics.median(epochs['plain']) * 1000:.1f} ms)"
    )
    print(
        f"step that records nothing, median: plain {statistics.median(gaps['plain']) * 1000:.3f} "
        f"ms, with the recorder {statistics.median(gaps['recorder']) * 1000:.3f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
