"""The release as text for ``salary-analyst results --format``: a table for people, CSV or JSON.

The table marks a suppressed group's figures ``suppressed*`` and prints no figure of it; the
CSV and the JSON carry a suppressed group's figures as empty fields or nulls.  The table is in the
current language (:mod:`analyst.i18n`) and shows the organiser's labels; the CSV keeps English
column names (an interface for programs) and adds the labels beside the keys; the JSON keeps the
keys and carries the labels in its ``labels`` object.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from .i18n import _, using
from .release import REFERENCE_GENDER, GroupFigures, Release

__all__ = ["OutputFormat", "CSV_COLUMNS", "format_table", "format_csv", "format_json", "render"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _num(v: float | None, suppressed: bool = False) -> str:
    return _("suppressed") + "*" if suppressed else (_("n/a") if v is None else f"{v:,.2f}")


def _gap(v: float | None) -> str:
    return _("n/a") if v is None else f"{v:+.2f} %"


def _pad(text: str, width: int, right: bool = False) -> str:
    """``text`` padded to ``width`` terminal columns (East Asian wide characters count two)."""
    import unicodedata

    cols = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    fill = " " * max(0, width - cols)
    return fill + text if right else text + fill


def _table(release: Release, groups: Sequence[GroupFigures], gap: Mapping[str, float | None],
           mgap: Mapping[str, float | None]) -> list[str]:
    heads = [_("gender"), _("count"), _("mean"), _("median"), _("stdev"), _("gap vs male"), _("median gap")]
    widths = [8, 7, 14, 14, 12, 12, 11]
    lines = [" ".join(_pad(h, w, k > 0) for k, (h, w) in enumerate(zip(heads, widths))) + f"   ({release.salary_unit})"]
    for g in groups:
        med = _num(g.median, g.suppressed)
        if g.median_max_error and not g.suppressed:
            med += f" ±{g.median_max_error:,.0f}"
        ref = g.gender == REFERENCE_GENDER
        cells = [release.gender_label(g.gender), str(g.count), _num(g.mean, g.suppressed), med,
                 _num(g.stdev, g.suppressed), "—" if ref else _gap(gap.get(g.gender)),
                 "—" if ref else _gap(mgap.get(g.gender))]
        lines.append(" ".join(_pad(c, w, k > 0) for k, (c, w) in enumerate(zip(cells, widths))))
    return lines


def _quartile_lines(release: Release) -> list[str]:
    th = release.quartiles.thresholds
    shown = [g for g in release.all_employees.groups if g.quartile_shares is not None]
    if not th or not shown:
        return []
    lines = [_("quartile pay bands (share of each gender among the quarter's employees):")]
    ranges = [f"< {th[0]:,.0f}", f"{th[0]:,.0f}–{th[1]:,.0f}", f"{th[1]:,.0f}–{th[2]:,.0f}", f">= {th[2]:,.0f}"]
    for q in range(4):
        lines.append(f"  Q{q + 1} {ranges[q]:>22}: " + ", ".join(
            f"{release.gender_label(g.gender)} {100 * g.quartile_shares[q]:.1f} %" for g in shown if g.quartile_shares))
    return lines


def format_table(release: Release) -> str:
    """The human table: per gender count, mean, median (± its banding error), standard
    deviation and pay gaps versus male; quartile pay bands; the same per job category."""
    overall = release.all_employees
    lines = [_("Survey {survey_id} ({model}): {accepted} submissions counted, {rejected} not counted; groups under "
               "k={k} suppressed").format(survey_id=release.survey_id, model=release.model,
                                          accepted=release.submissions.accepted,
                                          rejected=release.submissions.rejected, k=release.min_group_size)]
    if release.submissions.set_aside:
        lines.append(_("{count} submissions set aside and not counted: their validation shares were off the "
                       "polynomial (see the warnings)").format(count=release.submissions.set_aside))
    lines += _table(release, overall.groups, overall.pay_gap_percent, overall.median_pay_gap_percent)
    lines += _quartile_lines(release)
    for c in release.categories:
        lines.append(_("job category {category}:").format(category=release.category_label(c.category)))
        lines += ["  " + ln for ln in _table(release, c.groups, c.pay_gap_percent, c.median_pay_gap_percent)]
    if any(g.suppressed for scope in release.scopes() for g in scope.groups):
        lines.append("* " + _("fewer than {k} submissions, or protecting such a group: no salary figure is "
                              "released").format(k=release.min_group_size))
    dp = release.differential_privacy
    if dp is not None:
        lines.append(_("differential privacy: epsilon = {epsilon}; noise standard deviation per figure: ").format(
            epsilon=dp.epsilon) + ", ".join(f"{k} {v:,.1f}" for k, v in dp.noise_sd.items()))
    lines += [_("warning: {text}").format(text=w) for w in release.warnings]
    return "\n".join(lines)


CSV_COLUMNS = ("scope", "category", "gender", "count", "suppressed", "mean", "median", "median_max_error", "stdev",
               "q1_share", "q2_share", "q3_share", "q4_share", "mean_gap_percent", "median_gap_percent",
               "category_label", "gender_label")


def format_csv(release: Release) -> str:
    """One row per group: the overall genders (scope "all"), then every job category's."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for scope in release.scopes():
        category = scope.in_category()
        for g in scope.groups:
            q: list[float | None] = list(g.quartile_shares) if g.quartile_shares else [None] * 4
            row = ["all" if category is None else "category", category or "", g.gender, g.count,
                   str(g.suppressed).lower(), g.mean, g.median, g.median_max_error, g.stdev, *q,
                   scope.pay_gap_percent.get(g.gender), scope.median_pay_gap_percent.get(g.gender),
                   release.category_label(category) if category else "", release.gender_label(g.gender)]
            w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def format_json(release: Release) -> str:
    """The result document (:meth:`Release.to_json`), indented."""
    return json.dumps(release.to_json(), indent=2)


_FORMATTERS: dict[OutputFormat, Callable[[Release], str]] = {
    OutputFormat.TABLE: format_table, OutputFormat.JSON: format_json, OutputFormat.CSV: format_csv}


def render(release: Release, fmt: OutputFormat, lang: str | None = None) -> str:
    """The release in format ``fmt``; the table in language ``lang`` (None: the current one)."""
    with using(lang):
        return _FORMATTERS[fmt](release)
