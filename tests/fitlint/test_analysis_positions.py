"""The shared positions equal libcst's public PositionProvider on awkward sources too, whether
the whole module is generated or only the statements asked about."""

from __future__ import annotations

import random

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from fitlint.analysis.index import build_index

SOURCES = [
    pytest.param("import keras\nx = keras.layers.Dense(1)\n", id="plain"),
    pytest.param("import keras\r\nif x:\r\n    y = (1 +\r\n         2)\r\n", id="crlf"),
    pytest.param("import keras\rx = 1\r", id="cr"),
    pytest.param("import keras\nx = [\n    1,\n    2,\n]", id="no-trailing-newline"),
    pytest.param("", id="empty"),
    pytest.param(
        "import keras\nnom = 'élève'  # ünïcode\nif x:\n\ty = 1\t# tab\n", id="unicode-and-tab"
    ),
    pytest.param(
        "import keras\n@deco\nclass A(keras.Model):\n    '''doc'''\n\n    def call(self, x):\n"
        "        # comment\n        return x  ;  y = 2\n\n\n# trailing comment\n",
        id="class-comments-semicolons",
    ),
    pytest.param(
        'import keras\nf"{x!r:>{w}}"\nlambda a, *b, c=1, **d: (a, b)\n'
        "with open(p) as f, open(q) as g:\n    pass\n"
        "try:\n    pass\nexcept* ValueError:\n    pass\n"
        "match x:\n    case [1, *rest] if rest:\n        pass\n",
        id="odd-syntax",
    ),
    pytest.param(
        '#!/usr/bin/env python\n"""Module doc\nwith a line at column 0\n"""\n\n# a comment\n'
        "import keras  # why\n\n\n@a.b(\n1)\n@c\n# between\ndef f(\nx,\n):\n    return '''\n"
        "x = 1\n'''\nmodel = keras.Sequential([\n    keras.layers.Dense(1),\n])\n"
        "if a:\n    pass\n# dedented comment\nelif b:\n    pass\nelse:\n    pass\n"
        "try:\n    pass\nexcept E:\n    pass\nfinally:\n    pass\n"
        "total = 1 + \\\n2\ns = 'a\\'b' \"c\\\"d\" r'\\\\' '''x''' \"\"\nbs = b'x' b'''y'''\n"
        "for i in range(3): model.add(keras.layers.Dense(i)); print(i)\n"
        "class B: pass\nasync def g():\n    await h()\n\n# end\n",
        id="scan-stress",
    ),
]


def _public(module: cst.Module) -> dict[cst.CSTNode, object]:
    return dict(MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider))


@pytest.mark.parametrize("source", SOURCES)
def test_positions_match_the_public_provider(source: str) -> None:
    module = cst.parse_module(source)
    assert dict(build_index(module).positions()) == _public(module)


@pytest.mark.parametrize("source", SOURCES)
def test_positions_asked_one_by_one_match_the_public_provider(source: str) -> None:
    module = cst.parse_module(source)
    public = _public(module)
    nodes = [n for n in public if not isinstance(n, cst.Module)]
    random.Random(0).shuffle(nodes)
    positions = build_index(module, source).positions()
    for node in nodes:
        assert positions[node] == public[node]


def test_only_the_statements_asked_about_are_generated() -> None:
    source = "import keras\n" + "".join(f"m{i} = keras.Sequential()\n" for i in range(50))
    module = cst.parse_module(source)
    positions = build_index(module, source).positions()
    stmt = module.body[31]
    assert isinstance(stmt, cst.SimpleStatementLine)
    call = stmt.body[0]
    assert positions[call].start.line == 32
    assert not positions.complete


def test_a_scan_that_cannot_tell_falls_back_to_the_whole_module() -> None:
    # The last statement has no newline of its own in the source: it cannot be checked alone.
    source = "import keras\nx = 1\ny = keras.layers.Dense(1)"
    module = cst.parse_module(source)
    positions = build_index(module, source).positions()
    stmt = module.body[2]
    assert positions[stmt] == _public(module)[stmt]
    assert positions.complete


@pytest.mark.parametrize("source", SOURCES)
def test_lines_match_the_public_provider(source: str) -> None:
    module = cst.parse_module(source)
    public = _public(module)
    positions = build_index(module, source).positions()
    for node, rng in public.items():
        if not isinstance(node, cst.Module):
            assert positions.line(node) == rng.start.line


def test_a_line_of_a_one_line_statement_generates_nothing() -> None:
    source = "import keras\n" + "".join(f"m{i} = keras.Sequential()\n" for i in range(50))
    module = cst.parse_module(source)
    positions = build_index(module, source).positions()
    stmt = module.body[31]
    assert isinstance(stmt, cst.SimpleStatementLine)
    assert positions.line(stmt.body[0]) == 32
    assert not positions.complete and positions.generated == 0
