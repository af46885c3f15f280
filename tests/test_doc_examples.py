"""Every console example in README.md and docs/ is what the commands really print.

``scripts/doc_examples.py`` finds the blocks and runs them; this runs it on every block, with
the trained examples (``make demo``'s logs) for the blocks that show a diagnosis.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("doc_examples", ROOT / "scripts/doc_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["doc_examples"] = module
    spec.loader.exec_module(module)
    return module


doc_examples = _load()
BLOCKS = [block for path in doc_examples.documents() for block in doc_examples.blocks(path)]


def test_the_documents_have_console_examples() -> None:
    where = {block.path.name for block in BLOCKS}
    assert {"README.md", "cli.md", "diagnose.md"} <= where
    assert any(block.logs for block in BLOCKS)
    assert all(block.commands for block in BLOCKS), "a console block without a $ command"


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.logs], ids=lambda b: f"{b.where}")
def test_console_example_is_real_output(block: doc_examples.Block) -> None:
    found = doc_examples.drift(block, None)
    assert found is None, found[1]


@pytest.mark.slow
@pytest.mark.xdist_group("examples")
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.masked], ids=lambda b: b.where)
def test_training_example_is_real_output(block: doc_examples.Block, trained_examples: Path) -> None:
    found = doc_examples.drift(block, trained_examples)
    assert found is None, found[1]


def test_a_drifted_example_is_reported(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("```console\n$ echo hello\nhullo\n```\n", encoding="utf-8")
    (block,) = doc_examples.blocks(page)
    found = doc_examples.drift(block, None)
    assert found is not None
    real, diff = found
    assert real == "$ echo hello\nhello\n"
    assert "-hullo" in diff and "+hello" in diff


def test_numbers_are_masked_only_for_training_output(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```console\n$ echo 1.5 runs\n2.5 runs\n```\n\n<!-- doc-example: logs -->\n"
        "```console\n$ echo 1.5 runs\n2.5 runs\n```\n",
        encoding="utf-8",
    )
    plain, masked = doc_examples.blocks(page)
    assert masked.logs and not plain.logs
    assert doc_examples.drift(plain, None) is not None
    assert doc_examples.drift(masked, tmp_path) is None


def test_declared_files_and_exit_codes(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- doc-example: file=data.txt -->\n```text\nfrom the page\n```\n\n"
        "```console\n$ cat data.txt\nfrom the page\n$ false\n$ echo $?\n1\n```\n\n"
        "<!-- doc-example: not-run (needs a GPU) -->\n```console\n$ nvidia-smi\n```\n",
        encoding="utf-8",
    )
    ran, skipped = doc_examples.blocks(page)
    assert ran.files == {"data.txt": "from the page\n"}
    assert doc_examples.drift(ran, None) is None
    assert skipped.skip == "needs a GPU"
    assert doc_examples.drift(skipped, None) is None


_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("path", doc_examples.documents(), ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    broken = [
        target
        for target in _LINK.findall(text)
        if "://" not in target
        and not target.startswith("mailto:")
        and not (path.parent / target).exists()
    ]
    assert not broken, f"{path.name}: broken links {broken}"


def test_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    releases = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert releases[0] == "[Unreleased]"
    for release in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", release), release
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds
