"""Fixtures for the callback tests: reading a run back through TensorBoard's own loaders."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class CbRun:
    """One run as TensorBoard's EventAccumulator loads it."""

    values: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def series(self, tag: str) -> dict[int, Any]:
        """``step -> value`` of one tag (the last value wins on a repeated step)."""
        return dict(self.values[tag])


def _load_run(run_dir: str) -> CbRun:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    run = CbRun()
    for tag in accumulator.Tags()["tensors"]:
        events = accumulator.Tensors(tag)
        arrays = [(event.step, tensor_util.make_ndarray(event.tensor_proto)) for event in events]
        run.values[tag] = [(step, a.item() if a.size == 1 else a) for step, a in arrays]
        run.metadata[tag] = accumulator.SummaryMetadata(tag)
    return run


@pytest.fixture
def cb_load_run() -> Callable[[str], CbRun]:
    """Loads ``<log_dir>/<run>`` with TensorBoard's EventAccumulator."""
    return _load_run


@pytest.fixture
def cb_clean_keras() -> Any:
    """Clears Keras's global state (names, policy) around a test that builds models."""
    import keras

    keras.backend.clear_session()
    policy = keras.config.dtype_policy()
    yield keras
    keras.config.set_dtype_policy(policy)
    keras.backend.clear_session()
