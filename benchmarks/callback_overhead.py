"""How much FitDiagCallback slows ``model.fit`` down, against plain ``fit`` in the same process.

Interleaved on CPU, epoch by epoch: each round runs two epochs of each model (a small MLP, CNN
and LSTM) with each variant: plain ``fit``, ``fit`` with ``FitDiagCallback()`` at its defaults,
and ``fit`` with ``keras.callbacks.TensorBoard(histogram_freq=1)``. Each ``fit()`` plans the
whole run (``epochs`` the rounds' total, from ``initial_epoch``) and is stopped after its
epoch, so the callback schedules its records as in the steady part of one long ``fit``
(including the record cost it measures as it goes). The order rotates from round to round and
is mirrored within one (A B C C B A): each variant's two epochs sit symmetrically about the
round's middle, so a drift of the machine's speed over the round weighs on every variant
alike. The variants share one model and keep their callback instances across rounds, so only
the first round traces; it is dropped. An epoch's time runs from the first callback's
``on_epoch_begin`` to the last callback's ``on_epoch_end``, so it includes every callback's
epoch-end work. The table shows, per model, the variant's time over the timed rounds divided
by plain fit's (a record every few epochs makes some rounds dearer than others, so not a
median of rounds), with the interquartile range of the rounds' ratios.

Then a long run with statistics at every step checks that memory stays flat.

``--backend jax`` or ``--backend torch`` runs the same on that Keras backend (the TensorBoard
column then needs TensorFlow installed, else it reads n/a). On JAX, which dispatches steps
ahead of their computation, an epoch's clock stops when its last step has run.

Usage: python benchmarks/callback_overhead.py [--rounds 30] [--memory-epochs 40]
    [--backend tensorflow|jax|torch]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _models(keras: Any) -> dict[str, tuple[Callable[[], Any], Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(0)
    n = STEPS_PER_EPOCH * 32

    def mlp() -> Any:
        return keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(256, activation="relu"),
                keras.layers.Dense(10),
            ]
        )

    def cnn() -> Any:
        return keras.Sequential(
            [
                keras.Input((16, 16, 1)),
                keras.layers.Conv2D(16, 3, activation="relu"),
                keras.layers.MaxPooling2D(),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(10),
            ]
        )

    def lstm() -> Any:
        return keras.Sequential(
            [keras.Input((20, 8)), keras.layers.LSTM(32), keras.layers.Dense(10)]
        )

    labels = rng.integers(0, 10, size=(n,))
    return {
        "MLP": (mlp, rng.normal(size=(n, 32)).astype("float32"), labels),
        "CNN": (cnn, rng.normal(size=(n, 16, 16, 1)).astype("float32"), labels),
        "LSTM": (lstm, rng.normal(size=(n, 20, 8)).astype("float32"), labels),
    }


def _clocks(
    keras: Any, times: list[float], batches: list[tuple[int, int, float]]
) -> tuple[Any, Any]:
    start: list[float] = []

    class _Start(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            start.append(time.perf_counter())
            self.epoch = epoch

    first = _Start()

    class _End(keras.callbacks.Callback):  # type: ignore[misc]
        # Only batch *begin*: overriding on_train_batch_end would make Keras call the
        # callbacks synchronously and change what is measured.
        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            batches.append((first.epoch, batch, time.perf_counter()))

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if keras.backend.backend() == "jax":
                # JAX dispatches steps ahead of their computation: the epoch ends when its
                # last step has run (else plain fit's backlog would run outside the clock).
                keras.ops.convert_to_numpy(self.model.optimizer.iterations)
            times.append(time.perf_counter() - start[-1])
            self.model.stop_training = True  # one epoch of the planned run per fit()

    return first, _End()


def _step_gaps(batches: list[tuple[int, int, float]]) -> dict[int, list[float]]:
    """``batch index -> gaps`` to the next batch's begin, over the timed epochs."""
    gaps: dict[int, list[float]] = {}
    for (epoch, batch, t), (next_epoch, _, next_t) in itertools.pairwise(batches):
        if epoch == next_epoch and epoch >= EPOCHS_PER_ROUND:  # round 0 traces
            gaps.setdefault(epoch * STEPS_PER_EPOCH + batch, []).append(next_t - t)
    return gaps


STEPS_PER_EPOCH = 100

# Epochs of each variant in one round (the order forward, then backward).
EPOCHS_PER_ROUND = 2


def _epochs(rounds: int) -> int:
    """The epochs of each variant over the rounds (round 0 included)."""
    return (rounds + 1) * EPOCHS_PER_ROUND


def _round_ratios(mine: list[float], plain: list[float]) -> list[float]:
    """Per timed round: the variant's epoch time over plain fit's, each summed over the round."""
    k = EPOCHS_PER_ROUND
    return [sum(mine[i : i + k]) / sum(plain[i : i + k]) for i in range(k, len(plain), k)]


def _stalled_rounds(times: list[list[float]]) -> set[int]:
    """The timed rounds (indices into ``_round_ratios``) in which some variant's epoch stalled:
    took longer than its variant's third quartile plus three interquartile ranges, and a
    quarter longer than its median (the machine's hiccups: a record or a live diagnosis costs
    a few percent of an epoch, so an epoch that holds one is never taken for a stall, however
    steady the others)."""
    k = EPOCHS_PER_ROUND
    stalled: set[int] = set()
    for epochs in times:
        timed = epochs[k:]
        low, middle, high = statistics.quantiles(timed, n=4)
        fence = max(high + 3 * (high - low), 1.25 * middle)
        stalled.update(i // k for i, took in enumerate(timed) if took > fence)
    return stalled


def _total_ratio(mine: list[float], plain: list[float], dropped: set[int]) -> float:
    """The variant's time over plain fit's, summed over the timed rounds but the ``dropped``
    ones (not a median of rounds: a record every few epochs makes some rounds dearer)."""
    k = EPOCHS_PER_ROUND
    kept = [i for i in range(k, len(plain)) if (i - k) // k not in dropped]
    return sum(mine[i] for i in kept) / sum(plain[i] for i in kept)


def _recorded_steps_in(logdir: str) -> set[int]:
    """The steps whose gradient statistics FitDiagCallback recorded, read from its event files."""
    from tb_fitdiag import reading
    from tb_fitdiag.cli import load_logdir

    provider, ctx, _ = load_logdir(logdir)
    steps: set[int] = set()
    for run in reading.list_training_runs(provider, ctx, ""):
        series = reading.load_run(provider, ctx, "", run).global_stats.get("global_grad_norm")
        if series is not None:
            steps.update(int(step) for step in series.steps)
    return steps


def _excess(run: dict[int, list[float]], recording: list[int], offset: int) -> float:
    """Median gap at the recording steps (+ offset) above the run's typical gap."""
    touched = {s for r in recording for s in (r - 1, r)}
    normal = statistics.median(g for s, v in run.items() if s not in touched for g in v)
    around = [g for s in recording if s + offset in run for g in run[s + offset]]
    return statistics.median(around) - normal if around else 0.0


def _live_check_ms(layers: int = 200, records: int = 5000) -> tuple[float, float]:
    """``(fill ms per record, median ms of one live diagnosis)`` on a synthetic run of
    ``layers`` layers with ``records`` records so far (the callback's in-memory copy)."""
    import numpy as np

    from tb_fitdiag import metadata
    from tb_fitdiag.live import LiveDiagnosis

    live = LiveDiagnosis()
    names = [f"model/dense_{i}" for i in range(layers)]
    live.run.run_info = {"layers": names, "interval": 100, "optimizer": "Adam", "loss": "mse"}
    rng = np.random.default_rng(0)
    stats = {"grad_norm": 1.0, "zero_fraction": 0.01, "nonfinite": 0.0}
    stats |= {"weight_norm": 10.0, "update_ratio": 1e-3}
    begin = time.perf_counter()
    for record in range(records):
        noise = 1 + 0.1 * rng.random(len(names) * len(stats))
        values = {
            metadata.layer_tag(stat, name): (base * float(noise[i]), metadata.KIND_LAYER_STAT)
            for i, (name, (stat, base)) in enumerate(
                (n, item) for n in names for item in stats.items()
            )
        }
        loss = 1.0 / (1 + record * 0.001)
        values[metadata.global_tag("batch_loss")] = (loss, metadata.KIND_GLOBAL_STAT)
        values[metadata.global_tag("global_grad_norm")] = (1.0, metadata.KIND_GLOBAL_STAT)
        live.run.add_stats(values, record * 100)
        if record % 100 == 0:
            live.run.add_epoch({"loss": loss, "val_loss": 1.1 * loss}, record // 100)
    fill = (time.perf_counter() - begin) / records
    checks = [live.check(epoch=records // 100, step=records * 100).seconds for _ in range(5)]
    return fill * 1000, statistics.median(checks) * 1000


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rounds", type=int, default=30, help="timed rounds (two epochs of each variant each)"
    )
    parser.add_argument("--memory-epochs", type=int, default=40)
    parser.add_argument(
        "--models", default="MLP,CNN,LSTM", help="comma-separated subset of MLP, CNN, LSTM"
    )
    parser.add_argument(
        "--first-epochs", type=int, default=9, help="fresh-model pairs for the first-epoch cost"
    )
    parser.add_argument(
        "--without-locate",
        action="store_true",
        help="also time FitDiagCallback(locate_nonfinite=False) (what keeping a bad batch costs)",
    )
    parser.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="the Keras backend (default: KERAS_BACKEND, else tensorflow)",
    )
    args = parser.parse_args(argv)
    os.environ["KERAS_BACKEND"] = args.backend
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != args.backend:
        parser.error(f"keras was imported already, with another backend than {args.backend}")

    import keras

    from tb_fitdiag import FitDiagCallback
    from tb_fitdiag.callback import _STATE_ATTRIBUTE, DEFAULT_INTERVAL, _ModelState
    from tb_fitdiag.gradient_stats import RECORD_BUDGET

    with_tensorboard = args.backend == "tensorflow" or (
        importlib.util.find_spec("tensorflow") is not None
    )
    if with_tensorboard:
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")
    workdir = tempfile.mkdtemp(prefix="fitdiag_bench_")
    # Each round is one fit() per epoch, so that the variants interleave. Each of those fits
    # plans the whole run (epochs=_epochs(rounds), from initial_epoch on) and is stopped after
    # its epoch, so FitDiagCallback() at its defaults schedules records as in one long fit.
    variants: dict[str, Callable[[str], list[Any]]] = {
        "plain": lambda d: [],
        "fitdiag": lambda d: [FitDiagCallback(log_dir=d)],
        # The graph is written once per fit(); with one fit() per epoch here it would be
        # counted in every epoch, so it is off.
        "tensorboard": lambda d: [
            keras.callbacks.TensorBoard(log_dir=d, histogram_freq=1, write_graph=False)
        ],
    }
    if not with_tensorboard:
        del variants["tensorboard"]
    if args.without_locate:
        variants["no-locate"] = lambda d: [FitDiagCallback(log_dir=d, locate_nonfinite=False)]
    models = {k: v for k, v in _models(keras).items() if k in args.models.split(",")}
    state: dict[tuple[str, str], tuple[Any, list[Any], list[float]]] = {}
    batches: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    for name, (build, _, _) in models.items():
        # One model for all the variants: separate instances of the same model differ by about
        # 1% in step time (where their buffers lie), as much as what is measured here. Each
        # fit() restores Keras's own train function at its end (FitDiagCallback puts it back),
        # so the plain rounds run exactly what plain fit runs. Each variant has a step count
        # of its own (the optimizer's iterations, set before each of its fits) and FitDiagCallback
        # variants a recording state of their own, so the callback's steps and records are
        # those of one long fit: the other variants' epochs do not move them on.
        keras.utils.set_random_seed(0)
        model = build()
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        for variant, make in variants.items():
            times: list[float] = []
            batches[name, variant] = []
            start, end = _clocks(keras, times, batches[name, variant])
            callbacks = [start, *make(os.path.join(workdir, f"{name}_{variant}")), end]
            state[name, variant] = (model, callbacks, times)
    own_steps = dict.fromkeys(state, 0)
    own_states = {key: _ModelState() for key in state}
    for round_ in range(args.rounds + 1):
        for name, (_, x, y) in models.items():
            order = list(variants)
            order = order[round_ % len(order) :] + order[: round_ % len(order)]
            for position, variant in enumerate(order + order[::-1]):
                model, callbacks, _ = state[name, variant]
                epoch = round_ * EPOCHS_PER_ROUND + (position >= len(order))
                model.optimizer.iterations.assign(own_steps[name, variant])
                object.__setattr__(model, _STATE_ATTRIBUTE, own_states[name, variant])
                model.fit(
                    x,
                    y,
                    batch_size=32,
                    initial_epoch=epoch,
                    epochs=_epochs(args.rounds),
                    verbose=0,
                    callbacks=callbacks,
                )
                own_steps[name, variant] = int(
                    keras.ops.convert_to_numpy(model.optimizer.iterations)
                )
        if round_ % 5 == 0:
            print(f"round {round_}/{args.rounds} done", file=sys.stderr, flush=True)

    recorded = {
        name: _recorded_steps_in(os.path.join(workdir, f"{name}_fitdiag")) for name in models
    }
    timed = range(EPOCHS_PER_ROUND * STEPS_PER_EPOCH, _epochs(args.rounds) * STEPS_PER_EPOCH)
    intervals = {
        name: len(timed) / max(1, sum(1 for step in timed if step in recorded[name]))
        for name in models
    }
    stalled = {
        name: _stalled_rounds([state[name, variant][2] for variant in variants]) for name in models
    }
    print(
        "callback overhead: time over the timed rounds / plain fit's time (leaving out the "
        "rounds where an epoch of some variant stalled), with the IQR of the rounds' ratios"
        f"\n({args.rounds} interleaved rounds of {EPOCHS_PER_ROUND} epochs per "
        f"variant in mirrored order, {STEPS_PER_EPOCH} steps per epoch, CPU; FitDiagCallback() "
        f"at its defaults, each fit() planning the run's {_epochs(args.rounds)} epochs: a record "
        "every "
        + ", ".join(f"{intervals[name]:.0f}" for name in models)
        + f" steps ({', '.join(models)}), where a record costs no more than its "
        f"{RECORD_BUDGET:.1%} budget at every {DEFAULT_INTERVAL})"
        + ("" if args.backend == "tensorflow" else f"\nKeras backend: {args.backend}")
    )
    print(
        f"{'model':<6} {'plain ms/epoch':>15} {'FitDiagCallback() [IQR]':>26} "
        f"{'TensorBoard(hist=1) [IQR]':>28} {'stalled rounds':>15}"
    )

    def ratio_cell(name: str, variant: str) -> str:
        mine, plain = state[name, variant][2], state[name, "plain"][2]
        kept = [r for i, r in enumerate(_round_ratios(mine, plain)) if i not in stalled[name]]
        low, _, high = statistics.quantiles(kept, n=4)
        return f"{_total_ratio(mine, plain, stalled[name]):.3f}x [{low:.2f}-{high:.2f}]"

    for name in models:
        plain = state[name, "plain"][2][EPOCHS_PER_ROUND:]
        cells = [
            ratio_cell(name, variant) if variant in variants else "n/a"
            for variant in ("fitdiag", "tensorboard")
        ]
        print(
            f"{name:<6} {statistics.median(plain) * 1000:>15.1f} {cells[0]:>26} {cells[1]:>28}"
            f" {len(stalled[name]):>15}"
        )
    if args.without_locate:
        print("\nwithout keeping a failing batch: FitDiagCallback(locate_nonfinite=False)")
        for name in models:
            print(f"{name:<6} {ratio_cell(name, 'no-locate')}")

    # A step that records nothing, from per-step gaps (median; far less noisy than epochs).
    print(
        f"\nlight step (records nothing): median step gap, ms\n{'model':<6} {'plain':>8} "
        + "".join(f"{v:>12}" for v in variants if v != "plain")
    )
    for name in models:
        row = []
        for variant in variants:
            gaps = _step_gaps(batches[name, variant])
            light = [
                g
                for step, g_list in gaps.items()
                if step not in recorded[name] and step - 1 not in recorded[name]
                for g in g_list
            ]
            row.append(statistics.median(light) * 1000)
        print(f"{name:<6} {row[0]:>8.3f}" + "".join(f"{v:>12.3f}" for v in row[1:]))

    # The cost of one recording step, from per-step timings: far less noisy than epoch times.
    print(
        f"\nrecording step cost (median step gaps in the FitDiagCallback run; the step before a "
        f"recording one arms it)\n{'model':<6} {'plain step ms':>14} {'recording +ms':>14} "
        f"{'interval':>9} {'share':>7}"
    )
    for name in models:
        plain_gaps = _step_gaps(batches[name, "plain"])
        plain_step = statistics.median(g for gaps in plain_gaps.values() for g in gaps)
        gaps = _step_gaps(batches[name, "fitdiag"])
        recording = [s for s in gaps if s in recorded[name]]

        # Arming (the gap before the step) and the step with its read; minus the same steps'
        # excess in plain fit (a record at an epoch's first step shares it with the epoch's
        # start-up, which plain fit pays too).
        extra = sum(
            _excess(gaps, recording, o) - _excess(plain_gaps, recording, o) for o in (-1, 0)
        )
        share = extra / (intervals[name] * plain_step)
        print(
            f"{name:<6} {plain_step * 1000:>14.2f} {extra * 1000:>+14.2f} "
            f"{intervals[name]:>9.0f} {share:>+7.1%}"
        )

    # The first epoch: set-up, tracing and linting, against a fresh plain fit of the same model.
    print(
        f"\nfirst epoch of a fresh model (set-up, tracing, linting this script): fit() seconds, "
        f"median of {args.first_epochs} alternating pairs\n"
        f"{'model':<6} {'plain s':>9} {'FitDiagCallback() s':>20} {'extra s':>9}"
    )
    for name, (build, x, y) in models.items():
        pairs: dict[str, list[float]] = {"plain": [], "fitdiag": []}
        for rep in range(args.first_epochs):
            order = ["plain", "fitdiag"] if rep % 2 == 0 else ["fitdiag", "plain"]
            for variant in order:
                keras.utils.set_random_seed(rep)
                model = build()
                model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
                extra = (
                    [FitDiagCallback(log_dir=os.path.join(workdir, f"first_{name}_{rep}"))]
                    if variant == "fitdiag"
                    else []
                )
                begin = time.perf_counter()
                model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=extra)
                pairs[variant].append(time.perf_counter() - begin)
        plain_s = statistics.median(pairs["plain"])
        mine_s = statistics.median(pairs["fitdiag"])
        extra_s = statistics.median(
            a - b for a, b in zip(pairs["fitdiag"], pairs["plain"], strict=True)
        )
        print(f"{name:<6} {plain_s:>9.2f} {mine_s:>20.2f} {extra_s:>+9.2f}")

    # The live diagnosis of a large model at an epoch end, and what its budget makes of it.
    from tb_fitdiag.callback import LIVE_BUDGET, LIVE_EPOCH_SECONDS
    from tb_fitdiag.live import MAX_POINTS

    fill_ms, check_ms = _live_check_ms()
    every = max(1, math.ceil(check_ms / (LIVE_EPOCH_SECONDS * 1000)))
    print(
        f"\nlive diagnosis, 200 layers x 5,000 records so far (at most {MAX_POINTS:,} kept per "
        f"series): "
        f"{check_ms:.1f} ms per diagnosis, {fill_ms:.2f} ms per record to keep the copy;\n"
        f"at most {LIVE_EPOCH_SECONDS * 1000:.0f} ms per epoch on average (and "
        f"{LIVE_BUDGET:.1%} of the training time): it runs every {every} epoch(s) on such a model"
    )

    # Memory over a long run, statistics at every step (the worst case for buffers).
    if args.memory_epochs < 4:
        print("\nmemory: skipped (--memory-epochs below 4: nothing after epoch 3 to compare)")
        return 0
    build, x, y = _models(keras)["MLP"]
    marks: list[float] = []

    class _Memory(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            marks.append(_rss_mib())

    model = build()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(
        x,
        y,
        batch_size=32,
        epochs=args.memory_epochs,
        verbose=0,
        callbacks=[FitDiagCallback(log_dir=os.path.join(workdir, "memory"), interval=1), _Memory()],
    )
    steps = args.memory_epochs * STEPS_PER_EPOCH
    print(
        f"memory, MLP, FitDiagCallback(interval=1), {steps} recorded steps: "
        f"RSS {marks[2]:.0f} MiB after epoch 3, {marks[-1]:.0f} MiB after epoch "
        f"{args.memory_epochs} ({marks[-1] - marks[2]:+.0f} MiB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
