"""Fetching, verifying and reconstructing the released table (the analyst's side).

Contract: :func:`build_report` raises rather than print a figure it cannot vouch for — result
shares that do not open, nodes that disagree on the counted set, or shares that do not lie on
one degree-t polynomial (naming the inconsistent node when one node explains it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.envelope import open_result
from protocol.errors import CheatingDetected, InconsistentShares, NodeUnreachable, SurveyError
from protocol.field import robust_reconstruct
from protocol.manifest import Manifest
from protocol.tls import pinned_client_context
from protocol.wire import ResultShare, b64d, error_detail, majority_outliers


@dataclass
class Group:
    gender: str
    count: int
    mean: float | None
    suppressed: bool


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

    def to_json(self) -> dict[str, Any]:
        return {
            "survey_id": self.survey_id,
            "model": self.model,
            "submissions": {"accepted": self.accepted, "rejected": self.rejected},
            "groups": [asdict(g) for g in self.groups],
            "pay_gap_percent": self.pay_gap_percent,
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
    p, t, cats = manifest.field_modulus, manifest.threshold, manifest.categories
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
    if len(values) != 2 * len(cats):
        raise InconsistentShares(f"result has {len(values)} entries, expected {2 * len(cats)}")
    counts, masked = values[: len(cats)], values[len(cats):]
    accepted, rejected, _, _ = meta[0]
    k = manifest.min_group_size
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
    groups: list[Group] = []
    means: dict[str, Fraction] = {}
    for c, cnt, s in zip(cats, counts, masked):
        if cnt > accepted:
            raise InconsistentShares(f"reconstructed count for {c} exceeds the number of submissions")
        if cnt >= k:
            mean = Fraction(s, cnt)
            means[c] = mean
            groups.append(Group(c, cnt, float(mean), False))
        else:
            if s != 0:
                raise InconsistentShares(f"a suppressed group ({c}) came with a salary figure")
            groups.append(Group(c, cnt, None, True))
    if sum(counts) != accepted:
        warnings.append(f"group counts add up to {sum(counts)}, not to the {accepted} accepted submissions")
    gap: dict[str, float | None] = {}
    male = means.get("male")
    for c in cats:
        if c == "male":
            continue
        gap[c] = None if male is None or male == 0 or c not in means else round(float((male - means[c]) / male * 100), 2)
    return Report(manifest.survey_id, manifest.model, accepted, rejected, k, manifest.salary_unit, groups, gap,
                  warnings, sorted(set(culprits) | set(caught)))


def format_table(report: Report) -> str:
    """The human table: gender, count, mean, pay gap versus male, suppression marks."""
    lines = [f"Survey {report.survey_id} ({report.model}): {report.accepted} submissions counted, "
             f"{report.rejected} not counted; groups under k={report.min_group_size} suppressed",
             f"{'gender':<8} {'count':>7} {'mean (' + report.salary_unit + ')':>22} {'gap vs male':>12}"]
    for g in report.groups:
        mean = f"{g.mean:,.2f}" if g.mean is not None else "suppressed*"
        gap = report.pay_gap_percent.get(g.gender)
        gap_s = "—" if g.gender == "male" else (f"{gap:+.2f} %" if gap is not None else "n/a")
        lines.append(f"{g.gender:<8} {g.count:>7} {mean:>22} {gap_s:>12}")
    if any(g.suppressed for g in report.groups):
        lines.append(f"* fewer than {report.min_group_size} submissions: no salary figure is released")
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)


def report_json(report: Report) -> str:
    return json.dumps(report.to_json(), indent=2)
