"""Fixtures for the callback tests: reading a run back through TensorBoard's own loaders."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@dataclass
class CbRun:
    """One run as TensorBoard's EventAccumulator loads it.

    ``values`` has every tag's values, with the records of schema 2 unpacked into the tags of
    their statistics (``fitdiag/grad_norm/<layer>``, ...); ``metadata`` has the metadata of the
    tags as written (the records' and layouts' tags, not the statistics inside them).
    """

    values: dict[str, list[tuple[int, Any]]] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def series(self, tag: str) -> dict[int, Any]:
        """``step -> value`` of one tag (the last value wins on a repeated step)."""
        return dict(self.values[tag])


def _load_run(run_dir: str) -> CbRun:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    from tb_fitdiag import metadata

    accumulator = EventAccumulator(run_dir, size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    run = CbRun()
    layouts: dict[str, list[str]] = {}
    records: list[tuple[str, float, int, Any]] = []
    for tag in accumulator.Tags()["tensors"]:
        events = accumulator.Tensors(tag)
        arrays = [(event, tensor_util.make_ndarray(event.tensor_proto)) for event in events]
        run.metadata[tag] = accumulator.SummaryMetadata(tag)
        layout = metadata.parse_layout_tag(tag)
        if layout is not None:
            layouts[layout] = json.loads(arrays[-1][1].item())["tags"]
            continue
        parsed = metadata.parse_records_tag(tag)
        if parsed is not None:
            records += [(parsed[0], e.wall_time, e.step, a) for e, a in arrays]
            continue
        run.values[tag] = [(e.step, a.item() if a.size == 1 else a) for e, a in arrays]
    # Records in the order they were written, unpacked into one series per statistic.
    for layout, _wall, step, row in sorted(records, key=lambda r: (r[1], r[2])):
        for tag, value in zip(layouts[layout], row[1:].tolist(), strict=True):
            run.values.setdefault(tag, []).append((step, value))
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
