"""The console examples of README.md and docs/*.md, run for real and compared with what they show.

A ```` ```console ```` block is a sequence of ``$ command`` lines, each followed by the output it
prints (stdout and stderr together). Every block is run unless an HTML comment right above it
says why not::

    <!-- doc-example: not-run (needs your own train.py) -->

Otherwise the block runs in a fresh temporary directory holding:

* ``examples/``: a link to the repository's bundled examples;
* ``demo_logs/``: a link to the logs of the trained examples (what ``make demo`` writes), when
  the comment above the block says ``<!-- doc-example: logs -->``; ``masked`` instead of
  ``logs`` compares the numbers masked without the logs (a block that trains);
* every file given by a fenced block that a ``<!-- doc-example: file=NAME -->`` comment
  precedes, anywhere earlier in the same document (written fresh for each console block).

The commands run in one ``bash`` session (so ``echo $?`` reports the command before it) with the
virtual environment's ``bin/`` first on ``PATH``. TensorFlow's runtime log lines (absl's
``I0000 ...`` lines, the oneDNN notice) are left out, as ``make demo`` leaves them out. Where
the output names a file of the repository by its absolute path, the repository's root is shown
as the relative path. Output that comes from a training run (``logs`` and ``masked`` blocks)
is compared with every number masked: the words, names, order, layout and source lines must
match; the numbers of a model retrained on another machine may differ in their last digits.

Usage:
    python scripts/doc_examples.py --check [--logs DIR]     # exit 1 and a diff if one drifted
    python scripts/doc_examples.py --update [--logs DIR]    # rewrite the blocks with real output
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from demo import RUNTIME_NOISE  # noqa: E402  (TensorFlow's absl/oneDNN lines: not the example's)

DOCUMENTS = ("README.md", "docs/*.md")

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_MARK = re.compile(r"<!--\s*doc-example:\s*(.*?)\s*-->\s*\n$")
# A number on its own (not part of a name such as dense_1), except the line after a ``.py:``.
_NUMBER = re.compile(r"(?<!\.py:)\b\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


@dataclass
class Block:
    """One console block: where it is, its commands and the output the document shows."""

    path: Path
    line: int
    start: int  # offset of the block's body in the document
    end: int
    text: str
    files: dict[str, str] = field(default_factory=dict)
    logs: bool = False
    masked: bool = False
    skip: str | None = None

    @property
    def commands(self) -> list[str]:
        return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]

    @property
    def where(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"


def documents() -> list[Path]:
    """README.md and every Markdown file under docs/."""
    found = [ROOT / "README.md"]
    found += sorted((ROOT / "docs").glob("*.md"))
    return found


def blocks(path: Path) -> list[Block]:
    """The console blocks of one document, with the files declared before each."""
    text = path.read_text(encoding="utf-8")
    files: dict[str, str] = {}
    found: list[Block] = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        mark = _MARK.search(before)
        options = mark.group(1) if mark else ""
        if options.startswith("file="):
            files[options.removeprefix("file=").strip()] = match.group(2)
            continue
        if match.group(1) != "console":
            continue
        found.append(
            Block(
                path=path,
                line=before.count("\n") + 2,
                start=match.start(2),
                end=match.end(2),
                text=match.group(2),
                files=dict(files),
                logs="logs" in options.split(),
                masked=bool({"logs", "masked"} & set(options.split())),
                skip=options.removeprefix("not-run").strip(" ()") or "not run"
                if options.startswith("not-run")
                else None,
            )
        )
    return found


def _script(commands: list[str]) -> str:
    lines = ["exec 2>&1", "__rc=0"]
    for command in commands:
        lines.append(f"printf '%s\\n' {shlex.quote('$ ' + command)}")
        lines.append(f"(exit $__rc); {command}")
        lines.append("__rc=$?")
    return "\n".join(lines) + "\n"


def run(block: Block, logs: Path | None) -> str:
    """Runs the block's commands in a fresh sandbox and returns what they printed, as the
    block would show it."""
    with tempfile.TemporaryDirectory(prefix="fitdiag-doc-") as tmp:
        sandbox = Path(tmp)
        (sandbox / "examples").symlink_to(ROOT / "examples")
        if block.logs:
            if logs is None:
                raise SystemExit(f"{block.where}: needs trained logs: pass --logs DIR")
            (sandbox / "demo_logs").symlink_to(logs.resolve())
        for name, content in block.files.items():
            (sandbox / name).parent.mkdir(parents=True, exist_ok=True)
            (sandbox / name).write_text(content, encoding="utf-8")
        bin_dir = str(Path(sys.executable).parent)
        env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "NO_COLOR": "1",
            "COLUMNS": "100",
        }
        done = subprocess.run(
            ["bash", "-c", _script(block.commands)],
            cwd=sandbox,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        out = "".join(
            line
            for line in done.stdout.splitlines(keepends=True)
            if not RUNTIME_NOISE.match(line.rstrip("\n"))
        )
        for root in {str(ROOT), str(ROOT.resolve())}:
            out = out.replace(root + os.sep, "")
        return out.replace(str(sandbox) + os.sep, "")


def comparable(block: Block, text: str) -> str:
    """What is compared: the text, with numbers masked where they come from training."""
    return _NUMBER.sub("#", text) if block.masked else text


def drift(block: Block, logs: Path | None) -> tuple[str, str] | None:
    """``(unified diff, real output)`` when the block differs from the real output, else None."""
    if block.skip is not None:
        return None
    real = run(block, logs)
    if comparable(block, real) == comparable(block, block.text):
        return None
    return real, "".join(
        difflib.unified_diff(
            block.text.splitlines(keepends=True),
            real.splitlines(keepends=True),
            fromfile=f"{block.where} (document)",
            tofile=f"{block.where} (real output)",
        )
    )


def update(path: Path, logs: Path | None) -> bool:
    """Rewrites the drifted console blocks of one document; whether anything changed."""
    text = path.read_text(encoding="utf-8")
    changed = False
    for block in reversed(blocks(path)):
        if block.skip is not None:
            continue
        real = run(block, logs)
        if real != block.text:
            text = text[: block.start] + real + text[block.end :]
            changed = True
    if changed:
        path.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", action="store_true")
    action.add_argument("--update", action="store_true")
    parser.add_argument(
        "--logs", type=Path, default=None, help="trained examples' logs (default: demo_logs/)"
    )
    args = parser.parse_args(argv)
    logs = args.logs
    if logs is None and (ROOT / "demo_logs").is_dir():
        logs = ROOT / "demo_logs"
    failed = 0
    for path in documents():
        if args.update:
            if update(path, logs):
                print(f"updated {path.relative_to(ROOT)}")
            continue
        for block in blocks(path):
            found = drift(block, logs)
            if found is not None:
                failed += 1
                print(found[1])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
