"""Diagnosis accuracy on the run zoo: real Keras training runs with labelled faults.

Trains the zoo (``tests/tb_fitdiag/zoo.py``) into a log directory unless it is there already,
diagnoses every run through the ``fitdiag diagnose`` code path, and prints, for one half of
the zoo: precision and recall per finding, the healthy runs without alarms, the runs diagnosed
right, the headlines that name the right cause, and every run diagnosed wrong.

    python benchmarks/diagnosis_accuracy.py [--logdir DIR] [--half report|tune|all] [--regenerate]

The ``tune`` half is for tuning the diagnosis; quote the ``report`` half. This process never
imports TensorFlow: training runs in a subprocess, the logs are read with TensorBoard's own
reader.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.tb_fitdiag import zoo  # noqa: E402

DEFAULT_LOGDIR = Path(tempfile.gettempdir()) / "fitdiag-zoo"


def _stale(root: Path, runs: Sequence[zoo.ZooRun]) -> list[zoo.ZooRun]:
    """Runs not trained yet under ``root``, or trained from a script that has changed since."""
    stale = []
    for run in runs:
        script = root / "scripts" / f"{run.name}.py"
        trained = (root / run.name / "history.json").is_file() and script.is_file()
        if not trained or script.read_text() != run.script:
            stale.append(run)
    return stale


def _ratio(value: float | None, part: int, whole: int) -> str:
    shown = "  -  " if value is None else f"{value:.2f}"
    return f"{shown} ({part}/{whole})"


def _found(verdict: zoo.Verdict) -> str:
    if not verdict.present:
        return "no report (the run is missing from the logdir)"
    alarms = [
        f"{name} ({severity})" for name, severity in verdict.findings if severity in zoo.ALARMS
    ]
    return ", ".join(alarms) or "nothing"


def render(verdicts: Sequence[zoo.Verdict], half: str, root: Path) -> str:
    """The benchmark's report, as printed."""
    result = zoo.score(verdicts)
    which = "all of the zoo" if half == "all" else f"the zoo's {half} half"
    lines = [
        f"diagnosis accuracy on {which}: {result.runs} runs ({result.healthy} healthy) in {root}",
        "",
        f"{'finding':24} {'precision':>16} {'recall':>16}",
    ]
    for f in result.findings:
        reported = f.true_positives + f.false_positives
        expected = f.true_positives + f.false_negatives
        lines.append(
            f"{f.name:24} {_ratio(f.precision, f.true_positives, reported):>16} "
            f"{_ratio(f.recall, f.true_positives, expected):>16}"
        )
    lines += [
        "",
        f"healthy runs clean:  {result.healthy_clean}/{result.healthy}",
        f"runs right:          {result.right}/{result.runs}",
        f"headlines right:     {result.headline_right}/{result.runs}",
    ]
    if result.missing:
        lines.append(f"runs missing:        {result.missing}")
    wrong = [v for v in verdicts if not v.right or not v.headline_right]
    if wrong:
        lines += ["", "wrong (FINDINGS: the findings are wrong; HEADLINE: the headline is):"]
    for v in wrong:
        marks = "+".join(
            mark
            for mark, bad in (("FINDINGS", not v.right), ("HEADLINE", not v.headline_right))
            if bad
        )
        want = ", ".join(sorted(v.run.expected)) or "no alarm"
        lines.append(f"  {marks:17} {v.run.name}  [{v.run.fault}]")
        lines.append(f"      expected: {want}; found: {_found(v)}")
        details = []
        if v.missed:
            details.append("missed " + ", ".join(sorted(v.missed)))
        if v.unexplained:
            details.append("unexplained " + ", ".join(sorted(v.unexplained)))
        if not v.headline_right:
            details.append(f"headline {v.headline or 'none'} (want {v.run.cause or 'none'})")
        if details:
            lines.append("      " + "; ".join(details))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Trains what is missing, diagnoses, prints the report; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logdir", type=Path, default=DEFAULT_LOGDIR, help=f"default: {DEFAULT_LOGDIR}"
    )
    parser.add_argument("--half", choices=("report", "tune", "all"), default="report")
    parser.add_argument(
        "--regenerate", action="store_true", help="train every run again, even if present"
    )
    args = parser.parse_args(argv)

    root: Path = args.logdir
    runs = zoo.select(args.half)
    todo = list(runs) if args.regenerate else _stale(root, runs)
    if todo:
        print(f"training {len(todo)} zoo run(s) into {root} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            zoo.generate(root, [run.name for run in todo])
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 2
        print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    verdicts = zoo.evaluate(root, runs, tensorflow_free=True)
    print(render(verdicts, args.half, root))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
