"""Where the arrays that reach ``fit()`` come from, and what was fitted on them: the data-flow
facts of a module, behind one facade.

* :mod:`fitlint.analysis.sources`: the kinds of values and the known sources and operations.
* :mod:`fitlint.analysis.provenance`: where the values of an expression come from
  (:class:`Provenance`: kind, magnitude bound, scaling seen, samples, split part).
* :mod:`fitlint.analysis.splits`: train/test splits, fitted preprocessors, lineage, leaks.
* This module: the ``fit()`` calls of Keras models (:class:`FitCall`) and :class:`DataFlow`,
  which answers every data question a rule asks. What the model does to its inputs is a
  model question, answered by :mod:`fitlint.analysis.models`.

Unknown means the rules stay silent: every query returns None when it cannot tell.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import libcst as cst

from fitlint.analysis.index import AssignSite, CallSite, ModuleIndex, Scope
from fitlint.analysis.models import Models, unique_sites
from fitlint.analysis.names import dotted
from fitlint.analysis.provenance import ProvenanceResolver
from fitlint.analysis.sources import Provenance, is_number
from fitlint.analysis.splits import FittedPreprocessor, SplitAnalysis, SplitCall

__all__ = ["DataFlow", "FitCall", "FittedPreprocessor", "Provenance", "SplitCall", "build"]

_FIT_POSITIONS = {"x": 0, "y": 1, "batch_size": 2, "validation_split": 6, "validation_data": 7}


@dataclass(eq=False)
class FitCall:
    """A ``fit()`` call on a Keras model.

    Attributes:
        site: The call.
        x: The inputs (first positional or ``x=``).
        y: The targets (second positional or ``y=``).
        validation_data: The ``validation_data`` argument.
        validation_split: The ``validation_split`` argument.
        batch_size: The ``batch_size`` argument (the ``cst.Arg``).
    """

    site: CallSite
    x: cst.BaseExpression | None
    y: cst.BaseExpression | None
    validation_data: cst.Arg | None
    validation_split: cst.Arg | None
    batch_size: cst.Arg | None


class DataFlow:
    """The data-flow facts of one module, each computed on first use. Build it with
    :func:`build`, or take ``RuleContext.dataflow``."""

    def __init__(self, index: ModuleIndex, models: Models | None = None) -> None:
        self.index = index
        self.bindings = index.bindings
        self.models = models if models is not None else Models(index)
        self._provenance = ProvenanceResolver(index, self.models.layers)
        self._splits = SplitAnalysis(index, self._provenance)

    @functools.cached_property
    def fits(self) -> list[FitCall]:
        """The ``fit()`` calls of Keras models, in source order."""
        fits = [
            _fit_call(site)
            for site in unique_sites(self.index.calls_by_method.get("fit", ()))
            if self.models.is_keras_fit(site)
        ]
        fits.sort(key=lambda f: f.site.order)
        return fits

    @property
    def splits(self) -> list[SplitCall]:
        """The train/test splits, in source order."""
        return self._splits.splits

    @property
    def preprocessors(self) -> list[FittedPreprocessor]:
        """The preprocessors fitted on data, in source order."""
        return self._splits.preprocessors

    # -- provenance ----------------------------------------------------------------------------

    def provenance(
        self, expr: cst.BaseExpression | None, scope: Scope, order: int
    ) -> Provenance | None:
        """Where the values of ``expr`` come from, or None when unknown.

        Args:
            expr: The expression.
            scope: The scope it is evaluated in.
            order: The source order of the statement that evaluates it (bindings before it
                are visible).
        """
        return self._provenance.provenance(expr, scope, order)

    def provenance_at(self, expr: cst.BaseExpression | None, site: CallSite) -> Provenance | None:
        """:meth:`provenance` of an argument of a call."""
        return self.provenance(expr, site.scope, site.order)

    def samples_seen_by_fit(self, fit: FitCall) -> int | None:
        """The number of training samples a fit call iterates over, when statically known.

        ``validation_split`` (without ``validation_data``, which overrides it) removes the
        last part of the arrays, as Keras does: ``floor(n * (1 - split))`` samples remain.
        """
        n = None
        for expr in (fit.x, fit.y):
            prov = self.provenance_at(expr, fit.site)
            if prov is not None and prov.samples is not None:
                n = prov.samples
                break
        if n is None:
            return None
        if fit.validation_split is not None and fit.validation_data is None:
            split = self.index.const_value(fit.validation_split.value, fit.site.scope)
            if not is_number(split):
                return None
            if 0 < split < 1:
                n = math.floor(n * (1.0 - float(split)))
        return n

    def input_handling(self, fit: FitCall) -> str | None:
        """How the fitted model treats its inputs (:meth:`Models.input_handling`)."""
        receiver = fit.site.node.func
        if not isinstance(receiver, cst.Attribute):
            return None
        return self.models.input_handling(receiver.value, fit.site.scope, fit.site.order)

    # -- bindings, lineage and splits ----------------------------------------------------------

    def binding(self, name: str, scope: Scope, order: int | None) -> AssignSite | None:
        """The assignment that gives ``name`` its value at ``order`` in ``scope``: the latest
        before it, else the enclosing scopes' (:meth:`Bindings.resolve` with ``before``)."""
        return self.bindings.resolve(name, scope, before=order)

    def plain_binding(self, name: str, scope: Scope, order: int | None) -> AssignSite | None:
        """Like :meth:`binding`, but only a plain ``name = value`` (no ``+=``, no unpacking)."""
        return self.bindings.resolve(name, scope, before=order, plain=True)

    def lineage(
        self, expr: cst.BaseExpression, scope: Scope, order: int, *, transitive: bool = True
    ) -> frozenset[AssignSite]:
        """The assignments whose data flows into ``expr`` (:meth:`SplitAnalysis.lineage`)."""
        return self._splits.lineage(expr, scope, order, transitive=transitive)

    def split_part(self, expr: cst.BaseExpression, scope: Scope, order: int) -> str | None:
        """``"train"``/``"test"`` when ``expr`` is one part of a train/test split."""
        return self._splits.split_part(expr, scope, order)

    def leaks(self) -> Iterator[tuple[FittedPreprocessor, SplitCall]]:
        """Preprocessors fitted on data that is split into train/test afterwards."""
        return self._splits.leaks()

    def evaluations_after(self, name: str, scope: Scope, order: int) -> Sequence[CallSite]:
        """The ``evaluate(name, ...)`` calls of ``scope`` after ``order``, in source order."""
        sites = self._evaluations.get((scope, name), [])
        return sites[bisect.bisect_right(sites, order, key=_order) :]

    @functools.cached_property
    def _evaluations(self) -> dict[tuple[Scope, str], list[CallSite]]:
        out: dict[tuple[Scope, str], list[CallSite]] = defaultdict(list)
        for ev in unique_sites(self.index.calls_by_method.get("evaluate", ())):
            x = ev.arg("x", 0)
            name = dotted(x) if x is not None else None
            if name is not None:
                out[(ev.scope, name)].append(ev)
        return out

    def line_of(self, node: cst.CSTNode) -> int | None:
        """The 1-based line of a node (positions are shared with the engine, computed once)."""
        return self.index.positions().line(node)


def _order(site: CallSite) -> int:
    return site.order


def _fit_call(site: CallSite) -> FitCall:
    """The arguments of a fit() call, by keyword or position (as Keras places them)."""

    def arg(name: str) -> cst.Arg | None:
        pos = _FIT_POSITIONS[name]
        positional: int | None = 0  # None once *args hides the positions
        for a in site.node.args:
            if a.keyword is not None:
                if a.keyword.value == name:
                    return a
            elif a.star == "*":
                positional = None
            elif a.star:
                continue
            elif positional is not None:
                if positional == pos:
                    return a
                positional += 1
        return None

    x, y = arg("x"), arg("y")
    return FitCall(
        site=site,
        x=x.value if x else None,
        y=y.value if y else None,
        validation_data=arg("validation_data"),
        validation_split=arg("validation_split"),
        batch_size=arg("batch_size"),
    )


def build(index: ModuleIndex) -> DataFlow:
    """The data-flow facts of a module (computed on first use).

    Args:
        index: The module's index.

    Returns:
        The fit calls, splits and fitted preprocessors of the module, with provenance and
        lineage queries.
    """
    return DataFlow(index)
