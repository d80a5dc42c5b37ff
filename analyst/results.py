"""Fetching, verifying and reconstructing the release (the analyst's side).

Contract: :func:`build_report` raises rather than release a figure it cannot vouch for.  Every
result share is one point: a missing share, one that does not open, one for another node or
survey and one whose metadata disagrees with a majority are erasures, a share off the others'
polynomial an error; the release goes ahead when the decoding budget 2s + e <= n - t - 1 allows
with a check left, naming the nodes that sent bad shares, and a release vector that breaks the
disclosure rule is refused.  :func:`tabulate` turns the reconstructed vector into a
:class:`~analyst.release.Release`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from collections import Counter
from dataclasses import dataclass, field, replace

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol.disclosure import KINDS, Figures, Plan, ReleaseLayout, Split
from protocol.dp import Budget, parse_epsilon
from protocol.encoding import Banding, Scheme, ValueKind
from protocol.envelope import open_result
from protocol.errors import CheatingDetected, DecryptionFailed, InconsistentShares, SurveyError
from protocol.field import robust_reconstruct
from protocol.manifest import Manifest
from protocol.nodeauth import verify_audit_anchor
from protocol.wire import ResultShare, b64d, error_detail, majority_outliers

from .components import HOURLY_UNIT, art10_flags, component_figures, component_gaps
from .filing import Filing, legal_basis, method_notes, release_date
from .nodes import NodeClients, each_node
from .release import (REFERENCE_GENDER, AuditHead, Bands, CategoryFigures, DifferentialPrivacy, GenderBreakdown, GroupFigures,
                      GroupNoise, Labels, Quartiles, Release, Submissions, ThreatModel)
from .statistics import (banded_median, gap_percent, mean, project_histogram, quartile_boundaries, quarter_counts,
                         quarter_fractions, signed, stdev)


@dataclass(frozen=True)
class MissingShare:
    """A node that gave no usable result share: ``why`` is one line; ``bad`` when the node answered
    with something that is not a result share (it is then named), not when it is merely
    unreachable or has no result."""

    node: int
    why: str
    bad: bool = False


def fetch_result_shares(manifest: Manifest, credential: str) -> list[ResultShare | MissingShare]:
    """Every node's sealed result share, in node order (the nodes are asked at once); a node that
    gives none is a :class:`MissingShare`, which :func:`build_report` may treat as an erasure."""
    with NodeClients(manifest, credential) as nodes:
        return each_node(manifest, lambda j: _result_share(nodes, j))


def _result_share(nodes: NodeClients, j: int) -> ResultShare | MissingShare:
    manifest = nodes.manifest
    try:
        r = nodes.request(j, "GET", "result")
    except SurveyError as exc:
        return MissingShare(j, str(exc))
    if r.status_code != 200:
        return MissingShare(j, f"node {j} ({manifest.nodes[j].name}) has no result for you: {error_detail(r)}")
    try:
        return ResultShare.parse(r.json())
    except (ValueError, SurveyError):
        return MissingShare(j, f"node {j} ({manifest.nodes[j].name}) sent a malformed result share", bad=True)


@dataclass
class _Erasures:
    """Result shares left out of the reconstruction, in the order they were found: per node, the
    error that would stop the release if the decoding budget did not allow leaving it out, and
    whether the node is to be named (it sent a bad share rather than none)."""

    errors: dict[int, SurveyError] = field(default_factory=dict)
    named: set[int] = field(default_factory=set)

    def add(self, node: int, error: SurveyError, named: bool) -> None:
        self.errors.setdefault(node, error)
        if named:
            self.named.add(node)

    def check_budget(self, n: int, t: int, disputes: int = 0) -> None:
        """Leave the erased shares out only if 2s + e <= n - t - 1 can still hold for s = 0 and at
        least one check is left (n - e >= t + 2); else raise the first error found.  When the
        nodes report ``disputes`` >= t pairs left out after a dispute (each holding a node that
        deviated), every faulty node is among them: the t + 1 shares present need no check."""
        e = len(self.errors)
        if e and (e > n - t - 1 or n - e < (t + 1 if disputes >= t else t + 2)):
            raise next(iter(self.errors.values()))


def _metadata(rs: ResultShare) -> tuple[int, int, str, str, int]:
    return rs.accepted, rs.rejected, rs.agreed_digest, rs.run_id, rs.set_aside


def _check_metadata(manifest: Manifest, shares: dict[int, ResultShare], erased: _Erasures) -> None:
    """Shares for another node or survey, and shares whose counts, digest, run or set-aside count
    disagree with a majority of the others, are erased (and their nodes named)."""
    for j, rs in shares.items():
        if rs.node_index != j or rs.survey_id != manifest.survey_id or rs.manifest_hash != manifest.hash_hex():
            erased.add(j, InconsistentShares(f"node {j} sent a result share for another node or survey"), True)
    present = [j for j in shares if j not in erased.errors]
    meta = [_metadata(shares[j]) for j in present]
    if len(set(meta)) <= 1:
        return
    odd = tuple(present[k] for k in majority_outliers(meta))
    if not odd or len(odd) > manifest.threshold:
        raise InconsistentShares("the nodes disagree on the counted submission set or the MPC run")
    exc = CheatingDetected(f"node(s) {', '.join(map(str, odd))} disagree with the others on the counted "
                           "submission set or the MPC run; nothing is released", culprits=odd)
    for j in odd:
        erased.add(j, exc, True)


def _open_shares(manifest: Manifest, analyst_key: X25519PrivateKey, shares: dict[int, ResultShare],
                 erased: _Erasures) -> dict[int, list[int]]:
    """The opened result shares that are not erased; a share that does not open is erased."""
    opened = {}
    for j, rs in shares.items():
        if j in erased.errors:
            continue
        try:
            opened[j] = open_result(b64d(rs.sealed_result, "result"), analyst_key, manifest.hash(), j,
                                    manifest.field_modulus)
        except DecryptionFailed as exc:
            erased.add(j, exc, True)
    if len({len(v) for v in opened.values()}) > 1:  # a share of another length: not one of this release's
        lengths = Counter(len(v) for v in opened.values())
        usual = lengths.most_common(1)[0][0]
        for j in [j for j, v in opened.items() if len(v) != usual]:
            erased.add(j, InconsistentShares("result shares have different lengths"), True)
            del opened[j]
    return opened


def build_report(manifest: Manifest, analyst_key: X25519PrivateKey,
                 shares: Sequence[ResultShare | MissingShare]) -> Release:
    """Open, cross-check and reconstruct the result shares into the released table.

    Every share is one of n points: a missing one, one that does not open, is for another node or
    survey, or whose metadata disagrees with a majority is an erasure (e); one that opens off the
    polynomial is an error (s).  The release goes ahead when 2s + e <= n - t - 1 with a check
    left, naming every node whose share was bad; otherwise the first problem is raised."""
    p, t, n = manifest.field_modulus, manifest.threshold, manifest.n
    erased = _Erasures()
    present: dict[int, ResultShare] = {}
    for j, item in enumerate(shares):  # in node order: slot j holds what node j answered
        if isinstance(item, MissingShare):
            erased.add(j, SurveyError(item.why), item.bad)
        else:
            present[j] = item
    disputes = _voted_pairs(manifest, [present[j].disputes for j in present])
    erased.check_budget(n, t, len(disputes))
    _check_metadata(manifest, present, erased)
    erased.check_budget(n, t, len(disputes))
    heads = _check_audit_heads(manifest, present, erased)
    erased.check_budget(n, t, len(disputes))
    opened = _open_shares(manifest, analyst_key, present, erased)
    erased.check_budget(n, t, len(disputes))
    values, culprits = robust_reconstruct(opened, t, p)
    accepted, rejected, _, _, set_aside = _metadata(present[next(iter(opened))])
    warnings = []
    if set_aside:
        warnings.append(set_aside_warning(set_aside, manifest))
    for j, exc in erased.errors.items():
        warnings.append(f"node {j}'s result share was left out ({exc}); the result was reconstructed from the other "
                        f"{len(opened)} shares, which agree")
    if culprits:
        warnings.append("node(s) " + ", ".join(map(str, culprits)) + " sent a result share inconsistent with the "
                        "others; corrected by error-correcting reconstruction (n >= 3t+1)")
    caught = _voted(manifest, [present[j].caught for j in opened])
    left_out = _voted(manifest, [present[j].left_out for j in opened])
    if left_out:
        warnings.append("node(s) " + ", ".join(map(str, left_out)) + " were lost (down, crashed or silent past the "
                        "stall timeout) and left out of the computation by the other nodes")
    for a, b in disputes:
        warnings.append(f"nodes {a} and {b} were left out of the computation after a dispute: one accused the other "
                        "and at least one of the two deviated (the other nodes could not tell which)")
    if caught:
        warnings.append("node(s) " + ", ".join(map(str, caught)) + " were caught by the other nodes deviating "
                        "during the computation; their wrong shares were corrected or they were left out of the run")
    release = tabulate(manifest, [signed(v, p) for v in values], accepted, rejected, warnings,
                       cheating_nodes=sorted(set(culprits) | set(caught) | erased.named), set_aside=set_aside)
    return replace(release, audit_heads=tuple(heads[j] for j in sorted(heads) if j in opened),
                   left_out_nodes=tuple(left_out))


def _check_audit_heads(manifest: Manifest, shares: dict[int, ResultShare], erased: _Erasures) -> dict[int, AuditHead]:
    """Each share's signed audit-log head, checked against its node's certificate: a head that
    does not verify makes the share a bad one (erased, node named)."""
    heads = {}
    for j, rs in shares.items():
        if j in erased.errors or rs.anchor is None:
            continue
        try:
            if rs.anchor.node_index != j:
                raise SurveyError(f"node {j} sent another node's audit head")
            verify_audit_anchor(manifest, rs.anchor)
        except SurveyError as exc:
            erased.add(j, exc, True)
            continue
        heads[j] = AuditHead(node=j, seq=rs.anchor.seq, head=rs.anchor.head)
    return heads


def _voted(manifest: Manifest, said: Sequence[Sequence[int]]) -> list[int]:
    """Nodes the other nodes report (caught deviating, or left out): believed when at least t+1
    nodes report it (so at least one honest node saw it; t liars cannot frame anyone)."""
    reports: dict[int, int] = {}
    for nodes in said:
        for node in set(nodes):
            if 0 <= node < manifest.n:
                reports[node] = reports.get(node, 0) + 1
    return sorted(node for node, votes in reports.items() if votes >= manifest.threshold + 1)


def _voted_pairs(manifest: Manifest, said: Sequence[Sequence[Sequence[int]]]) -> list[tuple[int, int]]:
    """Pairs left out after a dispute that at least t+1 nodes report (as :func:`_voted`)."""
    reports: Counter[tuple[int, int]] = Counter()
    for pairs in said:
        reports.update({(min(p), max(p)) for p in pairs if len(p) == 2 and all(0 <= j < manifest.n for j in p)})
    return sorted(pair for pair, votes in reports.items() if votes >= manifest.threshold + 1)


def set_aside_warning(set_aside: int, manifest: Manifest) -> str:
    """The warning a release with set-aside submissions carries first."""
    return (f"{set_aside} submission(s) were set aside and are not counted: their validation shares were off the "
            "polynomial, so either their contributors sent inconsistent shares or a node lied; with "
            f"{manifest.n} nodes (n < 3t+1 = {3 * manifest.threshold + 1}) the culprit cannot be told"
            if manifest.n < 3 * manifest.threshold + 1 else
            f"{set_aside} submission(s) were set aside and are not counted: their validation shares were off the "
            "polynomial and the odd share could not be located")


DP_WARNING = ("differential privacy: every figure carries noise (standard deviations above); medians and quartile "
              "shares come from noisy band counts and can be off by more than the ± banding error shown, most for "
              "small groups and many bands; standard deviations use the noisy sum of squares")


def tabulate(manifest: Manifest, values: Sequence[int], accepted: int, rejected: int, warnings: Sequence[str] = (),
             cheating_nodes: Sequence[int] = (), set_aside: int = 0) -> Release:
    """The release from the reconstructed release vector (signed integers, protocol.disclosure).

    Raises :class:`InconsistentShares` when the vector breaks the disclosure rule recomputed from
    its own counts (see :func:`_open_release`)."""
    sc = manifest.scheme()
    opened = _open_release(manifest, values, accepted)
    notes = [*warnings, *opened.warnings]
    budget = _budget(manifest)
    if budget is not None:
        notes.append(DP_WARNING)
    pl, split = opened.plan, opened.split
    # quartile pay bands rank by the hourly pay level when the survey collects hours
    rank = ValueKind.HOURLY if sc.hourly is not None else ValueKind.LEVEL
    figurer = _Figurer(sc, budget, manifest.n, [f for f, keep in zip(split.genders[rank], pl.genders) if keep],
                       sc.value(rank).banding)  # type: ignore[union-attr]  # the level is always present
    overall = _scope(figurer, sc, {k: v for k, v in split.genders.items()}, pl.genders, pl.variable_genders, rank)
    categories = []
    for j, job in enumerate(sc.jobs):
        idx = [sc.cell(g, j) for g in range(sc.G)]
        cells = {k: [v[c] for c in idx] for k, v in split.cells.items()}
        groups = _scope(figurer, sc, cells, [pl.cells[c] for c in idx],
                        [pl.variable_cells[c] for c in idx] if pl.variable_cells else [], rank)
        categories.append(CategoryFigures(category=job, groups=groups, pay_gap_percent=_gaps(groups, _mean),
                                          median_pay_gap_percent=_gaps(groups, _median),
                                          component_gaps=component_gaps(groups) if sc.complete else None))
    if pl.secondary:
        notes.append("suppressed to protect smaller groups (their figures could otherwise be derived): "
                     + ", ".join(f"{sc.jobs[c % sc.J]}/{sc.genders[c // sc.J]}" for c in pl.secondary))
    return Release(
        survey_id=manifest.survey_id, title=manifest.title, model=ThreatModel(manifest.model),
        submissions=Submissions(accepted=accepted, rejected=rejected, set_aside=set_aside),
        all_employees=GenderBreakdown(groups=overall, pay_gap_percent=_gaps(overall, _mean),
                                      median_pay_gap_percent=_gaps(overall, _median),
                                      component_gaps=component_gaps(overall) if sc.complete else None),
        quartiles=figurer.quartiles(), categories=tuple(categories),
        bands=Bands(edges=tuple(sc.edges), salary_max=sc.salary_max),
        differential_privacy=None if budget is None else _differential_privacy(manifest, budget),
        min_group_size=manifest.min_group_size, salary_unit=manifest.salary_unit, warnings=tuple(notes),
        cheating_nodes=tuple(cheating_nodes),
        labels=Labels(genders=dict(manifest.gender_labels), categories=dict(manifest.job_labels)),
        art10_flags=art10_flags(categories) if sc.complete else None, filing=_filing(manifest))


def _filing(manifest: Manifest) -> Filing:
    """The release's filing details: the manifest's organisation and period, today's date, the
    manifest hash, the legal basis of every table and the method notes (English)."""
    return Filing(organisation=manifest.organisation, reporting_period=manifest.reporting_period,
                  released_on=release_date(), manifest_hash=manifest.hash_hex(),
                  legal_basis=legal_basis(manifest.scheme().complete),
                  method_notes=method_notes(model=manifest.model, k=manifest.min_group_size,
                                            banded=len(manifest.scheme().edges) > 1, dp_epsilon=manifest.dp_epsilon))


def _scope(figurer: _Figurer, sc: Scheme, figs: dict[ValueKind, list[Figures]], released: Sequence[bool],
           variable_released: Sequence[bool], rank: ValueKind) -> tuple[GroupFigures, ...]:
    """One scope's groups (all employees, or one job category): the pay level's figures as for a
    one-figure survey, quartile shares by the ``rank`` value, and a complete survey's components."""
    groups = figurer.groups(sc.genders, figs[ValueKind.LEVEL], released, figs[rank])
    if not sc.complete:
        return groups
    out = []
    for g, group in enumerate(groups):
        if group.suppressed:
            out.append(group)
            continue
        comps, share = component_figures(sc, {k: v[g] for k, v in figs.items()},
                                         bool(variable_released) and variable_released[g])
        out.append(dataclasses.replace(group, components=comps, variable_recipients_share=share))
    return tuple(out)


@dataclass(frozen=True)
class _Opened:
    """A reconstructed release vector split into its figures, with the plan its counts give."""

    split: Split
    plan: Plan
    warnings: list[str]


def _open_release(manifest: Manifest, values: Sequence[int], accepted: int) -> _Opened:
    """Split the release vector and check it against the disclosure rule recomputed from its
    counts: a figure of a suppressed group that is not zero means a node did not apply the rule.
    Without noise, counts must also lie in [0, accepted]; counts that do not add up to
    ``accepted`` give a warning."""
    sc = manifest.scheme()
    layout = ReleaseLayout(sc)
    try:
        split = layout.split_values(values)
    except ValueError as exc:
        raise InconsistentShares(str(exc)) from None
    cell_counts = split.cell_counts
    noisy = bool(manifest.dp_epsilon)
    pl = layout.plan_of(values[: layout.n_counts], manifest.min_group_size, noisy)
    if any(v != 0 for v, keep in zip(values, layout.released_mask(pl)) if not keep):
        raise InconsistentShares("a suppressed group came with a salary figure; the nodes did not apply the "
                                 "disclosure rule")
    warnings = []
    if not noisy:
        if any(c < 0 or c > accepted for c in cell_counts):
            raise InconsistentShares("a reconstructed count exceeds the number of submissions")
        if any(not 0 <= f.recipients <= f.count for figs in split.cells.values() for f in figs):
            raise InconsistentShares("a reconstructed count of variable-pay recipients exceeds its group's count")
        if sum(cell_counts) != accepted:
            warnings.append(f"group counts add up to {sum(cell_counts)}, not to the {accepted} accepted submissions")
    return _Opened(split, pl, warnings)


def _budget(manifest: Manifest) -> Budget | None:
    """The survey's differential-privacy budget, None without differential privacy."""
    if not manifest.dp_epsilon:
        return None
    return ReleaseLayout(manifest.scheme()).budget(parse_epsilon(manifest.dp_epsilon))


def _differential_privacy(manifest: Manifest, budget: Budget) -> DifferentialPrivacy:
    return DifferentialPrivacy(epsilon=manifest.dp_epsilon, description=budget.describe(),
                               noise_sd={kind: budget.total_sd(kind, manifest.n) for kind in KINDS})


class _Figurer:
    """Per-group figures of one release.

    Band histograms are read as released, or under differential privacy projected onto the
    histograms with non-negative counts adding up to the group's (noisy) count (post-processing,
    no privacy cost).  Quarters are cut by rank over the employees of the released genders only
    (``shown``), so that a suppressed gender cannot be recovered as "everyone minus the others"."""

    def __init__(self, sc: Scheme, budget: Budget | None, n_nodes: int, shown: Sequence[Figures],
                 ranking: Banding) -> None:
        """``shown`` and ``ranking``: the released genders' figures and the bands of the value
        quarters are cut by (the pay level, or the hourly pay level)."""
        self.sc, self.budget, self.n_nodes, self.ranking = sc, budget, n_nodes, ranking
        self.banded = sc.B > 1
        self._hists: dict[Figures, tuple[float, ...]] = {}
        self.total_bands = [sum(col) for col in zip(*map(self.hist, shown))] if shown else [0.0] * ranking.B
        self.fractions = quarter_fractions(self.total_bands) if ranking.B > 1 else None

    def hist(self, f: Figures) -> tuple[float, ...]:
        if f not in self._hists:
            self._hists[f] = tuple(project_histogram(f.bands, f.count) if self.budget is not None
                                   else map(float, f.bands))
        return self._hists[f]

    def groups(self, genders: Sequence[str], figures: Sequence[Figures], released: Sequence[bool],
               ranked: Sequence[Figures]) -> tuple[GroupFigures, ...]:
        """One scope's groups; quartile shares (from ``ranked``, the figures of the value quarters
        are cut by) are shares among the released groups of the scope."""
        peers = [f for f, keep in zip(ranked, released) if keep]
        return tuple(self.group(name, f, keep, peers, r) for name, f, keep, r in zip(genders, figures, released, ranked))

    def group(self, gender: str, f: Figures, released: bool, peers: Sequence[Figures], ranked: Figures) -> GroupFigures:
        if not released:
            return GroupFigures(gender=gender, count=f.count, suppressed=True)
        avg = mean(f.total, f.count)
        med = banded_median(self.hist(f), self.sc.edges, self.sc.salary_max) if self.banded else None
        return GroupFigures(gender=gender, count=f.count, suppressed=False, mean=avg,
                            median=None if med is None else round(med[0], 2),
                            median_max_error=None if med is None else float(med[1]),
                            stdev=stdev(f.total, f.squares, f.count), quartile_shares=self._shares(ranked, peers),
                            dp_sd=self._noise(f, avg))

    def _shares(self, f: Figures, peers: Sequence[Figures]) -> tuple[float, ...] | None:
        """The group's share of each quarter's employees among ``peers``."""
        if self.fractions is None:
            return None
        mine, everyone = quarter_counts(self.hist(f), self.fractions), [0.0] * 4
        for other in peers:
            everyone = [a + b for a, b in zip(everyone, quarter_counts(self.hist(other), self.fractions))]
        return tuple(round(m / e, 4) if e > 0 else 0.0 for m, e in zip(mine, everyone))

    def _noise(self, f: Figures, avg: float | None) -> GroupNoise | None:
        """Noise on the count and the mean (the mean's by error propagation of sum / count)."""
        if self.budget is None or f.count <= 0 or avg is None:
            return None
        c_sd, s_sd = self.budget.total_sd("count", self.n_nodes), self.budget.total_sd("sum", self.n_nodes)
        return GroupNoise(count=round(c_sd, 2), mean=round(math.hypot(s_sd, avg * c_sd) / f.count, 2))

    def quartiles(self) -> Quartiles:
        population = sum(self.total_bands)
        if self.fractions is None:
            return Quartiles(thresholds=None, population=population,
                             note="not available: the survey declares no salary bands")
        hourly = self.ranking is self.sc.hourly
        th = quartile_boundaries(self.total_bands, self.ranking.edges, self.ranking.top)
        by = "hourly pay level (per hour)" if hourly else "salary"
        return Quartiles(
            thresholds=None if th is None else tuple(x / HOURLY_UNIT if hourly else x for x in th), population=population,
            note=(f"quarters of equal size by {by} rank over the employees of the released genders "
                  f"({population}); employees of a band that a cut goes through are shared between the two "
                  "quarters in proportion, so shares are exact only where bands are one salary value wide"))


def _mean(g: GroupFigures) -> float | None:
    return g.mean


def _median(g: GroupFigures) -> float | None:
    return g.median


def _gaps(groups: Sequence[GroupFigures], figure: Callable[[GroupFigures], float | None]) -> dict[str, float | None]:
    """Every non-reference gender's gap in ``figure`` against the reference's, in percent."""
    ref = next((g for g in groups if g.gender == REFERENCE_GENDER), None)
    return {g.gender: gap_percent(figure(ref) if ref else None, figure(g))
            for g in groups if g.gender != REFERENCE_GENDER}
