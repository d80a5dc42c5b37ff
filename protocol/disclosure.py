"""What the nodes release to the analyst, and the disclosure rule that decides it.

The nodes sum the aggregate columns of the valid submissions (:mod:`protocol.encoding`) into,
per cell (gender x job category), the band histogram, the salary sum and the sum of squares.
From those they form the *release vector* (all linear, computed on shares):

    counts     K cell counts, then G gender totals (only when the survey has job categories)
    cells      K sums, K sums of squares, K x B band counts
    genders    G sums, G sums of squares, G x B band counts (only with job categories)

The counts are opened to the nodes (noised first when the survey uses differential privacy) and
decide, through :func:`plan`, which figures are released; every node sends zero for the others.
The rule, k = the manifest's minimum group size:

1. a gender total with fewer than k submissions is suppressed, with all of its cells;
2. a cell with fewer than k submissions is suppressed (primary suppression);
3. complementary disclosure: a released gender total minus its released cells is the union of
   its suppressed cells.  If that union is one cell, or holds fewer than k submissions, the
   released cell of that gender with the fewest submissions is suppressed too, until the union
   is empty or holds at least k submissions in at least two cells (secondary suppression).

A complete survey (several values per record: pay level T, variable pay V, hourly pay Y) releases
every value's sums, sums of squares and histogram per cell and per gender, value after value in
record order, and its counts are followed by the *recipient counts* of variable pay (count minus
V's band 0), per cell and per gender.  T's and Y's figures (everyone) follow the rule above; V's
figures are over the recipients only, so the same rule is applied again to the recipient counts
within the groups whose T figures are released: a V figure needs k recipients, and a gender's
released V total minus its released cells' V figures is empty or holds at least k recipients in
at least two cells (when suppressing more cells cannot achieve that, because the cells left are
suppressed for their pay level already, the gender's V total is suppressed instead).

No figure over all genders is released by the nodes: the analyst forms "all employees" figures
(the quartile boundaries) from released gender totals only, so a suppressed gender cannot be
recovered as a difference either.  Counts are public (the nodes need them for the rule);
suppression is about salary figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .dp import Budget, plan_budget
from .encoding import Scheme, ValueBlock, ValueKind

#: the four kinds of released figure (differential privacy calibrates noise per kind)
KINDS = ("count", "sum", "sum_of_squares", "band_counts")


@dataclass(frozen=True)
class Plan:
    """Which salary figures are released: per cell (K, gender-major) and per gender (G); with
    variable pay, which variable-pay figures (over recipients) too."""

    cells: tuple[bool, ...]
    genders: tuple[bool, ...]
    secondary: tuple[int, ...]  # cells suppressed only to protect other cells
    variable_cells: tuple[bool, ...] = ()
    variable_genders: tuple[bool, ...] = ()


def plan(cell_counts: Sequence[int], gender_counts: Sequence[int], sc: Scheme, k: int, noisy: bool = False) -> Plan:
    """Apply the disclosure rule (module docstring) to the opened counts.  Deterministic, so every
    node and the analyst compute the same plan.  With differential privacy the counts are noisy
    (possibly negative, ``noisy=True``); a suppressed cell is then protected even if its count
    says 0."""
    G, J = sc.G, sc.J
    if len(cell_counts) != G * J or len(gender_counts) != G:
        raise ValueError("counts do not match the survey's cells")
    genders = [gender_counts[g] >= k for g in range(G)]
    cells, secondary = _suppress(cell_counts, genders, sc, k, noisy, [True] * (G * J))
    return Plan(tuple(cells), tuple(genders), tuple(secondary))


def plan_variable(base: Plan, cell_recipients: Sequence[int], gender_recipients: Sequence[int], sc: Scheme, k: int,
                  noisy: bool = False) -> Plan:
    """``base`` with the variable-pay figures decided: the rule again, on the recipient counts,
    within the groups ``base`` releases."""
    genders = [base.genders[g] and gender_recipients[g] >= k for g in range(sc.G)]
    cells, _ = _suppress(cell_recipients, genders, sc, k, noisy, list(base.cells))
    for g in range(sc.G if sc.jobs else 0):
        # cells whose pay level is suppressed cannot be shown to protect the others: when what the
        # gender's total would isolate is still one cell or fewer than k recipients, the total goes
        hidden = [c for c in (sc.cell(g, j) for j in range(sc.J)) if not cells[c] and (noisy or cell_recipients[c])]
        if genders[g] and hidden and (len(hidden) < 2 or sum(cell_recipients[c] for c in hidden) < k):
            genders[g] = False
    return Plan(base.cells, base.genders, base.secondary, tuple(cells), tuple(genders))


def _suppress(counts: Sequence[int], genders: list[bool], sc: Scheme, k: int, noisy: bool, allowed: list[bool]
              ) -> tuple[list[bool], list[int]]:
    """Primary and secondary suppression of the cells (rules 1 to 3) for these counts; a cell
    not ``allowed`` is suppressed from the start."""
    J = sc.J
    cells = [allowed[c] and genders[c // J] and counts[c] >= k for c in range(sc.G * J)]
    secondary: list[int] = []
    if not sc.jobs:
        return [allowed[g] and genders[g] for g in range(sc.G)], secondary
    for g in range(sc.G):
        if not genders[g]:
            continue
        row = [sc.cell(g, j) for j in range(J)]
        while True:
            hidden = [c for c in row if not cells[c] and (noisy or counts[c] != 0)]
            shown = [c for c in row if cells[c]]
            if not hidden or not shown or (len(hidden) >= 2 and sum(counts[c] for c in hidden) >= k):
                break
            victim = min(shown, key=lambda c: (counts[c], c))
            cells[victim] = False
            secondary.append(victim)
    return cells, secondary


@dataclass(frozen=True)
class ReleaseLayout:
    """Offsets of the release vector (module docstring) for one scheme."""

    scheme: Scheme

    @property
    def has_genders(self) -> bool:
        """Separate gender totals exist only when the survey has job categories."""
        return bool(self.scheme.jobs)

    @property
    def has_recipients(self) -> bool:
        """Recipient counts of variable pay follow the counts when the survey collects it."""
        return self.scheme.variable is not None

    @property
    def n_groups(self) -> int:
        """Cells, then genders (when the survey has job categories)."""
        return self.scheme.K + (self.scheme.G if self.has_genders else 0)

    @property
    def n_counts(self) -> int:
        return self.n_groups * (2 if self.has_recipients else 1)

    def _group_sizes(self) -> list[int]:
        return [self.scheme.K] + ([self.scheme.G] if self.has_genders else [])

    @property
    def length(self) -> int:
        per_value = sum(2 + v.B for v in self.scheme.values)
        return self.n_counts + sum(n * per_value for n in self._group_sizes())

    def kinds(self) -> list[str]:
        """The kind of every entry, in order (for noise calibration)."""
        out = ["count"] * self.n_counts
        for n in self._group_sizes():
            for i, v in enumerate(self.scheme.values):
                tag = f":{i}" if i else ""  # a further value's sums: its own sensitivity (protocol.dp)
                out += [f"sum{tag}"] * n + [f"sum_of_squares{tag}"] * n + ["band_counts"] * (n * v.B)
        return out

    def build(self, totals: Sequence[int], p: int) -> list[int]:
        """The release vector from the summed aggregate columns (shares or values, mod p)."""
        sc = self.scheme
        if len(totals) != sc.aggregate_width:
            raise ValueError("totals have the wrong length for this scheme")
        cells = [self._cells_of(totals, v) for v in sc.values]
        counts = [sum(h) % p for h in cells[0][2]]
        recipients = [(n - h[0]) % p for n, h in zip(counts, cells[1][2])] if self.has_recipients else []
        families = [cells]
        if self.has_genders:
            counts += self._over_genders(counts, p)
            recipients += self._over_genders(recipients, p) if self.has_recipients else []
            families.append([(self._over_genders(s, p), self._over_genders(q, p),
                              [list(row) for row in zip(*(self._over_genders(col, p) for col in zip(*h)))])
                             for s, q, h in cells])
        out = counts + recipients
        for fam in families:
            for s, q, h in fam:
                out += [x % p for x in s] + [x % p for x in q] + [x % p for row in h for x in row]
        return out

    def _cells_of(self, totals: Sequence[int], v: ValueBlock) -> tuple[list[int], list[int], list[list[int]]]:
        K, B = self.scheme.K, v.B
        hist = [list(totals[v.hist_at + c * B: v.hist_at + (c + 1) * B]) for c in range(K)]
        return list(totals[v.prod_at: v.prod_at + K]), list(totals[v.sq_at: v.sq_at + K]), hist

    def _over_genders(self, vals: Sequence[int], p: int) -> list[int]:
        """Per gender, the sum of its cells' entries."""
        sc = self.scheme
        return [sum(vals[sc.cell(g, j)] for j in range(sc.J)) % p for g in range(sc.G)]

    def released_mask(self, pl: Plan) -> list[bool]:
        """Which entries are released under a plan (counts always are)."""
        mask = [True] * self.n_counts
        for flags, vflags in [(pl.cells, pl.variable_cells)] + ([(pl.genders, pl.variable_genders)]
                                                                 if self.has_genders else []):
            for v in self.scheme.values:
                f = vflags if v.kind == ValueKind.VARIABLE else flags
                mask += list(f) + list(f) + [x for x in f for _ in range(v.B)]
        return mask

    def budget(self, epsilon: Fraction) -> Budget:
        """The differential-privacy budget over every released figure: one family per group
        level, every value's kinds (each value's sums calibrated to its own bound), recipient
        counts."""
        sc = self.scheme
        return plan_budget(epsilon, sc.salary_max, 2 if self.has_genders else 1,
                           tuple(v.banding.top for v in sc.values[1:]), self.has_recipients)

    def plan_of(self, counts: Sequence[int], k: int, noisy: bool = False) -> Plan:
        """The disclosure plan from the opened (signed) counts: the first :attr:`n_counts`
        entries of a release vector."""
        sc, n = self.scheme, self.n_groups
        cells, genders = counts[: sc.K], counts[sc.K: n] if self.has_genders else counts[: sc.K]
        base = plan(cells, genders, sc, k, noisy)
        if not self.has_recipients:
            return base
        rec = counts[n: 2 * n]
        return plan_variable(base, rec[: sc.K], rec[sc.K:] if self.has_genders else rec[: sc.K], sc, k, noisy)

    def split(self, values: Sequence[int]) -> tuple[list[int], list[int], list[Figures], list[Figures]]:
        """Reconstructed (signed) values -> cell counts, gender counts, per-cell and per-gender
        figures of the pay level (the one-figure survey's salary).  Without job categories the
        gender figures are the cells'."""
        parts = self.split_values(values)
        return parts.cell_counts, parts.gender_counts, parts.cells[ValueKind.LEVEL], parts.genders[ValueKind.LEVEL]

    def split_values(self, values: Sequence[int]) -> Split:
        """Reconstructed (signed) values -> counts, recipient counts and every value's figures
        per cell and per gender (recipient counts are 0 without variable pay)."""
        sc = self.scheme
        if len(values) != self.length:
            raise ValueError(f"result has {len(values)} entries, expected {self.length}")
        K, n = sc.K, self.n_groups
        counts = list(values[:n])
        recipients = list(values[n: 2 * n]) if self.has_recipients else [0] * n
        at = self.n_counts
        fams: list[dict[ValueKind, list[Figures]]] = []
        for size, offset in zip(self._group_sizes(), (0, K)):
            fam = {}
            for v in sc.values:
                B = v.B
                sums, sqs = values[at: at + size], values[at + size: at + 2 * size]
                hist = values[at + 2 * size: at + 2 * size + size * B]
                fam[v.kind] = [Figures(counts[offset + i], sums[i], sqs[i], tuple(hist[i * B: (i + 1) * B]),
                                       recipients[offset + i]) for i in range(size)]
                at += size * (2 + B)
            fams.append(fam)
        cell_counts = counts[:K]
        gender_counts = counts[K:n] if self.has_genders else list(cell_counts)
        return Split(cell_counts, gender_counts, fams[0], fams[1] if self.has_genders else fams[0])


@dataclass(frozen=True)
class Split:
    """A reconstructed release vector: counts per cell and gender, and every value's figures per
    cell and per gender (:class:`Figures`; a gender's are its cells' without job categories)."""

    cell_counts: list[int]
    gender_counts: list[int]
    cells: dict[ValueKind, list[Figures]]
    genders: dict[ValueKind, list[Figures]]


@dataclass(frozen=True)
class Figures:
    """One group's released sums (signed integers; noisy under differential privacy)."""

    count: int
    total: int
    squares: int
    bands: tuple[int, ...]
    recipients: int = 0  # with variable pay: the group's recipients (count minus V's band 0)
