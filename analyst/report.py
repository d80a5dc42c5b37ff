"""Human pay-transparency report (Markdown or HTML, plus a PNG chart) of a :class:`~analyst.release.Release`.

The report is laid out along the items (a)..(g) of Art. 9(1) of the EU Pay Transparency
Directive 2023/970, followed by the UK gender pay gap metrics, the standard deviations, the
differential-privacy noise, the suppressed groups and the warnings.  A saved result document is
rendered by parsing it first (:func:`analyst.release.parse`).

Contracts:

* No figure of a suppressed group is ever printed or drawn, even when the release carries one:
  its count, mean, median, banding error, standard deviation, quartile shares, noise figures and
  pay gaps all read "suppressed". Pay gaps are only printed while the male reference group is
  released (a gap against a suppressed reference would disclose the reference's mean).
* Every text that comes from users (survey id and title, category and gender names, warnings,
  DP description) is HTML-escaped with :func:`html.escape` in the HTML report and backslash-escaped
  in the Markdown report, so it cannot inject markup; in the chart, ``$`` is escaped so that it cannot
  start matplotlib mathtext.
* Number formats: salaries with thousands separators and two decimals (``3,412.50``); gaps with a
  sign and one decimal (``+12.3 %``); shares with one decimal (``55.0 %``); ``None`` → ``n/a``.
* Files are written atomically (a temporary file in the same directory, then :func:`os.replace`).

matplotlib is imported lazily, inside the chart code, so that importing this module stays cheap.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import os
import secrets
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .filing import DIRECTIVE, UK_REGULATIONS, method_notes
from .i18n import N_, _, language, using
from .release import NO_LABELS, REFERENCE_GENDER, Component, ComponentFigures, GenderBreakdown, GroupFigures, Release

__all__ = ["ReportFormat", "report_format", "render_chart", "render_markdown", "render_html", "write_report"]

SUPPRESSED = N_("suppressed")
NA = N_("n/a")
NOT_COLLECTED = N_("Not collected by this survey (one salary figure per employee).")

CHART_DPI = 110
CHART_SIZE_ONE_PANEL = (10.0, 4.5)   # inches; the "All employees" panel only
CHART_SIZE_TWO_PANELS = (10.0, 8.0)  # inches; plus the per-category panel

QUARTILE_NAMES = (N_("Q1 (lowest)"), N_("Q2"), N_("Q3"), N_("Q4 (highest)"))


# --------------------------------------------------------------------------------------------
# Number formatting


def fmt_money(x: float | None) -> str:
    """Salary figure: thousands separators, two decimals (``3,412.50``); None → ``n/a``."""
    return _(NA) if x is None else f"{x:,.2f}"


def fmt_gap(x: float | None) -> str:
    """Pay gap in percent: a sign and one decimal (``+12.3 %``); None → ``n/a``."""
    return _(NA) if x is None else f"{x:+.1f} %"


def fmt_share(x: float | None) -> str:
    """A proportion 0..1 as a percentage with one decimal (``55.0 %``); None → ``n/a``."""
    return _(NA) if x is None else f"{100.0 * x:.1f} %"


def fmt_count(x: float | None) -> str:
    """A head count with thousands separators (two decimals if fractional); None → ``n/a``."""
    if x is None:
        return _(NA)
    return f"{int(x):,}" if x == int(x) else f"{x:,.2f}"


def fmt_threshold(x: float | None) -> str:
    """A quartile threshold: no decimals when whole (``2,900``), else two."""
    if x is None:
        return _(NA)
    return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"


# --------------------------------------------------------------------------------------------
# Cells (never a figure of a suppressed group)


def _figure(g: GroupFigures, value: float | None, fmt: Callable[[float | None], str]) -> str:
    """One figure of a group, formatted — ``suppressed`` for a suppressed group whatever it holds."""
    return _(SUPPRESSED) if g.suppressed else fmt(value)


def _median_cell(g: GroupFigures) -> str:
    if g.suppressed:
        return _(SUPPRESSED)
    med = fmt_money(g.median)
    if g.median is None or g.median_max_error is None:
        return med
    return f"{med} ± {fmt_money(g.median_max_error)}"


def _gap_cell(g: GroupFigures, gaps: Mapping[str, float | None], reference_ok: bool) -> str:
    """A group's gap vs the male reference, from the scope's gap mapping."""
    if g.gender == REFERENCE_GENDER:
        return _("reference")
    if g.suppressed:
        return _(SUPPRESSED)
    if not reference_ok:
        return _(NA)
    return fmt_gap(gaps.get(g.gender))


def _share_cell(g: GroupFigures, q: int) -> str:
    if g.suppressed:
        return _(SUPPRESSED)
    return _(NA) if g.quartile_shares is None else fmt_share(g.quartile_shares[q])


def _title(r: Release) -> str:
    return r.title or r.survey_id or _("untitled survey")


def _scope_name(r: Release, scope: GenderBreakdown, g: GroupFigures) -> str:
    """``gender`` (all employees) or ``category/gender``, as the organiser labels them."""
    category = scope.in_category()
    gender = r.gender_label(g.gender)
    return gender if category is None else f"{r.category_label(category)}/{gender}"


def _unit(r: Release) -> str:
    """The salary unit with its period in the current language (``TWD/month`` -> ``TWD/月``)."""
    code, sep, period = r.salary_unit.partition("/")
    names = {"month": N_("month"), "year": N_("year"), "hour": N_("hour"), "week": N_("week"), "day": N_("day")}
    return f"{code}{sep}{_(names[period])}" if period in names else r.salary_unit


# --------------------------------------------------------------------------------------------
# Format-neutral content: a list of blocks rendered to Markdown or HTML


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Para:
    text: str
    small: bool = False


@dataclass(frozen=True)
class _Table:
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class _Bullets:
    items: list[str]


@dataclass(frozen=True)
class _Chart:
    pass


_Block = _Heading | _Para | _Table | _Bullets | _Chart


def _no_reference_note(scope: GenderBreakdown) -> list[_Block]:
    if scope.reference_released():
        return []
    return [_Para(_("No gap is shown: the male reference group is suppressed or absent."), small=True)]


def _not_collected(heading: str) -> list[_Block]:
    return [_Heading(2, _(heading)), _Para(_(NOT_COLLECTED))]


def _summary(r: Release) -> list[_Block]:
    return [
        _Heading(1, _("Gender pay gap report — {title}").format(title=_title(r))),
        _Para(_("Survey {survey_id} · model: {model} · {accepted} submissions counted, {rejected} not counted · "
                "k = {k} (minimum group size) · salaries in {unit}").format(
            survey_id=r.survey_id, model=r.model, accepted=fmt_count(r.submissions.accepted),
            rejected=fmt_count(r.submissions.rejected), k=r.min_group_size, unit=_unit(r))),
        *_set_aside(r),
    ]


def _set_aside(r: Release) -> list[_Block]:
    """At the top: submissions set aside because their validation shares were off the polynomial."""
    if not r.submissions.set_aside:
        return []
    return [_Para(_("Warning: {count} submissions were set aside and are not counted: their validation shares were "
                    "off the polynomial, so either their contributors sent inconsistent shares or a node lied (see "
                    "the warnings below).").format(count=fmt_count(r.submissions.set_aside)))]


def _mean_gap(r: Release) -> list[_Block]:
    """(a): count, mean, mean gap per gender."""
    scope, ref_ok = r.all_employees, r.all_employees.reference_released()
    return [_Heading(2, _("(a) The gender pay gap (mean)")),
            _Table([_("Gender"), _("Count"), _("Mean"), _("Mean gap vs male")],
                   [[r.gender_label(g.gender), _figure(g, g.count, fmt_count), _figure(g, g.mean, fmt_money),
                     _gap_cell(g, scope.pay_gap_percent, ref_ok)] for g in scope.groups]),
            _Para(_("Gap = (male − group) / male × 100, on salaries in {unit}: a positive gap means the group is paid "
                    "less than men.").format(unit=_unit(r)), small=True),
            *_no_reference_note(scope)]


def _median_gap(r: Release) -> list[_Block]:
    """(c): median (± banding error) and median gap per gender."""
    scope, ref_ok = r.all_employees, r.all_employees.reference_released()
    return [_Heading(2, _("(c) The median gender pay gap")),
            _Table([_("Gender"), _("Median"), _("Median gap vs male")],
                   [[r.gender_label(g.gender), _median_cell(g), _gap_cell(g, scope.median_pay_gap_percent, ref_ok)]
                    for g in scope.groups]),
            _Para(_("Medians are computed from salary bands; ± is the worst-case error of that banding."), small=True),
            *_no_reference_note(scope)]


def _quartile_ranges(thresholds: tuple[float, ...] | None) -> list[str]:
    if thresholds is None or len(thresholds) != 3:
        return [_(NA)] * 4
    a, b, c = (fmt_threshold(t) for t in thresholds)
    return [f"< {a}", f"{a} – {b}", f"{b} – {c}", f"≥ {c}"]


def _quartile_bands(r: Release) -> list[_Block]:
    """(f): per quarter, its salary range and each gender's share of its employees."""
    groups, ranges = r.all_employees.groups, _quartile_ranges(r.quartiles.thresholds)
    out: list[_Block] = [
        _Heading(2, _("(f) The proportion of female and male workers in each quartile pay band")),
        _Table([_("Quartile band"), _("Salary range ({unit})").format(unit=_unit(r))]
               + [r.gender_label(g.gender) for g in groups],
               [[_(QUARTILE_NAMES[q]), ranges[q]] + [_share_cell(g, q) for g in groups] for q in range(4)]),
        _Para(_("Each cell is the share of the band's employees of that gender; {population} employees "
                "ranked.").format(population=fmt_count(r.quartiles.population)), small=True)]
    if r.quartiles.note:
        out.append(_Para(r.quartiles.note, small=True))
    return out


def _by_category(r: Release) -> list[_Block]:
    """(g): every figure and both gaps per gender within each job category."""
    out: list[_Block] = [_Heading(2, _("(g) The gender pay gap by category of workers"))]
    if not r.categories:
        out.append(_Para(_("This survey does not declare job categories, so no gap by category of workers is "
                           "reported.")))
    for c in r.categories:
        ref_ok = c.reference_released()
        out.append(_Heading(3, _("Category: {category}").format(category=r.category_label(c.category))))
        out.append(_Table([_("Gender"), _("Count"), _("Mean"), _("Median"), _("Standard deviation"), _("Mean gap"),
                           _("Median gap")],
                          [[r.gender_label(g.gender), _figure(g, g.count, fmt_count), _figure(g, g.mean, fmt_money),
                            _median_cell(g),
                            _figure(g, g.stdev, fmt_money), _gap_cell(g, c.pay_gap_percent, ref_ok),
                            _gap_cell(g, c.median_pay_gap_percent, ref_ok)] for g in c.groups]))
        out += _no_reference_note(c)
    return out


def _uk_metrics(r: Release) -> list[_Block]:
    return [_Heading(2, _("UK gender pay gap metrics")),
            _Bullets([_("Mean gender pay gap: see (a) above."),
                      _("Median gender pay gap: see (c) above."),
                      _("Proportion of men and women in each pay quarter: see (f) above."),
                      _("Mean and median bonus gap, proportion of men and women receiving a bonus: not collected "
                        "by this survey (one salary figure per employee).")]),
            _Para(_("The UK regulations use hourly pay; this survey's figures are salaries in {unit}.").format(
                unit=_unit(r)), small=True)]


def _standard_deviation(r: Release) -> list[_Block]:
    return [_Heading(2, _("Standard deviation")),
            _Table([_("Gender"), _("Standard deviation")],
                   [[r.gender_label(g.gender), _figure(g, g.stdev, fmt_money)] for g in r.all_employees.groups])]


def _dp_blocks(r: Release) -> list[_Block]:
    dp = r.differential_privacy
    if dp is None:
        return []
    out: list[_Block] = [_Heading(2, _("Differential privacy"))]
    if dp.description:
        out.append(_Para(dp.description))
    out.append(_Para(_("Privacy budget ε = {epsilon}.").format(epsilon=dp.epsilon)))
    if dp.noise_sd:
        out.append(_Para(_("Standard deviation of the noise added to each kind of figure:")))
        out.append(_Table([_("Figure"), _("Noise standard deviation")],
                          [[kind, fmt_money(sd)] for kind, sd in dp.noise_sd.items()]))
    # Per-group noise on the released figures (suppressed groups: nothing is released, nothing shown).
    rows = [[_scope_name(r, scope, g), fmt_money(g.dp_sd.count), fmt_money(g.dp_sd.mean)]
            for scope in r.scopes() for g in scope.groups if not g.suppressed and g.dp_sd is not None]
    if rows:
        out.append(_Para(_("Standard deviation of the noise on each released figure, per group:")))
        out.append(_Table([_("Group"), _("count"), _("mean")], rows))
    return out


def _suppression(r: Release) -> list[_Block]:
    k = r.min_group_size
    scopes = [_("{gender} (all employees)").format(gender=r.gender_label(g.gender)) if scope.in_category() is None
              else _scope_name(r, scope, g) for scope in r.scopes() for g in scope.groups if g.suppressed]
    if not scopes:
        return [_Heading(2, _("Suppression")),
                _Para(_("No group is suppressed (every group has at least k = {k} submissions).").format(k=k))]
    return [_Heading(2, _("Suppression")),
            _Para(_("No salary figure is released for the following groups: they have fewer than k = {k} "
                    "submissions, or are suppressed so that a small group's figures cannot be worked out from the "
                    "others.").format(k=k)),
            _Bullets(scopes)]


def _warnings(r: Release) -> list[_Block]:
    items = list(r.warnings)
    if r.cheating_nodes:
        items.append(_("Nodes caught cheating: {nodes}").format(nodes=", ".join(map(str, r.cheating_nodes))))
    return [_Heading(2, _("Warnings")), _Bullets(items)] if items else []


# --------------------------------------------------------------------------------------------
# A complete survey (basic and variable pay, hours): every Art. 9(1) item with its figures

COMPONENT_NAMES = {Component.TOTAL: N_("Pay level"), Component.BASIC: N_("Basic pay"),
                   Component.VARIABLE: N_("Variable pay (recipients)"), Component.HOURLY: N_("Hourly pay"),
                   Component.VARIABLE_ALL: N_("Variable pay (all workers)")}


def _complete(r: Release) -> bool:
    return r.art10_flags is not None


def _component_cell(g: GroupFigures, c: Component, median: bool = False) -> str:
    """A group's mean (or median ± banding error) of one component; n/a where not released."""
    if g.suppressed:
        return _(SUPPRESSED)
    f = (g.components or {}).get(c) or ComponentFigures()
    if not median:
        return fmt_money(f.mean)
    if f.median is None or f.median_max_error is None:
        return fmt_money(f.median)
    return f"{fmt_money(f.median)} ± {fmt_money(f.median_max_error)}"


def _component_gap_cell(g: GroupFigures, scope: GenderBreakdown, c: Component, median: bool = False) -> str:
    gaps = (scope.component_gaps or {}).get(c)
    return _gap_cell(g, {} if gaps is None else (gaps.median if median else gaps.mean), scope.reference_released())


def _component_table(r: Release, scope: GenderBreakdown, c: Component, median: bool = False) -> _Table:
    what = _("Median") if median else _("Mean")
    gap = _("Median gap vs male") if median else _("Mean gap vs male")
    return _Table([_("Gender"), f"{_(COMPONENT_NAMES[c])}: {what}", gap],
                  [[r.gender_label(g.gender), _component_cell(g, c, median), _component_gap_cell(g, scope, c, median)]
                   for g in scope.groups])


def _hourly_blocks(r: Release, median: bool) -> list[_Block]:
    """The hourly pay level's table for (a) or (c), when the survey collects hours."""
    scope = r.all_employees
    if not any(Component.HOURLY in (g.components or {}) for g in scope.groups):
        return []
    return [_Para(_("Hourly pay level (per hour):")), _component_table(r, scope, Component.HOURLY, median)]


def _variable_gap(r: Release, median: bool) -> list[_Block]:
    """(b) or (d): variable pay over its recipients, and its gap."""
    heading = (N_("(d) The median gender pay gap in complementary or variable components") if median
               else N_("(b) The gender pay gap in complementary or variable components"))
    scope = r.all_employees
    return [_Heading(2, _(heading)), _component_table(r, scope, Component.VARIABLE, median),
            _Para(_("Over the workers who receive complementary or variable pay; a figure over fewer than k recipients "
                    "is not released (n/a)."), small=True), *_variable_all(r, median), *_no_reference_note(scope)]


def _variable_all(r: Release, median: bool) -> list[_Block]:
    """(b): the mean of variable pay over all workers, zeros included, beside the recipients'."""
    scope = r.all_employees
    if median or not any(Component.VARIABLE_ALL in (g.components or {}) for g in scope.groups):
        return []
    return [_component_table(r, scope, Component.VARIABLE_ALL),
            _Para(_("Over all workers, those without complementary or variable pay counted as 0 (the Directive's "
                    "wording read literally)."), small=True)]


def _variable_share(r: Release) -> list[_Block]:
    """(e): the share of each gender receiving variable pay."""
    return [_Heading(2, _("(e) The proportion of female and male workers receiving complementary or variable "
                          "components")),
            _Table([_("Gender"), _("Share receiving")],
                   [[r.gender_label(g.gender), _figure(g, g.variable_recipients_share, fmt_share)]
                    for g in r.all_employees.groups])]


def _by_component(r: Release) -> list[_Block]:
    """(g), broken down by basic pay and by variable pay, per category."""
    out: list[_Block] = []
    for c in r.categories:
        out.append(_Heading(3, _("Category {category}: basic and variable pay").format(
            category=r.category_label(c.category))))
        out.append(_Table([_("Gender"), _(COMPONENT_NAMES[Component.BASIC]), _("Mean gap vs male"),
                           _(COMPONENT_NAMES[Component.VARIABLE]), _("Mean gap vs male")],
                          [[r.gender_label(g.gender), _component_cell(g, Component.BASIC),
                            _component_gap_cell(g, c, Component.BASIC), _component_cell(g, Component.VARIABLE),
                            _component_gap_cell(g, c, Component.VARIABLE)] for g in c.groups]))
    return out


def _art10(r: Release) -> list[_Block]:
    """Art. 10: the categories with a mean gap of 5% or more, or that there is none."""
    out: list[_Block] = [_Heading(2, _("Art. 10: joint pay assessment"))]
    flags = r.art10_flags or ()
    if not flags:
        out.append(_Para(_("No category of workers shows a mean gap of at least 5 percent in any component.")))
        return out
    out.append(_Table([_("Category"), _("Component"), _("Gender"), _("Mean gap vs male"), _("Count"),
                       _("Count (male)")],
                      [[r.category_label(f.category), _(COMPONENT_NAMES[f.component]), r.gender_label(f.gender),
                        fmt_gap(f.gap_percent), fmt_count(f.count), fmt_count(f.reference_count)] for f in flags]))
    out.append(_Para(_("A joint pay assessment is due for these categories unless the gap is justified by objective, "
                       "gender-neutral criteria.")))
    return out


def _uk_metrics_complete(r: Release) -> list[_Block]:
    hourly = any(Component.HOURLY in (g.components or {}) for g in r.all_employees.groups)
    return [_Heading(2, _("UK gender pay gap metrics")),
            _Bullets([_("Mean and median hourly pay gap: see the hourly tables of (a) and (c) above.") if hourly
                      else _("Mean and median pay gap: see (a) and (c) above (this survey does not collect hours)."),
                      _("Mean and median bonus gap: see (b) and (d) above (variable pay counts as bonus)."),
                      _("Proportion of men and women receiving a bonus: see (e) above."),
                      _("Proportion of men and women in each pay quarter: see (f) above.")])]


def _filing(r: Release) -> list[_Block]:
    """Who files the report, for which period, when it was released, the survey's manifest hash,
    (nothing for a document without filing details)."""
    f = r.filing
    if f is None:
        return []
    return [_Heading(2, _("Filing")),
            _Bullets([_("Employer or organiser: {name}").format(name=f.organisation or _(NA)),
                      _("Reporting period: {period}").format(period=f.reporting_period or _(NA)),
                      _("Release date: {date}").format(date=f.released_on),
                      _("Survey manifest hash (SHA-256): {hash}").format(hash=f.manifest_hash)])]


def _method(r: Release) -> list[_Block]:
    """The provisions each table answers and method notes a regulator can read (only with
    filing details)."""
    if r.filing is None:
        return []
    dp = r.differential_privacy
    return [_Heading(2, _("Method")),
            _Bullets(list(method_notes(model=r.model.value, k=r.min_group_size, banded=len(r.bands.edges) > 1,
                                       dp_epsilon=None if dp is None else dp.epsilon, gettext=_))),
            _Heading(2, _("Legal basis")),
            _Table([_("Table"), DIRECTIVE, UK_REGULATIONS],
                   [[_(b.table), b.directive, b.uk or "—"] for b in r.filing.legal_basis])]


def _blocks(r: Release) -> list[_Block]:
    """The report's content along Art. 9(1) (a)..(g), then the UK metrics and the release's notes;
    a complete survey fills (b), (d) and (e), adds hourly pay to (a) and (c), basic and variable
    pay to (g), and the Art. 10 flags."""
    complete = _complete(r)
    return [
        *_summary(r),
        *_filing(r),
        *_mean_gap(r),
        *(_hourly_blocks(r, False) if complete else []),
        *(_variable_gap(r, False) if complete else
          _not_collected(N_("(b) The gender pay gap in complementary or variable components"))),
        *_median_gap(r),
        *(_hourly_blocks(r, True) if complete else []),
        *(_variable_gap(r, True) if complete else
          _not_collected(N_("(d) The median gender pay gap in complementary or variable components"))),
        *(_variable_share(r) if complete else
          _not_collected(N_("(e) The proportion of female and male workers receiving complementary or variable "
                            "components"))),
        *_quartile_bands(r),
        *_by_category(r),
        *(_by_component(r) if complete else []),
        *(_art10(r) if complete else []),
        *(_uk_metrics_complete(r) if complete else _uk_metrics(r)),
        *_standard_deviation(r),
        *_method(r),
        *_dp_blocks(r),
        *_suppression(r),
        *_warnings(r),
        _Heading(2, _("Chart")), _Chart(),
        *_audit_heads(r),
    ]


def _audit_heads(r: Release) -> list[_Block]:
    """The nodes' signed audit-log heads, as recorded with this result."""
    if not r.audit_heads:
        return []
    return [_Heading(2, _("Audit log heads")),
            _Para(_("Each node signed the head of its audit log when it computed this result; the other nodes keep "
                    "it, and 'mpc-node audit --verify' on that node checks its log against them (a log cut short or "
                    "rewritten is detected)."), small=True),
            _Bullets([_("node {node}: line {seq}, hash {head}").format(node=a.node, seq=a.seq, head=a.head)
                      for a in r.audit_heads])]


# --------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = set("\\`*_[]<>|&#!~")


def _md(text: str) -> str:
    """Escape user text for Markdown: backslash before markup characters, no line breaks."""
    text = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def render_markdown(release: Release, chart_name: str | None) -> str:
    """The report as Markdown (CommonMark with pipe tables).

    ``chart_name`` is the chart PNG's file name relative to the Markdown file (linked as an image),
    or None for no chart. All user text is escaped; see the module docstring for the contracts.
    """
    out: list[str] = []
    for blk in _blocks(release):
        if isinstance(blk, _Heading):
            out.append("#" * blk.level + " " + _md(blk.text))
        elif isinstance(blk, _Para):
            out.append(f"<small>{_md(blk.text)}</small>" if blk.small else _md(blk.text))
        elif isinstance(blk, _Table):
            out.append("| " + " | ".join(_md(h) for h in blk.header) + " |")
            out.append("|" + "|".join(["---"] + ["---:"] * (len(blk.header) - 1)) + "|")
            out += ["| " + " | ".join(_md(c) for c in row) + " |" for row in blk.rows]
        elif isinstance(blk, _Bullets):
            out += ["- " + _md(item) for item in blk.items]
        elif isinstance(blk, _Chart):
            if chart_name is None:
                out.append(_("(no chart)"))
            else:
                out.append(f"![{_md(_('Mean and median salary by gender'))}]({quote(chart_name)})")
        out.append("")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 60rem;
       margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ccc; padding-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; }
th { background: #f2f2f2; text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { text-align: left; }
small, .small { font-size: .85rem; color: #555; }
img { max-width: 100%; height: auto; }
@page { size: A4; margin: 16mm 14mm; }
@media print { body { margin: 0; max-width: none; } h2, h3 { break-after: avoid; }
               table, img { break-inside: avoid; } }
"""


def _h(text: str) -> str:
    return html.escape(str(text), quote=True)


def render_html(release: Release, chart_png: bytes | None) -> str:
    """The report as one self-contained HTML page (inline CSS; the chart embedded as a base64 data: URI).

    ``chart_png`` is the chart's PNG bytes, or None for no chart. Every user text is escaped with
    :func:`html.escape`; see the module docstring for the other contracts.
    """
    body: list[str] = []
    for blk in _blocks(release):
        if isinstance(blk, _Heading):
            body.append(f"<h{blk.level}>{_h(blk.text)}</h{blk.level}>")
        elif isinstance(blk, _Para):
            body.append(f'<p class="small">{_h(blk.text)}</p>' if blk.small else f"<p>{_h(blk.text)}</p>")
        elif isinstance(blk, _Table):
            rows = ["<tr>" + "".join(f"<th>{_h(h)}</th>" for h in blk.header) + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in blk.rows]
            body.append("<table>\n" + "\n".join(rows) + "\n</table>")
        elif isinstance(blk, _Bullets):
            body.append("<ul>\n" + "\n".join(f"<li>{_h(i)}</li>" for i in blk.items) + "\n</ul>")
        elif isinstance(blk, _Chart):
            if chart_png is None:
                body.append(f"<p>{_h(_('(no chart)'))}</p>")
            else:
                data = base64.b64encode(chart_png).decode("ascii")
                alt = _h(_("Mean and median salary by gender"))
                body.append(f'<img alt="{alt}" src="data:image/png;base64,{data}">')
    title = _("Gender pay gap report — {title}").format(title=_title(release))
    return (f"<!DOCTYPE html>\n<html lang=\"{_h(language())}\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_h(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------------------------------
# Chart

_COLORS = ("#c0392b", "#2471a3", "#7d3c98", "#1e8449", "#b9770e", "#566573")


def _mpl_text(text: str) -> str:
    """User text for matplotlib: ``$`` escaped so that it never starts mathtext."""
    return str(text).replace("$", r"\$")


def _note(k: int, suppressed: list[str], missing: list[str]) -> str:
    parts = []
    if suppressed:
        parts.append(_("suppressed (fewer than k={k}, or protecting such a group): ").format(k=k) + "; ".join(suppressed))
    if missing:
        parts.append(_("no figure: ") + "; ".join(missing))
    return _mpl_text(textwrap.fill("   ".join(parts), width=140))


def _draw_panel(ax: Any, title: str, xlabels: Sequence[str], slots: Sequence[Sequence[str]],
                colors: dict[str, str], cells: dict[tuple[int, str], tuple[float | None, float | None]],
                note: str, unit: str) -> None:
    """Grouped bars: one group per x label; within it, per gender of ``slots[x]``, a mean bar (solid)
    and a median bar (white, hatched) in the gender's colour.

    ``cells[(x, gender)]`` is (mean, median); absent or None figures are not drawn. ``note`` goes
    under the axes (as the x-axis label, so that the constrained layout leaves room for it).
    """
    from matplotlib.ticker import FuncFormatter

    ax.set_title(_mpl_text(title), fontsize=11, loc="left")
    ax.set_ylabel(_mpl_text(_("salary ({unit})").format(unit=unit)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
    ax.grid(axis="y", color="#ddd", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    drawn = False
    for x, genders in enumerate(slots):
        width = 0.8 / (2 * max(1, len(genders)))
        for gi, gender in enumerate(genders):
            for j, value in enumerate(cells.get((x, gender), (None, None))):
                if value is None:
                    continue
                pos = x - 0.4 + width * (2 * gi + j + 0.5)
                ax.bar(pos, value, width=width * 0.92, color=colors[gender] if j == 0 else "white",
                       edgecolor=colors[gender], hatch="///" if j == 1 else None, linewidth=1.0)
                drawn = True
    if xlabels:
        many = len(xlabels) > 6
        ax.set_xticks(range(len(xlabels)))
        ax.set_xticklabels([_mpl_text(textwrap.fill(s, 16)) for s in xlabels],
                           rotation=25 if many else 0, ha="right" if many else "center")
        ax.set_xlim(-0.6, len(xlabels) - 0.4)
    else:
        ax.set_xticks([])
    if not drawn:
        ax.text(0.5, 0.5, _("no salary figure released"), transform=ax.transAxes, ha="center", va="center",
                color="#777", fontsize=11)
        ax.set_yticks([])
    ax.set_xlabel(note, fontsize=8, color="#555", loc="left")


_Bars = dict[tuple[int, str], tuple[float | None, float | None]]


def _bars(g: GroupFigures) -> tuple[float | None, float | None]:
    """(mean, median) to draw for a group: nothing for a suppressed group."""
    return (None, None) if g.suppressed else (g.mean, g.median)


def _gender_colors(r: Release) -> dict[str, str]:
    """A colour per gender, in manifest order (then any gender first seen in a category)."""
    order: list[str] = []
    for scope in r.scopes():
        order += [g.gender for g in scope.groups if g.gender not in order]
    return {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(order)}


def _all_employees_panel(ax: Any, r: Release, colors: dict[str, str]) -> set[str]:
    """One x position per released gender, its two bars centred there; returns the genders drawn."""
    groups = r.all_employees.groups
    shown = [g for g in groups if _bars(g) != (None, None)]
    note = _note(r.min_group_size, [r.gender_label(g.gender) for g in groups if g.suppressed],
                 [r.gender_label(g.gender) for g in groups if not g.suppressed and _bars(g) == (None, None)])
    _draw_panel(ax, _("All employees"), [r.gender_label(g.gender) for g in shown], [[g.gender] for g in shown], colors,
                {(x, g.gender): _bars(g) for x, g in enumerate(shown)}, note, _unit(r))
    return {g.gender for g in shown}


def _category_panel(ax: Any, r: Release, colors: dict[str, str]) -> set[str]:
    """Per job category, the same slot for a gender in every category (only genders drawn somewhere
    get one); returns the genders drawn."""
    cells: _Bars = {}
    suppressed: list[str] = []
    missing: list[str] = []
    for x, c in enumerate(r.categories):
        for g in c.groups:
            if g.suppressed:
                suppressed.append(_scope_name(r, c, g))
            elif _bars(g) == (None, None):
                missing.append(_scope_name(r, c, g))
            else:
                cells[(x, g.gender)] = _bars(g)
    genders = [name for name in colors if any(gn == name for _, gn in cells)]
    _draw_panel(ax, _("By job category"), [r.category_label(c.category) for c in r.categories],
                [genders] * len(r.categories), colors, cells, _note(r.min_group_size, suppressed, missing), _unit(r))
    return set(genders)


def _chart_texts(r: Release) -> str:
    """Every character the chart may draw beyond the numbers: labels, title, legend, notes."""
    return "".join([r.survey_id, _("Mean and median salary by gender — survey {survey_id}"), _("All employees"),
                    _("By job category"), _("salary ({unit})"), _unit(r), _("mean"), _("median"),
                    _("suppressed (fewer than k={k}, or protecting such a group): "), _("no figure: "),
                    _("no salary figure released"), *map(r.gender_label, r.labels.genders),
                    *map(r.category_label, (c.category for c in r.categories)),
                    *(g.gender for g in r.all_employees.groups), *(c.category for c in r.categories)])


@functools.lru_cache(maxsize=1)
def _installed_fonts() -> list[tuple[str, frozenset[int]]]:
    """(family, code points) of every font matplotlib knows, the default first."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    default = font_manager.findfont(font_manager.FontProperties())
    paths = [default] + sorted({f.fname for f in font_manager.fontManager.ttflist} - {default})
    out = []
    for path in paths:
        try:
            font = FT2Font(path)
            out.append((font.family_name, frozenset(font.get_charmap())))
        except (OSError, RuntimeError, ValueError):
            continue
    return out


def _fonts_for(text: str) -> list[str] | None:
    """Font families that together draw every character of ``text`` (the default first), or None
    when the installed fonts cannot."""
    needed = {ord(c) for c in text if not c.isspace()}
    families: list[str] = []
    for family, points in _installed_fonts():
        if needed & points:
            if family not in families:
                families.append(family)
            needed -= points
        if not needed:
            return families
    return None


def _chart_png(r: Release) -> bytes:
    """Render the chart and return the PNG bytes (see :func:`render_chart`).  Its texts are in the
    report's language with the organiser's labels when the installed fonts can draw them (the
    fonts are chained, so CJK labels need a CJK font such as Noto Sans CJK); otherwise the chart
    alone is drawn in English with the canonical keys."""
    from matplotlib import rc_context

    families = _fonts_for(_chart_texts(r))
    if families is None:
        with using("en"):
            plain = dataclasses.replace(r, labels=NO_LABELS)
            families = _fonts_for(_chart_texts(plain)) or []
            with rc_context({"font.family": families or ["sans-serif"]}):
                return _draw_chart(plain, _gender_colors(plain))
    with rc_context({"font.family": families}):
        return _draw_chart(r, _gender_colors(r))


def _draw_chart(r: Release, colors: dict[str, str]) -> bytes:
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    fig = Figure(figsize=CHART_SIZE_TWO_PANELS if r.categories else CHART_SIZE_ONE_PANEL, dpi=CHART_DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, for this figure only (no pyplot, no global backend switch)
    axes = fig.subplots(2 if r.categories else 1, 1, squeeze=False)[:, 0]
    fig.suptitle(_mpl_text(_("Mean and median salary by gender — survey {survey_id}").format(survey_id=r.survey_id)),
                 fontsize=13, fontweight="bold")
    drawn = _all_employees_panel(axes[0], r, colors)
    if r.categories:
        drawn |= _category_panel(axes[1], r, colors)

    handles = [Patch(facecolor=colors[n], edgecolor=colors[n], label=_mpl_text(r.gender_label(n)))
               for n in colors if n in drawn]
    handles += [Patch(facecolor="#999", edgecolor="#999", label=_("mean")),
                Patch(facecolor="white", edgecolor="#999", hatch="///", label=_("median"))]
    fig.legend(handles=handles, loc="outside right upper", fontsize=9, frameon=False)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CHART_DPI)
    return buf.getvalue()


def render_chart(release: Release, path: Path) -> None:
    """Draw the chart of ``release`` as a PNG at ``path`` (written atomically).

    One panel "All employees" with the mean (solid bar) and median (hatched bar) salary per gender
    and, when the release has job categories, a second panel with mean and median per gender
    within each job category. Suppressed groups and missing figures are not drawn; a note under each
    panel names them. The y axis is labelled with the salary unit; the title carries the
    survey id. Size 10 × 4.5 in (one panel) or 10 × 8 in (two), at 110 dpi, so 1100 × 495 or
    1100 × 880 pixels. Never fails for lack of figures: an empty panel says so.
    """
    _atomic_write(Path(path), _chart_png(release))


# --------------------------------------------------------------------------------------------
# Files


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and :func:`os.replace`.

    The temporary file is created with mode 0o666 minus the umask, like an ordinary new file.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ReportFormat(StrEnum):
    HTML = "html"  # one self-contained file
    MARKDOWN = "md"  # with the chart as a PNG beside it
    PDF = "pdf"  # the HTML report printed by a headless Chromium (analyst.pdf)


_SUFFIXES = {".html": ReportFormat.HTML, ".htm": ReportFormat.HTML,
             ".md": ReportFormat.MARKDOWN, ".markdown": ReportFormat.MARKDOWN, ".pdf": ReportFormat.PDF}


def report_format(path: Path) -> ReportFormat:
    """The format a report file name asks for, by its suffix (case-insensitive).

    Raises ``ValueError("report file must end in .html, .md or .pdf")`` for any other suffix."""
    try:
        return _SUFFIXES[Path(path).suffix.lower()]
    except KeyError:
        raise ValueError("report file must end in .html, .md or .pdf") from None


def write_report(release: Release, path: Path, lang: str | None = None) -> list[Path]:
    """Write the report for ``release`` at ``path``, in the format its suffix asks for (:func:`report_format`),
    in language ``lang`` (:mod:`analyst.i18n`; None: the current one).

    * ``.html`` / ``.htm``: one self-contained HTML file, the chart embedded; returns ``[path]``.
    * ``.md`` / ``.markdown``: the Markdown report and the chart as ``<stem>.png`` in the same directory,
      linked by relative name; returns ``[path, png_path]`` (the PNG is written first, so the link never
      dangles).
    * ``.pdf``: the HTML report printed by a headless Chromium (:mod:`analyst.pdf`; raises
      :class:`~analyst.pdf.PdfUnavailable` without one); returns ``[path]``.
    * anything else: ``ValueError("report file must end in .html, .md or .pdf")``, nothing written.

    Every file is written atomically (temporary file in the same directory, then :func:`os.replace`).
    """
    with using(lang):
        return _write_report(release, Path(path))


def _write_report(release: Release, path: Path) -> list[Path]:
    fmt = report_format(path)
    if fmt is not ReportFormat.MARKDOWN:
        page = render_html(release, _chart_png(release)).encode("utf-8")
        if fmt is ReportFormat.PDF:
            from .pdf import html_to_pdf

            page = html_to_pdf(page)
        _atomic_write(path, page)
        return [path]
    png = path.with_name(path.stem + ".png")
    render_chart(release, png)
    _atomic_write(path, render_markdown(release, png.name).encode("utf-8"))
    return [path, png]
