"""``fitdiag diagnose LOGDIR``: the runtime diagnosis, headless, for terminals and pipelines.

Exit status: 0 when no finding reaches ``--fail-on``, 1 when one does, 2 on errors (missing
directory, no runs, unreadable logs, bad arguments).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import math
import os
import re
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, TextIO

from tb_fitdiag import __version__
from tb_fitdiag.diagnosis import (
    SEVERITIES,
    Diagnosis,
    DiagnosisConfig,
    Finding,
    Headline,
    RunData,
    TagMapping,
    coverage_notes,
    diagnose_run,
    severity_rank,
)

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Event files above this total size are read with TensorFlow's C++ record reader when it is
# installed; smaller logdirs use TensorBoard's pure-Python reader, which starts ~20x faster.
TENSORFLOW_READER_BYTES = 64 * 1024 * 1024


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


@dataclass
class RunReport:
    """The diagnosis of one training run, ready to print."""

    run: str
    findings: list[Finding]
    headline: Headline | None = None
    live: tuple[dict[str, Any], ...] = ()
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Loading, through TensorBoard's own code


class _SkipCollector(logging.Handler):
    """Collects what TensorBoard's loader skipped (it logs and carries on)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = str(record.msg)
        if record.levelno >= logging.WARNING or msg.startswith("Truncated record"):
            self.records.append(record)


@contextmanager
def _captured_tensorboard_logs() -> Iterator[_SkipCollector]:
    """Routes the ``tensorboard`` logger into a collector, and keeps it off the terminal."""
    logger = logging.getLogger("tensorboard")
    collector = _SkipCollector()
    saved = (logger.level, logger.propagate, list(logger.handlers))
    logger.handlers = [collector]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


def _event_bytes(logdir: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(logdir):
        for name in files:
            if "tfevents" in name:
                with suppress(OSError):
                    total += os.path.getsize(os.path.join(root, name))
    return total


def _choose_record_reader(logdir: str) -> None:
    """Uses TensorBoard's TensorFlow-free reader for small logdirs.

    TensorBoard's loader imports TensorFlow when it is installed (seconds of start-up and log
    noise) unless ``tensorboard.compat.notf`` exists, which is how TensorBoard's own
    ``no_tensorflow`` build selects its stub. Large logdirs keep TensorFlow's faster C++ reader.
    The choice holds for the whole process, so only the console script makes it.
    """
    if "tensorflow" in sys.modules or "tensorboard.compat.notf" in sys.modules:
        return
    if _event_bytes(logdir) > TENSORFLOW_READER_BYTES and _import_tensorflow_quietly():
        return
    sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")


def _import_tensorflow_quietly() -> bool:
    """Imports TensorFlow with the process' stderr (file descriptor 2) muted, so its native
    start-up lines (oneDNN, absl) stay off the terminal. False when it is not installed."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            except ImportError:
                return False
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return True


def _describe_skip(record: logging.LogRecord, logdir: str) -> tuple[str | None, str]:
    """-> (TensorBoard run name or None, human-readable note)."""
    args = record.args if isinstance(record.args, tuple) else ()
    msg = str(record.msg)
    if msg.startswith("Truncated record") and len(args) >= 2:
        path = str(args[0])
        run = os.path.relpath(os.path.dirname(path), logdir).replace(os.sep, "/")
        reason = re.sub(r"^b?'[^']*'\s*", "", str(args[1])).strip() or "unreadable"
        return run, (
            f"stopped reading {os.path.basename(path)} at a truncated or corrupt record "
            f"({reason}); the events after it were skipped"
        )
    text = record.getMessage()
    for arg in args:
        if isinstance(arg, str) and arg and not os.path.isabs(arg):
            return arg, text
    return None, text


def load_logdir(
    logdir: str, *, tensorflow_free: bool = False
) -> tuple[Any, Any, dict[str | None, list[str]]]:
    """Loads a log directory with TensorBoard's multiplexer.

    Args:
        logdir: The directory to read.
        tensorflow_free: Read small logdirs without importing TensorFlow (a process-wide
            choice: TensorBoard resolves its TensorFlow module once per process).

    Returns:
        ``(provider, ctx, skipped)``: a ``MultiplexerDataProvider``, a ``RequestContext``, and
        what the loader skipped, by TensorBoard run name (None: not tied to a run).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if tensorflow_free:
        _choose_record_reader(logdir)
    from tensorboard import context as tb_context
    from tensorboard.backend.event_processing import data_provider, plugin_event_accumulator
    from tensorboard.backend.event_processing import plugin_event_multiplexer as multiplexer

    skipped: dict[str | None, list[str]] = {}
    with _captured_tensorboard_logs() as collector:
        mux = multiplexer.EventMultiplexer(
            size_guidance={plugin_event_accumulator.TENSORS: 0},  # 0: keep every event
        )
        mux.AddRunsFromDirectory(logdir)
        mux.Reload()
    for record in collector.records:
        run, note = _describe_skip(record, logdir)
        skipped.setdefault(run, []).append(note)
    provider = data_provider.MultiplexerDataProvider(mux, logdir)
    return provider, tb_context.RequestContext(), skipped


# ---------------------------------------------------------------------------------------------
# Diagnosis


def diagnose_logdir(
    logdir: str, run_glob: str | None, config: DiagnosisConfig, *, tensorflow_free: bool = False
) -> tuple[list[RunReport], list[str]]:
    """Diagnoses every training run of a log directory.

    Args:
        logdir: The directory to read.
        run_glob: fnmatch pattern on the training run names, or None for all.
        config: Thresholds and tag mapping.
        tensorflow_free: See :func:`load_logdir`.

    Returns:
        ``(reports, skipped)``: one report per matched run, and skip notes tied to no run.

    Raises:
        CliError: Missing directory, no runs, no run matching ``run_glob``.
    """
    from tb_fitdiag import reading

    if not os.path.exists(logdir):
        raise CliError(f"no such directory: {logdir}")
    if not os.path.isdir(logdir):
        raise CliError(f"not a directory: {logdir}")
    provider, ctx, skipped = load_logdir(logdir, tensorflow_free=tensorflow_free)
    runs = reading.list_training_runs(provider, ctx, "")
    unassigned = list(skipped.get(None, []))
    known = {tb_run for run in runs for tb_run in run.runs()}
    for tb_run, notes in skipped.items():
        if tb_run is not None and tb_run not in known:
            unassigned += [f"{tb_run}: {note}" for note in notes]
    if not runs:
        detail = "; ".join(unassigned)
        raise CliError(
            f"no TensorBoard runs with scalar data under {logdir}"
            + (f" ({detail})" if detail else "")
        )
    if run_glob is not None:
        matched = [run for run in runs if fnmatch.fnmatchcase(run.name, run_glob)]
        if not matched:
            names = ", ".join(run.name for run in runs)
            raise CliError(f"no run matches {run_glob!r}; runs: {names}")
        runs = matched
    reports = []
    for run in runs:
        data: RunData = reading.load_run(provider, ctx, "", run, config)
        for tb_run in run.runs():
            data.skipped += [f"{tb_run}: {note}" for note in skipped.get(tb_run, [])]
        result = diagnose_run(data, config)
        reports.append(
            RunReport(
                run=run.name,
                findings=result.findings,
                headline=result.headline,
                live=result.live,
                notes=coverage_notes(data, config),
                skipped=list(data.skipped),
            )
        )
    return reports, unassigned


# ---------------------------------------------------------------------------------------------
# Output


def _json_safe(value: Any) -> Any:
    """Non-finite floats become the strings "nan", "inf", "-inf" so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def render_json(reports: list[RunReport], skipped: list[str]) -> str:
    """The JSON report: ``{"runs": [{"run", "headline", "findings", "notes", "skipped"}],
    "skipped"}``."""
    doc = {
        "runs": [
            {
                "run": r.run,
                **Diagnosis(r.findings, r.headline, r.live).to_json(),
                "notes": r.notes,
                "skipped": r.skipped,
            }
            for r in reports
        ],
        "skipped": skipped,
    }
    return json.dumps(_json_safe(doc), indent=2, allow_nan=False)


# Text output: evidence lines wrap at this width; a per-layer table shows at most
# _TABLE_ROWS rows (the first and the last layers, which the gradient verdicts compare).
_WIDTH = 100
_INDENT = " " * 10
_TABLE_ROWS = 12
_TABLE_HEAD, _TABLE_TAIL = 6, 4
# Not repeated in the evidence: the step unit is in the finding's span, the fitlint findings
# have their own lines.
_EVIDENCE_SHOWN_ELSEWHERE = ("step_unit", "static_causes")


def _one(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _pack(items: list[str], indent: str, hanging: str) -> list[str]:
    """``items`` joined by ", " into lines of at most ``_WIDTH`` columns, broken only between
    items (an item longer than a line gets a line of its own)."""
    lines: list[str] = []
    line = indent
    for i, item in enumerate(items):
        text = item + ("," if i < len(items) - 1 else "")
        if line.strip() and len(line) + 1 + len(text) > _WIDTH:
            lines.append(line)
            line = hanging + text
        else:
            line += (" " if line.strip() else "") + text
    lines.append(line)
    return lines


def _evidence_lines(evidence: dict[str, Any]) -> list[str]:
    """The evidence in lines of at most ``_WIDTH`` columns: the single values on one wrapped
    ``evidence:`` line, each list on a line of its own, each per-layer mapping as a table of
    ``layer: value`` lines."""
    single: list[str] = []
    lists: list[str] = []
    tables: list[str] = []
    for key, value in evidence.items():
        if key in _EVIDENCE_SHOWN_ELSEWHERE:
            continue
        if isinstance(value, dict):
            tables.append(f"{_INDENT}{key}:")
            tables += _table(value)
        elif isinstance(value, list):
            lists += _pack([_one(v) for v in value] or ["none"], f"{_INDENT}{key}:", _INDENT + "  ")
        else:
            single.append(f"{key}={_one(value)}")
    lines = _pack(single, _INDENT + "evidence:", _INDENT + " " * 10) if single else []
    return lines + lists + tables


def _table(rows: dict[str, Any]) -> list[str]:
    """``name: value`` lines, the names padded to one column; a long table keeps its first
    and last rows."""
    names = list(rows)
    if len(names) > _TABLE_ROWS:
        hidden = len(names) - _TABLE_HEAD - _TABLE_TAIL
        shown: list[str | None] = [*names[:_TABLE_HEAD], None, *names[-_TABLE_TAIL:]]
    else:
        hidden, shown = 0, list(names)
    pad = min(max(len(str(n)) for n in names) + 1, 48) if names else 0
    out = []
    for name in shown:
        if name is None:
            out.append(f"{_INDENT}  ... {hidden} more (--format json lists every one)")
            continue
        value = rows[name]
        if isinstance(value, dict):
            items = [f"{k}={_one(v)}" for k, v in value.items()]
        elif isinstance(value, list):
            items = [_one(v) for v in value]
        else:
            items = [_one(value)]
        out += _pack(items, f"{_INDENT}  {name + ':':<{pad}}", _INDENT + "  " + " " * (pad + 1))
    return out


def _counts(findings: Sequence[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    return ", ".join(f"{n} {s}{'s' if n != 1 else ''}" for s, n in counts.items() if n)


def render_text(reports: list[RunReport], skipped: list[str]) -> str:
    """The terminal report: runs, findings by severity, evidence, likely causes and fixes."""
    lines: list[str] = []
    for report in reports:
        header = f"{report.run}: " + (_counts(report.findings) or "no findings")
        lines.append(header)
        headline = report.headline
        if headline is not None:
            where = f" at {headline.location}" if headline.location else ""
            lines.append(f"  MOST LIKELY {headline.cause}{where}")
            lines.append(f"          {headline.summary}")
            lines.append(f"          explains: {', '.join(headline.explains)}")
            lines.append(f"          fix: {headline.fix}")
        diagnosis = Diagnosis(report.findings, report.headline, report.live)
        for finding in report.findings:
            span = (
                f"{finding.evidence.get('step_unit', 'step')}s "
                f"{finding.step_start}-{finding.step_end}"
            )
            lines.append(f"  {finding.severity.upper():<7} {finding.name}  ({span})")
            lines.append(f"          {finding.message}")
            said = diagnosis.said_live(finding.name)
            if said is not None:
                lines.append(
                    f"          said while training: at step {said['step']} (Keras's epoch "
                    f"{said['epoch'] + 1}), as {said['severity']}"
                )
            lines += _evidence_lines(finding.evidence)
            if finding.suggestions:
                lines.append(f"          likely causes (fitlint): {', '.join(finding.suggestions)}")
            for cause in finding.evidence.get("static_causes", []):
                lines.append(
                    f"          found by fitlint: {cause['path']}:{cause['line']} "
                    f"{cause['name']}: {cause['message']}"
                )
            if finding.remedy:
                lines.append(f"          fix: {finding.remedy}")
        lines += [f"  note: {note}" for note in report.notes]
        lines += [f"  skipped: {note}" for note in report.skipped]
    lines += [f"skipped: {note}" for note in skipped]
    every = [f for r in reports for f in r.findings]
    lines.append(
        f"{len(reports)} run{'s' if len(reports) != 1 else ''}: {_counts(every) or 'no findings'}"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Arguments


def _parse_setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise CliError(f"--set expects NAME=VALUE, got {text!r}")
    default = getattr(DiagnosisConfig(), name.strip(), None)
    if default is None or isinstance(default, TagMapping):
        raise CliError(f"unknown diagnosis setting {name!r} (see docs/diagnose.md)")
    kind = "an integer" if isinstance(default, int) else "a number"
    try:
        value: Any = int(raw) if isinstance(default, int) else float(raw)
    except ValueError:
        raise CliError(f"--set {name}: {raw!r} is not {kind}") from None
    return name.strip(), value


def _config(args: argparse.Namespace) -> DiagnosisConfig:
    tags = TagMapping()
    if args.train_loss_tag:
        tags = TagMapping(
            **{**_tag_fields(tags), "train_loss": tuple(args.train_loss_tag) + tags.train_loss}
        )
    if args.validation_loss_tag:
        tags = TagMapping(
            **{
                **_tag_fields(tags),
                "validation_loss": tuple(args.validation_loss_tag) + tags.validation_loss,
            }
        )
    overrides = dict(_parse_setting(s) for s in args.set or [])
    return DiagnosisConfig(tags=tags).with_overrides(**overrides)


def _tag_fields(tags: TagMapping) -> dict[str, Any]:
    from dataclasses import fields

    return {f.name: getattr(tags, f.name) for f in fields(tags)}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fitdiag",
        description="Diagnose Keras training runs from their TensorBoard logs.",
    )
    parser.add_argument("--version", action="version", version=f"fitdiag {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    diag = sub.add_parser(
        "diagnose",
        help="print the convergence findings of every run under LOGDIR",
        description=(
            "Read every run under LOGDIR with TensorBoard's loader and print its findings. "
            "Exit status: 0 no finding at or above --fail-on, 1 otherwise, 2 on errors."
        ),
    )
    diag.add_argument("logdir", metavar="LOGDIR", help="TensorBoard log directory")
    diag.add_argument(
        "--run",
        metavar="GLOB",
        help="diagnose only training runs whose name (path relative to LOGDIR) matches GLOB",
    )
    diag.add_argument("--format", choices=("text", "json"), default="text")
    diag.add_argument(
        "--fail-on",
        choices=("error", "warning"),
        default="error",
        help="exit 1 when a finding of this severity or worse exists (default: error)",
    )
    diag.add_argument(
        "--set",
        action="append",
        metavar="NAME=VALUE",
        help="override a threshold, e.g. --set min_points=12 (repeatable)",
    )
    diag.add_argument(
        "--train-loss-tag",
        action="append",
        metavar="TAG",
        help="scalar tag of the training loss, tried before the defaults (repeatable)",
    )
    diag.add_argument(
        "--validation-loss-tag",
        action="append",
        metavar="TAG",
        help="scalar tag of the validation loss, tried before the defaults (repeatable)",
    )
    return parser


def _flush(stream: TextIO) -> None:
    """Flushes ``stream``; a reader that has gone away (``fitdiag diagnose LOGDIR | head``)
    ends the output quietly instead of with a ``BrokenPipeError`` traceback.

    The stream is then pointed at ``os.devnull``, so that Python's own flush at exit finds
    nowhere to fail (it would print ``Exception ignored ... BrokenPipeError`` and exit 120).
    """
    try:
        stream.flush()
    except BrokenPipeError:
        with suppress(OSError, ValueError):  # a stream without a file descriptor (tests)
            fd = stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def _write(text: str, stream: TextIO) -> None:
    """Prints one line of output to ``stream``, quietly when its reader has gone away."""
    with suppress(BrokenPipeError):  # what could not be written stays buffered: _flush drops it
        print(text, file=stream)
    _flush(stream)


def _error(message: str, stderr: TextIO) -> int:
    _write(f"fitdiag: error: {message}", stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fitdiag`` console script.

    Args:
        argv: The arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit status: 0, 1 (findings at or above ``--fail-on``) or 2 (errors). A reader
        that stops reading early (``| head``) changes neither the status nor stderr.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, bad arguments
        _flush(sys.stdout)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    if args.command is None:
        _write(parser.format_usage().rstrip("\n"), sys.stderr)
        return _error("a command is required (diagnose)", sys.stderr)
    try:
        config = _config(args)
        # Called as the console script (argv None), main owns the process and may keep
        # TensorFlow out of it; called from Python, it leaves the process as it finds it.
        reports, skipped = diagnose_logdir(
            args.logdir, args.run, config, tensorflow_free=argv is None
        )
    except (CliError, ValueError) as err:
        return _error(str(err), sys.stderr)
    except Exception as err:  # unreadable logs: one line, never a traceback
        return _error(f"could not read {args.logdir}: {type(err).__name__}: {err}", sys.stderr)
    out = render_json(reports, skipped) if args.format == "json" else render_text(reports, skipped)
    _write(out, sys.stdout)
    threshold = severity_rank(args.fail_on)
    failing = any(severity_rank(f.severity) <= threshold for r in reports for f in r.findings)
    return EXIT_FINDINGS if failing else EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
