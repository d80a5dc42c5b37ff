"""The released result of a survey as typed values, with its one JSON form and its one parser.

A :class:`Release` holds what the analyst reconstructed: per gender, over all employees and
within each job category, the count and (unless suppressed) the salary figures; the pay gaps
against the male reference; the quartile pay bands; the salary bands; the differential-privacy
parameters; warnings and the nodes caught cheating.  :meth:`Release.to_json` is the document
``salary-analyst results --format json`` prints (its keys are documented in the README);
:func:`parse` validates such a document back into a :class:`Release`, raising
:class:`MalformedRelease` with one line naming the field, so that a saved result can be
rendered again.  ``parse(release.to_json()) == release`` for every release.

Every class is a frozen dataclass built by keyword.  A suppressed group's figures are ``None``
in releases the analyst builds; renderers still must not print them when a document carries any
(:attr:`GroupFigures.suppressed` decides).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from protocol.errors import SurveyError

from .filing import Filing, LegalBasis

__all__ = ["REFERENCE_GENDER", "Labels", "NO_LABELS", "ThreatModel", "Submissions", "GroupNoise", "GroupFigures", "GenderBreakdown",
           "Component", "ComponentFigures", "ComponentGaps", "Art10Flag",
           "CategoryFigures", "Quartiles", "Bands", "DifferentialPrivacy", "Release", "MalformedRelease", "parse"]

#: Pay gaps are measured against this gender: (reference - group) / reference x 100.
REFERENCE_GENDER = "male"


class MalformedRelease(SurveyError):
    """A result document that does not have the shape of a release (one line naming the field)."""


class ThreatModel(StrEnum):
    """The nodes' threat model the survey ran under (the manifest's ``model``)."""

    SEMI_HONEST = "semi-honest"
    MALICIOUS = "malicious"


@dataclass(frozen=True, kw_only=True)
class Submissions:
    """How many submissions were counted, and how many the nodes held but did not count."""

    accepted: int
    rejected: int
    #: of the rejected, set aside because their validation shares were off the polynomial and the
    #: culprit (contributor or node) could not be told: a lying node can drop submissions this way
    set_aside: int = 0


@dataclass(frozen=True, kw_only=True)
class GroupNoise:
    """Standard deviations of the differential-privacy noise on one group's count and mean."""

    count: float
    mean: float


class Component(StrEnum):
    """A pay component of a complete survey's figures: the pay level per period (``total`` =
    basic + variable), its basic and variable parts, and the hourly pay level."""

    BASIC = "basic"
    VARIABLE = "variable"  # over the recipients of variable pay
    VARIABLE_ALL = "variable_all"  # over all workers, zeros included (Art. 9(1)(b) read literally)
    TOTAL = "total"
    HOURLY = "hourly"


@dataclass(frozen=True, kw_only=True)
class ComponentFigures:
    """One component's mean and banded median (with its worst-case banding error); None where
    undefined or not derivable (basic pay has no bands, so no median)."""

    mean: float | None = None
    median: float | None = None
    median_max_error: float | None = None


@dataclass(frozen=True, kw_only=True)
class GroupFigures:
    """One gender, over all employees or within a job category.

    ``count`` is always released (noisy under differential privacy); the salary figures only when
    ``suppressed`` is false, and then each is None where it is undefined (no median without salary
    bands, no standard deviation below two values, no quartile shares when no quartile is formed).
    """

    gender: str
    count: int
    suppressed: bool
    mean: float | None = None
    median: float | None = None
    median_max_error: float | None = None  # worst-case error of the banded median
    stdev: float | None = None  # sample standard deviation
    quartile_shares: tuple[float, ...] | None = None  # Q1..Q4: the group's share of each quarter's employees
    dp_sd: GroupNoise | None = None
    #: a complete survey's components (a key per component collected; absent for one-figure surveys)
    components: Mapping[Component, ComponentFigures] | None = None
    #: a complete survey with variable pay: the share of the group receiving any
    variable_recipients_share: float | None = None


@dataclass(frozen=True, kw_only=True)
class ComponentGaps:
    """One component's gaps against the reference gender, keyed by gender, in percent."""

    mean: Mapping[str, float | None]
    median: Mapping[str, float | None]


@dataclass(frozen=True, kw_only=True)
class Art10Flag:
    """A category of workers whose mean gap in one component is 5% or more (Directive 2023/970
    Art. 10: a joint pay assessment is due unless the gap is justified by objective,
    gender-neutral criteria), with the counts behind it."""

    category: str
    component: Component
    gender: str
    gap_percent: float
    count: int  # the gender's employees in the category
    reference_count: int  # the reference gender's


@dataclass(frozen=True, kw_only=True)
class GenderBreakdown:
    """The groups of one scope (all employees, or one job category) and their pay gaps.

    The gap mappings are keyed by gender and hold every gender but the reference: the mean (or
    median) gap in percent, None where either figure is missing or suppressed."""

    groups: tuple[GroupFigures, ...]
    pay_gap_percent: Mapping[str, float | None]
    median_pay_gap_percent: Mapping[str, float | None]
    #: a complete survey: per component collected, every non-reference gender's mean and median gap
    component_gaps: Mapping[Component, ComponentGaps] | None = None

    def reference_released(self) -> bool:
        """Whether the reference group is present and released (gaps mean something only then)."""
        return any(g.gender == REFERENCE_GENDER and not g.suppressed for g in self.groups)

    def in_category(self) -> str | None:
        """The job category these groups belong to; None for all employees."""
        return None


@dataclass(frozen=True, kw_only=True)
class CategoryFigures(GenderBreakdown):
    """The groups of one job category (a "category of workers" of the Directive)."""

    category: str

    def in_category(self) -> str | None:
        return self.category


@dataclass(frozen=True, kw_only=True)
class Quartiles:
    """Quartile pay bands: four equal-sized groups by salary rank over the released genders."""

    thresholds: tuple[float, ...] | None  # the salaries at the three cuts; None without bands or below 4 employees
    population: float  # employees ranked (fractional under differential privacy)
    note: str  # how the quarters were formed, for people


@dataclass(frozen=True, kw_only=True)
class Bands:
    """The survey's salary bands: band i runs from ``edges[i]`` to the next edge (or ``salary_max``)."""

    edges: tuple[int, ...]
    salary_max: int


@dataclass(frozen=True, kw_only=True)
class DifferentialPrivacy:
    """The privacy budget and the noise each kind of released figure carries."""

    epsilon: str  # as the manifest gives it
    description: str  # mechanism and guarantee, for people
    noise_sd: Mapping[str, float]  # per kind of released figure (protocol.disclosure.KINDS)


@dataclass(frozen=True, kw_only=True)
class Labels:
    """The organiser's labels: gender key -> label, job category key -> label (only those set)."""

    genders: Mapping[str, str]
    categories: Mapping[str, str]


NO_LABELS = Labels(genders={}, categories={})


@dataclass(frozen=True, kw_only=True)
class AuditHead:
    """A node's audit-log head, signed by it when it computed the result (checked): line ``seq``
    has hash ``head``.  Its peers keep it; ``mpc-node audit --verify`` checks the log against them."""

    node: int
    seq: int
    head: str


@dataclass(frozen=True, kw_only=True)
class Release:
    """Everything the analyst releases about one survey; figures are keyed by the manifest's
    canonical keys, and :attr:`labels` says how to show them."""

    survey_id: str
    title: str
    model: ThreatModel
    submissions: Submissions
    all_employees: GenderBreakdown
    quartiles: Quartiles
    categories: tuple[CategoryFigures, ...]
    bands: Bands
    differential_privacy: DifferentialPrivacy | None
    min_group_size: int
    salary_unit: str
    warnings: tuple[str, ...] = ()
    cheating_nodes: tuple[int, ...] = ()
    labels: Labels = NO_LABELS
    #: a complete survey's Art. 10 flags (None, and absent from the JSON, for one-figure surveys)
    art10_flags: tuple[Art10Flag, ...] | None = None
    audit_heads: tuple[AuditHead, ...] = ()
    left_out_nodes: tuple[int, ...] = ()  # lost (down, crashed, silent) and left out of the computation
    #: what filing the report needs (organisation, period, date, manifest hash, legal basis, method)
    filing: Filing | None = None

    def gender_label(self, key: str) -> str:
        """How a gender is shown: the organiser's label, else its key."""
        return self.labels.genders.get(key, key)

    def category_label(self, key: str) -> str:
        """How a job category is shown: the organiser's label, else its key."""
        return self.labels.categories.get(key, key)

    def scopes(self) -> list[GenderBreakdown]:
        """All employees, then every job category, in order."""
        return [self.all_employees, *self.categories]

    def to_json(self) -> dict[str, Any]:
        """The result document (JSON-compatible, keys in the order printed); :func:`parse` reads it back."""
        dp = self.differential_privacy
        return {
            "survey_id": self.survey_id,
            "title": self.title,
            "model": self.model.value,
            # set_aside only when any were: documents of releases without any stay as they were
            "submissions": {"accepted": self.submissions.accepted, "rejected": self.submissions.rejected,
                            **({"set_aside": self.submissions.set_aside} if self.submissions.set_aside else {})},
            **_breakdown_json(self.all_employees),
            "quartiles": {"thresholds": _list(self.quartiles.thresholds), "population": self.quartiles.population,
                          "note": self.quartiles.note},
            "categories": [{"category": c.category, **_breakdown_json(c)} for c in self.categories],
            "bands": {"edges": list(self.bands.edges), "salary_max": self.bands.salary_max},
            "differential_privacy": None if dp is None else {"epsilon": dp.epsilon, "description": dp.description,
                                                             "noise_sd": dict(dp.noise_sd)},
            "min_group_size": self.min_group_size,
            "salary_unit": self.salary_unit,
            "warnings": list(self.warnings),
            "cheating_nodes": list(self.cheating_nodes),
            # Only when the organiser set some: documents of surveys without labels stay as they were.
            **({"labels": {"gender": dict(self.labels.genders), "category": dict(self.labels.categories)}}
               if self.labels.genders or self.labels.categories else {}),
            **({"art10_flags": [_flag_json(f) for f in self.art10_flags]} if self.art10_flags is not None else {}),
            # Only when the nodes signed their audit-log heads: earlier documents stay as they were.
            **({"audit_heads": [{"node": a.node, "seq": a.seq, "head": a.head} for a in self.audit_heads]}
               if self.audit_heads else {}),
            **({"left_out_nodes": list(self.left_out_nodes)} if self.left_out_nodes else {}),
            **({"filing": _filing_json(self.filing)} if self.filing is not None else {}),
        }


def _list(values: tuple[float, ...] | None) -> list[float] | None:
    return None if values is None else list(values)


def _group_json(g: GroupFigures) -> dict[str, Any]:
    out = {"gender": g.gender, "count": g.count, "mean": g.mean, "suppressed": g.suppressed, "median": g.median,
           "median_max_error": g.median_max_error, "stdev": g.stdev, "quartile_shares": _list(g.quartile_shares),
           "dp_sd": None if g.dp_sd is None else {"count": g.dp_sd.count, "mean": g.dp_sd.mean}}
    if g.components is not None:
        out["components"] = {c.value: {"mean": f.mean, "median": f.median, "median_max_error": f.median_max_error}
                             for c, f in g.components.items()}
        out["variable_recipients_share"] = g.variable_recipients_share
    return out


def _breakdown_json(b: GenderBreakdown) -> dict[str, Any]:
    out = {"groups": [_group_json(g) for g in b.groups], "pay_gap_percent": dict(b.pay_gap_percent),
           "median_pay_gap_percent": dict(b.median_pay_gap_percent)}
    if b.component_gaps is not None:
        out["component_gap_percent"] = {c.value: {"mean": dict(g.mean), "median": dict(g.median)}
                                        for c, g in b.component_gaps.items()}
    return out


def _flag_json(f: Art10Flag) -> dict[str, Any]:
    return {"category": f.category, "component": f.component.value, "gender": f.gender,
            "gap_percent": f.gap_percent, "count": f.count, "reference_count": f.reference_count}


def _filing_json(f: Filing) -> dict[str, Any]:
    return {"organisation": f.organisation, "reporting_period": f.reporting_period, "released_on": f.released_on,
            "manifest_hash": f.manifest_hash,
            "legal_basis": [{"table": b.table, "directive": b.directive, "uk": b.uk} for b in f.legal_basis],
            "method_notes": list(f.method_notes)}


# --------------------------------------------------------------------------------------------
# Parsing

T = TypeVar("T")


class _Object:
    """A JSON object being parsed: typed getters that raise :class:`MalformedRelease` naming the
    field by its path (``categories[1].groups[0].mean``); :meth:`done` refuses unknown fields."""

    def __init__(self, obj: Any, path: str) -> None:
        if not isinstance(obj, dict):
            raise MalformedRelease(f"result document: {path} must be an object" if path else
                                   "result document must be a JSON object")
        self.obj: dict[Any, Any] = obj
        self.path = path
        self.read: set[str] = set()

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, what: str) -> MalformedRelease:
        return MalformedRelease(f"result document: {self.where(key)} must be {what}")

    def get(self, key: str) -> Any:
        if key not in self.obj:
            raise MalformedRelease(f"result document: {self.where(key)} is missing")
        self.read.add(key)
        return self.obj[key]

    def done(self) -> None:
        unknown = sorted(str(k) for k in set(self.obj) - self.read)
        if unknown:
            where = f": {self.path}" if self.path else ""
            raise MalformedRelease(f"result document{where} has an unexpected field {json.dumps(unknown[0])}")

    def text(self, key: str) -> str:
        v = self.get(key)
        if not isinstance(v, str):
            raise self.fail(key, "a string")
        return v

    def integer(self, key: str) -> int:
        return _integer(self.get(key), lambda: self.fail(key, "an integer"))

    def flag(self, key: str) -> bool:
        v = self.get(key)
        if not isinstance(v, bool):
            raise self.fail(key, "true or false")
        return v

    def number(self, key: str) -> float:
        return _number(self.get(key), lambda: self.fail(key, "a finite number"))

    def optional_number(self, key: str) -> float | None:
        v = self.get(key)
        return None if v is None else _number(v, lambda: self.fail(key, "a finite number or null"))

    def numbers(self, key: str, length: int) -> tuple[float, ...] | None:
        """A list of ``length`` numbers, or None for null."""
        v = self.get(key)
        if v is None:
            return None
        what = f"null or a list of {length} finite numbers"
        if not isinstance(v, list) or len(v) != length:
            raise self.fail(key, what)
        return tuple(_number(x, lambda: self.fail(key, what)) for x in v)

    def items(self, key: str, item: Callable[[Any, str], T]) -> tuple[T, ...]:
        """A list, each element read by ``item(element, its path)``."""
        v = self.get(key)
        if not isinstance(v, list):
            raise self.fail(key, "a list")
        return tuple(item(x, f"{self.where(key)}[{i}]") for i, x in enumerate(v))

    def mapping(self, key: str, value: Callable[[Any, str], T]) -> dict[str, T]:
        """An object, each value read by ``value(value, its path)``."""
        v = self.get(key)
        if not isinstance(v, dict):
            raise self.fail(key, "an object")
        return {k: value(x, f"{self.where(key)}[{json.dumps(k)}]") for k, x in v.items()}

    def object(self, key: str) -> _Object:
        return _Object(self.get(key), self.where(key))


def _integer(v: Any, fail: Callable[[], MalformedRelease]) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise fail()
    return v


def _number(v: Any, fail: Callable[[], MalformedRelease]) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise fail()
    try:
        f = float(v)
    except OverflowError:
        raise fail() from None
    if not math.isfinite(f):
        raise fail()
    return f


def _malformed(path: str, what: str) -> Callable[[], MalformedRelease]:
    return lambda: MalformedRelease(f"result document: {path} must be {what}")


def _gap(v: Any, path: str) -> float | None:
    return None if v is None else _number(v, _malformed(path, "a finite number or null"))


def _sd(v: Any, path: str) -> float:
    return _number(v, _malformed(path, "a finite number"))


def _node(v: Any, path: str) -> int:
    return _integer(v, _malformed(path, "an integer"))


def _audit_head(v: Any, path: str) -> AuditHead:
    o = _Object(v, path)
    head = o.text("head")
    if len(head) != 64 or any(c not in "0123456789abcdef" for c in head):
        raise o.fail("head", "64 hexadecimal digits")
    a = AuditHead(node=o.integer("node"), seq=o.integer("seq"), head=head)
    o.done()
    return a


def _warning(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise _malformed(path, "a string")()
    return v


def _group(obj: Any, path: str) -> GroupFigures:
    o = _Object(obj, path)
    noise = o.get("dp_sd")
    dp_sd = None
    if noise is not None:
        n = o.object("dp_sd")
        dp_sd = GroupNoise(count=n.number("count"), mean=n.number("mean"))
        n.done()
    complete = "components" in o.obj
    g = GroupFigures(gender=o.text("gender"), count=o.integer("count"), suppressed=o.flag("suppressed"),
                     mean=o.optional_number("mean"), median=o.optional_number("median"),
                     median_max_error=o.optional_number("median_max_error"), stdev=o.optional_number("stdev"),
                     quartile_shares=o.numbers("quartile_shares", 4), dp_sd=dp_sd,
                     components=_components(o) if complete else None,
                     variable_recipients_share=o.optional_number("variable_recipients_share") if complete else None)
    o.done()
    return g


def _component(text: str, fail: Callable[[], MalformedRelease]) -> Component:
    try:
        return Component(text)
    except ValueError:
        raise fail() from None


def _components(o: _Object) -> dict[Component, ComponentFigures]:
    out = {}
    for key, obj in o.mapping("components", lambda v, path: v).items():
        c = _Object(obj, o.where("components") + "." + key)
        out[_component(key, lambda: o.fail("components", "keys among " + ", ".join(x.value for x in Component)))] = \
            ComponentFigures(mean=c.optional_number("mean"), median=c.optional_number("median"),
                             median_max_error=c.optional_number("median_max_error"))
        c.done()
    return out


def _component_gaps(o: _Object) -> dict[Component, ComponentGaps] | None:
    if "component_gap_percent" not in o.obj:
        return None
    out = {}
    for key, obj in o.mapping("component_gap_percent", lambda v, path: v).items():
        c = _Object(obj, o.where("component_gap_percent") + "." + key)
        out[_component(key, lambda: o.fail("component_gap_percent", "keys among components"))] = \
            ComponentGaps(mean=c.mapping("mean", _gap), median=c.mapping("median", _gap))
        c.done()
    return out


def _flag(obj: Any, path: str) -> Art10Flag:
    o = _Object(obj, path)
    f = Art10Flag(category=o.text("category"),
                  component=_component(o.text("component"), lambda: o.fail("component", "a component")),
                  gender=o.text("gender"), gap_percent=o.number("gap_percent"), count=o.integer("count"),
                  reference_count=o.integer("reference_count"))
    o.done()
    return f


def _breakdown_fields(o: _Object) -> tuple[tuple[GroupFigures, ...], dict[str, float | None], dict[str, float | None],
                                           dict[Component, ComponentGaps] | None]:
    return (o.items("groups", _group), o.mapping("pay_gap_percent", _gap), o.mapping("median_pay_gap_percent", _gap),
            _component_gaps(o))


def _category(obj: Any, path: str) -> CategoryFigures:
    o = _Object(obj, path)
    groups, gaps, median_gaps, component_gaps = _breakdown_fields(o)
    c = CategoryFigures(category=o.text("category"), groups=groups, pay_gap_percent=gaps,
                        median_pay_gap_percent=median_gaps, component_gaps=component_gaps)
    o.done()
    return c


def _quartiles(o: _Object) -> Quartiles:
    q = Quartiles(thresholds=o.numbers("thresholds", 3), population=o.number("population"), note=o.text("note"))
    o.done()
    return q


def _bands(o: _Object) -> Bands:
    b = Bands(edges=o.items("edges", _node), salary_max=o.integer("salary_max"))
    o.done()
    return b


def _differential_privacy(root: _Object) -> DifferentialPrivacy | None:
    if root.get("differential_privacy") is None:
        return None
    o = root.object("differential_privacy")
    dp = DifferentialPrivacy(epsilon=o.text("epsilon"), description=o.text("description"),
                             noise_sd=o.mapping("noise_sd", _sd))
    o.done()
    return dp


def _label(v: Any, path: str) -> str:
    if not isinstance(v, str):
        raise _malformed(path, "a string")()
    return v


def _labels(root: _Object) -> Labels:
    if "labels" not in root.obj:
        return NO_LABELS
    o = root.object("labels")
    labels = Labels(genders=o.mapping("gender", _label), categories=o.mapping("category", _label))
    o.done()
    return labels


def _legal_basis(obj: Any, path: str) -> LegalBasis:
    o = _Object(obj, path)
    b = LegalBasis(table=o.text("table"), directive=o.text("directive"), uk=o.text("uk"))
    o.done()
    return b


def _filing(root: _Object) -> Filing | None:
    if "filing" not in root.obj:
        return None
    o = root.object("filing")
    f = Filing(organisation=o.text("organisation"), reporting_period=o.text("reporting_period"),
               released_on=o.text("released_on"), manifest_hash=o.text("manifest_hash"),
               legal_basis=o.items("legal_basis", _legal_basis), method_notes=o.items("method_notes", _warning))
    o.done()
    return f


def _model(o: _Object) -> ThreatModel:
    v = o.text("model")
    try:
        return ThreatModel(v)
    except ValueError:
        raise o.fail("model", "one of " + ", ".join(m.value for m in ThreatModel)) from None


def parse(obj: Any) -> Release:
    """The release a result document (as :meth:`Release.to_json` gives it) describes.

    Every field must be present with its type and no other field may appear; raises
    :class:`MalformedRelease` naming the first bad field."""
    o = _Object(obj, "")
    subs = o.object("submissions")
    submissions = Submissions(accepted=subs.integer("accepted"), rejected=subs.integer("rejected"),
                              set_aside=subs.integer("set_aside") if "set_aside" in subs.obj else 0)
    subs.done()
    groups, gaps, median_gaps, component_gaps = _breakdown_fields(o)
    release = Release(
        survey_id=o.text("survey_id"), title=o.text("title"), model=_model(o), submissions=submissions,
        all_employees=GenderBreakdown(groups=groups, pay_gap_percent=gaps, median_pay_gap_percent=median_gaps,
                                      component_gaps=component_gaps),
        quartiles=_quartiles(o.object("quartiles")), categories=o.items("categories", _category),
        bands=_bands(o.object("bands")), differential_privacy=_differential_privacy(o),
        min_group_size=o.integer("min_group_size"), salary_unit=o.text("salary_unit"),
        warnings=o.items("warnings", _warning), cheating_nodes=o.items("cheating_nodes", _node), labels=_labels(o),
        art10_flags=o.items("art10_flags", _flag) if "art10_flags" in o.obj else None,
        audit_heads=o.items("audit_heads", _audit_head) if "audit_heads" in o.obj else (),
        left_out_nodes=o.items("left_out_nodes", _node) if "left_out_nodes" in o.obj else (),
        filing=_filing(o))
    o.done()
    return release
