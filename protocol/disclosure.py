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

No figure over all genders is released by the nodes: the analyst forms "all employees" figures
(the quartile boundaries) from released gender totals only, so a suppressed gender cannot be
recovered as a difference either.  Counts are public (the nodes need them for the rule);
suppression is about salary figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .encoding import Scheme

#: the four kinds of released figure (differential privacy calibrates noise per kind)
KINDS = ("count", "sum", "sum_of_squares", "band_counts")


@dataclass(frozen=True)
class Plan:
    """Which salary figures are released: per cell (K, gender-major) and per gender (G)."""

    cells: tuple[bool, ...]
    genders: tuple[bool, ...]
    secondary: tuple[int, ...]  # cells suppressed only to protect other cells


def plan(cell_counts: Sequence[int], gender_counts: Sequence[int], sc: Scheme, k: int, noisy: bool = False) -> Plan:
    """Apply the disclosure rule (module docstring) to the opened counts.  Deterministic, so every
    node and the analyst compute the same plan.  With differential privacy the counts are noisy
    (possibly negative, ``noisy=True``); a suppressed cell is then protected even if its count
    says 0."""
    G, J = sc.G, sc.J
    if len(cell_counts) != G * J or len(gender_counts) != G:
        raise ValueError("counts do not match the survey's cells")
    genders = [gender_counts[g] >= k for g in range(G)]
    cells = [genders[c // J] and cell_counts[c] >= k for c in range(G * J)]
    secondary: list[int] = []
    if sc.jobs:
        for g in range(G):
            if not genders[g]:
                continue
            row = [sc.cell(g, j) for j in range(J)]
            while True:
                hidden = [c for c in row if not cells[c] and (noisy or cell_counts[c] != 0)]
                shown = [c for c in row if cells[c]]
                if not hidden or not shown or (len(hidden) >= 2 and sum(cell_counts[c] for c in hidden) >= k):
                    break
                victim = min(shown, key=lambda c: (cell_counts[c], c))
                cells[victim] = False
                secondary.append(victim)
    else:
        cells = list(genders)
    return Plan(tuple(cells), tuple(genders), tuple(secondary))


@dataclass(frozen=True)
class ReleaseLayout:
    """Offsets of the release vector (module docstring) for one scheme."""

    scheme: Scheme

    @property
    def has_genders(self) -> bool:
        """Separate gender totals exist only when the survey has job categories."""
        return bool(self.scheme.jobs)

    @property
    def n_counts(self) -> int:
        return self.scheme.K + (self.scheme.G if self.has_genders else 0)

    def _group_sizes(self) -> list[int]:
        return [self.scheme.K] + ([self.scheme.G] if self.has_genders else [])

    @property
    def length(self) -> int:
        B = self.scheme.B
        return self.n_counts + sum(n * (2 + B) for n in self._group_sizes())

    def kinds(self) -> list[str]:
        """The kind of every entry, in order (for noise calibration)."""
        out = ["count"] * self.n_counts
        for n in self._group_sizes():
            out += ["sum"] * n + ["sum_of_squares"] * n + ["band_counts"] * (n * self.scheme.B)
        return out

    def build(self, totals: Sequence[int], p: int) -> list[int]:
        """The release vector from the summed aggregate columns (shares or values, mod p)."""
        sc = self.scheme
        K, G, J, B = sc.K, sc.G, sc.J, sc.B
        if len(totals) != sc.aggregate_width:
            raise ValueError("totals have the wrong length for this scheme")
        hist = [list(totals[c * B: (c + 1) * B]) for c in range(K)]
        sums, sqs = list(totals[sc.prod_at: sc.prod_at + K]), list(totals[sc.sq_at: sc.sq_at + K])
        counts = [sum(h) % p for h in hist]
        blocks = [(sums, sqs, hist)]
        if self.has_genders:
            def over(g: int, vals: Sequence[int]) -> int:
                return sum(vals[sc.cell(g, j)] for j in range(J)) % p
            g_hist = [[sum(hist[sc.cell(g, j)][b] for j in range(J)) % p for b in range(B)] for g in range(G)]
            counts += [over(g, counts) for g in range(G)]
            blocks.append(([over(g, sums) for g in range(G)], [over(g, sqs) for g in range(G)], g_hist))
        out = list(counts)
        for s, q, h in blocks:
            out += [v % p for v in s] + [v % p for v in q] + [v % p for row in h for v in row]
        return out

    def released_mask(self, pl: Plan) -> list[bool]:
        """Which entries are released under a plan (counts always are)."""
        B = self.scheme.B
        mask = [True] * self.n_counts
        for flags in [pl.cells] + ([pl.genders] if self.has_genders else []):
            mask += list(flags) + list(flags) + [f for f in flags for _ in range(B)]
        return mask

    def split(self, values: Sequence[int]) -> tuple[list[int], list[int], list[Figures], list[Figures]]:
        """Reconstructed (signed) values -> cell counts, gender counts, per-cell and per-gender
        figures.  Without job categories the gender figures are the cells'."""
        sc = self.scheme
        if len(values) != self.length:
            raise ValueError(f"result has {len(values)} entries, expected {self.length}")
        K, B = sc.K, sc.B
        cell_counts = list(values[:K])
        gender_counts = list(values[K: self.n_counts]) if self.has_genders else list(cell_counts)
        at = self.n_counts
        groups: list[list[Figures]] = []
        for n, counts in zip(self._group_sizes(), (cell_counts, gender_counts)):
            sums, sqs = values[at: at + n], values[at + n: at + 2 * n]
            hist = values[at + 2 * n: at + 2 * n + n * B]
            groups.append([Figures(counts[i], sums[i], sqs[i], tuple(hist[i * B: (i + 1) * B])) for i in range(n)])
            at += n * (2 + B)
        cells = groups[0]
        genders = groups[1] if self.has_genders else list(cells)
        return cell_counts, gender_counts, cells, genders


@dataclass(frozen=True)
class Figures:
    """One group's released sums (signed integers; noisy under differential privacy)."""

    count: int
    total: int
    squares: int
    bands: tuple[int, ...]
