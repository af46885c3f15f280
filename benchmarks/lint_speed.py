"""fitlint's speed, as ratios against baselines measured in the same run.

Figures:
1. Full lint of a corpus of real Keras code divided by the libcst parse-only time of the same
   files with the same number of processes (target <= 1.3).
2. Cold wall time of ``fitlint file.py`` on a 300-line training script, beside the start-up
   time of a bare ``python -c pass`` (target <= 0.35 s median).
3. When the cache exists: the warm-cache rerun divided by the cold run (target <= 0.1).

The corpus is the Keras source tree installed in this environment (its ``*_test.py`` files
build, compile and fit real models; the rest is the library itself) plus ``examples/``.
Figure 1 is given for wall times and for CPU times (this process and its worker processes),
which other load on the machine skews much less.

Usage: python benchmarks/lint_speed.py [--jobs N] [--repeat R] [--limit FILES] [--corpus-only]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _corpus(limit: int | None) -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("keras")  # located, not imported: no TensorFlow start-up
    if spec is None or spec.origin is None:
        raise SystemExit("the corpus is the installed Keras source: pip install keras")
    keras_src = Path(spec.origin).parent / "src"
    files = sorted(str(p) for p in keras_src.rglob("*.py"))
    files += sorted(str(p) for p in (ROOT / "examples").glob("*.py"))
    return files[:limit] if limit else files


def _parse_one(path: str) -> int:
    import libcst

    with open(path, encoding="utf-8") as fh:
        libcst.parse_module(fh.read())
    return 1


def _cpu() -> float:
    """CPU seconds of this process and of its finished worker processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _parse_only(files: list[str], jobs: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), _cpu()
    if jobs == 1:
        for f in files:
            _parse_one(f)
    else:
        with concurrent.futures.ProcessPoolExecutor(jobs) as pool:
            list(pool.map(_parse_one, files, chunksize=8))
    return time.perf_counter() - start, _cpu() - cpu


def _lint(files: list[str], jobs: int) -> tuple[float, float, int]:
    from fitlint import api

    start, cpu = time.perf_counter(), _cpu()
    results = list(api.lint_paths(files, jobs=jobs))
    elapsed, used = time.perf_counter() - start, _cpu() - cpu
    return elapsed, used, sum(len(r.findings) for r in results)


def _script_300_lines() -> str:
    lines = [
        "import numpy as np",
        "import tensorflow as tf",
        "from tensorflow import keras",
        "from tensorflow.keras import layers",
        "",
        "(x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()",
        "x_train = x_train.reshape(-1, 784).astype('float32') / 255.0",
        "x_test = x_test.reshape(-1, 784).astype('float32') / 255.0",
        "",
    ]
    i = 0
    while len(lines) < 290:
        lines += [
            f"def build_{i}(units=64):",
            "    model = keras.Sequential([",
            "        layers.Input(shape=(784,)),",
            "        layers.Dense(units, activation='relu'),",
            "        layers.Dropout(0.2),",
            "        layers.Dense(10, activation='softmax'),",
            "    ])",
            "    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),",
            "                  loss='sparse_categorical_crossentropy', metrics=['accuracy'])",
            "    return model",
            "",
        ]
        i += 1
    lines += [
        "model = build_0()",
        "model.fit(x_train, y_train, epochs=2, batch_size=128, validation_split=0.1)",
        "model.evaluate(x_test, y_test)",
    ]
    return "\n".join(lines) + "\n"


def _median_wall(cmd: list[str], repeat: int, cwd: str) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="lint only the first N files")
    parser.add_argument("--corpus-only", action="store_true", help="figure 1 only")
    args = parser.parse_args()

    files = _corpus(args.limit)
    n_lines = sum(Path(f).read_text(encoding="utf-8").count("\n") for f in files)
    print(f"corpus: {len(files)} files, {n_lines} lines; jobs={args.jobs}")

    parse_times, lint_times, parse_cpus, lint_cpus, findings = [], [], [], [], 0
    for _ in range(args.repeat):  # interleaved, so drift hits both alike
        elapsed, used = _parse_only(files, args.jobs)
        parse_times.append(elapsed)
        parse_cpus.append(used)
        elapsed, used, findings = _lint(files, args.jobs)
        lint_times.append(elapsed)
        lint_cpus.append(used)
    parse_t, lint_t = statistics.median(parse_times), statistics.median(lint_times)
    parse_c, lint_c = statistics.median(parse_cpus), statistics.median(lint_cpus)
    print(f"parse-only (libcst)    {parse_t:8.2f} s   cpu {parse_c:8.2f} s")
    print(f"fitlint full lint      {lint_t:8.2f} s   cpu {lint_c:8.2f} s   ({findings} findings)")
    ratios = f"{lint_t / parse_t:8.2f}   cpu {lint_c / parse_c:8.2f}"
    print(f"ratio lint/parse       {ratios}   (target <= 1.3)")
    if args.corpus_only:
        return 0

    fitlint = str(Path(sys.executable).with_name("fitlint"))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "train.py"
        script.write_text(_script_300_lines(), encoding="utf-8")
        reps = max(5, args.repeat * 3)
        bare = _median_wall([sys.executable, "-c", "pass"], reps, tmp)
        cold_cmd = [fitlint, str(script)]
        help_out = subprocess.run([fitlint, "--help"], capture_output=True, text=True).stdout
        if "--no-cache" in help_out:
            cold_cmd.append("--no-cache")
        cold = _median_wall(cold_cmd, reps, tmp)
        print(f"python -c pass         {bare:8.3f} s   (start-up baseline)")
        print(f"fitlint train.py       {cold:8.3f} s   300 lines, median of {reps} (<= 0.35)")
        print(f"ratio vs bare python   {cold / bare:8.2f}")

        if "--no-cache" in help_out and "--cache-dir" in help_out:
            cache = Path(tmp) / "cache"
            corpus_cmd = [fitlint, "--cache-dir", str(cache), "--jobs", str(args.jobs), *files]
            cold_runs, warm_runs = [], []
            for _ in range(args.repeat):
                shutil.rmtree(cache, ignore_errors=True)
                cold_runs.append(_median_wall(corpus_cmd, 1, tmp))
                warm_runs.append(_median_wall(corpus_cmd, 1, tmp))
            cold_c, warm_c = statistics.median(cold_runs), statistics.median(warm_runs)
            print(f"corpus, cold cache     {cold_c:8.2f} s")
            print(f"corpus, warm cache     {warm_c:8.2f} s")
            print(f"ratio warm/cold        {warm_c / cold_c:8.2f}   (target <= 0.1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
