"""Rules of the optimization family: learning rates that cannot train."""

from __future__ import annotations

from collections.abc import Iterator

from fitlint.analysis.optimizers import (
    ADAPTIVE,
    LINEAR,
    SGD,
    VARIABLES,
    Rate,
    RateSetting,
    trained_by,
)
from fitlint.model import Severity
from fitlint.rules.base import Invalid, Report, Rule, RuleContext


def _fmt(value: float) -> str:
    return f"{value:g}"


class LearningRateTooHigh(Rule):
    """## What it does
    Flags a Keras optimizer whose learning rate is far above what it can train with:
    an adaptive optimizer (Adam, AdamW, Nadam, Adamax, RMSprop, Adagrad, Lion, Ftrl) at 0.1
    or more, or SGD at 1.0 or more. The rate is followed through keyword, positional and
    legacy `lr=` arguments, constants and module variables, the initial and peak values of
    learning-rate schedules (`ExponentialDecay`, `PiecewiseConstantDecay`, `CosineDecay`,
    `InverseTimeDecay`, `PolynomialDecay`...), and rates set later with
    `optimizer.learning_rate.assign(...)` or `K.set_value(model.optimizer.lr, ...)` when the
    optimizer is known.

    The rate that is too high depends on what is trained, so the rule stays silent where the
    file shows that the rate fits it: an optimizer that updates only raw `tf.Variable`s
    through `apply_gradients`/`minimize` (style transfer optimizes image pixels with SGD at
    100), and an adaptive optimizer given only to models without a hidden nonlinear layer
    (linear or logistic regression: one Dense layer after preprocessing, which converges
    at Adam 0.1). Any other use of the optimizer, or a model that is not statically known,
    keeps the finding.

    Options: `adaptive_max` (0.1): the lowest rate flagged for adaptive optimizers;
    `sgd_max` (1.0): the lowest rate flagged for SGD.

    ## Why is this bad?
    Adaptive optimizers normalise each step, so their rate is roughly the size of every
    weight update: their defaults are about 1e-3, and at 0.1 the loss typically jumps to
    NaN or plateaus at chance level within a few steps. SGD tolerates larger rates, but at
    1.0 and above it diverges on almost every network.

    ## Example
    ```python
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.5), loss="mse")
    ```

    ## Use instead
    ```python
    from tensorflow import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3), loss="mse")
    ```
    """

    code = "FL201"
    name = "learning-rate-too-high"
    message = (
        "learning rate {value} is too high for {optimizer} (>= {limit}); "
        "the loss is likely to diverge"
    )
    severity = Severity.WARNING
    options = {"adaptive_max": 0.1, "sgd_max": 1.0}
    valid = [
        # SGD with momentum at 0.1 is the classic ImageNet setting.
        "from tensorflow import keras\n"
        "opt = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)\n",
        # String optimizers use their default rates.
        "import keras\n"
        "model = keras.Sequential([keras.layers.Dense(1)])\n"
        "model.compile(optimizer='adam', loss='mse')\n",
        "import tensorflow as tf\nopt = tf.keras.optimizers.SGD(0.5)\n",
        "from keras.optimizers import Adam\nopt = Adam(learning_rate=3e-4)\n",
        # A sweep: the rate is a loop variable, not one known value.
        "import keras\n"
        "for lr in [0.1, 0.01, 0.001]:\n"
        "    opt = keras.optimizers.Adam(learning_rate=lr)\n",
        # A rate from the command line is not known statically.
        "import argparse\nimport keras\n"
        "p = argparse.ArgumentParser()\np.add_argument('--lr', type=float, default=0.5)\n"
        "args = p.parse_args()\nopt = keras.optimizers.Adam(args.lr)\n",
        # Warm-up from zero to a sane peak.
        "import keras\n"
        "sched = keras.optimizers.schedules.CosineDecay(0.0, 10000, warmup_target=1e-3,"
        " warmup_steps=500)\n"
        "opt = keras.optimizers.AdamW(learning_rate=sched)\n",
        # Adadelta's rate has a different meaning; it is left alone.
        "import keras\nopt = keras.optimizers.Adadelta(learning_rate=1.0)\n",
        # Not Keras.
        "import torch\nopt = torch.optim.Adam(params, lr=0.5)\n",
        # Style transfer: the optimizer updates the pixels of a tf.Variable, not a network.
        "import tensorflow as tf\nfrom tensorflow import keras\n"
        "optimizer = keras.optimizers.SGD(\n"
        "    keras.optimizers.schedules.ExponentialDecay(100.0, decay_steps=100, decay_rate=0.96)\n"
        ")\n"
        "image = tf.Variable(preprocess(base))\n"
        "for i in range(100):\n"
        "    loss, grads = loss_and_grads(image)\n"
        "    optimizer.apply_gradients([(grads, image)])\n",
        "import tensorflow as tf\n"
        "w = tf.Variable(tf.zeros([3]))\nb = tf.Variable(0.0)\n"
        "opt = tf.keras.optimizers.Adam(0.5)\n"
        "opt.minimize(loss, var_list=[w, b])\n",
        # Linear regression on normalized inputs: one Dense layer converges at Adam 0.1.
        "import tensorflow as tf\nfrom tensorflow.keras import layers\n"
        "norm = layers.Normalization(input_shape=[1])\n"
        "linear = tf.keras.Sequential([norm, layers.Dense(units=1)])\n"
        "linear.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.1), loss='mae')\n",
        # Logistic regression, the optimizer through a variable.
        "import keras\n"
        "model = keras.Sequential(\n"
        "    [keras.Input((20,)), keras.layers.Dense(1, activation='sigmoid')]\n"
        ")\n"
        "opt = keras.optimizers.Adam(0.1)\n"
        "model.compile(optimizer=opt, loss='binary_crossentropy')\n",
    ]
    invalid = [
        Invalid(
            "from tensorflow import keras\n"
            "model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.5), loss='mse')\n",
            line=2,
        ),
        Invalid(
            "import tensorflow as tf\nLEARNING_RATE = 1.0\n"
            "opt = tf.keras.optimizers.RMSprop(LEARNING_RATE)\n",
            line=3,
        ),
        Invalid("import tensorflow as tf\nopt = tf.optimizers.Adam(lr=0.1)\n", line=2),
        Invalid("from keras.optimizers import SGD\nopt = SGD(learning_rate=2.0)\n", line=2),
        Invalid(
            "import tensorflow.keras as K\n"
            "schedule = K.optimizers.schedules.ExponentialDecay(\n"
            "    initial_learning_rate=0.5, decay_steps=1000, decay_rate=0.9\n"
            ")\n"
            "opt = K.optimizers.Adam(learning_rate=schedule)\n",
            line=3,
        ),
        Invalid(
            "from tensorflow import keras\n"
            "opt = keras.optimizers.Nadam(\n"
            "    keras.optimizers.schedules.PiecewiseConstantDecay([1000], [0.3, 0.01])\n"
            ")\n",
            line=3,
        ),
        Invalid(
            "import keras\nfrom keras import backend as K\n"
            "model = keras.Sequential([keras.layers.Dense(1)])\n"
            "model.compile(optimizer='adam', loss='mse')\n"
            "K.set_value(model.optimizer.learning_rate, 0.5)\n",
            line=5,
        ),
        # A custom training loop that updates a network's weights.
        Invalid(
            "import tensorflow as tf\n"
            "model = tf.keras.Sequential([tf.keras.layers.Dense(64, activation='relu'),"
            " tf.keras.layers.Dense(1)])\n"
            "optimizer = tf.keras.optimizers.Adam(0.5)\n"
            "with tf.GradientTape() as tape:\n"
            "    loss = loss_fn(y, model(x))\n"
            "grads = tape.gradient(loss, model.trainable_variables)\n"
            "optimizer.apply_gradients(zip(grads, model.trainable_variables))\n",
            line=3,
        ),
        # A hidden ReLU layer makes it a network, not a linear model.
        Invalid(
            "import tensorflow as tf\nfrom tensorflow.keras import layers\n"
            "model = tf.keras.Sequential([layers.Dense(64, activation='relu'), layers.Dense(1)])\n"
            "model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=0.1), loss='mae')\n",
            line=4,
        ),
        # The same optimizer also updates a variable and something unknown.
        Invalid(
            "import tensorflow as tf\n"
            "v = tf.Variable(tf.zeros([3]))\n"
            "opt = tf.keras.optimizers.Adam(0.5)\n"
            "opt.apply_gradients([(g, v)])\n"
            "train(net, opt)\n",
            line=3,
        ),
        # SGD's limit does not depend on the model: a linear model diverges at 2.0 too.
        Invalid(
            "import keras\n"
            "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"
            "model.compile(optimizer=keras.optimizers.SGD(2.0), loss='mse')\n",
            line=3,
        ),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        for setting in ctx.rates:
            if setting.optimizer == SGD:
                limit = float(self.opts["sgd_max"])
            elif setting.optimizer in ADAPTIVE:
                limit = float(self.opts["adaptive_max"])
            else:
                continue
            known = [r for r in setting.rates if r.value is not None]
            if not known:
                continue
            worst = max(known, key=_value)
            if _value(worst) >= limit and not self._fine_for_what_it_trains(ctx, setting):
                yield self.report(
                    worst.node,
                    value=_fmt(_value(worst)),
                    optimizer=setting.optimizer,
                    limit=_fmt(limit),
                )

    @staticmethod
    def _fine_for_what_it_trains(ctx: RuleContext, setting: RateSetting) -> bool:
        # Unknown means flagged: only positive evidence of what is trained silences the rule.
        if setting.site is None:
            return False
        trained = trained_by(ctx.index, ctx.models, setting.site)
        if trained == VARIABLES:
            return True
        return trained == LINEAR and setting.optimizer in ADAPTIVE


def _value(rate: Rate) -> float:
    return rate.value if rate.value is not None else float("nan")


class LearningRateTooLow(Rule):
    """## What it does
    Flags a Keras optimizer whose learning rate (every value of its schedule included) is
    below 1e-7, resolved like `learning-rate-too-high` resolves rates.

    Options: `min` (1e-7): rates below it are flagged.

    ## Why is this bad?
    At such rates the weights barely move: the loss curve is flat, and the run burns its
    whole budget learning nothing. It is usually a typo in the exponent (`1e-9` for `1e-4`)
    or a schedule that decays to nothing before training starts.

    ## Example
    ```python
    import keras

    opt = keras.optimizers.Adam(learning_rate=1e-10)
    ```

    ## Use instead
    ```python
    import keras

    opt = keras.optimizers.Adam(learning_rate=1e-4)
    ```
    """

    code = "FL202"
    name = "learning-rate-too-low"
    message = "learning rate {value} for {optimizer} is below {limit}; the weights will barely move"
    severity = Severity.WARNING
    options = {"min": 1e-7}
    valid = [
        # Fine-tuning rates are small but train.
        "from tensorflow import keras\nopt = keras.optimizers.Adam(learning_rate=1e-5)\n",
        # Warm-up from zero: the schedule climbs to a sane peak.
        "import keras\n"
        "sched = keras.optimizers.schedules.CosineDecay(\n"
        "    0.0, decay_steps=10000, warmup_target=3e-4, warmup_steps=1000\n"
        ")\n"
        "opt = keras.optimizers.Adam(sched)\n",
        # Piecewise warm-up: the rate rises after the first boundary.
        "import tensorflow as tf\n"
        "sched = tf.keras.optimizers.schedules.PiecewiseConstantDecay([100], [0.0, 1e-3])\n"
        "opt = tf.keras.optimizers.SGD(sched, momentum=0.9)\n",
        "import keras\nopt = keras.optimizers.SGD()\n",
        "import keras\nLR = 2e-6\nopt = keras.optimizers.AdamW(LR, weight_decay=1e-8)\n",
    ]
    invalid = [
        Invalid("from tensorflow import keras\nopt = keras.optimizers.Adam(1e-10)\n", line=2),
        Invalid(
            "import tensorflow as tf\nBASE = 1e-4\n"
            "opt = tf.keras.optimizers.SGD(learning_rate=BASE / 1e6)\n",
            line=3,
        ),
        Invalid(
            "from keras.optimizers import RMSprop\n"
            "from keras.optimizers.schedules import ExponentialDecay\n"
            "sched = ExponentialDecay(1e-9, decay_steps=100, decay_rate=0.96)\n"
            "opt = RMSprop(learning_rate=sched)\n",
            line=3,
        ),
        Invalid("import keras\nopt = keras.optimizers.Adadelta(learning_rate=0.0)\n", line=2),
    ]

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        limit = float(self.opts["min"])
        for setting in ctx.rates:
            if not setting.rates or any(r.value is None for r in setting.rates):
                continue
            peak = max(setting.rates, key=_value)
            if _value(peak) < limit:
                yield self.report(
                    peak.node,
                    value=_fmt(_value(peak)),
                    optimizer=setting.optimizer,
                    limit=_fmt(limit),
                )
