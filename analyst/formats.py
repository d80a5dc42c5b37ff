"""The release as text for ``salary-analyst results --format``: a table for people, CSV or JSON.

The table marks a suppressed group's figures ``suppressed*`` and prints no figure of it; the
CSV and the JSON carry a suppressed group's figures as empty fields or nulls.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from .release import REFERENCE_GENDER, GroupFigures, Release

__all__ = ["OutputFormat", "CSV_COLUMNS", "format_table", "format_csv", "format_json", "render"]


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _num(v: float | None, suppressed: bool = False) -> str:
    return "suppressed*" if suppressed else ("n/a" if v is None else f"{v:,.2f}")


def _gap(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f} %"


def _table(groups: Sequence[GroupFigures], gap: Mapping[str, float | None], mgap: Mapping[str, float | None],
           unit: str) -> list[str]:
    lines = [f"{'gender':<8} {'count':>7} {'mean':>14} {'median':>14} {'stdev':>12} {'gap vs male':>12} "
             f"{'median gap':>11}   ({unit})"]
    for g in groups:
        med = _num(g.median, g.suppressed)
        if g.median_max_error and not g.suppressed:
            med += f" ±{g.median_max_error:,.0f}"
        ref = g.gender == REFERENCE_GENDER
        lines.append(f"{g.gender:<8} {g.count:>7} {_num(g.mean, g.suppressed):>14} {med:>14} "
                     f"{_num(g.stdev, g.suppressed):>12} "
                     f"{'—' if ref else _gap(gap.get(g.gender)):>12} "
                     f"{'—' if ref else _gap(mgap.get(g.gender)):>11}")
    return lines


def _quartile_lines(release: Release) -> list[str]:
    th = release.quartiles.thresholds
    shown = [g for g in release.all_employees.groups if g.quartile_shares is not None]
    if not th or not shown:
        return []
    lines = ["quartile pay bands (share of each gender among the quarter's employees):"]
    ranges = [f"< {th[0]:,.0f}", f"{th[0]:,.0f}–{th[1]:,.0f}", f"{th[1]:,.0f}–{th[2]:,.0f}", f">= {th[2]:,.0f}"]
    for q in range(4):
        lines.append(f"  Q{q + 1} {ranges[q]:>22}: " + ", ".join(
            f"{g.gender} {100 * g.quartile_shares[q]:.1f} %" for g in shown if g.quartile_shares))
    return lines


def format_table(release: Release) -> str:
    """The human table: per gender count, mean, median (± its banding error), standard
    deviation and pay gaps versus male; quartile pay bands; the same per job category."""
    unit, overall = release.salary_unit, release.all_employees
    lines = [f"Survey {release.survey_id} ({release.model}): {release.submissions.accepted} submissions counted, "
             f"{release.submissions.rejected} not counted; groups under k={release.min_group_size} suppressed"]
    lines += _table(overall.groups, overall.pay_gap_percent, overall.median_pay_gap_percent, unit)
    lines += _quartile_lines(release)
    for c in release.categories:
        lines.append(f"job category {c.category}:")
        lines += ["  " + ln for ln in _table(c.groups, c.pay_gap_percent, c.median_pay_gap_percent, unit)]
    if any(g.suppressed for scope in release.scopes() for g in scope.groups):
        lines.append(f"* fewer than {release.min_group_size} submissions, or protecting such a group: no salary "
                     "figure is released")
    dp = release.differential_privacy
    if dp is not None:
        lines.append(f"differential privacy: epsilon = {dp.epsilon}; noise standard deviation per figure: "
                     + ", ".join(f"{k} {v:,.1f}" for k, v in dp.noise_sd.items()))
    lines += [f"warning: {w}" for w in release.warnings]
    return "\n".join(lines)


CSV_COLUMNS = ("scope", "category", "gender", "count", "suppressed", "mean", "median", "median_max_error", "stdev",
               "q1_share", "q2_share", "q3_share", "q4_share", "mean_gap_percent", "median_gap_percent")


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
                   scope.pay_gap_percent.get(g.gender), scope.median_pay_gap_percent.get(g.gender)]
            w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def format_json(release: Release) -> str:
    """The result document (:meth:`Release.to_json`), indented."""
    return json.dumps(release.to_json(), indent=2)


_FORMATTERS: dict[OutputFormat, Callable[[Release], str]] = {
    OutputFormat.TABLE: format_table, OutputFormat.JSON: format_json, OutputFormat.CSV: format_csv}


def render(release: Release, fmt: OutputFormat) -> str:
    return _FORMATTERS[fmt](release)
