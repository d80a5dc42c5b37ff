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

from .release import REFERENCE_GENDER, GenderBreakdown, GroupFigures, Release

__all__ = ["ReportFormat", "report_format", "render_chart", "render_markdown", "render_html", "write_report"]

SUPPRESSED = "suppressed"
NA = "n/a"
NOT_COLLECTED = "Not collected by this survey (one salary figure per employee)."

CHART_DPI = 110
CHART_SIZE_ONE_PANEL = (10.0, 4.5)   # inches; the "All employees" panel only
CHART_SIZE_TWO_PANELS = (10.0, 8.0)  # inches; plus the per-category panel

QUARTILE_NAMES = ("Q1 (lowest)", "Q2", "Q3", "Q4 (highest)")


# --------------------------------------------------------------------------------------------
# Number formatting


def fmt_money(x: float | None) -> str:
    """Salary figure: thousands separators, two decimals (``3,412.50``); None → ``n/a``."""
    return NA if x is None else f"{x:,.2f}"


def fmt_gap(x: float | None) -> str:
    """Pay gap in percent: a sign and one decimal (``+12.3 %``); None → ``n/a``."""
    return NA if x is None else f"{x:+.1f} %"


def fmt_share(x: float | None) -> str:
    """A proportion 0..1 as a percentage with one decimal (``55.0 %``); None → ``n/a``."""
    return NA if x is None else f"{100.0 * x:.1f} %"


def fmt_count(x: float | None) -> str:
    """A head count with thousands separators (two decimals if fractional); None → ``n/a``."""
    if x is None:
        return NA
    return f"{int(x):,}" if x == int(x) else f"{x:,.2f}"


def fmt_threshold(x: float | None) -> str:
    """A quartile threshold: no decimals when whole (``2,900``), else two."""
    if x is None:
        return NA
    return f"{x:,.0f}" if x == int(x) else f"{x:,.2f}"


# --------------------------------------------------------------------------------------------
# Cells (never a figure of a suppressed group)


def _figure(g: GroupFigures, value: float | None, fmt: Callable[[float | None], str]) -> str:
    """One figure of a group, formatted — ``suppressed`` for a suppressed group whatever it holds."""
    return SUPPRESSED if g.suppressed else fmt(value)


def _median_cell(g: GroupFigures) -> str:
    if g.suppressed:
        return SUPPRESSED
    med = fmt_money(g.median)
    if g.median is None or g.median_max_error is None:
        return med
    return f"{med} ± {fmt_money(g.median_max_error)}"


def _gap_cell(g: GroupFigures, gaps: Mapping[str, float | None], reference_ok: bool) -> str:
    """A group's gap vs the male reference, from the scope's gap mapping."""
    if g.gender == REFERENCE_GENDER:
        return "reference"
    if g.suppressed:
        return SUPPRESSED
    if not reference_ok:
        return NA
    return fmt_gap(gaps.get(g.gender))


def _share_cell(g: GroupFigures, q: int) -> str:
    if g.suppressed:
        return SUPPRESSED
    return NA if g.quartile_shares is None else fmt_share(g.quartile_shares[q])


def _title(r: Release) -> str:
    return r.title or r.survey_id or "untitled survey"


def _scope_name(scope: GenderBreakdown, g: GroupFigures) -> str:
    """``gender`` (all employees) or ``category/gender``."""
    category = scope.in_category()
    return g.gender if category is None else f"{category}/{g.gender}"


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
    return [_Para("No gap is shown: the male reference group is suppressed or absent.", small=True)]


def _not_collected(heading: str) -> list[_Block]:
    return [_Heading(2, heading), _Para(NOT_COLLECTED)]


def _summary(r: Release) -> list[_Block]:
    return [
        _Heading(1, f"Gender pay gap report — {_title(r)}"),
        _Para(f"Survey {r.survey_id} · model: {r.model} · "
              f"{fmt_count(r.submissions.accepted)} submissions counted, {fmt_count(r.submissions.rejected)} not "
              f"counted · k = {r.min_group_size} (minimum group size) · salaries in {r.salary_unit}"),
    ]


def _mean_gap(r: Release) -> list[_Block]:
    """(a): count, mean, mean gap per gender."""
    scope, ref_ok = r.all_employees, r.all_employees.reference_released()
    return [_Heading(2, "(a) The gender pay gap (mean)"),
            _Table(["Gender", "Count", "Mean", "Mean gap vs male"],
                   [[g.gender, _figure(g, g.count, fmt_count), _figure(g, g.mean, fmt_money),
                     _gap_cell(g, scope.pay_gap_percent, ref_ok)] for g in scope.groups]),
            _Para(f"Gap = (male − group) / male × 100, on salaries in {r.salary_unit}: a positive gap means the "
                  "group is paid less than men.", small=True),
            *_no_reference_note(scope)]


def _median_gap(r: Release) -> list[_Block]:
    """(c): median (± banding error) and median gap per gender."""
    scope, ref_ok = r.all_employees, r.all_employees.reference_released()
    return [_Heading(2, "(c) The median gender pay gap"),
            _Table(["Gender", "Median", "Median gap vs male"],
                   [[g.gender, _median_cell(g), _gap_cell(g, scope.median_pay_gap_percent, ref_ok)]
                    for g in scope.groups]),
            _Para("Medians are computed from salary bands; ± is the worst-case error of that banding.", small=True),
            *_no_reference_note(scope)]


def _quartile_ranges(thresholds: tuple[float, ...] | None) -> list[str]:
    if thresholds is None or len(thresholds) != 3:
        return [NA] * 4
    a, b, c = (fmt_threshold(t) for t in thresholds)
    return [f"< {a}", f"{a} – {b}", f"{b} – {c}", f"≥ {c}"]


def _quartile_bands(r: Release) -> list[_Block]:
    """(f): per quarter, its salary range and each gender's share of its employees."""
    groups, ranges = r.all_employees.groups, _quartile_ranges(r.quartiles.thresholds)
    out: list[_Block] = [
        _Heading(2, "(f) The proportion of female and male workers in each quartile pay band"),
        _Table(["Quartile band", f"Salary range ({r.salary_unit})"] + [g.gender for g in groups],
               [[QUARTILE_NAMES[q], ranges[q]] + [_share_cell(g, q) for g in groups] for q in range(4)]),
        _Para(f"Each cell is the share of the band's employees of that gender; "
              f"{fmt_count(r.quartiles.population)} employees ranked.", small=True)]
    if r.quartiles.note:
        out.append(_Para(r.quartiles.note, small=True))
    return out


def _by_category(r: Release) -> list[_Block]:
    """(g): every figure and both gaps per gender within each job category."""
    out: list[_Block] = [_Heading(2, "(g) The gender pay gap by category of workers")]
    if not r.categories:
        out.append(_Para("This survey does not declare job categories, so no gap by category of workers is "
                         "reported."))
    for c in r.categories:
        ref_ok = c.reference_released()
        out.append(_Heading(3, f"Category: {c.category}"))
        out.append(_Table(["Gender", "Count", "Mean", "Median", "Standard deviation", "Mean gap", "Median gap"],
                          [[g.gender, _figure(g, g.count, fmt_count), _figure(g, g.mean, fmt_money), _median_cell(g),
                            _figure(g, g.stdev, fmt_money), _gap_cell(g, c.pay_gap_percent, ref_ok),
                            _gap_cell(g, c.median_pay_gap_percent, ref_ok)] for g in c.groups]))
        out += _no_reference_note(c)
    return out


def _uk_metrics(r: Release) -> list[_Block]:
    return [_Heading(2, "UK gender pay gap metrics"),
            _Bullets(["Mean gender pay gap: see (a) above.",
                      "Median gender pay gap: see (c) above.",
                      "Proportion of men and women in each pay quarter: see (f) above.",
                      "Mean and median bonus gap, proportion of men and women receiving a bonus: not collected "
                      "by this survey (one salary figure per employee)."]),
            _Para(f"The UK regulations use hourly pay; this survey's figures are salaries in {r.salary_unit}.",
                  small=True)]


def _standard_deviation(r: Release) -> list[_Block]:
    return [_Heading(2, "Standard deviation"),
            _Table(["Gender", "Standard deviation"],
                   [[g.gender, _figure(g, g.stdev, fmt_money)] for g in r.all_employees.groups])]


def _dp_blocks(r: Release) -> list[_Block]:
    dp = r.differential_privacy
    if dp is None:
        return []
    out: list[_Block] = [_Heading(2, "Differential privacy")]
    if dp.description:
        out.append(_Para(dp.description))
    out.append(_Para(f"Privacy budget ε = {dp.epsilon}."))
    if dp.noise_sd:
        out.append(_Para("Standard deviation of the noise added to each kind of figure:"))
        out.append(_Table(["Figure", "Noise standard deviation"],
                          [[kind, fmt_money(sd)] for kind, sd in dp.noise_sd.items()]))
    # Per-group noise on the released figures (suppressed groups: nothing is released, nothing shown).
    rows = [[_scope_name(scope, g), fmt_money(g.dp_sd.count), fmt_money(g.dp_sd.mean)]
            for scope in r.scopes() for g in scope.groups if not g.suppressed and g.dp_sd is not None]
    if rows:
        out.append(_Para("Standard deviation of the noise on each released figure, per group:"))
        out.append(_Table(["Group", "count", "mean"], rows))
    return out


def _suppression(r: Release) -> list[_Block]:
    k = r.min_group_size
    scopes = [f"{g.gender} (all employees)" if scope.in_category() is None else _scope_name(scope, g)
              for scope in r.scopes() for g in scope.groups if g.suppressed]
    if not scopes:
        return [_Heading(2, "Suppression"),
                _Para(f"No group is suppressed (every group has at least k = {k} submissions).")]
    return [_Heading(2, "Suppression"),
            _Para(f"No salary figure is released for the following groups: they have fewer than k = {k} "
                  "submissions, or are suppressed so that a small group's figures cannot be worked out "
                  "from the others."),
            _Bullets(scopes)]


def _warnings(r: Release) -> list[_Block]:
    items = list(r.warnings)
    if r.cheating_nodes:
        items.append(f"Nodes caught cheating: {', '.join(map(str, r.cheating_nodes))}")
    return [_Heading(2, "Warnings"), _Bullets(items)] if items else []


def _blocks(r: Release) -> list[_Block]:
    """The report's content along Art. 9(1) (a)..(g), then the UK metrics and the release's notes."""
    return [
        *_summary(r),
        *_mean_gap(r),
        *_not_collected("(b) The gender pay gap in complementary or variable components"),
        *_median_gap(r),
        *_not_collected("(d) The median gender pay gap in complementary or variable components"),
        *_not_collected("(e) The proportion of female and male workers receiving complementary or variable "
                        "components"),
        *_quartile_bands(r),
        *_by_category(r),
        *_uk_metrics(r),
        *_standard_deviation(r),
        *_dp_blocks(r),
        *_suppression(r),
        *_warnings(r),
        _Heading(2, "Chart"), _Chart(),
    ]


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
                out.append("(no chart)")
            else:
                out.append(f"![Mean and median salary by gender]({quote(chart_name)})")
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
                body.append("<p>(no chart)</p>")
            else:
                data = base64.b64encode(chart_png).decode("ascii")
                body.append(f'<img alt="Mean and median salary by gender" src="data:image/png;base64,{data}">')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_h('Gender pay gap report — ' + _title(release))}</title>\n<style>{_CSS}</style>\n</head>\n"
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
        parts.append(f"suppressed (fewer than k={k}, or protecting such a group): " + "; ".join(suppressed))
    if missing:
        parts.append("no figure: " + "; ".join(missing))
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
    ax.set_ylabel(_mpl_text(f"salary ({unit})"))
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
        ax.text(0.5, 0.5, "no salary figure released", transform=ax.transAxes, ha="center", va="center",
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
    note = _note(r.min_group_size, [g.gender for g in groups if g.suppressed],
                 [g.gender for g in groups if not g.suppressed and _bars(g) == (None, None)])
    _draw_panel(ax, "All employees", [g.gender for g in shown], [[g.gender] for g in shown], colors,
                {(x, g.gender): _bars(g) for x, g in enumerate(shown)}, note, r.salary_unit)
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
                suppressed.append(_scope_name(c, g))
            elif _bars(g) == (None, None):
                missing.append(_scope_name(c, g))
            else:
                cells[(x, g.gender)] = _bars(g)
    genders = [name for name in colors if any(gn == name for _, gn in cells)]
    _draw_panel(ax, "By job category", [c.category for c in r.categories], [genders] * len(r.categories), colors,
                cells, _note(r.min_group_size, suppressed, missing), r.salary_unit)
    return set(genders)


def _chart_png(r: Release) -> bytes:
    """Render the chart and return the PNG bytes (see :func:`render_chart`)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    colors = _gender_colors(r)
    fig = Figure(figsize=CHART_SIZE_TWO_PANELS if r.categories else CHART_SIZE_ONE_PANEL, dpi=CHART_DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, for this figure only (no pyplot, no global backend switch)
    axes = fig.subplots(2 if r.categories else 1, 1, squeeze=False)[:, 0]
    fig.suptitle(_mpl_text(f"Mean and median salary by gender — survey {r.survey_id}"),
                 fontsize=13, fontweight="bold")
    drawn = _all_employees_panel(axes[0], r, colors)
    if r.categories:
        drawn |= _category_panel(axes[1], r, colors)

    handles = [Patch(facecolor=colors[n], edgecolor=colors[n], label=_mpl_text(n)) for n in colors if n in drawn]
    handles += [Patch(facecolor="#999", edgecolor="#999", label="mean"),
                Patch(facecolor="white", edgecolor="#999", hatch="///", label="median")]
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


_SUFFIXES = {".html": ReportFormat.HTML, ".htm": ReportFormat.HTML,
             ".md": ReportFormat.MARKDOWN, ".markdown": ReportFormat.MARKDOWN}


def report_format(path: Path) -> ReportFormat:
    """The format a report file name asks for, by its suffix (case-insensitive).

    Raises ``ValueError("report file must end in .html or .md")`` for any other suffix."""
    try:
        return _SUFFIXES[Path(path).suffix.lower()]
    except KeyError:
        raise ValueError("report file must end in .html or .md") from None


def write_report(release: Release, path: Path) -> list[Path]:
    """Write the report for ``release`` at ``path``, in the format its suffix asks for (:func:`report_format`).

    * ``.html`` / ``.htm``: one self-contained HTML file, the chart embedded; returns ``[path]``.
    * ``.md`` / ``.markdown``: the Markdown report and the chart as ``<stem>.png`` in the same directory,
      linked by relative name; returns ``[path, png_path]`` (the PNG is written first, so the link never
      dangles).
    * anything else: ``ValueError("report file must end in .html or .md")``, nothing written.

    Every file is written atomically (temporary file in the same directory, then :func:`os.replace`).
    """
    path = Path(path)
    if report_format(path) is ReportFormat.HTML:
        _atomic_write(path, render_html(release, _chart_png(release)).encode("utf-8"))
        return [path]
    png = path.with_name(path.stem + ".png")
    render_chart(release, png)
    _atomic_write(path, render_markdown(release, png.name).encode("utf-8"))
    return [path, png]
