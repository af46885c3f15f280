"""ModuleIndex.const_value of string and number literals equals Python's own evaluation."""

from __future__ import annotations

import ast

import libcst as cst
import pytest

from fitlint.analysis.index import build_index

STRINGS = [
    '"relu"',
    "'a\"b'",
    '"""x\ny"""',
    "''''a'''",
    '""',
    '""""""',
    '"a\\nb"',
    "r'a\\d'",
    "b'x'",
    "u'é'",
    '"""a\r\nb"""',
    "'\\''",
]


@pytest.mark.parametrize("literal", STRINGS)
def test_string_values(literal: str) -> None:
    module = cst.parse_module(f"x = {literal}\n")
    stmt = module.body[0]
    assert isinstance(stmt, cst.SimpleStatementLine)
    assign = stmt.body[0]
    assert isinstance(assign, cst.Assign)
    value = build_index(module).const_value(assign.value)
    assert value == ast.literal_eval(literal.replace("\r\n", "\n"))


NUMBERS = [
    "0",
    "00",
    "42",
    "1_000",
    "0x1F",
    "0o17",
    "0b101",
    "1.5",
    "1e-3",
    "1_0.5e1_0",
    ".5",
    "5.",
    "1e400",
]


@pytest.mark.parametrize("literal", NUMBERS)
def test_number_values(literal: str) -> None:
    module = cst.parse_module(f"x = {literal}\n")
    stmt = module.body[0]
    assert isinstance(stmt, cst.SimpleStatementLine)
    assign = stmt.body[0]
    assert isinstance(assign, cst.Assign)
    value = build_index(module).const_value(assign.value)
    expected = ast.literal_eval(literal)
    assert value == expected and type(value) is type(expected)
