"""Where the first NaN came from, in words: the ``fitdiag/nonfinite_origin`` facts as a story.

The callback replays the first batch whose loss or gradient was non-finite on the weights it
ran with and writes what it found (the layer, the op, the source lines, the kept weights'
norms). This module tells which of four stories that is, and says it in one line:

* ``data``: the batch itself holds NaN/Inf (inputs, labels or sample weights);
* ``numerical``: finite data on finite weights that had not grown gives NaN/Inf: a log of a
  non-positive number, a division by zero, ... in the loss or a layer, not the learning rate;
* ``overflow``: a float16/bfloat16 value overflowed (mixed precision) on weights that had not
  grown: not the learning rate either;
* ``exploding``: the weights had grown ``origin_weight_growth`` times (10x) their first
  recorded norm before the failing step: the learning rate (or no gradient clipping).

The replay runs on the last finite weights kept: the failing step's own at the dense start of
a fit, else those of the last record before it. A batch that is finite on those weights
(phase ``later-weights``) failed through the updates in between: ``exploding`` when the
weights had grown, ``unknown`` otherwise. Where steps are fast, a step between two records
keeps no batch: a failure there is replayed on the batch of the next step that failed and was
kept (``batch_step``), and the line says so.

Pure: reads the document and the run's ``weight_norm`` series, never TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tb_fitdiag.diagnosis.config import DiagnosisConfig
from tb_fitdiag.diagnosis.model import RunData

DATA = "data"
NUMERICAL = "numerical"
OVERFLOW = "overflow"
EXPLODING = "exploding"
UNKNOWN = "unknown"

_HALF = ("float16", "bfloat16")


@dataclass(frozen=True)
class Origin:
    """The story of the first non-finite value.

    Attributes:
        text: One line, e.g. ``first NaN: layer `dense_3` (Dense, train.py:31), op Log in loss
            `my_loss` (train.py:12); reproduces from finite weights: a numerical bug, not the
            learning rate``.
        story: ``data``, ``numerical``, ``overflow``, ``exploding``, or ``unknown`` (not
            located: ``text`` says why).
        step: The step whose loss or gradient was first non-finite.
        evidence: Flat, JSON-ready facts for a finding's evidence.
    """

    text: str
    story: str
    step: int
    evidence: dict[str, Any]

    @property
    def numerical(self) -> bool:
        """True when the weights are not to blame (data, a numerical bug, an overflow)."""
        return self.story in (DATA, NUMERICAL, OVERFLOW)


def _where(site: Any) -> str | None:
    if isinstance(site, dict) and site.get("path"):
        line = site.get("line")
        return f"{site['path']}:{line}" if line else str(site["path"])
    return None


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _growth(doc: dict[str, Any], data: RunData) -> tuple[str, float, int, float, float] | None:
    """The layer whose kept weight norm grew most against its first recorded norm:
    ``(layer, first norm, its step, norm at the failing step, factor)``."""
    norms = doc.get("weight_norms")
    recorded = data.layer_stats.get("weight_norm", {})
    if not isinstance(norms, dict):
        return None
    best: tuple[str, float, int, float, float] | None = None
    for layer, now in norms.items():
        series = recorded.get(layer)
        if series is None or not len(series) or not isinstance(now, (int, float)):
            continue
        finite = series.finite()
        if not len(finite) or finite.values[0] <= 0:
            continue
        first, first_step = float(finite.values[0]), int(finite.steps[0])
        factor = float(now) / first if math.isfinite(now) else math.inf
        if best is None or factor > best[4]:
            best = (str(layer), first, first_step, float(now), factor)
    return best


def describe(data: RunData, config: DiagnosisConfig | None = None) -> Origin | None:
    """The story of the run's ``fitdiag/nonfinite_origin`` document; None when there is none.

    Args:
        data: The run (its ``nonfinite_origin`` document and ``weight_norm`` series).
        config: The thresholds (``origin_weight_growth``); the defaults when None.
    """
    doc = data.nonfinite_origin
    if not isinstance(doc, dict) or not isinstance(doc.get("step"), int):
        return None
    cfg = config or DiagnosisConfig()
    step = int(doc["step"])
    what = "gradient" if doc.get("trigger") == "gradient" else "loss"
    evidence: dict[str, Any] = {"origin_step": step}
    if not doc.get("located"):
        reason = str(doc.get("error") or "no answer from the replay")
        evidence.update(origin_story=UNKNOWN, origin_error=reason)
        return Origin(
            f"where the first non-finite {what} (step {step}) came from is unknown: {reason}",
            UNKNOWN,
            step,
            evidence,
        )
    value = str(doc.get("value") or "NaN")
    phase = doc.get("phase")
    # A replay that did not reproduce it saw no value: say what the run saw.
    head = f"first non-finite {what}" if phase == "later-weights" else f"first {value}"
    weights_step = doc.get("weights_step")
    kept_at = weights_step if isinstance(weights_step, int) and weights_step < step else step
    batch_step = doc.get("batch_step")
    # The failing step's batch was not kept (a light step): the replay ran on a later one.
    batch_at = batch_step if isinstance(batch_step, int) and batch_step > step else step
    if batch_at != step and phase != "later-weights":
        head += (
            f" (step {step}'s batch was not kept: replayed on that of step {batch_at}, "
            "the next to fail)"
        )
    where: str
    layer, cls = doc.get("layer"), doc.get("layer_class")
    layer_site, op, op_site = (
        _where(doc.get("layer_site")),
        doc.get("op"),
        _where(doc.get("op_site")),
    )
    layer_text = ""
    if layer:
        inside = ", ".join(p for p in (str(cls) if cls else "", layer_site or "") if p)
        layer_text = f"layer `{layer}`" + (f" ({inside})" if inside else "")
    op_text = f"op {op}" if op else ""
    if op_site:
        function = doc.get("function")
        op_text += f" at {op_site}" + (f" in `{function}`" if function else "")
    if phase == "input":
        where = (
            f"in the input data: `{doc.get('input')}` holds {doc.get('input_nonfinite')} "
            f"NaN/Inf of its {doc.get('input_size')} values in the batch of step {batch_at}"
        )
    elif phase == "weights":
        where = f"the weights were already non-finite at step {step} (an update overflowed)"
    elif phase in ("loss", "loss-gradient"):
        loss = doc.get("loss") or "the loss"
        kind = "loss" if phase == "loss" else "the backward pass of loss"
        where = " ".join(
            p
            for p in (
                f"op {op}" if op else "",
                f"in {kind} `{loss}`" + (f" ({op_site})" if op_site else ""),
            )
            if p
        )
    elif phase == "gradient-norm":
        largest = doc.get("input_max")
        size = f" (entries up to {_fmt(float(largest))})" if isinstance(largest, float) else ""
        where = (
            f"the global gradient norm overflowed float32: the gradient of "
            f"{layer_text or 'a layer'}{size}"
        )
    elif phase == "later-weights":
        where = (
            f"the batch of step {step} is finite on the weights of step "
            f"{doc.get('weights_step')}, the last record before it"
            if batch_at == step
            else f"step {step}'s batch was not kept; that of step {batch_at}, the next to "
            f"fail, is finite on the weights of step {doc.get('weights_step')}, the last "
            f"record before step {step}"
        )
    elif phase == "backward":
        where = f"in the backward pass of {layer_text or 'a layer'}" + (
            f", {op_text}" if op else ""
        )
    else:
        where = ", ".join(p for p in (layer_text, op_text) if p) or "in the model's forward pass"
    evidence.update(
        origin_phase=phase,
        origin_layer=layer,
        origin_op=op,
        origin_layer_site=layer_site,
        origin_op_site=op_site,
    )
    evidence = {k: v for k, v in evidence.items() if v is not None}
    growth = _growth(doc, data)
    dtype = doc.get("dtype")
    largest = doc.get("input_max")
    grew = growth is not None and growth[4] >= cfg.origin_weight_growth
    if phase == "input":
        story = DATA
        tail = "reproduces from finite weights: bad data, not the learning rate"
    elif phase == "later-weights" and not grew:
        story = UNKNOWN
        tail = (
            "the updates since then made it fail, and the weights had not grown "
            f"{_fmt(cfg.origin_weight_growth)}x: not clearly exploding"
        )
    elif phase in ("weights", "later-weights") or grew:
        story = EXPLODING
        if growth is not None:
            name, first, first_step, now, factor = growth
            evidence.update(
                origin_growth_layer=name,
                origin_first_weight_norm=first,
                origin_weight_norm=now,
                origin_growth=factor,
            )
            tail = (
                f"only after the weights grew: `{name}`'s weight norm went from {_fmt(first)} "
                f"(step {first_step}) to {_fmt(now)} ({_fmt(factor)}x) by step {kept_at}: "
                "exploding, the learning rate, not a numerical bug"
            )
        else:
            tail = "only after the weights grew: exploding, the learning rate"
    elif dtype in _HALF:
        story = OVERFLOW
        beyond = f" (|values| up to {_fmt(float(largest))})" if isinstance(largest, float) else ""
        tail = (
            f"a {dtype} overflow{beyond}, from finite weights that had not grown: mixed "
            "precision, not the learning rate"
        )
    else:
        story = NUMERICAL
        tail = "reproduces from finite weights: a numerical bug, not the learning rate"
    if kept_at != step:
        evidence["origin_weights_step"] = kept_at
    if batch_at != step:
        evidence["origin_batch_step"] = batch_at
    evidence["origin_story"] = story
    return Origin(f"{head}: {where}; {tail}", story, step, evidence)
