"""FitDiagCallback: real Keras 3 fits on tiny data, read back through TensorBoard's loaders."""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tb_fitdiag import metadata

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning"),
]

LR = 0.05


def _data(n: int = 64, features: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


def _mlp(
    keras: Any, features: int = 6, dead_units: int = 3, names: tuple[str, str, str] | None = None
) -> Any:
    """The same weights every time it is built; ``names``: (model, hidden layer, output layer)
    for fixed layer paths."""
    keras.utils.set_random_seed(1)
    model_name, hidden, out = names or (None, None, None)
    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(8, activation="relu", name=hidden),
            keras.layers.Dense(1, name=out),
        ],
        name=model_name,
    )
    # Make some hidden units dead, so that zero fractions are not trivially 0.
    kernel, bias = model.layers[0].get_weights()
    bias[:dead_units] = -100.0
    model.layers[0].set_weights([kernel, bias])
    return model


def _reference(
    keras: Any, model: Any, x: np.ndarray, y: np.ndarray, batch: int, steps: int
) -> list[dict[str, Any]]:
    """Per step: per-layer gradient norms etc. from an independent GradientTape + plain SGD."""
    import tensorflow as tf

    loss_fn = keras.losses.MeanSquaredError()
    layers = [layer for layer in model.layers if layer.trainable_weights]
    out = []
    for step in range(steps):
        xb, yb = x[step * batch : (step + 1) * batch], y[step * batch : (step + 1) * batch]
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        by_var = {id(v): g.numpy() for v, g in zip(model.trainable_weights, grads, strict=True)}
        record: dict[str, Any] = {"loss": float(loss), "layers": []}
        for layer in layers:
            g = [by_var[id(v)] for v in layer.trainable_weights]
            w = [v.numpy() for v in layer.trainable_weights]
            norm = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in g))
            weight = math.sqrt(sum(float(np.sum(a.astype(np.float64) ** 2)) for a in w))
            zeros = sum(int(np.sum(a == 0)) for a in g) / sum(a.size for a in g)
            record["layers"].append({"norm": norm, "weight": weight, "zeros": zeros})
        record["global"] = math.sqrt(sum(r["norm"] ** 2 for r in record["layers"]))
        out.append(record)
        for v, g in zip(model.trainable_weights, grads, strict=True):
            v.assign(v - LR * g)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_recorded_statistics_equal_an_independent_gradient_tape(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, jit_compile: bool
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    initial = model.get_weights()
    reference_model = _mlp(keras)
    reference_model.set_weights(initial)
    expected = _reference(keras, reference_model, x, y, batch=16, steps=4)

    model.compile(keras.optimizers.SGD(LR), "mse", jit_compile=jit_compile)
    callback = FitDiagCallback(tmp_path, interval=1, lint_script=False)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[callback])

    run = cb_load_run(str(tmp_path / "train"))
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert info["layers"] == ["sequential/dense", "sequential/dense_1"]
    assert info["interval"] == 1
    assert info["optimizer"] == "SGD"
    for step, record in enumerate(expected):
        assert run.series(metadata.global_tag("global_grad_norm"))[step] == pytest.approx(
            record["global"], rel=1e-5
        )
        assert run.series(metadata.global_tag("batch_loss"))[step] == pytest.approx(
            record["loss"], rel=1e-5
        )
        assert run.series(metadata.global_tag("learning_rate"))[step] == pytest.approx(LR)
        for path, layer in zip(info["layers"], record["layers"], strict=True):
            grad_norm = run.series(metadata.layer_tag("grad_norm", path))[step]
            assert grad_norm == pytest.approx(layer["norm"], rel=1e-5)
            assert run.series(metadata.layer_tag("weight_norm", path))[step] == pytest.approx(
                layer["weight"], rel=1e-5
            )
            # Plain SGD moves the weights by exactly lr * |g|.
            assert run.series(metadata.layer_tag("update_ratio", path))[step] == pytest.approx(
                LR * layer["norm"] / layer["weight"], rel=1e-4
            )
            assert run.series(metadata.layer_tag("zero_fraction", path))[step] == pytest.approx(
                layer["zeros"]
            )
            assert run.series(metadata.layer_tag("nonfinite", path))[step] == 0.0
    # The dead units make a quarter or more of the first layer's gradient exactly zero.
    assert run.series(metadata.layer_tag("zero_fraction", "sequential/dense"))[0] > 0.25
    # The optimizer is restored after training.
    assert "apply" not in vars(model.optimizer)
    assert "_all_reduce_sum_gradients" not in vars(model.optimizer)


@pytest.mark.slow
def test_every_summary_carries_plugin_name_version_and_data_class(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tensorboard.compat.proto import summary_pb2

    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=2, lint_script=False)],
    )
    train = cb_load_run(str(tmp_path / "train"))
    fitdiag_tags = [tag for tag in train.metadata if tag.startswith(metadata.TAG_PREFIX)]
    assert metadata.RUN_INFO_TAG in fitdiag_tags
    kinds = set()
    for tag in fitdiag_tags:
        meta = train.metadata[tag]
        assert meta.plugin_data.plugin_name == metadata.PLUGIN_NAME
        content = metadata.parse_plugin_content(meta.plugin_data.content)
        assert content["version"] == metadata.SCHEMA_VERSION
        assert meta.data_class == summary_pb2.DATA_CLASS_TENSOR
        kinds.add(content["kind"])
        if tag == metadata.RUN_INFO_TAG:
            assert content["kind"] == metadata.KIND_RUN_INFO
        elif metadata.parse_records_tag(tag) is not None:
            assert content["kind"] == metadata.KIND_RECORDS
            assert len(train.values.get(tag, [])) == 0  # unpacked, not a series of its own
        else:
            assert metadata.parse_layout_tag(tag) is not None, tag
            assert content["kind"] == metadata.KIND_LAYOUT
    assert {metadata.KIND_RECORDS, metadata.KIND_LAYOUT} <= kinds
    # The statistics inside the records, one series per tag.
    stats = [tag for tag in train.values if metadata.parse_tag(tag) is not None]
    assert len(stats) > 10
    # Epoch scalars for the Scalars tab, in both runs, at the epoch index.
    for tag in ("epoch_loss", "epoch_mae", "epoch_learning_rate"):
        assert sorted(train.series(tag)) == [0, 1]
        assert train.metadata[tag].plugin_data.plugin_name == "scalars"
    validation = cb_load_run(str(tmp_path / "validation"))
    assert sorted(validation.series("epoch_loss")) == [0, 1]
    assert sorted(validation.series("epoch_mae")) == [0, 1]
    # Statistics every 2 steps: 48 training samples / 16 = 3 steps per epoch, 6 in all.
    assert sorted(train.series(metadata.global_tag("global_grad_norm"))) == [0, 2, 4]


@pytest.mark.slow
@pytest.mark.parametrize("scheduled", [False, True], ids=["variable", "schedule"])
def test_the_epoch_learning_rate_is_the_rate_at_the_epoch_end(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, scheduled: bool
) -> None:
    """A rate set between fits and a schedule's rate at the epoch's last step both reach
    ``epoch_learning_rate`` (the callback reads the rate itself)."""
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()  # 64 samples: 4 steps of 16 per epoch
    model = _mlp(keras)
    rate: Any = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5) if scheduled else 0.1
    model.compile(keras.optimizers.SGD(rate), "mse")
    callback = FitDiagCallback(tmp_path, interval=3, lint_script=False)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])
    if not scheduled:
        model.optimizer.learning_rate = 0.025
    model.fit(x, y, batch_size=16, initial_epoch=2, epochs=3, verbose=0, callbacks=[callback])

    rates = cb_load_run(str(tmp_path / "train")).series("epoch_learning_rate")
    expected = [0.1 * 0.5**steps for steps in (4, 8, 12)] if scheduled else [0.1, 0.1, 0.025]
    assert [rates[epoch] for epoch in range(3)] == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_the_epoch_learning_rate_calls_a_callable_rate_that_holds_a_variable(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    """A callable rate (or a schedule) whose ``value`` attribute is a variable is called, not
    taken for the optimizer's own rate variable: its rate is what it returns."""
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import FitDiagCallback

    class HalfOf:
        def __init__(self) -> None:
            self.value = tf.Variable(0.2)  # the base rate, not the rate

        def __call__(self) -> Any:
            return self.value * 0.5

    x, y = _data()
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(HalfOf()), "mse")
    callback = FitDiagCallback(tmp_path, interval=3, lint_script=False)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[callback])

    run = cb_load_run(str(tmp_path / "train"))
    assert list(run.series("fitdiag/learning_rate").values()) == pytest.approx([0.1] * 3)
    rates = run.series("epoch_learning_rate")
    assert [rates[epoch] for epoch in range(2)] == pytest.approx([0.1, 0.1], rel=1e-6)


@pytest.mark.slow
def test_fast_loader_keeps_the_data(tmp_path: Path, cb_clean_keras: Any) -> None:
    """TensorBoard's Rust data server (the fast loader) serves every fitdiag summary."""
    keras = cb_clean_keras
    from tensorboard.data import server_ingester
    from tensorboard.util import grpc_util

    from tb_fitdiag import FitDiagCallback

    try:
        binary = server_ingester.get_server_binary()
    except server_ingester.NoDataServerError as err:
        pytest.skip(f"no TensorBoard data server: {err}")
    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse")
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=1, lint_script=False)],
    )
    # At TensorBoard's default flags (no --samples_per_plugin).
    ingester = server_ingester.SubprocessServerDataIngester(
        binary,
        str(tmp_path),
        reload_interval=0,
        channel_creds_type=grpc_util.ChannelCredsType.LOCAL,
    )
    ingester.start()
    try:
        provider = ingester.data_provider
        from tensorboard.context import RequestContext

        from tb_fitdiag import reading

        ctx = RequestContext()
        tensors: dict[str, Any] = {}
        for _ in range(100):  # the server loads in the background; wait for it (bounded)
            tensors = provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.PLUGIN_NAME)
            if metadata.RUN_INFO_TAG in tensors.get("train", {}):
                break
            time.sleep(0.1)
        assert any(metadata.parse_records_tag(tag) for tag in tensors["train"])
        (run,) = reading.list_training_runs(provider, ctx, "")
        data, retention = reading.read_run(provider, ctx, "", run)
        assert data.layer_stats["grad_norm"]["sequential/dense"].steps.tolist() == [0, 1, 2, 3]
        assert data.global_stats["batch_loss"].steps.tolist() == [0, 1, 2, 3]
        assert data.run_info is not None
        assert retention.complete and retention.records_kept == retention.records_written > 0
    finally:
        ingester._stdin_handle.close()  # the server exits when its stdin closes


@pytest.mark.slow
def test_keras_tensorboard_beside_it_loads_without_clashes(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tensorboard.backend.event_processing import event_file_loader

    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("adam", "mse")
    model.fit(
        x,
        y,
        validation_split=0.25,
        epochs=2,
        batch_size=16,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=str(tmp_path), histogram_freq=1),
            FitDiagCallback(tmp_path, interval=1, lint_script=False),
        ],
    )
    # Each tag comes from exactly one event file: nothing written twice, nothing clashing.
    owners: dict[str, set[str]] = {}
    for run in ("train", "validation"):
        for name in os.listdir(tmp_path / run):
            loader = event_file_loader.EventFileLoader(str(tmp_path / run / name))
            for event in loader.Load():
                for value in event.summary.value:
                    owners.setdefault(f"{run}:{value.tag}", set()).add(name)
    assert owners, "no events were written"
    assert all(len(files) == 1 for files in owners.values()), owners
    # The epoch scalars are Keras's: one value per epoch, in both runs.
    train = cb_load_run(str(tmp_path / "train"))
    assert [step for step, _ in train.values["epoch_loss"]] == [0, 1]
    validation = cb_load_run(str(tmp_path / "validation"))
    assert [step for step, _ in validation.values["epoch_loss"]] == [0, 1]
    assert metadata.layer_tag("grad_norm", "sequential/dense") in train.values
    # The whole log directory loads through TensorBoard's data provider.
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.context import RequestContext

    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(tmp_path))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(tmp_path))
    ctx = RequestContext()
    from tb_fitdiag import reading

    (run,) = reading.list_training_runs(provider, ctx, "")
    assert "global_grad_norm" in reading.load_run(provider, ctx, "", run).global_stats
    theirs = provider.list_scalars(ctx, experiment_id="", plugin_name="scalars")
    assert "epoch_loss" in theirs["train"] and "epoch_loss" in theirs["validation"]


@pytest.mark.slow
def test_keras_tensorboard_on_another_dir_does_not_silence_epoch_scalars(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("adam", "mse")
    model.fit(
        x,
        y,
        epochs=1,
        batch_size=16,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=str(tmp_path / "keras")),
            FitDiagCallback(tmp_path / "ours", lint_script=False),
        ],
    )
    assert sorted(cb_load_run(str(tmp_path / "ours" / "train")).series("epoch_loss")) == [0]


@pytest.mark.slow
def test_mixed_precision_records_unscaled_gradients(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import FitDiagCallback

    keras.config.set_dtype_policy("mixed_float16")
    x, y = _data()
    x, y = x * 0.1, y * 0.1
    model = _mlp(keras, dead_units=0)
    reference = _mlp(keras, dead_units=0)
    reference.set_weights(model.get_weights())
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y[:16], reference(x[:16], training=True))
    grads = tape.gradient(loss, reference.trainable_weights)
    expected = math.sqrt(sum(float(np.sum(g.numpy().astype(np.float64) ** 2)) for g in grads))

    scale = 256.0
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(LR), initial_scale=scale)
    model.compile(optimizer, "mse")
    callback = FitDiagCallback(tmp_path, interval=1, lint_script=False)
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    run = cb_load_run(str(tmp_path / "train"))
    recorded = run.series(metadata.global_tag("global_grad_norm"))[0]
    assert recorded == pytest.approx(expected, rel=2e-2)  # float16 forward pass
    assert recorded < expected * scale / 10
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert info["mixed_precision"] is True
    assert info["optimizer"] == "LossScaleOptimizer(SGD)"
    assert "apply" not in vars(optimizer.inner_optimizer)
    assert "scale_loss" not in vars(optimizer)


@pytest.mark.slow
def test_nan_from_an_absurd_learning_rate_is_recorded_and_training_goes_on(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras, dead_units=0)
    model.compile(keras.optimizers.SGD(1e12), "mse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no internal error may be reported
        history = model.fit(
            x,
            y,
            batch_size=16,
            epochs=3,
            verbose=0,
            callbacks=[FitDiagCallback(tmp_path, interval=1, lint_script=False)],
        )
    assert len(history.history["loss"]) == 3
    run = cb_load_run(str(tmp_path / "train"))
    nonfinite = run.series(metadata.layer_tag("nonfinite", "sequential/dense"))
    assert sorted(nonfinite) == list(range(12))
    assert max(nonfinite.values()) > 0
    last_norm = run.series(metadata.global_tag("global_grad_norm"))[11]
    assert not math.isfinite(last_norm)
    assert not math.isfinite(run.series("epoch_loss")[2])


@pytest.mark.slow
def test_step_axis_continues_across_fits_and_initial_epoch(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse")
    model.fit(  # steps 0-7, epochs 0-1
        x,
        y,
        batch_size=16,
        epochs=2,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=3, lint_script=False)],
    )
    from tb_fitdiag import callback as callback_module

    probe = callback_module._model_state(model).probe
    model.fit(  # a new callback on the same model: steps 8-11, epoch 2
        x,
        y,
        batch_size=16,
        epochs=1,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=3, lint_script=False)],
    )
    # The recording train function is reused, not traced again.
    assert callback_module._model_state(model).probe is probe
    model.fit(  # initial_epoch: steps 12-15, epoch 3
        x,
        y,
        batch_size=16,
        epochs=4,
        initial_epoch=3,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=3, lint_script=False)],
    )
    run = cb_load_run(str(tmp_path / "train"))
    # One event file per fit(); their load order is TensorBoard's business, the steps are ours.
    steps = [step for step, _ in run.values[metadata.global_tag("global_grad_norm")]]
    assert sorted(steps) == [0, 3, 6, 9, 12, 15]
    assert sorted(step for step, _ in run.values["epoch_loss"]) == [0, 1, 2, 3]
    assert sorted(step for step, _ in run.values[metadata.RUN_INFO_TAG]) == [0, 8, 12]


def _generator(x: np.ndarray, y: np.ndarray, batch: int) -> Any:
    while True:
        for start in range(0, len(x), batch):
            yield x[start : start + batch], y[start : start + batch]


@pytest.mark.slow
@pytest.mark.parametrize("source", ["numpy", "tf.data", "generator"])
@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_models_and_data_sources(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, kind: str, source: str
) -> None:
    keras = cb_clean_keras
    import tensorflow as tf

    from tb_fitdiag import FitDiagCallback

    x, y = _data(n=32, features=4)
    keras.utils.set_random_seed(2)
    if kind == "sequential":
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(5, name="a"), keras.layers.Dense(1, name="b")]
        )
        layers = ["sequential/a", "sequential/b"]
    elif kind == "functional":
        inputs = keras.Input((4,))
        inner = keras.Sequential([keras.layers.Dense(3, name="c")], name="inner")
        hidden = keras.layers.Dense(5, activation="tanh", name="a")(inputs)
        outputs = keras.layers.Dense(1, name="b")(inner(hidden))
        model = keras.Model(inputs, outputs)
        layers = ["a", "inner/c", "b"]
    else:

        class Net(keras.Model):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__(name="net")
                self.first = keras.layers.Dense(5, name="a")
                self.second = keras.layers.Dense(1, name="b")

            def call(self, inputs: Any) -> Any:
                return self.second(self.first(inputs))

        model = Net()
        layers = ["net/a", "net/b"]
    model.compile("sgd", "mse")
    callback = FitDiagCallback(tmp_path, interval=1, lint_script=False)
    if source == "numpy":
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[callback])
    elif source == "tf.data":
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
        model.fit(dataset, epochs=2, verbose=0, callbacks=[callback])
    else:
        model.fit(_generator(x, y, 8), steps_per_epoch=4, epochs=2, verbose=0, callbacks=[callback])
    run = cb_load_run(str(tmp_path / "train"))
    assert json.loads(run.series(metadata.RUN_INFO_TAG)[0])["layers"] == layers
    for path in layers:
        steps = sorted(run.series(metadata.layer_tag("grad_norm", path)))
        # An unbuilt subclassed model gets its weights in its first step: recorded from step 1.
        assert steps == list(range(1 if kind == "subclassed" else 0, 8))
        assert all(v > 0 for v in run.series(metadata.layer_tag("grad_norm", path)).values())


@pytest.mark.slow
def test_activation_statistics_on_a_probe_batch(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="relu"),
            keras.layers.Dense(4, activation="sigmoid", name="sigmoid"),
            keras.layers.Dense(1, name="out"),
        ]
    )
    kernel, bias = model.layers[0].get_weights()
    bias[:2] = -1000.0  # two of eight units can never fire
    model.layers[0].set_weights([kernel, bias])
    kernel, bias = model.layers[1].get_weights()
    model.layers[1].set_weights([kernel * 0.0, bias * 0.0 + 50.0])  # every output ~1: saturated
    model.compile(keras.optimizers.SGD(1e-6), "mse")
    callback = FitDiagCallback(
        tmp_path, activation_interval=2, probe_data=(x[:32], y[:32]), lint_script=False
    )
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[callback])
    run = cb_load_run(str(tmp_path / "train"))
    dead = run.series(metadata.layer_tag("dead_fraction", "sequential/relu"))
    assert sorted(dead) == [0, 2]
    assert dead[0] >= 0.25
    saturated = run.series(metadata.layer_tag("saturated_fraction", "sequential/sigmoid"))
    assert saturated[0] == 1.0
    assert metadata.layer_tag("dead_fraction", "sequential/out") not in run.values
    assert json.loads(run.series(metadata.RUN_INFO_TAG)[0])["activation_interval"] == 2


@pytest.mark.slow
def test_static_findings_of_the_script_are_recorded(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    script = tmp_path / "train_script.py"
    script.write_text("import keras\nmodel.fit(x y)\n")
    x, y = _data(n=16)
    model = _mlp(keras)
    model.compile("sgd", "mse")
    model.fit(
        x,
        y,
        epochs=1,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path / "logs", lint_script=script)],
    )
    run = cb_load_run(str(tmp_path / "logs" / "train"))
    assert run.metadata[metadata.STATIC_FINDINGS_TAG].plugin_data.plugin_name == "fitdiag"
    document = json.loads(run.series(metadata.STATIC_FINDINGS_TAG)[0])
    assert document["script"] == str(script)
    assert document["sha256"] == hashlib.sha256(script.read_bytes()).hexdigest()
    assert document["error"] is None
    assert [(f["code"], f["line"], f["severity"]) for f in document["findings"]] == [
        ("FL000", 2, "error")
    ]
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert info["script"] == str(script)


@pytest.mark.slow
def test_a_script_that_cannot_be_linted_records_an_error(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data(n=16)
    model = _mlp(keras)
    model.compile("sgd", "mse")
    missing = tmp_path / "missing.py"
    model.fit(x, y, epochs=1, verbose=0, callbacks=[FitDiagCallback(tmp_path, lint_script=missing)])
    document = json.loads(
        cb_load_run(str(tmp_path / "train")).series(metadata.STATIC_FINDINGS_TAG)[0]
    )
    assert document["findings"] == []
    assert document["error"] and "missing.py" in document["error"]


@pytest.mark.slow
def test_an_internal_error_warns_once_and_training_completes(
    tmp_path: Path, cb_clean_keras: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the log directory should be")
    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse")
    with pytest.warns(RuntimeWarning, match="fitdiag: recording stopped") as caught:
        history = model.fit(
            x,
            y,
            batch_size=16,
            epochs=2,
            verbose=0,
            callbacks=[FitDiagCallback(blocker, interval=1, lint_script=False)],
        )
    assert len(history.history["loss"]) == 2
    assert len([w for w in caught if "fitdiag" in str(w.message)]) == 1
    assert "apply" not in vars(model.optimizer)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interval": 0}, "interval must be a positive integer"),
        ({"interval": 2.5}, "interval must be a positive integer"),
        ({"activation_interval": -1}, "activation_interval must be a non-negative integer"),
        ({"activation_interval": 5}, "needs probe_data"),
        ({"lint_timeout": 0}, "lint_timeout must be positive"),
        ({"lint_timeout": "soon"}, "lint_timeout must be a number"),
    ],
)
def test_bad_options_raise_one_line_errors(kwargs: dict[str, Any], message: str) -> None:
    from tb_fitdiag import FitDiagCallback

    with pytest.raises(ValueError, match=message) as caught:
        FitDiagCallback(**kwargs)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_steps_per_execution_records_whole_executions(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse", steps_per_execution=2)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=3, lint_script=False)],
    )
    run = cb_load_run(str(tmp_path / "train"))
    # Executions start at steps 0, 2, 4, 6; the first at or past each multiple of 3 records.
    norms = run.series(metadata.global_tag("global_grad_norm"))
    assert sorted(norms) == [0, 4, 6]
    assert all(math.isfinite(v) and v > 0 for v in norms.values())


@pytest.mark.slow
def test_keras_own_train_function_is_back_after_fit(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    keras_own = model.train_function
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=1,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=1, lint_script=False)],
    )
    assert model.train_function is keras_own
    assert not {"apply", "_all_reduce_sum_gradients", "scale_loss"} & set(vars(model.optimizer))
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])
    steps = sorted(cb_load_run(str(tmp_path / "train")).series("fitdiag/global_grad_norm"))
    assert steps == [4, 5, 6, 7]


@pytest.mark.slow
def test_default_schedule_records_every_early_step_then_at_the_chosen_interval(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback
    from tb_fitdiag.callback import DENSE_STEPS, MIN_RECORDS

    x, y = _data(n=400)
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(LR), "mse")
    # 25 steps per epoch, 8 epochs: 200 planned steps, so every 200 // MIN_RECORDS steps.
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=8,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, lint_script=False)],
    )
    run = cb_load_run(str(tmp_path / "train"))
    interval = 200 // MIN_RECORDS
    steps = sorted(run.series(metadata.global_tag("global_grad_norm")))
    expected = list(range(DENSE_STEPS))
    expected += [s for s in range(DENSE_STEPS, 200) if s % interval == 0]
    assert steps == expected
    info = json.loads(run.series(metadata.RUN_INFO_TAG)[0])
    assert (info["interval"], info["dense_steps"]) == (interval, DENSE_STEPS)
    assert (info["loss"], info["output_units"], info["chance_loss"]) == ("mse", 1, None)


def test_the_record_cost_widens_the_interval_within_its_bounds() -> None:
    from tb_fitdiag.gradient_stats import MAX_INTERVAL, RECORD_BUDGET, RecordCost, interval_cap

    cost = RecordCost()
    assert cost.interval(100, 600) == 100  # nothing measured yet
    cost.spans.extend([(0.004, 2), (0.0041, 2), (0.5, 2)])  # the last: a stall, a median away
    cost.light.extend([0.001, 0.001, 0.0011])
    record, step = cost.seconds() or (0.0, 0.0)
    assert record == pytest.approx(0.0021) and step == pytest.approx(0.001)
    assert round(0.0021 / (RECORD_BUDGET * 0.001)) == 420  # needed
    assert cost.interval(100, 600) == 500  # in whole multiples of the base interval
    assert cost.interval(100, 300) == 300  # never beyond the cap
    assert cost.interval(100, 550) == 500
    cost.light.extend([0.00105] * 2)  # a step a little dearer: the record a little cheaper
    assert cost.seconds() == pytest.approx((0.002, 0.00105))
    assert round(0.002 / (RECORD_BUDGET * 0.00105)) == 381  # needed: 400 would do
    assert cost.interval(100, 600) == 500  # the last interval is kept: no to and fro
    cost.spans.extend([(0.0025, 2)] * 5)  # far cheaper: narrowed
    assert cost.interval(100, 600) == 100
    cost.spans.extend([(0.01, 2)] * 9)  # dearer: widened at once
    assert cost.interval(100, 600) == 600
    cheap = RecordCost()
    cheap.spans.extend([(0.00201, 2)] * 3)
    cheap.light.extend([0.001] * 3)
    assert cheap.interval(100, 600) == 100  # a cheap record keeps the base interval
    # The cap keeps MIN_RECORDS records in a run and never narrows the base interval.
    assert interval_cap(6_200) == 620
    assert interval_cap(500) == 50 and interval_cap(None) == MAX_INTERVAL
    assert interval_cap(10**9) == MAX_INTERVAL


def _slowed(monkeypatch: pytest.MonkeyPatch, owner: Any, method: str) -> None:
    """Makes ``owner.method`` take 20 ms more: far more than RECORD_BUDGET of ~1 ms steps."""
    original = getattr(owner, method)

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.02)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, slow)


def _fit_recorded(
    keras: Any, cb_load_run: Any, log_dir: Path, n: int, **options: Any
) -> tuple[Any, Any, list[int]]:
    """Two epochs of batches of 8 on ``n`` samples with FitDiagCallback(**options): ``(model,
    callback, recorded steps)``."""
    from tb_fitdiag import FitDiagCallback

    x, y = _data(n=n)
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(LR), "mse")
    cb = FitDiagCallback(log_dir, lint_script=False, live=False, **options)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    run = cb_load_run(str(log_dir / "train"))
    return model, cb, sorted(run.series(metadata.global_tag("global_grad_norm")))


@pytest.mark.slow
def test_a_dear_record_is_made_rarer_than_every_default_interval(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tb_fitdiag import callback
    from tb_fitdiag.callback import DEFAULT_INTERVAL, DENSE_STEPS

    _slowed(monkeypatch, callback._GradientProbe, "read")
    # 1,000 steps an epoch, 2 epochs: at least 10 records, so at most every 200 steps.
    _, _, auto = _fit_recorded(cb_clean_keras, cb_load_run, tmp_path / "auto", 8_000)
    assert auto[:DENSE_STEPS] == list(range(DENSE_STEPS))
    # Three records at the default interval measure the cost, then every 200 steps (the cap);
    # the one due at the second epoch's first step waits for its third (an epoch's first
    # steps start its data: a record there would not be timed).
    regular = [100, 200, 300, 400, 600, 800, 1_002, 1_200, 1_400, 1_600, 1_800]
    assert auto[DENSE_STEPS:] == regular
    _, _, fixed = _fit_recorded(
        cb_clean_keras, cb_load_run, tmp_path / "fixed", 8_000, interval=DEFAULT_INTERVAL
    )
    assert fixed == list(range(0, 2_000, DEFAULT_INTERVAL))  # an explicit interval stays


@pytest.mark.slow
def test_a_short_fit_after_a_widened_one_records_on_its_own_schedule(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tb_fitdiag import callback

    _slowed(monkeypatch, callback._GradientProbe, "read")
    # 2,006 planned steps: widened to every 200 steps, the last record at 2,000, the next due
    # at 2,200.
    model, cb, _ = _fit_recorded(cb_clean_keras, cb_load_run, tmp_path, 8_024)
    assert cb._interval == 200
    # 2 x 100 steps planned: every 20 steps, from its first multiple of 20 on.
    x, y = _data(n=800)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[cb])
    run = cb_load_run(str(tmp_path / "train"))
    steps = sorted(run.series(metadata.global_tag("global_grad_norm")))
    assert [s for s in steps if s > 2_000] == list(range(2_020, 2_206, 20))


@pytest.mark.slow
def test_an_activation_measurement_is_not_counted_as_record_cost(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tb_fitdiag import callback
    from tb_fitdiag.callback import DENSE_STEPS

    _slowed(monkeypatch, callback._ActivationProbe, "measure")
    # Activations every 50 steps, at every record's step too: dear, but not the records' cost.
    probe = _data(n=8)[0]
    _, _, steps = _fit_recorded(
        cb_clean_keras, cb_load_run, tmp_path, 8_000, activation_interval=50, probe_data=probe
    )
    # Every 100 (the one due at the second epoch's first step at its third): never widened.
    expected = [*range(100, 1_000, 100), 1_002, *range(1_100, 2_000, 100)]
    assert [s for s in steps if s >= DENSE_STEPS] == expected


@pytest.mark.slow
def test_records_happen_when_one_call_runs_a_whole_epoch(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    """With steps_per_execution as large as an epoch, an epoch has one batch begin: a record due
    there cannot wait for a later step of the epoch (where the interval could widen)."""
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback
    from tb_fitdiag.callback import DENSE_STEPS, MIN_RECORDS

    x, y = _data(n=16)
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(LR), "mse", steps_per_execution=4)
    # 4 steps an epoch, 260 epochs: 1,040 planned steps, where the interval may widen.
    cb = FitDiagCallback(tmp_path, lint_script=False, live=False)
    model.fit(x, y, batch_size=4, epochs=260, verbose=0, callbacks=[cb])
    steps = sorted(
        cb_load_run(str(tmp_path / "train")).series(metadata.global_tag("global_grad_norm"))
    )
    regular = [s for s in steps if s >= DENSE_STEPS]
    assert len(regular) >= MIN_RECORDS and all(s % 4 == 0 for s in regular)


@pytest.mark.slow
def test_running_aggregates_keep_what_happens_between_records(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data(n=160)
    y[100:104] = np.nan  # batch 6 (of 16 samples) has a NaN label: its loss is NaN ...
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(0.0), "mse")  # ... and 0 * NaN makes every later one NaN
    losses = [
        float(keras.losses.MeanSquaredError()(y[i : i + 16], model(x[i : i + 16])))
        for i in range(0, 96, 16)
    ]  # the finite losses of steps 0-5, computed independently before training
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=2,
        shuffle=False,
        verbose=0,
        # Not located: the replay would make the step after the first read of the failure a
        # record (tests/tb_fitdiag/test_nan_origin.py).
        callbacks=[
            FitDiagCallback(tmp_path, interval=100, lint_script=False, locate_nonfinite=False)
        ],
    )
    run = cb_load_run(str(tmp_path / "train"))
    # Only step 0 is a record; the aggregates are written there and at each epoch end (steps 9
    # and 19), each over the steps since the previous write.
    assert sorted(run.series(metadata.global_tag("batch_loss"))) == [0]
    assert run.series(metadata.global_tag("nonfinite_loss_count")) == {0: 0, 9: 4, 19: 10}
    assert run.series(metadata.global_tag("nonfinite_grad_count")) == {0: 0, 9: 4, 19: 10}
    assert run.series(metadata.global_tag("first_nonfinite_loss_step")) == {9: 6, 19: 6}
    assert run.series(metadata.global_tag("first_nonfinite_grad_step")) == {9: 6, 19: 6}
    maxima = run.series(metadata.global_tag("batch_loss_max"))
    minima = run.series(metadata.global_tag("batch_loss_min"))
    assert set(maxima) == set(minima) == {0, 9}  # no finite loss at all in steps 10-19
    assert maxima[0] == pytest.approx(losses[0], rel=1e-5)
    assert maxima[9] == pytest.approx(max(losses[1:]), rel=1e-5)
    assert minima[9] == pytest.approx(min(losses[1:]), rel=1e-5)
    grads = run.series(metadata.global_tag("grad_norm_max"))
    assert set(grads) == {0, 9} and all(math.isfinite(v) and v > 0 for v in grads.values())


@pytest.mark.slow
@pytest.mark.parametrize("same_dir", [True, False], ids=["same-dir", "other-dir"])
def test_a_second_callback_in_one_fit_stands_down(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any, same_dir: bool
) -> None:
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data()
    model = _mlp(keras)
    model.compile("sgd", "mse")
    second_dir = tmp_path / "first" if same_dir else tmp_path / "second"
    first = FitDiagCallback(tmp_path / "first", interval=1, lint_script=False)
    second = FitDiagCallback(second_dir, interval=1, lint_script=False)
    with pytest.warns(RuntimeWarning, match="a second FitDiagCallback in one fit"):
        history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[first, second])
    assert len(history.history["loss"]) == 3
    run = cb_load_run(str(tmp_path / "first" / "train"))
    # The epochs and steps are those of one recorder: 0, 1, 2 and every one of 12 steps.
    assert sorted(step for step, _ in run.values["epoch_loss"]) == [0, 1, 2]
    grad_steps = [step for step, _ in run.values[metadata.global_tag("global_grad_norm")]]
    assert sorted(grad_steps) == list(range(12))
    if not same_dir:
        assert not (tmp_path / "second").exists()


_KILLED_SCRIPT = """
import sys, time
import numpy as np
import keras
from tb_fitdiag import FitDiagCallback

class Stall(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        if batch == 58:
            time.sleep(1.5)  # the flush interval passes before the record of step 60
        if batch == 62:
            print("stalled", flush=True)
            time.sleep(600)

keras.utils.set_random_seed(0)
x = np.random.default_rng(0).normal(size=(1000, 4)).astype("float32")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.Dense(1)])
model.compile("sgd", "mse")
model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0,
          callbacks=[FitDiagCallback(sys.argv[1], interval=5, lint_script=False), Stall()])
"""


@pytest.mark.slow
def test_kill_9_loses_at_most_the_last_second_or_record(tmp_path: Path, cb_load_run: Any) -> None:
    import signal
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(_KILLED_SCRIPT)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    errors = tmp_path / "stderr.txt"
    with open(errors, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "logs")],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env=env,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line == "stalled", errors.read_text(errors="replace")[-3000:]
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    # Mid-epoch, before any epoch end: the records up to step 60 (read at step 61) are on disk.
    run = cb_load_run(str(tmp_path / "logs" / "train"))
    steps = sorted(step for step, _ in run.values[metadata.global_tag("global_grad_norm")])
    assert steps == list(range(0, 61, 5))


@pytest.mark.slow
def test_aggregates_of_a_long_epoch_with_sparse_records_miss_no_step(
    tmp_path: Path, cb_clean_keras: Any, cb_load_run: Any
) -> None:
    """700 steps in one epoch and a record only at step 0: the per-step aggregates are read
    at least every 128 steps (the ring holds 256), so every step's loss is in them."""
    keras = cb_clean_keras
    from tb_fitdiag import FitDiagCallback

    x, y = _data(n=700)
    y[555] = np.nan  # step 555 (batches of one) has a NaN loss, and 0 * NaN every later one
    model = _mlp(keras)
    model.compile(keras.optimizers.SGD(0.0), "mse")
    losses = (model.predict(x, verbose=0) - y) ** 2
    model.fit(
        x,
        y,
        batch_size=1,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[FitDiagCallback(tmp_path, interval=10_000, lint_script=False, live=False)],
    )
    run = cb_load_run(str(tmp_path / "train"))
    counts = run.series(metadata.global_tag("nonfinite_loss_count"))
    assert sum(counts.values()) == 700 - 555
    assert max(np.diff(sorted(counts))) <= 128
    assert run.series(metadata.global_tag("first_nonfinite_loss_step"))[699] == 555
    finite = losses[:555]  # SGD(0) leaves the weights as they were until the NaN
    maxima = run.series(metadata.global_tag("batch_loss_max"))
    minima = run.series(metadata.global_tag("batch_loss_min"))
    assert max(maxima.values()) == pytest.approx(float(finite.max()), rel=1e-4)
    assert min(minima.values()) == pytest.approx(float(finite.min()), rel=1e-4)
