"""Fetching, verifying and reconstructing the released table (the analyst's side).

Contract: :func:`build_report` raises rather than print a figure it cannot vouch for — result
shares that do not open, nodes that disagree on the counted set, or shares that do not lie on
one degree-t polynomial (naming the inconsistent node when one node explains it).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.disclosure import KINDS, Figures, ReleaseLayout, plan
from protocol.dp import parse_epsilon, plan_budget
from protocol.envelope import open_result
from protocol.errors import CheatingDetected, InconsistentShares, NodeUnreachable, SurveyError
from protocol.field import robust_reconstruct
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.wire import ResultShare, b64d, error_detail, majority_outliers

from .statistics import (banded_median, gap_percent, mean, project_histogram, quartile_boundaries, quarter_counts,
                         quarter_fractions, signed, stdev)


@dataclass
class Group:
    """One released group (a gender overall, or a gender within a job category)."""

    gender: str
    count: int
    mean: float | None
    suppressed: bool
    median: float | None = None
    median_max_error: float | None = None
    stdev: float | None = None
    quartile_shares: list[float] | None = None
    dp_sd: dict[str, float] | None = None


@dataclass
class Category:
    category: str
    groups: list[Group]
    pay_gap_percent: dict[str, float | None]
    median_pay_gap_percent: dict[str, float | None]


@dataclass
class Report:
    survey_id: str
    model: str
    accepted: int
    rejected: int
    min_group_size: int
    salary_unit: str
    groups: list[Group]
    pay_gap_percent: dict[str, float | None]
    warnings: list[str] = field(default_factory=list)
    cheaters: list[int] = field(default_factory=list)
    title: str = ""
    median_pay_gap_percent: dict[str, float | None] = field(default_factory=dict)
    categories: list[Category] = field(default_factory=list)
    quartiles: dict[str, Any] = field(default_factory=dict)
    bands: dict[str, Any] = field(default_factory=dict)
    differential_privacy: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "survey_id": self.survey_id,
            "title": self.title,
            "model": self.model,
            "submissions": {"accepted": self.accepted, "rejected": self.rejected},
            "groups": [asdict(g) for g in self.groups],
            "pay_gap_percent": self.pay_gap_percent,
            "median_pay_gap_percent": self.median_pay_gap_percent,
            "quartiles": self.quartiles,
            "categories": [asdict(c) for c in self.categories],
            "bands": self.bands,
            "differential_privacy": self.differential_privacy,
            "min_group_size": self.min_group_size,
            "salary_unit": self.salary_unit,
            "warnings": self.warnings,
            "cheating_nodes": self.cheaters,
        }


def node_request(manifest: Manifest, j: int, method: str, path: str, credential: str | None = None,
                 timeout: float = 15.0, retries: int = 3) -> httpx.Response:
    """One HTTPS request to node j (pinned to its certificate), retrying connection failures."""
    node = manifest.nodes[j]
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    last: Exception | None = None
    for _ in range(retries):
        try:
            return httpx.request(method, f"{node.url}/v1/surveys/{manifest.survey_id}/{path}", headers=headers,
                                 verify=pinned_client_context(node.tls_cert_pem), timeout=timeout)
        except httpx.HTTPError as exc:
            last = exc
    raise NodeUnreachable(f"node {j} ({node.name}) at {node.url} is unreachable ({last.__class__.__name__})")


def fetch_result_shares(manifest: Manifest, credential: str) -> list[ResultShare]:
    """Every node's sealed result share, in node order."""
    out = []
    for j in range(manifest.n):
        r = node_request(manifest, j, "GET", "result", credential)
        if r.status_code != 200:
            raise SurveyError(f"node {j} ({manifest.nodes[j].name}) has no result for you: {error_detail(r)}")
        rs = ResultShare.parse(r.json())
        if rs.node_index != j or rs.survey_id != manifest.survey_id or rs.manifest_hash != manifest.hash_hex():
            raise InconsistentShares(f"node {j} sent a result share for another node or survey")
        out.append(rs)
    return out


def build_report(manifest: Manifest, analyst_key: X25519PrivateKey, shares: list[ResultShare]) -> Report:
    """Open, cross-check and reconstruct the result shares into the released table."""
    p, t = manifest.field_modulus, manifest.threshold
    meta = [(rs.accepted, rs.rejected, rs.agreed_digest, rs.run_id) for rs in shares]
    if len(set(meta)) != 1:
        odd = majority_outliers(meta)
        if odd and len(odd) <= t:
            raise CheatingDetected(f"node(s) {', '.join(map(str, odd))} disagree with the others on the counted "
                                   "submission set or the MPC run; nothing is released", culprits=odd)
        raise InconsistentShares("the nodes disagree on the counted submission set or the MPC run")
    opened = {rs.node_index: open_result(b64d(rs.sealed_result, "result"), analyst_key, manifest.hash(),
                                         rs.node_index, p) for rs in shares}
    values, culprits = robust_reconstruct(opened, t, p)
    accepted, rejected, _, _ = meta[0]
    warnings = []
    if culprits:
        warnings.append("node(s) " + ", ".join(map(str, culprits)) + " sent a result share inconsistent with the "
                        "others; corrected by error-correcting reconstruction (n >= 3t+1)")
    # Nodes caught by the other nodes during the computation: believed when at least t+1 nodes
    # report it (so at least one honest node saw it; t liars cannot frame anyone).
    reports: dict[int, int] = {}
    for rs in shares:
        for node in set(rs.caught):
            if 0 <= node < manifest.n:
                reports[node] = reports.get(node, 0) + 1
    caught = sorted(node for node, votes in reports.items() if votes >= t + 1)
    if caught:
        warnings.append("node(s) " + ", ".join(map(str, caught)) + " were caught by the other nodes sending wrong "
                        "shares during the computation; corrected (n >= 3t+1)")
    report = tabulate(manifest, [signed(v, p) for v in values], accepted, rejected, warnings)
    report.cheaters = sorted(set(culprits) | set(caught))
    return report


def tabulate(manifest: Manifest, values: list[int], accepted: int, rejected: int,
             warnings: list[str] | None = None) -> Report:
    """The report from the reconstructed release vector (signed integers, protocol.disclosure).

    Checks what the nodes released against the disclosure rule recomputed from the counts: a
    figure of a suppressed group that is not zero means a node did not apply the rule (raise)."""
    sc = manifest.scheme()
    layout = ReleaseLayout(sc)
    try:
        cell_counts, gender_counts, cells, genders = layout.split(values)
    except ValueError as exc:
        raise InconsistentShares(str(exc)) from None
    noisy = bool(manifest.dp_epsilon)
    k = manifest.min_group_size
    pl = plan(cell_counts, gender_counts, sc, k, noisy)
    if any(v != 0 for v, keep in zip(values, layout.released_mask(pl)) if not keep):
        raise InconsistentShares("a suppressed group came with a salary figure; the nodes did not apply the "
                                 "disclosure rule")
    warnings = list(warnings or [])
    if not noisy:
        if any(c < 0 or c > accepted for c in cell_counts):
            raise InconsistentShares("a reconstructed count exceeds the number of submissions")
        if sum(cell_counts) != accepted:
            warnings.append(f"group counts add up to {sum(cell_counts)}, not to the {accepted} accepted submissions")
    budget = None
    dp_doc = None
    if noisy:
        budget = plan_budget(parse_epsilon(manifest.dp_epsilon), sc.salary_max, 2 if layout.has_genders else 1)
        dp_doc = {"epsilon": manifest.dp_epsilon, "description": budget.describe(),
                  "noise_sd": {kind: budget.total_sd(kind, manifest.n) for kind in KINDS}}
        warnings.append("differential privacy: every figure carries noise (standard deviations above); medians "
                        "and quartile shares come from noisy band counts and can be off by more than the ± "
                        "banding error shown, most for small groups and many bands; standard deviations use the "
                        "noisy sum of squares")
    banded = sc.B > 1

    @functools.lru_cache(maxsize=None)
    def hist(f: Figures) -> tuple[float, ...]:
        """A group's band counts; under differential privacy projected onto the histograms with
        non-negative counts adding up to its (noisy) count (post-processing, no privacy cost)."""
        return tuple(project_histogram(f.bands, f.count) if noisy else map(float, f.bands))

    # Quarters by rank over the employees of the released genders only (a suppressed gender must
    # not be recoverable as "everyone minus the others").
    shown = [f for f, keep in zip(genders, pl.genders) if keep]
    total_bands = [sum(col) for col in zip(*map(hist, shown))] if shown else [0.0] * sc.B
    fractions = quarter_fractions(total_bands) if banded else None

    def group(name: str, f: Figures, released: bool, peers: list[Figures] | None) -> Group:
        if not released:
            return Group(name, f.count, None, True)
        g = Group(name, f.count, mean(f.total, f.count), False, stdev=stdev(f.total, f.squares, f.count))
        if banded:
            med = banded_median(hist(f), sc.edges, sc.salary_max)
            if med is not None:
                g.median, g.median_max_error = round(med[0], 2), float(med[1])
            if fractions is not None and peers is not None:
                mine, everyone = quarter_counts(hist(f), fractions), [0.0] * 4
                for other in peers:
                    everyone = [a + b for a, b in zip(everyone, quarter_counts(hist(other), fractions))]
                g.quartile_shares = [round(m / e, 4) if e > 0 else 0.0 for m, e in zip(mine, everyone)]
        if budget is not None:
            c_sd, s_sd = budget.total_sd("count", manifest.n), budget.total_sd("sum", manifest.n)
            if f.count > 0 and g.mean is not None:
                g.dp_sd = {"count": round(c_sd, 2),
                           "mean": round(math.hypot(s_sd, g.mean * c_sd) / f.count, 2)}
        return g

    def gaps(groups: list[Group]) -> tuple[dict[str, float | None], dict[str, float | None]]:
        male = next((g for g in groups if g.gender == "male"), None)
        mean_gap = {g.gender: gap_percent(male.mean if male else None, g.mean) for g in groups if g.gender != "male"}
        med_gap = {g.gender: gap_percent(male.median if male else None, g.median)
                   for g in groups if g.gender != "male"}
        return mean_gap, med_gap

    groups = [group(name, f, keep, shown) for name, f, keep in zip(sc.genders, genders, pl.genders)]
    mean_gap, median_gap = gaps(groups)
    categories: list[Category] = []
    for j, job in enumerate(sc.jobs):
        idx = [sc.cell(g, j) for g in range(sc.G)]
        peers = [cells[c] for c in idx if pl.cells[c]]
        cg = [group(sc.genders[g], cells[c], pl.cells[c], peers) for g, c in enumerate(idx)]
        categories.append(Category(job, cg, *gaps(cg)))
    if pl.secondary:
        names = [f"{sc.jobs[c % sc.J]}/{sc.genders[c // sc.J]}" for c in pl.secondary]
        warnings.append("suppressed to protect smaller groups (their figures could otherwise be derived): "
                        + ", ".join(names))
    population = sum(total_bands)
    quartiles: dict[str, Any] = {
        "thresholds": quartile_boundaries(total_bands, sc.edges, sc.salary_max) if banded else None,
        "population": population,
        "note": ("quarters of equal size by salary rank over the employees of the released genders "
                 f"({population}); employees of a band that a cut goes through are shared between the two "
                 "quarters in proportion, so shares are exact only where bands are one salary value wide"
                 if banded else "not available: the survey declares no salary bands"),
    }
    return Report(manifest.survey_id, manifest.model, accepted, rejected, k, manifest.salary_unit, groups, mean_gap,
                  warnings, [], manifest.title, median_gap, categories, quartiles,
                  {"edges": list(sc.edges), "salary_max": sc.salary_max}, dp_doc)


def _num(v: float | None, suppressed: bool = False) -> str:
    return "suppressed*" if suppressed else ("n/a" if v is None else f"{v:,.2f}")


def _gap(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f} %"


def _table(groups: list[Group], gap: dict[str, float | None], mgap: dict[str, float | None], unit: str) -> list[str]:
    lines = [f"{'gender':<8} {'count':>7} {'mean':>14} {'median':>14} {'stdev':>12} {'gap vs male':>12} "
             f"{'median gap':>11}   ({unit})"]
    for g in groups:
        med = _num(g.median, g.suppressed)
        if g.median_max_error and not g.suppressed:
            med += f" ±{g.median_max_error:,.0f}"
        lines.append(f"{g.gender:<8} {g.count:>7} {_num(g.mean, g.suppressed):>14} {med:>14} "
                     f"{_num(g.stdev, g.suppressed):>12} "
                     f"{'—' if g.gender == 'male' else _gap(gap.get(g.gender)):>12} "
                     f"{'—' if g.gender == 'male' else _gap(mgap.get(g.gender)):>11}")
    return lines


def format_table(report: Report) -> str:
    """The human table: per gender count, mean, median (± its banding error), standard
    deviation and pay gaps versus male; quartile pay bands; the same per job category."""
    lines = [f"Survey {report.survey_id} ({report.model}): {report.accepted} submissions counted, "
             f"{report.rejected} not counted; groups under k={report.min_group_size} suppressed"]
    lines += _table(report.groups, report.pay_gap_percent, report.median_pay_gap_percent, report.salary_unit)
    th = report.quartiles.get("thresholds")
    shown = [g for g in report.groups if g.quartile_shares is not None]
    if th and shown:
        lines.append("quartile pay bands (share of each gender among the quarter's employees):")
        ranges = [f"< {th[0]:,.0f}", f"{th[0]:,.0f}–{th[1]:,.0f}", f"{th[1]:,.0f}–{th[2]:,.0f}", f">= {th[2]:,.0f}"]
        for q in range(4):
            lines.append(f"  Q{q + 1} {ranges[q]:>22}: " + ", ".join(
                f"{g.gender} {100 * g.quartile_shares[q]:.1f} %" for g in shown if g.quartile_shares))
    for c in report.categories:
        lines.append(f"job category {c.category}:")
        lines += ["  " + ln for ln in _table(c.groups, c.pay_gap_percent, c.median_pay_gap_percent,
                                             report.salary_unit)]
    if any(g.suppressed for g in report.groups) or any(g.suppressed for c in report.categories for g in c.groups):
        lines.append(f"* fewer than {report.min_group_size} submissions, or protecting such a group: no salary "
                     "figure is released")
    if report.differential_privacy:
        dp = report.differential_privacy
        lines.append(f"differential privacy: epsilon = {dp['epsilon']}; noise standard deviation per figure: "
                     + ", ".join(f"{k} {v:,.1f}" for k, v in dp["noise_sd"].items()))
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)


CSV_COLUMNS = ("scope", "category", "gender", "count", "suppressed", "mean", "median", "median_max_error", "stdev",
               "q1_share", "q2_share", "q3_share", "q4_share", "mean_gap_percent", "median_gap_percent")


def report_csv(report: Report) -> str:
    """One row per group: the overall genders ("all"), then every job category's."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    scopes = [("all", "", report.groups, report.pay_gap_percent, report.median_pay_gap_percent)]
    scopes += [("category", c.category, c.groups, c.pay_gap_percent, c.median_pay_gap_percent)
               for c in report.categories]
    for scope, cat, groups, gap, mgap in scopes:
        for g in groups:
            q: list[float | None] = list(g.quartile_shares) if g.quartile_shares else [None] * 4
            row = [scope, cat, g.gender, g.count, str(g.suppressed).lower(), g.mean, g.median, g.median_max_error,
                   g.stdev, *q, gap.get(g.gender), mgap.get(g.gender)]
            w.writerow(["" if v is None else v for v in row])
    return buf.getvalue()


def report_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)
