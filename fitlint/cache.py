"""The result cache: one small JSON file per (file content, path, configuration, fitlint).

An entry's name is the sha256 of the file's bytes, its path, the fingerprint of the
configuration that applies to it, the fitlint version and a stamp of fitlint's own source
files (so an upgraded or edited fitlint never reads results of another). Entries are written
atomically (temporary file and rename); an unreadable or corrupt entry counts as a miss.
Results with internal errors are never stored.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from fitlint import __version__
from fitlint.model import Edit, Finding, Fix, Severity

CACHE_DIR_NAME = ".fitlint_cache"
_FORMAT = 1


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """The fitlint version and the sizes and mtimes of its modules (rules included)."""
    package = Path(__file__).resolve().parent
    h = hashlib.sha256(f"{__version__}:{_FORMAT}".encode())
    for p in sorted(package.rglob("*.py")):
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p.relative_to(package)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def entry_key(data: bytes, path: str, config_fingerprint: str) -> str:
    """The cache key of one file's bytes under one configuration."""
    h = hashlib.sha256()
    h.update(code_stamp().encode())
    h.update(b"\0")
    h.update(os.path.abspath(path).encode("utf-8", "surrogateescape"))
    h.update(b"\0")
    h.update(config_fingerprint.encode())
    h.update(b"\0")
    h.update(data)
    return h.hexdigest()


def finding_from_json(obj: dict[str, Any]) -> Finding:
    """The inverse of :meth:`Finding.to_json`.

    Raises:
        KeyError, TypeError, ValueError, AttributeError: For a malformed object.
    """
    fix = None
    if "fix" in obj:
        raw = obj["fix"]
        fix = Fix(
            message=str(raw["message"]),
            edits=tuple(
                Edit(
                    int(e["line"]),
                    int(e["column"]),
                    int(e["end_line"]),
                    int(e["end_column"]),
                    str(e["content"]),
                )
                for e in raw["edits"]
            ),
        )
    cell = obj.get("cell")
    return Finding(
        code=str(obj["code"]),
        name=str(obj["name"]),
        severity=Severity(obj["severity"]),
        path=str(obj["path"]),
        line=int(obj["line"]),
        column=int(obj["column"]),
        end_line=int(obj["end_line"]),
        end_column=int(obj["end_column"]),
        message=str(obj["message"]),
        fix=fix,
        cell=None if cell is None else int(cell),
    )


class Cache:
    """A directory of cached results.

    Args:
        directory: Where the entries live; created (with a ``.gitignore`` of ``*``) on the
            first write.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key[2:]}.json"

    def get(self, key: str) -> list[Finding] | None:
        """The cached findings for ``key``; None on a miss or an entry of any other shape
        (the caller lints the file and :meth:`put` rewrites the entry)."""
        try:
            raw = self._entry(key).read_bytes()
            obj = json.loads(raw)
            if not isinstance(obj, dict) or obj.get("format") != _FORMAT:
                return None
            findings = obj.get("findings")
            if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
                return None
            return [finding_from_json(f) for f in findings]
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return None

    def put(self, key: str, findings: list[Finding]) -> None:
        """Stores findings atomically; a failure to write is silently a miss next time."""
        entry = self._entry(key)
        payload = json.dumps(
            {"format": _FORMAT, "findings": [f.to_json() for f in findings]},
            separators=(",", ":"),
        ).encode()
        with contextlib.suppress(OSError):
            self._prepare()
            entry.parent.mkdir(exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(payload)
                os.replace(tmp, entry)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _prepare(self) -> None:
        if self.directory.is_dir():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / ".gitignore").write_text("# created by fitlint\n*\n", encoding="utf-8")
        (self.directory / "CACHEDIR.TAG").write_text(
            "Signature: 8a477f597d28d172789f06886806bc55\n"
            "# This file is a cache directory tag created by fitlint.\n",
            encoding="utf-8",
        )
