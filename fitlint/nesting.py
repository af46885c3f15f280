"""Source nested too deeply for the parser, found by a cheap scan before libcst parses it.

libcst's native parser recurses once per level of nesting, and past a few thousand levels it
overflows the C stack: the process dies of a segmentation fault, which no ``except`` catches
(and a worker's death breaks the whole process pool). Measured with libcst 1.9 on the 8 MiB
stack of a main thread, it dies at about 1,200 nested brackets, 3,400 chained lambdas, 5,600
conditional expressions, 5,900 attribute accesses (``a.b.b.b``), 6,900 ``**`` or ``|``, 7,000
calls (``f()()()``) or ``and``, and 8,000 to 10,000 ``+``; ``-``, ``not``, comparisons, string
concatenation, ``await`` and ``elif`` chains of 8,000 are fine.

CPython's tokenizer refuses a 201st nested bracket ("too many nested parentheses"), so such a
file is a syntax error anyway, and is reported as CPython reports it. Most chains long enough
to crash libcst are refused by CPython 3.11 and later too ("maximum recursion depth exceeded
during ast construction"), though not all (``lambda`` and ``and`` chains, or any on 3.10);
fitlint refuses every one as a syntax error, quoting CPython where it refuses too.

The scan counts the *cost* of the current chain of an expression: every operator, ``.``,
string, call and subscript, and the keywords ``if``, ``else``, ``and``, ``or``, ``not`` add 1,
``lambda`` 2 and an opening bracket 5 (a bracket level costs libcst about five times an
attribute access); a comma, ``;``, ``=`` or a line break outside brackets starts a new chain.
It over-counts (every operator of a long flat sum adds up), so the limit is set far above the
code people write and well below what libcst survives.

Cost: one regular expression substitution and one ``findall`` over the text, a loop over the
operators and brackets found, and a bound on the keywords: about 1% of the lint of a file
(0.08 to 0.11 s for the 300 first modules of the Keras source, whose lint takes 6 to 11 s on a
shared two-core machine). Only a text that
may be too deep gets the exact scan, which finds the position, and only a text that is too
deep is compiled by CPython, for its own message.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

MAX_BRACKETS = 200
"""CPython's ``MAXLEVEL``: its tokenizer refuses a 201st nested bracket."""

MAX_COST = 4000
"""The costliest chain that is parsed: 4,000 attribute accesses, or 2,000 lambdas, or 200
bracket levels and 1,500 lambdas; each well under what crashes libcst on an 8 MiB stack."""

_BRACKET_COST = 5
_LAMBDA_COST = 2

_STRING = (
    r"'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''"
    r'|"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    r"|'[^'\\\r\n]*(?:\\.[^'\\\r\n]*)*'"
    r'|"[^"\\\r\n]*(?:\\.[^"\\\r\n]*)*"'
)
# The quick scan: strings, comments and backslash continuations become "$" (one link of a
# chain, as a string is), then only the characters that matter are looked at.
_OPAQUE = re.compile(rf"#[^\r\n]*|\\\r?\n|{_STRING}", re.DOTALL)
_CHARS = re.compile(r"[-+*/%@&|^~<>.$()\[\]{},;=\r\n]")
_KEYWORDS = re.compile(r"\b(?:lambda|if|else|and|or|not)\b")
_KEYWORD_TEXT = ("lambda", "if", "else", "and", "or", "not")
_OPS = frozenset("-+*/%@&|^~<>.$")

# The exact scan, with positions: the same tokens, keywords included.
_TOKEN = re.compile(
    rf"""
    (?P<op>[-+*/%@&|^~<>.])
    | (?P<open>[(\[{{])
    | (?P<close>[)\]}}])
    | (?P<sep>[,;=])
    | (?P<nl>[\r\n])
    | (?P<skip>\#[^\r\n]*|\\\r?\n)
    | (?P<str>{_STRING})
    | (?P<lambda>\blambda\b)
    | (?P<kw>\b(?:if|else|and|or|not)\b)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Refusal:
    """Why and where a text is refused before parsing: a syntax error for FL000.

    Positions are 1-based; ``end_column`` is exclusive.
    """

    line: int
    column: int
    end_line: int
    end_column: int
    message: str


def check(source: str) -> Refusal | None:
    """Whether ``source`` nests more than libcst can parse without crashing.

    Returns:
        None for a text that can be parsed; otherwise the syntax error to report: CPython's
        own (message and position) when it refuses the text too, else one at the first
        token past the limit.
    """
    if _quick_bound(source):
        return None
    brackets, chain = _scan(source)
    if brackets is not None and (chain is None or brackets < chain):
        # CPython's tokenizer stops at the 201st bracket, before any chain past the limit,
        # so even a Python without a guard in its parser (3.10) compiles this safely.
        err = _compile(source)
        if isinstance(err, SyntaxError):
            return _from_syntax_error(source, err, brackets)
        if err is not None:
            return _at(source, brackets, "too many nested parentheses")
        if chain is None:  # CPython accepts it: odd strings fooled the scan
            return None
    assert chain is not None
    # Python 3.10's parser has no guard against deep recursion: only later ones are asked.
    err = _compile(source) if sys.version_info >= (3, 11) else None
    if isinstance(err, SyntaxError):
        return _from_syntax_error(source, err, chain)
    detail = f" (CPython: {str(err) or type(err).__name__})" if err is not None else ""
    return _at(source, chain, f"too deeply nested to parse{detail}")


def _quick_bound(source: str) -> bool:
    """True when no chain can cost more than the limit and no bracket nests past 200:
    the cost without keywords plus the cost of every keyword of the file bounds it."""
    depth = deepest = cost = worst = 0
    stack: list[int] = []
    code = _OPAQUE.sub("$", source)
    for ch in _CHARS.findall(code):
        if ch in _OPS:
            cost += 1
            if cost > worst:
                worst = cost
        elif ch in "([{":
            depth += 1
            if depth > deepest:
                deepest = depth
            stack.append(cost)
            cost += _BRACKET_COST
            if cost > worst:
                worst = cost
        elif ch in ")]}":
            if stack:
                depth -= 1
                cost = stack.pop() + 1
        elif ch in ",;=":
            cost = stack[-1] + _BRACKET_COST if stack else 0
        elif not stack:  # a line break outside brackets
            cost = 0
    if deepest > MAX_BRACKETS:
        return False
    # Every keyword of the text may be in the costliest chain. Counting the words where they
    # appear inside names too (the "or" of "for") bounds their number, and is quicker than
    # finding them; only a text where that bound is too loose has them found.
    if worst + sum(map(code.count, _KEYWORD_TEXT)) + code.count("lambda") > MAX_COST:
        keywords = _KEYWORDS.findall(code)
        worst += len(keywords) + keywords.count("lambda") * (_LAMBDA_COST - 1)
    return worst <= MAX_COST


def _scan(source: str) -> tuple[int | None, int | None]:
    """The offsets of the 201st nested bracket and of the first token past the chain
    limit (None when there is none)."""
    depth = cost = 0
    stack: list[int] = []
    brackets: int | None = None
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup
        if kind == "op" or kind == "kw" or kind == "str":
            cost += 1
        elif kind == "lambda":
            cost += _LAMBDA_COST
        elif kind == "open":
            depth += 1
            if depth > MAX_BRACKETS and brackets is None:
                brackets = m.start()
            stack.append(cost)
            cost += _BRACKET_COST
        elif kind == "close":
            if stack:
                depth -= 1
                cost = stack.pop() + 1  # the call or subscript is one more link of the chain
            continue
        elif kind == "sep":
            cost = stack[-1] + _BRACKET_COST if stack else 0
            continue
        elif kind == "nl":
            if not stack:
                cost = 0
            continue
        else:  # a comment or a backslash continuation
            continue
        if cost > MAX_COST:
            return brackets, m.start()
    return brackets, None


def _compile(source: str) -> Exception | None:
    try:
        compile(source, "<fitlint>", "exec", flags=0x400, dont_inherit=True)  # PyCF_ONLY_AST
    except (SyntaxError, RecursionError, MemoryError) as err:
        return err
    except ValueError:  # NUL characters: not what this module is about
        return None
    return None


def _position(source: str, offset: int) -> tuple[int, int]:
    ends = [m.end() for m in re.finditer(r"\r\n?|\n", source[:offset])]
    return len(ends) + 1, offset - (ends[-1] if ends else 0) + 1


def _at(source: str, offset: int, message: str) -> Refusal:
    line, column = _position(source, offset)
    return Refusal(line, column, line, column + 1, message)


def _from_syntax_error(source: str, err: SyntaxError, fallback: int) -> Refusal:
    if not err.lineno:
        return _at(source, fallback, err.msg)
    line, column = err.lineno, err.offset or 1
    end_line, end_column = err.end_lineno or line, err.end_offset or column + 1
    if (end_line, end_column) <= (line, column):
        end_line, end_column = line, column + 1
    return Refusal(line, column, end_line, end_column, err.msg)
