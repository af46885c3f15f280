"""Log writers for the diagnosis tests, and the labelled set of real training runs.

Two things live here so that every runtime test can import them:

* :func:`write_events` writes a TensorBoard run from plain Python data with TensorBoard's own
  event writer (no TensorFlow): ordinary scalars, fitdiag statistics (as schema 1 wrote them, one
  scalar tag per statistic and layer) and documents, as the ``metadata`` contract describes
  them; :func:`write_long_run` writes a 10,000-step run as the callback does (schema 2) or as
  schema 1 did.
* :func:`generate` trains tiny Keras models on synthetic data with ``FitDiagCallback`` and a
  label per run (:data:`LABELS`), in one subprocess; :func:`evaluate` diagnoses them and says
  which runs were diagnosed right.

Run it directly to print the accuracy figure::

    python tests/tb_fitdiag/labelled_runs.py /tmp/labelled
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tb_fitdiag import metadata

Points = Sequence[tuple[int, float]]


def write_events(
    run_dir: str | os.PathLike[str],
    scalars: Mapping[str, Points] | None = None,
    *,
    layer_stats: Mapping[str, Mapping[str, Points]] | None = None,
    global_stats: Mapping[str, Points] | None = None,
    documents: Mapping[str, Any] | None = None,
    schema_version: int | None = None,
) -> Path:
    """Writes one TensorBoard run with TensorBoard's event writer and returns the file.

    Args:
        run_dir: The run's directory (created).
        scalars: Ordinary scalars (legacy ``simple_value``, as most frameworks write them).
        layer_stats: fitdiag per-layer statistics: stat -> layer -> points.
        global_stats: fitdiag whole-model statistics: stat -> points.
        documents: fitdiag JSON documents: tag -> JSON-able value (or a raw ``str``/``bytes``).
        schema_version: Overrides the schema version written in the plugin content.
    """
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.util import tensor_util

    os.makedirs(run_dir, exist_ok=True)
    writer = EventFileWriter(str(run_dir))

    def fitdiag_meta(kind: str, tensor: bool) -> Any:
        meta = metadata.create_summary_metadata(kind, tensor=tensor)
        if schema_version is not None:
            meta.plugin_data.content = json.dumps(
                {"version": schema_version, "kind": kind}
            ).encode()
        return meta

    def emit(step: int, value: Any) -> None:
        writer.add_event(
            event_pb2.Event(
                step=step, wall_time=1.0 + step, summary=summary_pb2.Summary(value=[value])
            )
        )

    for tag, points in (scalars or {}).items():
        for step, v in points:
            emit(step, summary_pb2.Summary.Value(tag=tag, simple_value=v))
    stat_series: list[tuple[str, str, Points]] = []
    for stat, by_layer in (layer_stats or {}).items():
        for layer, points in by_layer.items():
            stat_series.append((metadata.layer_tag(stat, layer), metadata.KIND_LAYER_STAT, points))
    for stat, points in (global_stats or {}).items():
        stat_series.append((metadata.global_tag(stat), metadata.KIND_GLOBAL_STAT, points))
    for tag, kind, points in stat_series:
        meta = fitdiag_meta(kind, tensor=False)
        for step, v in points:
            emit(
                step,
                summary_pb2.Summary.Value(
                    tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto(float(v))
                ),
            )
    kinds = {
        metadata.RUN_INFO_TAG: metadata.KIND_RUN_INFO,
        metadata.STATIC_FINDINGS_TAG: metadata.KIND_STATIC_FINDINGS,
    }
    for tag, doc in (documents or {}).items():
        raw = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
        raw = raw.encode() if isinstance(raw, str) else raw
        meta = fitdiag_meta(kinds.get(tag, metadata.KIND_RUN_INFO), tensor=True)
        emit(
            0,
            summary_pb2.Summary.Value(
                tag=tag, metadata=meta, tensor=tensor_util.make_tensor_proto([raw])
            ),
        )
    writer.close()
    (path,) = [p for p in Path(run_dir).iterdir() if "tfevents" in p.name][-1:]
    return path


LONG_RUN_STEPS = 10_000
LONG_RUN_LAYERS = ("seq/dense", "seq/dense_1", "seq/dense_2")
# The steps of the long run whose gradients are Inf: one short burst that a sample of the
# records (TensorBoard's default of 10 or 1,000 values a tag) would miss or blur.
LONG_RUN_BURST = (6_543, 6_544, 6_545)


def write_long_run(log_dir: str | os.PathLike[str], *, schema: int = 2) -> None:
    """A 10,000-step run with a record at every step, as ``FitDiagCallback(interval=1)`` writes
    it (without training): 3 layers' gradient norms, update ratios and exactly-0 fractions, the
    batch loss, 10 epochs of ``epoch_loss``, and a burst of Inf gradients at
    :data:`LONG_RUN_BURST`.

    Args:
        log_dir: The training run (``<log_dir>/train``, ``<log_dir>/validation``).
        schema: 2 writes with ``tb_fitdiag.summary`` (what the callback writes); 1 writes one
            scalar tag per statistic and layer, as fitdiag's first event format did.
    """
    from tb_fitdiag.summary import RunWriters

    burst = set(LONG_RUN_BURST)
    writers = RunWriters(str(log_dir))
    writers.train.document(
        metadata.RUN_INFO_TAG,
        {
            "version": metadata.SCHEMA_VERSION,
            "layers": list(LONG_RUN_LAYERS),
            "interval": 1,
            "dense_steps": 0,
            "activation_interval": 0,
            "optimizer": "Adam",
            "strategy": "default",
            "mixed_precision": False,
            "script": None,
        },
        0,
        metadata.KIND_RUN_INFO,
    )
    legacy: dict[str, list[tuple[int, float]]] = {}
    for step in range(LONG_RUN_STEPS):
        values: dict[str, tuple[float, str]] = {
            metadata.global_tag("batch_loss"): (
                0.3 + 2.0 / (1 + step / 500),
                metadata.KIND_GLOBAL_STAT,
            )
        }
        for i, layer in enumerate(LONG_RUN_LAYERS):
            norm = float("inf") if step in burst else 0.1 * (i + 1) * (1 + 0.1 * ((step % 7) - 3))
            values[metadata.layer_tag("grad_norm", layer)] = (norm, metadata.KIND_LAYER_STAT)
            values[metadata.layer_tag("update_ratio", layer)] = (1e-3, metadata.KIND_LAYER_STAT)
            values[metadata.layer_tag("zero_fraction", layer)] = (0.01, metadata.KIND_LAYER_STAT)
        if schema == 2:
            writers.train.stats(values, step)
        else:
            for tag, (value, _kind) in values.items():
                legacy.setdefault(tag, []).append((step, value))
    for epoch in range(10):
        writers.train.scalar("epoch_loss", 0.3 + 2.0 / (1 + 2 * epoch), epoch)
        writers.validation.scalar("epoch_loss", 0.35 + 2.0 / (1 + 2 * epoch), epoch)
    writers.close()
    if schema == 1:
        layer_stats: dict[str, dict[str, list[tuple[int, float]]]] = {}
        global_stats: dict[str, list[tuple[int, float]]] = {}
        for tag, points in legacy.items():
            stat, layer = metadata.parse_tag(tag) or ("", None)
            if layer is None:
                global_stats[stat] = points
            else:
                layer_stats.setdefault(stat, {})[layer] = points
        write_events(
            Path(log_dir) / metadata.TRAIN_RUN,
            layer_stats=layer_stats,
            global_stats=global_stats,
            schema_version=1,
        )


# ---------------------------------------------------------------------------------------------
# The labelled set


@dataclass(frozen=True)
class Label:
    """What a labelled run must yield.

    Attributes:
        name: The run's directory under the labelled logdir.
        fault: The injected fault, in words.
        cause: The fitlint rule that names the fault, when one does: a reported warning or
            error must suggest it. Empty for healthy runs and faults no rule names.
        expected_any: At least one of these findings must be reported (empty: healthy).
        allowed: Other warning/error findings that are acceptable consequences of the fault.
    """

    name: str
    fault: str
    cause: str
    expected_any: frozenset[str]
    allowed: frozenset[str] = frozenset()


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


LABELS: tuple[Label, ...] = (
    Label("healthy_mlp", "none: normalized inputs, Adam 1e-3", "", _fs()),
    Label("healthy_sgd", "none: normalized inputs, SGD 0.05 with momentum", "", _fs()),
    Label("healthy_regression", "none: regression, Adam 3e-3", "", _fs()),
    Label("healthy_tanh", "none: one tanh layer, Adam 1e-3", "", _fs()),
    Label(
        "lr_too_high_sgd",
        "SGD learning rate 20 on a regression",
        "learning-rate-too-high",
        _fs("non-finite-loss", "diverging-loss", "exploding-gradients"),
        _fs("update-ratio-too-high", "oscillating-loss", "dead-units"),
    ),
    Label(
        "lr_too_high_adam",
        "Adam learning rate 5 on a classifier",
        "learning-rate-too-high",
        _fs("diverging-loss", "oscillating-loss", "non-finite-loss", "exploding-gradients"),
        _fs("update-ratio-too-high", "dead-units", "loss-plateau", "vanishing-gradients"),
    ),
    Label(
        "deep_sigmoid",
        "10 stacked sigmoid layers, SGD 0.01",
        "deep-saturating-activations",
        _fs("vanishing-gradients"),
        _fs("loss-plateau", "update-ratio-too-low"),
    ),
    Label(
        "dead_relu",
        "ReLU layers with their bias initialised to -5",
        "",
        _fs("dead-units"),
        _fs("loss-plateau"),
    ),
    Label(
        "overfitting_tiny",
        "a wide MLP on 40 noisy training samples, 40 epochs",
        "",
        _fs("overfitting"),
    ),
    Label(
        "lr_too_low",
        "SGD learning rate 1e-5",
        "learning-rate-too-low",
        _fs("loss-plateau", "update-ratio-too-low"),
    ),
    Label(
        "unnormalized_inputs",
        "inputs scaled by 1000, SGD 0.01",
        "missing-input-normalization",
        _fs(
            "non-finite-loss",
            "diverging-loss",
            "exploding-gradients",
            "oscillating-loss",
            "dead-units",
        ),
        _fs("update-ratio-too-high", "loss-plateau"),
    ),
)

_TRAINER = textwrap.dedent(
    r"""
    import os, sys
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import keras
    from tb_fitdiag import FitDiagCallback

    root, names = sys.argv[1], sys.argv[2].split(",")
    L = keras.layers
    BCE = "binary_crossentropy"

    def data_cls(n, d=8, seed=0, scale=1.0, noise=0.0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, d)).astype("float32")
        w = rng.normal(size=(d,))
        y = ((x @ w + noise * rng.normal(size=n)) > 0).astype("float32")
        return x * scale, y

    def data_reg(n, d=8, seed=0):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, d)).astype("float32")
        y = (x @ rng.normal(size=(d,)) + 0.1 * rng.normal(size=n)).astype("float32")
        return x, y

    def mlp(d, hidden, act="relu", out="sigmoid", **kw):
        layers = [keras.Input((d,))]
        layers += [L.Dense(h, activation=act, **kw) for h in hidden]
        layers += [L.Dense(1, activation=out)]
        return keras.Sequential(layers)

    def run(name, model, opt, loss, x, y, epochs, batch=32, val=0.25):
        keras.utils.set_random_seed(7)
        model.compile(optimizer=opt, loss=loss)
        cb = FitDiagCallback(
            log_dir=os.path.join(root, name), interval=10, activation_interval=10,
            probe_data=x[:64], lint_script=False,
        )
        model.fit(x, y, epochs=epochs, batch_size=batch, validation_split=val,
                  callbacks=[cb], verbose=0)

    def build(name):
        keras.utils.set_random_seed(7)
        if name == "healthy_mlp":
            x, y = data_cls(480)
            run(name, mlp(8, [16, 16]), keras.optimizers.Adam(1e-3), BCE, x, y, 20)
        elif name == "healthy_sgd":
            x, y = data_cls(480, seed=1)
            run(name, mlp(8, [16]), keras.optimizers.SGD(0.05, momentum=0.9),
                BCE, x, y, 20)
        elif name == "healthy_regression":
            x, y = data_reg(480, seed=2)
            run(name, mlp(8, [16], out=None), keras.optimizers.Adam(3e-3), "mse", x, y, 20)
        elif name == "healthy_tanh":
            x, y = data_cls(480, seed=10)
            run(name, mlp(8, [16], act="tanh"), keras.optimizers.Adam(1e-3),
                BCE, x, y, 20)
        elif name == "lr_too_high_sgd":
            x, y = data_reg(480, seed=3)
            run(name, mlp(8, [16, 16], out=None), keras.optimizers.SGD(20.0), "mse", x, y, 20)
        elif name == "lr_too_high_adam":
            x, y = data_cls(480, seed=4)
            run(name, mlp(8, [32, 32]), keras.optimizers.Adam(5.0), BCE, x, y, 20)
        elif name == "deep_sigmoid":
            x, y = data_cls(480, seed=5)
            run(name, mlp(8, [16] * 10, act="sigmoid"), keras.optimizers.SGD(0.01),
                BCE, x, y, 20)
        elif name == "dead_relu":
            x, y = data_cls(480, seed=6)
            model = mlp(8, [16, 16], bias_initializer=keras.initializers.Constant(-5.0))
            run(name, model, keras.optimizers.Adam(1e-3), BCE, x, y, 20)
        elif name == "overfitting_tiny":
            x, y = data_cls(80, d=20, seed=7, noise=2.0)
            run(name, mlp(20, [256, 256]), keras.optimizers.Adam(3e-3), BCE,
                x, y, 40, batch=8, val=0.5)
        elif name == "lr_too_low":
            x, y = data_cls(480, seed=8)
            run(name, mlp(8, [16, 16]), keras.optimizers.SGD(1e-5), BCE, x, y, 20)
        elif name == "unnormalized_inputs":
            x, y = data_cls(480, seed=9, scale=1000.0)
            run(name, mlp(8, [16, 16]), keras.optimizers.SGD(0.01), BCE, x, y, 20)
        else:
            raise SystemExit(f"unknown labelled run {name}")

    import time
    for name in names:
        start = time.perf_counter()
        build(name)
        print(f"trained {name} in {time.perf_counter() - start:.1f} s", flush=True)
    """
)


def generate(root: str | os.PathLike[str], names: Iterable[str] | None = None) -> str:
    """Trains the labelled runs (all of :data:`LABELS` by default) into ``root``.

    Runs in one subprocess so the caller never imports TensorFlow. Returns its log: one line
    per run with its training time.

    Raises:
        RuntimeError: When training fails; the message carries the subprocess' stderr.
    """
    chosen = [label.name for label in LABELS] if names is None else list(names)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", _TRAINER, str(root), ",".join(chosen)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"training the labelled runs failed:\n{result.stderr[-4000:]}")
    return result.stdout


_SHARED: dict[str, Path] = {}


def shared_logdir(tmp_path_factory: Any) -> Path:
    """The labelled runs, trained once per test session (process) into a pytest temp dir.

    Every test module that needs them calls this (or uses :func:`labelled_logdir`), so the
    training cost is paid once however many modules use it.
    """
    if "root" not in _SHARED:
        root = Path(tmp_path_factory.mktemp("labelled_runs"))
        log = generate(root)
        (root / "training.log").write_text(log)
        _SHARED["root"] = root
    return _SHARED["root"]


@pytest.fixture(scope="session")
def labelled_logdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session fixture: the directory holding the labelled runs (import it into a test module)."""
    return shared_logdir(tmp_path_factory)


@dataclass(frozen=True)
class Verdict:
    """The diagnosis of one labelled run against its label."""

    label: Label
    findings: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, severity, suggestions)
    present: bool = True  # the run's logs were found

    @property
    def alarms(self) -> set[str]:
        """Names of the warning and error findings."""
        return {name for name, severity, _ in self.findings if severity in ("warning", "error")}

    @property
    def right(self) -> bool:
        """Healthy: no warning or error. Faulty: an expected finding, nothing unexplained,
        and the fault's fitlint rule among the suggestions of the alarms."""
        if not self.present:
            return False
        if not self.label.expected_any:
            return not self.alarms
        found = {name for name, _, _ in self.findings}
        unexplained = self.alarms - self.label.expected_any - self.label.allowed
        suggested = {
            rule
            for name, severity, rules in self.findings
            if severity in ("warning", "error")
            for rule in rules
        }
        cause_named = not self.label.cause or self.label.cause in suggested
        return bool(found & self.label.expected_any) and not unexplained and cause_named


def evaluate(root: str | os.PathLike[str]) -> list[Verdict]:
    """Diagnoses every labelled run under ``root`` through the ``fitdiag diagnose`` code path."""
    from tb_fitdiag import cli
    from tb_fitdiag.diagnosis import DiagnosisConfig

    reports, _ = cli.diagnose_logdir(str(root), None, DiagnosisConfig())
    by_run = {r.run: r for r in reports}
    verdicts = []
    for label in LABELS:
        report = by_run.get(label.name)
        findings = (
            tuple((f.name, f.severity, f.suggestions) for f in report.findings) if report else ()
        )
        verdicts.append(Verdict(label, findings, present=report is not None))
    return verdicts


def summary(verdicts: Sequence[Verdict]) -> str:
    """One line per run and the accuracy figure."""
    lines = []
    for v in verdicts:
        mark = "right" if v.right else "WRONG"
        found = ", ".join(f"{n} ({s})" for n, s, _ in v.findings) or "no findings"
        found = found if v.present else "MISSING: the run was not generated"
        lines.append(f"{mark:5}  {v.label.name:22} {found}")
    right = sum(v.right for v in verdicts)
    healthy = [v for v in verdicts if not v.label.expected_any]
    false_alarms = sum(bool(v.alarms) for v in healthy)
    lines.append(
        f"accuracy: {right}/{len(verdicts)} labelled runs right; "
        f"false alarms on healthy runs: {false_alarms}/{len(healthy)}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else "labelled_runs"
    only = sys.argv[2].split(",") if len(sys.argv) > 2 else None
    if not Path(target, LABELS[0].name).exists() or only:
        print(generate(target, only), end="")
    print(summary(evaluate(target)))
