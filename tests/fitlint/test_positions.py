"""The shared positions equal libcst's public PositionProvider, node for node."""

from __future__ import annotations

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from fitlint.analysis.index import build_index

SOURCE = '''import keras

@decorator(1)
def build(units=64):  # comment
    model = keras.Sequential([
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1),
    ])
    return model

x = """multi
line"""; y = 2
'''


def test_positions_match_the_public_provider() -> None:
    module = cst.parse_module(SOURCE)
    ours = build_index(module).positions()
    public = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    assert len(public) > 50
    assert dict(ours) == dict(public)
