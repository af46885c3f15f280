"""FitDiagCallback under tf.distribute.MirroredStrategy over two logical CPU devices.

The logical devices must be configured before TensorFlow initializes, so the fit runs in a
fresh interpreter; the test reads its events back through TensorBoard's EventAccumulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tb_fitdiag import metadata

_SCRIPT = textwrap.dedent(
    """
    import json, math, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    from tb_fitdiag import FitDiagCallback

    log_dir, jit = sys.argv[1], sys.argv[2] == "xla"
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = (x @ rng.normal(size=(6, 1))).astype("float32")

    def build():
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
        )

    # The reference: one device, the whole global batch of 16, an independent GradientTape.
    reference = build()
    initial = reference.get_weights()
    loss_fn = keras.losses.MeanSquaredError()

    def norms(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, reference(xb, training=True))
        grads = tape.gradient(loss, reference.trainable_weights)
        return math.sqrt(sum(float(tf.reduce_sum(g * g)) for g in grads)), float(loss)

    global_norm, global_loss = norms(x[:16], y[:16])
    replica_norm, _ = norms(x[:8], y[:8])

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        model = build()
        model.set_weights(initial)
        model.compile(keras.optimizers.SGD(0.05), "mse", jit_compile=jit)
    model.fit(
        x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
        callbacks=[FitDiagCallback(log_dir, interval=1, lint_script=False)],
    )
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "global_norm": global_norm,
        "global_loss": global_loss,
        "replica_norm": replica_norm,
    }))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_records_global_norms(tmp_path: Path, cb_load_run: Any) -> None:
    # Graph mode only: Keras itself fails to run jit_compile=True under MirroredStrategy on
    # logical CPU devices (XLA refuses variables placed on the other device).
    script = tmp_path / "mirrored.py"
    script.write_text(_SCRIPT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "logs"), "graph"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = json.loads(done.stdout.strip().splitlines()[-1])
    assert expected["replicas"] == 2
    run = cb_load_run(str(tmp_path / "logs" / "train"))
    recorded = run.series(metadata.global_tag("global_grad_norm"))[0]
    assert recorded == pytest.approx(expected["global_norm"], rel=1e-5)
    # A per-replica norm (half the batch) would differ.
    assert recorded != pytest.approx(expected["replica_norm"], rel=1e-2)
    assert run.series(metadata.global_tag("batch_loss"))[0] == pytest.approx(
        expected["global_loss"], rel=1e-5
    )
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert info["strategy"] == "MirroredStrategy"
    assert sorted(run.series(metadata.global_tag("global_grad_norm"))) == [0, 1]


# Keras 3's fit() does not run under MultiWorkerMirroredStrategy on TensorFlow 2.21, with or
# without this callback (its symbolic build reduces per-replica batches, and its metrics
# reduction fails on scalars: tensorflow/tensorflow#72388). So the workers drive the callback's
# hooks as fit() would at train begin and at an epoch end, under the real strategy and cluster.
_WORKER = textwrap.dedent(
    """
    import json, os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    import keras
    from tb_fitdiag import FitDiagCallback
    from tb_fitdiag import callback as callback_module

    log_dir = sys.argv[1]
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
        )
        model.compile(keras.optimizers.SGD(0.05), "mse")
    recorder = FitDiagCallback(log_dir, interval=1, lint_script=False)
    recorder.set_model(model)
    recorder.set_params({"epochs": 1, "steps": 4, "verbose": 0})
    recorder.on_train_begin()
    recorder.on_epoch_begin(0)
    recorder.on_epoch_end(0, {"loss": 0.5})
    recorder.on_train_end()
    print(json.dumps({
        "chief": callback_module._is_chief(strategy),
        "replicas": strategy.num_replicas_in_sync,
    }))
    """
)


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.mark.slow
def test_multi_worker_strategy_only_the_chief_writes(tmp_path: Path, cb_load_run: Any) -> None:
    """Two worker processes on 127.0.0.1, both given the same log_dir: one set of event files,
    written by worker 0 (the chief)."""
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    logs = tmp_path / "logs"
    workers = []
    for index in range(2):
        config = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(config),
            "CUDA_VISIBLE_DEVICES": "",
            "TF_CPP_MIN_LOG_LEVEL": "3",
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, str(script), str(logs)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    outputs = []
    try:
        for worker in workers:
            out, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err[-3000:]
            outputs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=30)
    assert [o["chief"] for o in outputs] == [True, False]
    assert outputs[0]["replicas"] == 2
    written = sorted(p.relative_to(logs).parent.as_posix() for p in logs.rglob("events.out.*"))
    assert written == ["train"], written
    run = cb_load_run(str(logs / "train"))
    assert run.series("epoch_loss") == {0: pytest.approx(0.5)}
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert info["strategy"] == "CollectiveAllReduceStrategy"  # MultiWorkerMirroredStrategy's class
