"""The plaintext baseline: the same statistic computed in the clear with numpy, and the synthetic
records every baseline of the benchmark uses.

A record is ``(g, s)``: a gender code ``g`` (valid: ``0 <= g < categories``, here 3) and a salary
``s`` (valid: ``0 <= s <= salary_max``).  The statistic: per category, the number of valid
records, the sum of their salaries and the mean; invalid records are left out entirely.
"""

from __future__ import annotations

import resource
import statistics
import time
from typing import Any

import numpy as np

__all__ = ["CATEGORIES", "group_means", "run_plaintext", "synthetic_records"]

CATEGORIES = 3
"""Number of gender categories in the synthetic records (codes 0, 1, 2)."""


def synthetic_records(n: int, seed: int, salary_max: int,
                      bad_every: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """``n`` deterministic pseudo-random records as two int64 arrays ``(genders, salaries)``.

    Valid records have ``genders`` uniform in ``{0, 1, 2}`` and ``salaries`` uniform in
    ``[0, salary_max]``.  If ``bad_every > 0``, the records at indices ``0, bad_every,
    2*bad_every, ...`` are made invalid, cycling through four kinds so that every validity
    comparison matters: salary above ``salary_max`` (by 1 to ``salary_max``), gender code 3,
    negative salary (-1 to ``-salary_max``), gender code -1.  So ``ceil(n / bad_every)`` records
    are invalid.  The same ``(n, seed, salary_max, bad_every)`` always gives the same records;
    every value has absolute value at most ``2 * salary_max``.
    """
    if n < 0 or salary_max < 1 or bad_every < 0:
        raise ValueError(f"need n >= 0, salary_max >= 1, bad_every >= 0; got {n}, {salary_max}, {bad_every}")
    rng = np.random.default_rng(seed)
    genders = rng.integers(0, CATEGORIES, n, dtype=np.int64)
    salaries = rng.integers(0, salary_max + 1, n, dtype=np.int64)
    if bad_every:
        idx = np.arange(0, n, bad_every)
        kind = np.arange(idx.size) % 4
        off = rng.integers(1, salary_max + 1, idx.size, dtype=np.int64)
        salaries[idx[kind == 0]] = salary_max + off[kind == 0]
        genders[idx[kind == 1]] = CATEGORIES
        salaries[idx[kind == 2]] = -off[kind == 2]
        genders[idx[kind == 3]] = -1
    return genders, salaries


def group_means(genders: np.ndarray, salaries: np.ndarray, categories: int, salary_max: int) -> dict[str, Any]:
    """Per-category count, salary sum and mean of the valid records, with numpy only.

    A record is valid iff ``0 <= g < categories`` and ``0 <= s <= salary_max``.  Returns
    ``{"counts": [int] * categories, "sums": [int] * categories, "means": [float | None] *
    categories (None for an empty category), "valid": int, "invalid": int}``.  Counts and sums
    are exact integers (the sums use float64 ``np.bincount`` weights when the total is below
    2**53, where float64 is exact, and int64 ``np.add.at`` otherwise).
    """
    g = np.asarray(genders, dtype=np.int64)
    s = np.asarray(salaries, dtype=np.int64)
    if g.shape != s.shape or g.ndim != 1:
        raise ValueError(f"genders and salaries must be 1-d of equal length, got {g.shape} and {s.shape}")
    valid = (g >= 0) & (g < categories) & (s >= 0) & (s <= salary_max)
    gv, sv = g[valid], s[valid]
    counts = np.bincount(gv, minlength=categories)
    if int(gv.size) * salary_max < 2**53:
        sums = [int(round(x)) for x in np.bincount(gv, weights=sv, minlength=categories)]
    else:
        acc = np.zeros(categories, dtype=np.int64)
        np.add.at(acc, gv, sv)
        sums = [int(x) for x in acc]
    cnts = [int(c) for c in counts]
    means = [sums[c] / cnts[c] if cnts[c] else None for c in range(categories)]
    nvalid = int(np.count_nonzero(valid))
    return {"counts": cnts, "sums": sums, "means": means, "valid": nvalid, "invalid": int(g.size) - nvalid}


def run_plaintext(n: int, seed: int = 1, repeat: int = 5, salary_max: int = 1_000_000) -> dict[str, Any]:
    """Time :func:`group_means` on ``synthetic_records(n, seed, salary_max)`` (1% invalid).

    The records are generated once, untimed; ``group_means`` then runs ``repeat`` times.  Returns
    ``{"kind": "plaintext", "submissions": n, "repeat": repeat, "wall_s": median wall seconds
    (time.perf_counter), "cpu_s": median CPU seconds of this process (time.process_time),
    "peak_rss_mb": peak RSS of this whole process so far in MiB (it includes whatever the caller
    allocated before), "counts", "sums", "means", "invalid"}`` (the last four from the final run).
    """
    if repeat < 1:
        raise ValueError(f"repeat must be >= 1, got {repeat}")
    genders, salaries = synthetic_records(n, seed, salary_max)
    walls: list[float] = []
    cpus: list[float] = []
    res: dict[str, Any] = {}
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        res = group_means(genders, salaries, CATEGORIES, salary_max)
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"kind": "plaintext", "submissions": n, "repeat": repeat,
            "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "peak_rss_mb": peak,
            "counts": res["counts"], "sums": res["sums"], "means": res["means"], "invalid": res["invalid"]}
