"""A complete survey's figures per component (docs/COMPLETE_SURVEY.md): the pay level per period
(``total`` = basic + variable), basic pay, variable pay over its recipients and over all workers
(zeros included), and the hourly pay level, per group; their gaps against the reference gender; the Art. 10 flags.

Every figure comes from released sums and histograms (:class:`protocol.disclosure.Split`):
basic pay's sums are the level's minus variable pay's (so basic pay has a mean, no median), a
variable-pay figure exists only where the nodes released variable pay for the group (k
recipients, see :mod:`protocol.disclosure`), hourly pay is released in hundredths of the unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from protocol.disclosure import Figures
from protocol.encoding import Banding, Scheme, ValueKind

from .release import (REFERENCE_GENDER, Art10Flag, CategoryFigures, Component, ComponentFigures, ComponentGaps,
                      GroupFigures)
from .statistics import banded_median, gap_percent, mean

#: the Art. 10 threshold: a mean gap of at least this, in percent, in any category of workers
ART10_THRESHOLD = 5.0
#: hourly pay is encoded in hundredths of the unit
HOURLY_UNIT = 100


def component_figures(sc: Scheme, figs: Mapping[ValueKind, Figures], variable_released: bool
                      ) -> tuple[dict[Component, ComponentFigures], float | None]:
    """One released group's components (a key per component the survey collects) and its share
    receiving variable pay (None without variable pay)."""
    level = figs[ValueKind.LEVEL]
    out = {Component.TOTAL: _banded(level, sc.level, level.count)}
    share = None
    if sc.variable is not None:
        var = figs[ValueKind.VARIABLE]
        share = round(var.recipients / level.count, 4) if level.count > 0 else None
        if variable_released:
            out[Component.BASIC] = ComponentFigures(mean=mean(level.total - var.total, level.count))
            out[Component.VARIABLE] = _recipients(var, sc.variable)
            out[Component.VARIABLE_ALL] = ComponentFigures(mean=mean(var.total, level.count))
        else:
            out[Component.BASIC] = out[Component.VARIABLE] = out[Component.VARIABLE_ALL] = ComponentFigures()
    if sc.hourly is not None:
        out[Component.HOURLY] = _banded(figs[ValueKind.HOURLY], sc.hourly, level.count, HOURLY_UNIT)
    return out, share


def _banded(f: Figures, banding: Banding, count: int, unit: int = 1) -> ComponentFigures:
    """Mean over ``count`` and the banded median of a value's figures, in units of ``unit``."""
    avg = mean(f.total, count)
    med = banded_median(f.bands, banding.edges, banding.top) if banding.B > 1 else None
    return ComponentFigures(mean=None if avg is None else avg / unit,
                            median=None if med is None else round(med[0] / unit, 2),
                            median_max_error=None if med is None else float(med[1]) / unit)


def _recipients(f: Figures, banding: Banding) -> ComponentFigures:
    """Variable pay over its recipients: the sum over their count, the median of bands 1.. (band 0
    is exactly no variable pay)."""
    avg = mean(f.total, f.recipients)
    med = banded_median(f.bands[1:], banding.edges[1:], banding.top) if f.recipients > 0 else None
    return ComponentFigures(mean=avg, median=None if med is None else round(med[0], 2),
                            median_max_error=None if med is None else float(med[1]))


def component_gaps(groups: Sequence[GroupFigures]) -> dict[Component, ComponentGaps]:
    """Every component's mean and median gap of each non-reference gender against the
    reference's, in percent (None where either figure is missing)."""
    ref = next((g for g in groups if g.gender == REFERENCE_GENDER and g.components is not None), None)
    keys = list(ref.components) if ref is not None and ref.components is not None else \
        list(next((g.components for g in groups if g.components is not None), {}))
    out = {}
    for c in keys:
        r = ref.components.get(c) if ref is not None and ref.components is not None else None
        out[c] = ComponentGaps(
            mean={g.gender: gap_percent(r.mean if r else None, _figure(g, c).mean) for g in groups
                  if g.gender != REFERENCE_GENDER},
            median={g.gender: gap_percent(r.median if r else None, _figure(g, c).median) for g in groups
                    if g.gender != REFERENCE_GENDER})
    return out


def _figure(g: GroupFigures, c: Component) -> ComponentFigures:
    return (g.components or {}).get(c) or ComponentFigures()


def art10_flags(categories: Sequence[CategoryFigures]) -> tuple[Art10Flag, ...]:
    """Every (category, component, gender) whose mean gap against the reference gender is at
    least :data:`ART10_THRESHOLD` percent either way (variable pay both over its recipients and
    over all workers)."""
    out = []
    for cat in categories:
        ref = next((g for g in cat.groups if g.gender == REFERENCE_GENDER), None)
        for c, gaps in (cat.component_gaps or {}).items():
            for gender, gap in gaps.mean.items():
                if gap is not None and abs(gap) >= ART10_THRESHOLD and ref is not None:
                    count = next(g.count for g in cat.groups if g.gender == gender)
                    out.append(Art10Flag(category=cat.category, component=c, gender=gender, gap_percent=gap,
                                         count=count, reference_count=ref.count))
    return tuple(out)
