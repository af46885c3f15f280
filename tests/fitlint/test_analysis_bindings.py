"""Bindings.resolve: one name resolution, its policy in arguments (table-driven)."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from fitlint.analysis.index import CallSite, build_index

SOURCE = textwrap.dedent(
    """
    a = 1
    a = 2
    b = 3
    c = 4
    c += 1
    d, e = 5, 6
    for f in range(3):
        g = 7
    use(a, b, c, d, f, g)
    a = 8

    def fn(p):
        h = 9
        use(a, b, h, p, q)
        h = 10
        q = 11

    class Net:
        def __init__(self):
            self.w = 12

        def call(self, x):
            use(self.w, b)
    """
)


INDEX = build_index(cst.parse_module(SOURCE))
USES: list[CallSite] = [s for s in INDEX.calls if s.func == "use"]


CASES = [
    # At module level, flow-sensitive: the latest assignment before the use wins.
    pytest.param(0, "a", {"before": True}, "2", id="latest-before"),
    pytest.param(0, "a", {}, "8", id="flow-insensitive-latest"),
    pytest.param(0, "a", {"unique": True}, None, id="unique-needs-one-assignment"),
    pytest.param(0, "b", {"unique": True}, "3", id="unique"),
    pytest.param(0, "c", {"before": True}, "1", id="augmented-is-returned"),
    pytest.param(0, "c", {"before": True, "plain": True}, None, id="plain-refuses-augmented"),
    pytest.param(0, "d", {"before": True, "plain": True}, None, id="plain-refuses-unpacking"),
    pytest.param(0, "f", {}, None, id="loop-target-unknown"),
    pytest.param(0, "g", {"unique": True}, None, id="unique-refuses-loop-bodies"),
    pytest.param(0, "g", {}, "7", id="assignment-in-loop"),
    # In a function: its own assignments first, then the module's (whatever their order).
    pytest.param(1, "h", {"before": True}, "9", id="function-latest-before"),
    pytest.param(1, "a", {"before": True}, "8", id="enclosing-any-order"),
    pytest.param(1, "a", {"before": True, "enclosing": False}, None, id="no-enclosing"),
    pytest.param(1, "p", {}, None, id="parameter-unknown"),
    pytest.param(1, "q", {"before": True}, None, id="assigned-only-after"),
    # self.<attr> through the class, only with members=True.
    pytest.param(2, "self.w", {"members": True}, "12", id="member"),
    pytest.param(2, "self.w", {}, None, id="member-needs-the-policy"),
    pytest.param(2, "b", {}, "3", id="class-bodies-skipped"),
]


@pytest.mark.parametrize(("use", "name", "policy", "expected"), CASES)
def test_resolve(use: int, name: str, policy: dict[str, bool], expected: str | None) -> None:
    site = USES[use]
    before = site.order if policy.get("before") else None
    flags = {k: v for k, v in policy.items() if k != "before"}
    found = INDEX.bindings.resolve(name, site.scope, before=before, **flags)
    assert (None if found is None else INDEX.module.code_for_node(found.value)) == expected


ARGUMENTS = textwrap.dedent(
    """\
    def train(model, x, y=None):
        model.fit(x, y)

    def again(x):
        x = x / 2
        use(x)

    train(build(), data[0], y=labels)
    train(m2, x=other)
    again(1)

    def spread(x):
        use(x)

    spread(*args)
    """
)


@pytest.mark.parametrize(
    ("function", "name", "expected"),
    [
        pytest.param("train", "x", ["data[0]", "other"], id="positional-and-keyword"),
        pytest.param("train", "model", ["build()", "m2"], id="first-parameter"),
        pytest.param("train", "y", [], id="one-call-leaves-it-to-the-default"),
        pytest.param("again", "x", [], id="rebound-in-the-function"),
        pytest.param("spread", "x", [], id="star-args-out-of-sight"),
    ],
)
def test_arguments(function: str, name: str, expected: list[str]) -> None:
    index = build_index(cst.parse_module(ARGUMENTS))
    found = index.bindings.arguments(name, index.function_scopes[function])
    assert [index.module.code_for_node(arg) for arg, _ in found] == expected
