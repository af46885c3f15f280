"""How fitlint's lint time grows with the size of a file, as a ratio to libcst's parse time.

Generated files of growing size (10 KB to 5 MB) concatenate varied, realistic chunks of Keras
training scripts, each with its own variable names: datasets loaded and scaled, CSV features
scaled and split, Sequential, functional (loops included) and subclassed models, builder
functions, compile() with optimizers and schedules, fit() and evaluate(), learning rates set
after construction, legacy Keras 2 calls, a fit before its compile, a leak before a split.
Every rule's analysis has work, and most chunks hold findings.

Each size is linted (every rule enabled, through ``fitlint.api.lint_source``) and parsed by
libcst alone in a child process, in the same run, so the ratio lint / parse is what counts:
flat from 10 KB to 5 MB when every analysis is linear. Both ratios are printed: of wall
times, and of the CPU times of the process (which other load on the machine skews much
less). A size that does not finish within ``--timeout`` seconds is reported as such.

Usage: python benchmarks/lint_scaling.py [--sizes 10,100,500,1000,5000] [--timeout 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

HEADER = """\
import numpy as np
import pandas as pd
import tensorflow as tf
from tensorflow import keras
from tensorflow.keras import layers
from tensorflow.keras.models import Sequential
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

"""

CHUNKS = [
    # A keras.datasets image classifier, scaled on the way, validated by a split.
    """\
(x_train_{i}, y_train_{i}), (x_test_{i}, y_test_{i}) = keras.datasets.mnist.load_data()
x_train_{i} = x_train_{i}.reshape(-1, 784).astype("float32") / 255.0
x_test_{i} = x_test_{i}.reshape(-1, 784).astype("float32") / 255.0
model_{i} = keras.Sequential([
    layers.Input(shape=(784,)),
    layers.Dense(128, activation="relu"),
    layers.Dropout(0.2),
    layers.Dense(10, activation="softmax"),
])
model_{i}.compile(
    optimizer=keras.optimizers.Adam(learning_rate=1e-3),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
history_{i} = model_{i}.fit(x_train_{i}, y_train_{i}, epochs=5, batch_size=128,
                            validation_split=0.1)
model_{i}.evaluate(x_test_{i}, y_test_{i})

""",
    # CSV features scaled before the split (a leak), a functional model.
    """\
df_{i} = pd.read_csv("data_{i}.csv")
X_{i} = df_{i}.drop(columns=["target"]).values
y_{i} = df_{i}["target"].values
scaler_{i} = StandardScaler()
X_{i} = scaler_{i}.fit_transform(X_{i})
X_tr_{i}, X_te_{i}, y_tr_{i}, y_te_{i} = train_test_split(X_{i}, y_{i}, test_size=0.2)
inputs_{i} = keras.Input(shape=(X_tr_{i}.shape[1],))
h_{i} = layers.Dense(64, activation="relu")(inputs_{i})
h_{i} = layers.BatchNormalization()(h_{i})
h_{i} = layers.Dense(32, activation="relu")(h_{i})
outputs_{i} = layers.Dense(1, activation="sigmoid")(h_{i})
net_{i} = keras.Model(inputs_{i}, outputs_{i})
net_{i}.compile(optimizer="adam", loss="binary_crossentropy", metrics=["AUC"])
net_{i}.fit(X_tr_{i}, y_tr_{i}, epochs=20, batch_size=32, validation_data=(X_te_{i}, y_te_{i}))
print(net_{i}.evaluate(X_te_{i}, y_te_{i}))

""",
    # A builder function with add() in a loop: a deep recurrent stack on token ids.
    """\
def build_rnn_{i}(vocab=10000, units=64):
    m = Sequential()
    m.add(layers.Embedding(vocab, 128))
    for _ in range(2):
        m.add(layers.LSTM(units, return_sequences=True))
    m.add(layers.GRU(units))
    m.add(layers.LSTM(units))
    m.add(layers.Dense(1, activation="sigmoid"))
    m.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.001),
              loss="binary_crossentropy")
    return m


(xs_{i}, ys_{i}), (xv_{i}, yv_{i}) = keras.datasets.imdb.load_data(num_words=10000)
xs_{i} = keras.utils.pad_sequences(xs_{i}, maxlen=200)
rnn_{i} = build_rnn_{i}()
rnn_{i}.fit(xs_{i}, ys_{i}, epochs=3, batch_size=64, validation_split=0.2)

""",
    # A subclassed model with saturating hidden layers and a high SGD rate.
    """\
class Classifier{i}(keras.Model):
    def __init__(self, classes=10):
        super().__init__()
        self.flat = layers.Flatten()
        self.h1 = layers.Dense(256, activation="sigmoid")
        self.h2 = layers.Dense(128, activation="sigmoid")
        self.drop = layers.Dropout(0.3)
        self.out = layers.Dense(classes, activation="softmax")

    def call(self, inputs, training=False):
        x = self.flat(inputs)
        x = self.h1(x)
        x = self.h2(x)
        x = self.drop(x, training=training)
        return self.out(x)


clf_{i} = Classifier{i}()
clf_{i}.compile(
    optimizer=keras.optimizers.SGD(learning_rate=1.5, momentum=0.9),
    loss="categorical_crossentropy",
    metrics=["accuracy"],
)
(xc_{i}, yc_{i}), (xct_{i}, yct_{i}) = keras.datasets.cifar10.load_data()
clf_{i}.fit(xc_{i} / 255.0, keras.utils.to_categorical(yc_{i}, 10), epochs=10, batch_size=64)

""",
    # Random data in the thousands, a schedule, a batch larger than the data, a later rate.
    """\
x_rand_{i} = np.random.rand(500, 20) * 1000
y_rand_{i} = np.random.randint(0, 2, size=(500,))
schedule_{i} = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate=1e-9, decay_steps=1000, decay_rate=0.9
)
opt_{i} = keras.optimizers.Adam(learning_rate=schedule_{i})
mlp_{i} = keras.Sequential([
    layers.Dense(32, activation="relu"),
    layers.Dense(32),
    layers.Dense(1, activation="sigmoid"),
])
mlp_{i}.compile(optimizer=opt_{i}, loss="binary_crossentropy")
mlp_{i}.fit(x_rand_{i}, y_rand_{i}, epochs=4, batch_size=1024)
mlp_{i}.optimizer.learning_rate = 0.5

""",
    # A training helper in Keras 2 style.
    """\
def train_{i}(model, data, epochs=10):
    early = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    model.compile(optimizer=keras.optimizers.Adam(lr=0.001), loss="mse", batch_size=32)
    history = model.fit_generator(data, nb_epoch=epochs, callbacks=[early])
    return history


emb_{i} = layers.Embedding(5000, 64, input_length=100)

""",
    # A tf.data pipeline into a CNN that is fitted before it is compiled.
    """\
features_{i} = np.load("features_{i}.npy")
labels_{i} = np.load("labels_{i}.npy")
ds_{i} = tf.data.Dataset.from_tensor_slices((features_{i}, labels_{i})).shuffle(1000).batch(32)
cnn_{i} = keras.Sequential([
    layers.Rescaling(1.0 / 255),
    layers.Conv2D(32, 3, activation="relu"),
    layers.MaxPooling2D(),
    layers.Conv2D(64, 3, activation="relu"),
    layers.MaxPooling2D(),
    layers.Flatten(),
    layers.Dense(128, activation="relu"),
    layers.Dropout(0.6),
    layers.Dense(1, activation="softmax"),
])
cnn_{i}.fit(ds_{i}, epochs=3)
cnn_{i}.compile(
    optimizer="adam",
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"],
)

""",
    # A series adapted before a split by slicing, a functional loop, a later set_value.
    """\
series_{i} = np.loadtxt("series_{i}.csv", delimiter=",")
norm_{i} = layers.Normalization()
norm_{i}.adapt(series_{i})
train_{i}, test_{i} = series_{i}[:800], series_{i}[800:]
inp_{i} = keras.Input(shape=(series_{i}.shape[1],))
z_{i} = norm_{i}(inp_{i})
for _ in range(3):
    z_{i} = layers.Dense(16, activation="tanh")(z_{i})
out_{i} = layers.Dense(1)(z_{i})
reg_{i} = keras.Model(inputs=inp_{i}, outputs=out_{i})
reg_{i}.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
reg_{i}.fit(train_{i}, train_{i}[:, 0], epochs=5, batch_size=16,
            validation_data=(test_{i}, test_{i}[:, 0]))
keras.backend.set_value(reg_{i}.optimizer.learning_rate, 0.001)

""",
]


def generate(size: int) -> str:
    """A Keras script of about ``size`` bytes: the header, then chunks in turn."""
    parts = [HEADER]
    total = len(HEADER)
    i = 0
    while total < size:
        chunk = CHUNKS[i % len(CHUNKS)].format(i=i)
        parts.append(chunk)
        total += len(chunk)
        i += 1
    return "".join(parts)


def _measure(size: int, repeat: int) -> dict[str, float | int]:
    import gc

    import libcst

    from fitlint import api
    from fitlint.model import Config

    source = generate(size)
    config = Config(select=("ALL",))
    warm = generate(10_000)  # imports and first-use caches are not what is measured
    libcst.parse_module(warm)
    api.lint_source(warm, "warm.py", config)
    parse_times, lint_times, parse_cpu, lint_cpu = [], [], [], []
    findings = 0
    for _ in range(repeat):  # interleaved, so drift hits both alike
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        libcst.parse_module(source)
        parse_times.append(time.perf_counter() - start)
        parse_cpu.append(time.process_time() - cpu)
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        result = api.lint_source(source, "generated.py", config)
        lint_times.append(time.perf_counter() - start)
        lint_cpu.append(time.process_time() - cpu)
        if result.error:
            raise SystemExit(f"lint error: {result.error}")
        findings = len(result.findings)
    return {
        "bytes": len(source),
        "lines": source.count("\n"),
        "parse": statistics.median(parse_times),
        "lint": statistics.median(lint_times),
        "parse_cpu": statistics.median(parse_cpu),
        "lint_cpu": statistics.median(lint_cpu),
        "findings": findings,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500,1000,5000", help="sizes in KB")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per size")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size up to 100 KB")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one is not None:
        repeat = args.repeat if args.one <= 100_000 else 1
        print(json.dumps(_measure(args.one, repeat)))
        return 0

    print(
        f"{'size':>8} {'lines':>8} {'findings':>9} {'parse s':>9} {'lint s':>9} "
        f"{'lint/parse':>10} {'(cpu)':>6} {'us/line':>8}"
    )
    for kb in (int(s) for s in args.sizes.split(",")):
        size = kb * 1000
        label = f"{kb} KB" if kb < 1000 else f"{kb / 1000:g} MB"
        cmd = [sys.executable, __file__, "--one", str(size), "--repeat", str(args.repeat)]
        try:
            out = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=True
            ).stdout
        except subprocess.TimeoutExpired:
            print(f"{label:>8}   did not finish in {args.timeout:g} s")
            continue
        except subprocess.CalledProcessError as err:
            print(f"{label:>8}   failed: {err.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.strip().splitlines()[-1])
        ratio = r["lint"] / r["parse"]
        cpu_ratio = r["lint_cpu"] / r["parse_cpu"]
        per_line = r["lint"] / r["lines"] * 1e6
        print(
            f"{label:>8} {r['lines']:>8} {r['findings']:>9} {r['parse']:>9.2f} "
            f"{r['lint']:>9.2f} {ratio:>10.2f} {cpu_ratio:>6.2f} {per_line:>8.0f}",
            flush=True,
        )
    print("target: lint/parse flat across sizes, and <= 1.5 at 5 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
