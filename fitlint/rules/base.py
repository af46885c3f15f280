"""The rule interface: a rule carries its code, name, documentation, thresholds and examples.

A rule reads the analysed module through :class:`RuleContext` and yields :class:`Report`
objects naming a node; the engine turns them into positioned findings. Rules do no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import libcst as cst

from fitlint.analysis.bindings import Bindings
from fitlint.analysis.dataflow import DataFlow
from fitlint.analysis.index import ModuleIndex
from fitlint.analysis.models import Models
from fitlint.analysis.optimizers import RateSetting, rate_settings
from fitlint.model import RuleInfo, Severity


@dataclass(frozen=True)
class Replacement:
    """Replace the source of ``node`` with ``content`` (one edit of a fix)."""

    node: cst.CSTNode
    content: str


@dataclass(frozen=True)
class Report:
    """A rule's finding before positions are known."""

    node: cst.CSTNode
    message: str
    fix_message: str | None = None
    replacements: tuple[Replacement, ...] = ()


@dataclass(frozen=True)
class Invalid:
    """An example a rule must flag.

    Attributes:
        code: The example source.
        line: The 1-based line the finding must start on.
        fixed: The source after applying the rule's fix, for fixable rules.
    """

    code: str
    line: int
    fixed: str | None = None


class RuleContext:
    """What a rule may read about one module.

    Every analysis is a property computed on first use and owned by this context: the lint
    of one file creates it and drops it, with everything it computed. There is no other way
    for a rule to reach an analysis (and no module-level cache).
    """

    def __init__(self, index: ModuleIndex, path: str) -> None:
        self.index = index
        self.path = path
        self.module = index.module

    @property
    def bindings(self) -> Bindings:
        """What each name refers to (``analysis.bindings``)."""
        return self.index.bindings

    @functools.cached_property
    def models(self) -> Models:
        """Every Keras-model question: models, stacks, compile, inputs (``analysis.models``)."""
        return Models(self.index)

    @functools.cached_property
    def dataflow(self) -> DataFlow:
        """Where the arrays reaching ``fit()`` come from (``analysis.dataflow``)."""
        return DataFlow(self.index, self.models)

    @functools.cached_property
    def rates(self) -> list[RateSetting]:
        """Every learning rate given to a Keras optimizer (``analysis.optimizers``)."""
        return rate_settings(self.index)

    def code(self, node: cst.CSTNode) -> str:
        """The source text of a node."""
        return self.module.code_for_node(node)


_REGISTRY: dict[str, type[Rule]] = {}


class Rule:
    """Base class of every rule. Subclasses set the class attributes and implement check()."""

    code: ClassVar[str]
    name: ClassVar[str]
    message: ClassVar[str]
    severity: ClassVar[Severity] = Severity.WARNING
    default_enabled: ClassVar[bool] = True
    fixable: ClassVar[bool] = False
    options: ClassVar[Mapping[str, float | int]] = {}
    valid: ClassVar[list[str]] = []
    invalid: ClassVar[list[Invalid]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY and _REGISTRY[cls.code] is not cls:
                raise ValueError(f"duplicate rule code {cls.code}")
            _REGISTRY[cls.code] = cls

    def __init__(self, options: Mapping[str, float | int] | None = None) -> None:
        merged = dict(self.options)
        if options:
            merged.update(options)
        self.opts: Mapping[str, float | int] = merged

    def check(self, ctx: RuleContext) -> Iterator[Report]:
        """Yields the rule's reports for one module."""
        raise NotImplementedError

    def report(
        self,
        node: cst.CSTNode,
        fix_message: str | None = None,
        replacements: tuple[Replacement, ...] = (),
        **fmt: object,
    ) -> Report:
        """Builds a report whose message is ``self.message`` formatted with ``fmt``."""
        return Report(
            node=node,
            message=self.message.format(**fmt),
            fix_message=fix_message,
            replacements=replacements,
        )

    @classmethod
    def info(cls) -> RuleInfo:
        doc = _dedent_doc(cls.__doc__ or "")
        summary = ""
        for line in doc.splitlines():
            if line.strip() and not line.startswith("#"):
                summary = line.strip()
                break
        return RuleInfo(
            code=cls.code,
            name=cls.name,
            severity=cls.severity,
            default_enabled=cls.default_enabled,
            fixable=cls.fixable,
            summary=summary,
            doc=doc,
            options=dict(cls.options),
        )


def _dedent_doc(doc: str) -> str:
    import inspect

    return inspect.cleandoc(doc)


def all_rules() -> dict[str, type[Rule]]:
    """Every registered rule, by code, in code order."""
    import fitlint.rules  # noqa: F401  (importing the package registers every rule)

    return dict(sorted(_REGISTRY.items()))
