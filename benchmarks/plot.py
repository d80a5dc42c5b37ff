"""Scaling plot of the benchmark: wall seconds against submissions, log-log, one line per series.

Uses matplotlib's object-oriented API with an explicit Agg canvas: no pyplot, no global backend
switch, no display needed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_scaling"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _series_points(runs: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """``{series: [(submissions, wall_s), ...] sorted by submissions}`` in order of first
    appearance; runs that timed out, were skipped, or lack a positive ``wall_s`` or
    ``submissions`` are left out (a log axis cannot show them)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        wall, n = run.get("wall_s"), run.get("submissions")
        if run.get("timed_out") or run.get("skipped") or wall is None or n is None:
            continue
        if not (float(wall) > 0 and float(n) > 0):
            continue
        name = str(run.get("series") or run.get("kind") or "unnamed")
        series.setdefault(name, []).append((float(n), float(wall)))
    return {k: sorted(v) for k, v in series.items()}


def plot_scaling(runs: list[dict[str, Any]], path: str, title: str | None = None) -> None:
    """Write a PNG (120 dpi) to ``path``: log-log plot of ``run["wall_s"]`` against
    ``run["submissions"]``, one line with markers per distinct ``run["series"]`` (falling back
    to ``run["kind"]``), in order of first appearance; timed-out, skipped and wall-less runs
    are not drawn.  Axis labels "submissions" and "seconds (wall)", legend, grid, optional
    ``title``.  With nothing to draw, the figure says so instead of failing.  Raises
    ``ImportError`` if matplotlib is not installed.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series = _series_points(runs)
    for k, (name, pts) in enumerate(series.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker=_MARKERS[k % len(_MARKERS)], linewidth=1.6, markersize=6, label=name)
    if series:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(loc="best", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no completed runs", transform=ax.transAxes, ha="center", va="center")
    ax.grid(True, which="major", alpha=0.5)
    ax.grid(True, which="minor", alpha=0.15)
    ax.set_xlabel("submissions")
    ax.set_ylabel("seconds (wall)")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
