"""Human pay-transparency report (Markdown or HTML, plus a PNG chart) from the analyst's result document.

The input is the JSON-compatible result document the analyst tool releases (survey id, per-gender
groups over all employees and per job category, pay gaps, quartile pay bands, optional differential
privacy parameters, warnings). The report is laid out along the items (a)..(g) of Art. 9(1) of the
EU Pay Transparency Directive 2023/970, followed by the UK gender pay gap metrics, the standard
deviations, the differential-privacy noise, the suppressed groups and the warnings.

Contracts:

* No figure of a suppressed group is ever printed or drawn, even when the document carries one:
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
import math
import os
import secrets
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = ["render_chart", "render_markdown", "render_html", "write_report"]

REFERENCE_GENDER = "male"
SUPPRESSED = "suppressed"
NA = "n/a"
NOT_COLLECTED = "Not collected by this survey (one salary figure per employee)."

CHART_DPI = 110
CHART_SIZE_ONE_PANEL = (10.0, 4.5)   # inches; the "All employees" panel only
CHART_SIZE_TWO_PANELS = (10.0, 8.0)  # inches; plus the per-category panel

QUARTILE_NAMES = ("Q1 (lowest)", "Q2", "Q3", "Q4 (highest)")


# --------------------------------------------------------------------------------------------
# Number formatting


def _finite(x: Any) -> float | None:
    """``x`` as a float when it is a finite number (bools excluded), else None."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def fmt_money(x: Any) -> str:
    """Salary figure: thousands separators, two decimals (``3,412.50``); None or non-numeric → ``n/a``."""
    f = _finite(x)
    return NA if f is None else f"{f:,.2f}"


def fmt_gap(x: Any) -> str:
    """Pay gap in percent: a sign and one decimal (``+12.3 %``); None → ``n/a``."""
    f = _finite(x)
    return NA if f is None else f"{f:+.1f} %"


def fmt_share(x: Any) -> str:
    """A proportion 0..1 as a percentage with one decimal (``55.0 %``); None → ``n/a``."""
    f = _finite(x)
    return NA if f is None else f"{100.0 * f:.1f} %"


def fmt_count(x: Any) -> str:
    """A head count with thousands separators; None → ``n/a``."""
    f = _finite(x)
    if f is None:
        return NA
    return f"{int(f):,}" if f == int(f) else f"{f:,.2f}"


def fmt_threshold(x: Any) -> str:
    """A quartile threshold: no decimals when whole (``2,900``), else two."""
    f = _finite(x)
    if f is None:
        return NA
    return f"{f:,.0f}" if f == int(f) else f"{f:,.2f}"


# --------------------------------------------------------------------------------------------
# Reading the document (tolerant of missing keys; never exposes figures of suppressed groups)


def _groups(container: dict[str, Any]) -> list[dict[str, Any]]:
    gs = container.get("groups") or []
    return [g for g in gs if isinstance(g, dict)]


def _is_suppressed(g: dict[str, Any]) -> bool:
    return bool(g.get("suppressed"))


def _name(g: dict[str, Any]) -> str:
    return str(g.get("gender", "?"))


def _figure(g: dict[str, Any], key: str, fmt: Any) -> str:
    """One figure of a group, formatted — ``suppressed`` for a suppressed group whatever it holds."""
    if _is_suppressed(g):
        return SUPPRESSED
    return str(fmt(g.get(key)))


def _median_cell(g: dict[str, Any]) -> str:
    if _is_suppressed(g):
        return SUPPRESSED
    med = fmt_money(g.get("median"))
    err = _finite(g.get("median_max_error"))
    if med == NA or err is None:
        return med
    return f"{med} ± {fmt_money(err)}"


def _reference_released(groups: list[dict[str, Any]]) -> bool:
    return any(_name(g) == REFERENCE_GENDER and not _is_suppressed(g) for g in groups)


def _gap_cell(g: dict[str, Any], gaps: Any, reference_ok: bool) -> str:
    """A group's gap vs the male reference, from the document's gap dict."""
    if _name(g) == REFERENCE_GENDER:
        return "reference"
    if _is_suppressed(g):
        return SUPPRESSED
    if not reference_ok or not isinstance(gaps, dict):
        return NA
    return fmt_gap(gaps.get(_name(g)))


def _title(doc: dict[str, Any]) -> str:
    return str(doc.get("title") or doc.get("survey_id") or "untitled survey")


def _categories(doc: dict[str, Any]) -> list[dict[str, Any]]:
    cats = doc.get("categories") or []
    return [c for c in cats if isinstance(c, dict)]


def _suppressed_scopes(doc: dict[str, Any]) -> list[str]:
    """Every suppressed group by scope: ``gender`` (all employees) or ``category/gender``."""
    out = [_name(g) for g in _groups(doc) if _is_suppressed(g)]
    for c in _categories(doc):
        out += [f"{c.get('category', '?')}/{_name(g)}" for g in _groups(c) if _is_suppressed(g)]
    return out


# --------------------------------------------------------------------------------------------
# Format-neutral content: a list of blocks rendered to Markdown or HTML


@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Para:
    text: str
    small: bool = False


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class _Bullets:
    items: list[str]


@dataclass
class _Chart:
    pass


_Block = _Heading | _Para | _Table | _Bullets | _Chart


def _group_table(groups: list[dict[str, Any]], gaps: Any, reference_ok: bool) -> _Table:
    """(a): count, mean, mean gap per gender."""
    return _Table(["Gender", "Count", "Mean", "Mean gap vs male"],
                  [[_name(g), _figure(g, "count", fmt_count), _figure(g, "mean", fmt_money),
                    _gap_cell(g, gaps, reference_ok)] for g in groups])


def _gap_explanation(unit: str) -> _Para:
    return _Para(f"Gap = (male − group) / male × 100, on salaries in {unit}: a positive gap means the group "
                 "is paid less than men.", small=True)


def _no_reference_note(groups: list[dict[str, Any]]) -> list[_Block]:
    if _reference_released(groups):
        return []
    return [_Para("No gap is shown: the male reference group is suppressed or absent.", small=True)]


def _quartile_ranges(thresholds: Any) -> list[str]:
    ts = thresholds if isinstance(thresholds, list) and len(thresholds) == 3 else None
    if ts is None:
        return [NA] * 4
    a, b, c = (fmt_threshold(t) for t in ts)
    return [f"< {a}", f"{a} – {b}", f"{b} – {c}", f"≥ {c}"]


def _share_cell(g: dict[str, Any], q: int) -> str:
    if _is_suppressed(g):
        return SUPPRESSED
    shares = g.get("quartile_shares")
    if not isinstance(shares, list) or len(shares) != 4:
        return NA
    return fmt_share(shares[q])


def _dp_blocks(doc: dict[str, Any]) -> list[_Block]:
    dp = doc.get("differential_privacy")
    if not isinstance(dp, dict):
        return []
    out: list[_Block] = [_Heading(2, "Differential privacy")]
    if dp.get("description"):
        out.append(_Para(str(dp["description"])))
    if dp.get("epsilon") is not None:
        out.append(_Para(f"Privacy budget ε = {dp['epsilon']}."))
    noise = dp.get("noise_sd")
    if isinstance(noise, dict) and noise:
        out.append(_Para("Standard deviation of the noise added to each kind of figure:"))
        out.append(_Table(["Figure", "Noise standard deviation"],
                          [[str(k), fmt_money(v)] for k, v in noise.items()]))
    # Per-group noise on the released figures (suppressed groups: nothing is released, nothing shown).
    scoped: list[tuple[str, dict[str, Any]]] = [(_name(g), g) for g in _groups(doc)]
    for c in _categories(doc):
        scoped += [(f"{c.get('category', '?')}/{_name(g)}", g) for g in _groups(c)]
    with_sd = [(s, g) for s, g in scoped if not _is_suppressed(g) and isinstance(g.get("dp_sd"), dict)]
    if with_sd:
        kinds: list[str] = []
        for _, g in with_sd:
            kinds += [str(k) for k in g["dp_sd"] if str(k) not in kinds]
        out.append(_Para("Standard deviation of the noise on each released figure, per group:"))
        out.append(_Table(["Group"] + kinds,
                          [[s] + [fmt_money(g["dp_sd"].get(k)) for k in kinds] for s, g in with_sd]))
    return out


def _blocks(doc: dict[str, Any]) -> list[_Block]:
    unit = str(doc.get("salary_unit") or "")
    k = doc.get("min_group_size")
    subs = doc.get("submissions") or {}
    groups = _groups(doc)
    ref_ok = _reference_released(groups)
    gaps, mgaps = doc.get("pay_gap_percent"), doc.get("median_pay_gap_percent")
    cats = _categories(doc)
    quart = doc.get("quartiles") or {}

    b: list[_Block] = [
        _Heading(1, f"Gender pay gap report — {_title(doc)}"),
        _Para(f"Survey {doc.get('survey_id', '?')} · model: {doc.get('model', '?')} · "
              f"{fmt_count(subs.get('accepted'))} submissions counted, {fmt_count(subs.get('rejected'))} not "
              f"counted · k = {k} (minimum group size) · salaries in {unit}"),
    ]

    b += [_Heading(2, "(a) The gender pay gap (mean)"), _group_table(groups, gaps, ref_ok),
          _gap_explanation(unit), *_no_reference_note(groups)]

    b += [_Heading(2, "(b) The gender pay gap in complementary or variable components"), _Para(NOT_COLLECTED)]

    b += [_Heading(2, "(c) The median gender pay gap"),
          _Table(["Gender", "Median", "Median gap vs male"],
                 [[_name(g), _median_cell(g), _gap_cell(g, mgaps, ref_ok)] for g in groups]),
          _Para("Medians are computed from salary bands; ± is the worst-case error of that banding.", small=True),
          *_no_reference_note(groups)]

    b += [_Heading(2, "(d) The median gender pay gap in complementary or variable components"),
          _Para(NOT_COLLECTED)]
    b += [_Heading(2, "(e) The proportion of female and male workers receiving complementary or variable "
                      "components"), _Para(NOT_COLLECTED)]

    ranges = _quartile_ranges(quart.get("thresholds"))
    b += [_Heading(2, "(f) The proportion of female and male workers in each quartile pay band"),
          _Table(["Quartile band", f"Salary range ({unit})"] + [_name(g) for g in groups],
                 [[QUARTILE_NAMES[q], ranges[q]] + [_share_cell(g, q) for g in groups] for q in range(4)])]
    if quart.get("population") is not None:
        b.append(_Para(f"Each cell is the share of the band's employees of that gender; "
                       f"{fmt_count(quart.get('population'))} employees ranked.", small=True))
    if quart.get("note"):
        b.append(_Para(str(quart["note"]), small=True))

    b.append(_Heading(2, "(g) The gender pay gap by category of workers"))
    if not cats:
        b.append(_Para("This survey does not declare job categories, so no gap by category of workers is "
                       "reported."))
    for c in cats:
        cg = _groups(c)
        c_ref = _reference_released(cg)
        b.append(_Heading(3, f"Category: {c.get('category', '?')}"))
        b.append(_Table(["Gender", "Count", "Mean", "Median", "Standard deviation", "Mean gap", "Median gap"],
                        [[_name(g), _figure(g, "count", fmt_count), _figure(g, "mean", fmt_money),
                          _median_cell(g), _figure(g, "stdev", fmt_money),
                          _gap_cell(g, c.get("pay_gap_percent"), c_ref),
                          _gap_cell(g, c.get("median_pay_gap_percent"), c_ref)] for g in cg]))
        b += _no_reference_note(cg)

    b += [_Heading(2, "UK gender pay gap metrics"),
          _Bullets(["Mean gender pay gap: see (a) above.",
                    "Median gender pay gap: see (c) above.",
                    "Proportion of men and women in each pay quarter: see (f) above.",
                    "Mean and median bonus gap, proportion of men and women receiving a bonus: not collected "
                    "by this survey (one salary figure per employee)."]),
          _Para(f"The UK regulations use hourly pay; this survey's figures are salaries in {unit}.", small=True)]

    b += [_Heading(2, "Standard deviation"),
          _Table(["Gender", "Standard deviation"], [[_name(g), _figure(g, "stdev", fmt_money)] for g in groups])]

    b += _dp_blocks(doc)

    b.append(_Heading(2, "Suppression"))
    scopes = _suppressed_scopes(doc)
    if scopes:
        b.append(_Para(f"No salary figure is released for the following groups: they have fewer than k = {k} "
                       "submissions, or are suppressed so that a small group's figures cannot be worked out "
                       "from the others."))
        b.append(_Bullets([s if "/" in s else f"{s} (all employees)" for s in scopes]))
    else:
        b.append(_Para(f"No group is suppressed (every group has at least k = {k} submissions)."))

    warnings = [str(w) for w in (doc.get("warnings") or [])]
    cheaters = doc.get("cheating_nodes") or []
    if warnings or cheaters:
        b.append(_Heading(2, "Warnings"))
        items = warnings + ([f"Nodes caught cheating: {', '.join(map(str, cheaters))}"] if cheaters else [])
        b.append(_Bullets(items))

    b += [_Heading(2, "Chart"), _Chart()]
    return b


# --------------------------------------------------------------------------------------------
# Markdown

_MD_SPECIAL = set("\\`*_[]<>|&#!~")


def _md(text: str) -> str:
    """Escape user text for Markdown: backslash before markup characters, no line breaks."""
    text = " ".join(str(text).split())
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def render_markdown(doc: dict[str, Any], chart_name: str | None) -> str:
    """The report as Markdown (CommonMark with pipe tables).

    ``chart_name`` is the chart PNG's file name relative to the Markdown file (linked as an image),
    or None for no chart. All document text is escaped; see the module docstring for the contracts.
    """
    out: list[str] = []
    for blk in _blocks(doc):
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


def render_html(doc: dict[str, Any], chart_png: bytes | None) -> str:
    """The report as one self-contained HTML page (inline CSS; the chart embedded as a base64 data: URI).

    ``chart_png`` is the chart's PNG bytes, or None for no chart. Every document text is escaped with
    :func:`html.escape`; see the module docstring for the other contracts.
    """
    body: list[str] = []
    for blk in _blocks(doc):
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
            f"<title>{_h('Gender pay gap report — ' + _title(doc))}</title>\n<style>{_CSS}</style>\n</head>\n"
            "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


# --------------------------------------------------------------------------------------------
# Chart

_COLORS = ("#c0392b", "#2471a3", "#7d3c98", "#1e8449", "#b9770e", "#566573")


def _mpl_text(text: str) -> str:
    """User text for matplotlib: ``$`` escaped so that it never starts mathtext."""
    return str(text).replace("$", r"\$")


def _note(k: Any, suppressed: list[str], missing: list[str]) -> str:
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


def _chart_png(doc: dict[str, Any]) -> bytes:
    """Render the chart and return the PNG bytes (see :func:`render_chart`)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    unit = str(doc.get("salary_unit") or "")
    k = doc.get("min_group_size")
    groups = _groups(doc)
    cats = _categories(doc)

    def figures(g: dict[str, Any]) -> tuple[float | None, float | None]:
        return (None, None) if _is_suppressed(g) else (_finite(g.get("mean")), _finite(g.get("median")))

    def visible(g: dict[str, Any]) -> bool:
        return figures(g) != (None, None)

    # Colour per gender, in manifest order (then any gender first seen in a category).
    order: list[str] = []
    for g in groups + [g for c in cats for g in _groups(c)]:
        if _name(g) not in order:
            order.append(_name(g))
    colors = {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(order)}

    fig = Figure(figsize=CHART_SIZE_TWO_PANELS if cats else CHART_SIZE_ONE_PANEL, dpi=CHART_DPI,
                 layout="constrained")
    FigureCanvasAgg(fig)  # the Agg backend, for this figure only (no pyplot, no global backend switch)
    axes = fig.subplots(2 if cats else 1, 1, squeeze=False)[:, 0]
    fig.suptitle(_mpl_text(f"Mean and median salary by gender — survey {doc.get('survey_id', '?')}"),
                 fontsize=13, fontweight="bold")

    # Panel 1: one x position per released gender, its two bars centred there.
    shown = [g for g in groups if visible(g)]
    _draw_panel(axes[0], "All employees", [_name(g) for g in shown], [[_name(g)] for g in shown], colors,
                {(x, _name(g)): figures(g) for x, g in enumerate(shown)},
                _note(k, [_name(g) for g in groups if _is_suppressed(g)],
                      [_name(g) for g in groups if not _is_suppressed(g) and not visible(g)]), unit)
    drawn_genders = {_name(g) for g in shown}

    if cats:
        cells: dict[tuple[int, str], tuple[float | None, float | None]] = {}
        suppressed: list[str] = []
        missing: list[str] = []
        for x, c in enumerate(cats):
            for g in _groups(c):
                scope = f"{c.get('category', '?')}/{_name(g)}"
                if _is_suppressed(g):
                    suppressed.append(scope)
                elif not visible(g):
                    missing.append(scope)
                else:
                    cells[(x, _name(g))] = figures(g)
        # The same slot for a gender in every category (only genders drawn somewhere get one).
        cat_genders = [name for name in order if any(gn == name for _, gn in cells)]
        drawn_genders |= set(cat_genders)
        _draw_panel(axes[1], "By job category", [str(c.get("category", "?")) for c in cats],
                    [cat_genders] * len(cats), colors, cells, _note(k, suppressed, missing), unit)

    handles = [Patch(facecolor=colors[n], edgecolor=colors[n], label=_mpl_text(n))
               for n in order if n in drawn_genders]
    handles += [Patch(facecolor="#999", edgecolor="#999", label="mean"),
                Patch(facecolor="white", edgecolor="#999", hatch="///", label="median")]
    fig.legend(handles=handles, loc="outside right upper", fontsize=9, frameon=False)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CHART_DPI)
    return buf.getvalue()


def render_chart(doc: dict[str, Any], path: Path) -> None:
    """Draw the chart of ``doc`` as a PNG at ``path`` (written atomically).

    One panel "All employees" with the mean (solid bar) and median (hatched bar) salary per gender
    and, when ``doc["categories"]`` is non-empty, a second panel with mean and median per gender
    within each job category. Suppressed groups and null figures are not drawn; a note under each
    panel names them. The y axis is labelled with ``doc["salary_unit"]``; the title carries the
    survey id. Size 10 × 4.5 in (one panel) or 10 × 8 in (two), at 110 dpi, so 1100 × 495 or
    1100 × 880 pixels. Never fails for lack of figures: an empty panel says so.
    """
    _atomic_write(Path(path), _chart_png(doc))


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


def write_report(doc: dict[str, Any], path: Path) -> list[Path]:
    """Write the report for ``doc`` at ``path``, chosen by its suffix (case-insensitive).

    * ``.html`` / ``.htm``: one self-contained HTML file, the chart embedded; returns ``[path]``.
    * ``.md`` / ``.markdown``: the Markdown report and the chart as ``<stem>.png`` in the same directory,
      linked by relative name; returns ``[path, png_path]`` (the PNG is written first, so the link never
      dangles).
    * anything else: ``ValueError("report file must end in .html or .md")``, nothing written.

    Every file is written atomically (temporary file in the same directory, then :func:`os.replace`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        _atomic_write(path, render_html(doc, _chart_png(doc)).encode("utf-8"))
        return [path]
    if suffix in (".md", ".markdown"):
        png = path.with_name(path.stem + ".png")
        render_chart(doc, png)
        _atomic_write(path, render_markdown(doc, png.name).encode("utf-8"))
        return [path, png]
    raise ValueError("report file must end in .html or .md")
