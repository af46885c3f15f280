"""The README's main job: lint the bundled examples (more steps arrive with the runtime side)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    fitlint = Path(sys.executable).with_name("fitlint")
    print("== fitlint examples/ ==", flush=True)
    rc = subprocess.call([str(fitlint), "examples/"], cwd=ROOT)
    return 0 if rc in (0, 1) else rc


if __name__ == "__main__":
    raise SystemExit(main())
