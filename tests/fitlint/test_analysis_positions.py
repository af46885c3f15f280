"""The shared positions equal libcst's public PositionProvider on awkward sources too."""

from __future__ import annotations

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
]


@pytest.mark.parametrize("source", SOURCES)
def test_positions_match_the_public_provider(source: str) -> None:
    module = cst.parse_module(source)
    ours = build_index(module).positions()
    public = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert dict(ours) == dict(public)
