"""The only code that writes events: fitdiag statistics, JSON documents and epoch scalars.

Events are written with TensorBoard's own pure-Python event file writer (no TensorFlow ops, so
writing never touches the training graph or the default ``tf.summary`` writer that
``keras.callbacks.TensorBoard`` uses). Every summary carries the metadata that
:mod:`tb_fitdiag.metadata` defines; the metadata is attached to the first value of each tag in a
file, as ``tf.summary`` does. Statistics are written as records of schema 2 (one float tensor per
step, at most ``metadata.RECORDS_PER_TAG`` of them a tag), which TensorBoard keeps whole at its
default flags.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tb_fitdiag import metadata

# Marks the event files this package writes: `events.out.tfevents.<time>.<host>.<pid>.<n>.fitdiag`.
FILENAME_SUFFIX = ".fitdiag"


def _event_file_writer(run_dir: str, max_queue_size: int, flush_secs: float) -> Any:
    """TensorBoard's ``EventFileWriter`` of a new event file in ``run_dir``.

    Its file system layer is TensorFlow's ``tf.io.gfile``, which imports TensorFlow wherever it
    is installed (on JAX and PyTorch too: seconds and hundreds of MB). Where the process has not
    imported TensorFlow and the directory is local, the same writer runs on TensorBoard's own
    TensorFlow-free layer instead (its stub's ``gfile``, what TensorBoard itself uses without
    TensorFlow); a remote directory (``gs://...``) keeps TensorFlow's, as does a TensorBoard
    whose writer module lacks what that construction takes from it.
    """
    from tensorboard.summary.writer import event_file_writer

    own = ("_AsyncWriter", "_global_uid")  # what the construction below takes from the module
    if (
        "tensorflow" in sys.modules
        or "://" in run_dir
        or not all(hasattr(event_file_writer, name) for name in own)
    ):
        return event_file_writer.EventFileWriter(
            run_dir,
            max_queue_size=max_queue_size,
            flush_secs=flush_secs,
            filename_suffix=FILENAME_SUFFIX,
        )
    from tensorboard.compat.proto import event_pb2
    from tensorboard.compat.tensorflow_stub.io import gfile
    from tensorboard.summary.writer.record_writer import RecordWriter

    # EventFileWriter's own construction, with the stub's gfile for tf.io.gfile.
    writer = event_file_writer.EventFileWriter.__new__(event_file_writer.EventFileWriter)
    gfile.makedirs(run_dir)
    writer._logdir = run_dir
    uid = event_file_writer._global_uid.get()
    name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{uid}"
    writer._file_name = os.path.join(run_dir, name + FILENAME_SUFFIX)
    writer._general_file_writer = gfile.GFile(writer._file_name, "wb")
    writer._async_writer = event_file_writer._AsyncWriter(
        RecordWriter(writer._general_file_writer), max_queue_size, flush_secs
    )
    writer.add_event(
        event_pb2.Event(
            wall_time=time.time(),
            file_version="brain.Event:2",
            source_metadata=event_pb2.SourceMetadata(writer="tb_fitdiag"),
        )
    )
    writer.flush()
    return writer


@dataclass
class _OpenTag:
    """The records tag a layout is filling: its name and how many records it holds."""

    layout: str
    tag: str = ""
    count: int = 0


class RunWriter:
    """Writes the events of one run directory (e.g. ``<log_dir>/train``).

    Thread-safe: the linting thread may write a document while the training thread writes
    statistics. Memory is bounded by the writer's queue, which blocks when full.
    """

    def __init__(self, run_dir: str, *, max_queue_size: int = 64, flush_secs: float = 30.0):
        """Opens a new event file in ``run_dir`` (created if missing).

        Args:
            run_dir: The run directory.
            max_queue_size: Events buffered before a write blocks.
            flush_secs: Seconds between background flushes.
        """
        self.run_dir = run_dir
        self._writer = _event_file_writer(run_dir, max_queue_size, flush_secs)
        self._tagged: set[str] = set()
        self._layouts: dict[tuple[str, ...], _OpenTag] = {}
        self._lock = threading.Lock()
        self._closed = False

    def stats(self, values: Mapping[str, tuple[float, str]], step: int) -> None:
        """Writes the fitdiag statistics of one step as one record (one event).

        The record goes into the records tag of its layout (the tags of ``values``, in order);
        a layout's first record in this file also writes the layout's document, in the same
        event, so that no reader sees a record before its layout.

        Args:
            values: ``tag -> (value, kind)``; the kind is implied by the tag and not stored.
            step: The global optimizer step.
        """
        from tensorboard.compat.proto import summary_pb2

        if not values:
            return
        tags = tuple(values)
        packed = struct.pack(f"<{len(tags)}f", *(float(v) for v, _ in values.values()))
        summary = summary_pb2.Summary()
        with self._lock:
            open_tag = self._layouts.get(tags)
            if open_tag is None:
                open_tag = self._layouts[tags] = _OpenTag(metadata.layout_id(tags))
                layout: metadata.Layout = {"version": metadata.SCHEMA_VERSION, "tags": list(tags)}
                doc_tag = metadata.layout_tag(open_tag.layout)
                entry = summary.value.add(tag=doc_tag, tensor=_string_tensor(layout))
                if doc_tag not in self._tagged:
                    entry.metadata.CopyFrom(
                        metadata.create_summary_metadata(metadata.KIND_LAYOUT, tensor=True)
                    )
                    self._tagged.add(doc_tag)
            if not open_tag.tag or open_tag.count >= metadata.RECORDS_PER_TAG:
                open_tag.tag = metadata.records_tag(open_tag.layout, step)
                open_tag.count = 0
            entry = summary.value.add(tag=open_tag.tag)
            # Filled in place: building a TensorProto and copying it in costs twice as much.
            tensor = entry.tensor
            tensor.dtype = _DT_FLOAT
            tensor.tensor_shape.dim.add(size=len(tags) + 1)
            tensor.tensor_content = struct.pack("<f", open_tag.count) + packed
            if open_tag.tag not in self._tagged:
                entry.metadata.CopyFrom(
                    metadata.create_summary_metadata(metadata.KIND_RECORDS, tensor=True)
                )
                self._tagged.add(open_tag.tag)
            open_tag.count += 1
            self._add(summary, step)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Writes an ordinary scalar with the ``scalars`` plugin's metadata.

        Args:
            tag: The tag, e.g. ``epoch_loss``.
            value: The value.
            step: The step (the epoch for epoch-level scalars).
        """
        self._write(tag, _float_tensor(value), step, _scalars_metadata)

    def document(self, tag: str, document: Mapping[str, Any], step: int, kind: str) -> None:
        """Writes a JSON document as a string tensor (``DATA_CLASS_TENSOR``).

        Args:
            tag: ``metadata.RUN_INFO_TAG`` or ``metadata.STATIC_FINDINGS_TAG``.
            document: A JSON-serializable mapping (a :class:`metadata.RunInfo`, ...).
            step: The step the document belongs to.
            kind: ``metadata.KIND_RUN_INFO`` or ``metadata.KIND_STATIC_FINDINGS``.
        """
        tensor = _string_tensor(document)
        self._write(tag, tensor, step, lambda: metadata.create_summary_metadata(kind, tensor=True))

    def flush(self) -> None:
        """Writes every buffered event to disk."""
        with self._lock:
            if not self._closed:
                self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file; later writes are ignored."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()

    def _write(self, tag: str, tensor: Any, step: int, make_metadata: Any) -> None:
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary()
        with self._lock:
            entry = summary.value.add(tag=tag, tensor=tensor)
            if tag not in self._tagged:
                entry.metadata.CopyFrom(make_metadata())
                self._tagged.add(tag)
            self._add(summary, step)

    def _add(self, summary: Any, step: int) -> None:
        from tensorboard.compat.proto import event_pb2

        if self._closed:
            return
        self._writer.add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))


class RunWriters:
    """The ``train`` and ``validation`` writers of one log directory, opened on first use."""

    def __init__(self, log_dir: str):
        """Args:
        log_dir: The log directory; runs are ``<log_dir>/train`` and ``<log_dir>/validation``.
        """
        self.log_dir = log_dir
        self._writers: dict[str, RunWriter] = {}
        self._lock = threading.Lock()

    @property
    def train(self) -> RunWriter:
        """The writer of ``<log_dir>/train``."""
        return self._get(metadata.TRAIN_RUN)

    @property
    def validation(self) -> RunWriter:
        """The writer of ``<log_dir>/validation``."""
        return self._get(metadata.VALIDATION_RUN)

    def flush(self) -> None:
        """Flushes every open writer."""
        for writer in list(self._writers.values()):
            writer.flush()

    def close(self) -> None:
        """Closes every open writer; a later use opens new event files."""
        with self._lock:
            writers, self._writers = list(self._writers.values()), {}
        for writer in writers:
            writer.close()

    def _get(self, run: str) -> RunWriter:
        with self._lock:
            writer = self._writers.get(run)
            if writer is None:
                writer = RunWriter(os.path.join(self.log_dir, run))
                self._writers[run] = writer
            return writer


_DT_FLOAT = 1  # types_pb2.DT_FLOAT, fixed by TensorFlow's wire format


def _string_tensor(document: Mapping[str, Any]) -> Any:
    """A JSON document as a rank-0 ``DT_STRING`` tensor."""
    from tensorboard.util import tensor_util

    return tensor_util.make_tensor_proto(json.dumps(document, sort_keys=True).encode("utf-8"))


def _float_tensor(value: float) -> Any:
    from tensorboard.compat.proto import tensor_pb2, tensor_shape_pb2, types_pb2

    return tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        float_val=[float(value)],
    )


def _scalars_metadata() -> Any:
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    meta = scalar_metadata.create_summary_metadata(display_name="", description="")
    meta.data_class = summary_pb2.DATA_CLASS_SCALAR  # explicit, like every summary written here
    return meta
