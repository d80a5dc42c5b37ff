"""One party of the naive MPC baseline: a straightforward MPyC program, one process per party.

    python -m benchmarks.naive_party -M3 -I <i> -P 127.0.0.1:<p0> -P 127.0.0.1:<p1> -P 127.0.0.1:<p2> \\
        --naive-count N --naive-salary-max M [--naive-records recs.npy --naive-result out.json]

(the ``-M/-I/-P`` options are MPyC's; party 0 also gets the two paths).  This is the baseline of
"what a plain MPyC program does": party 0 secret-shares all records as ``secint`` inputs, then a
Python loop goes over the records one by one and, for each, validates it with four secure
comparisons, tests its category with secure equality tests and accumulates count and salary sum
per category with ``mpc.if_else``; finally the 3 counts and 3 sums are opened to every party.
Nothing is vectorised; MPyC schedules the per-record work asynchronously as usual.

Input file (party 0): a ``.npy`` int64 array of shape ``(N, 2)``, rows ``(gender, salary)``.
Output file (party 0): JSON ``{"counts": [...], "sums": [...], "seconds": {...}}`` where
``seconds`` has ``connect`` (mpc.start), ``input`` (sharing the records), ``compute`` (the loop
and the output), from party 0's point of view.  Other parties only need N.

Security parameters: ``secint`` of :data:`BIT_LENGTH` bits (default statistical security
parameter of MPyC, threshold ``t = (m-1)//2``, so 1 of 3: semi-honest).  Our own options are all
long ``--naive-*`` ones, which MPyC's own argument parser ignores (and none is a prefix of one
of MPyC's options, which its abbreviation matching would otherwise pick up).  MPyC is imported
only when the program runs, so :mod:`benchmarks.naive` can import the constants of this module
without MPyC parsing the caller's ``sys.argv`` and configuring its logging.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np

CATEGORIES = 3
BIT_LENGTH = 64
"""Bit length of the secure integers: comparisons are exact for inputs in [-2**63, 2**63), and
the sums (at most N * salary_max) must stay below 2**63, e.g. N <= 10**6 with salary_max <= 10**7
(10**13 < 2**44), far inside."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Our options (``--naive-*``) from ``argv``; MPyC's options are left to MPyC."""
    ap = argparse.ArgumentParser(description="naive MPC baseline party", allow_abbrev=False, add_help=False)
    ap.add_argument("--naive-count", type=int, required=True, help="number of records N (all parties)")
    ap.add_argument("--naive-salary-max", type=int, required=True, help="largest valid salary")
    ap.add_argument("--naive-records", default=None, help="party 0: .npy int64 array (N, 2)")
    ap.add_argument("--naive-result", default=None, help="party 0: where to write the JSON result")
    args, _ = ap.parse_known_args(argv)
    if args.naive_count < 0 or args.naive_salary_max < 1:
        ap.error("need --naive-count >= 0 and --naive-salary-max >= 1")
    if args.naive_count * args.naive_salary_max >= 2 ** (BIT_LENGTH - 1):
        ap.error(f"N * salary_max must be below 2**{BIT_LENGTH - 1} for secint({BIT_LENGTH}) sums")
    return args


def load_records(path: str, n: int) -> np.ndarray:
    """The (n, 2) int64 record array at ``path``; every value must fit the secure integer type."""
    recs = np.load(path, allow_pickle=False)
    if recs.shape != (n, 2):
        raise ValueError(f"{path}: expected shape ({n}, 2), got {recs.shape}")
    if n and int(np.abs(recs).max()) >= 2 ** (BIT_LENGTH - 2):
        raise ValueError(f"{path}: values must have absolute value below 2**{BIT_LENGTH - 2}")
    return recs.astype(np.int64)


async def main(args: argparse.Namespace) -> dict[str, Any] | None:
    """Run the computation; party 0 returns (and writes) the result, the others return None."""
    from mpyc.runtime import mpc  # here, not at module level: importing it parses sys.argv

    secint = mpc.SecInt(BIT_LENGTH)
    n, salary_max = args.naive_count, args.naive_salary_max
    t0 = time.perf_counter()
    await mpc.start()
    t1 = time.perf_counter()

    if mpc.pid == 0:
        if not args.naive_records or not args.naive_result:
            raise SystemExit("party 0 needs --naive-records and --naive-result")
        recs = load_records(args.naive_records, n)
        genders = [secint(int(v)) for v in recs[:, 0]]
        salaries = [secint(int(v)) for v in recs[:, 1]]
    else:
        genders = [secint() for _ in range(n)]  # placeholders: only the type matters here
        salaries = [secint() for _ in range(n)]
    genders = mpc.input(genders, senders=0)
    salaries = mpc.input(salaries, senders=0)
    if n:
        await mpc.gather(genders[-1], salaries[-1])  # the shares have arrived (for the timing only)
    t2 = time.perf_counter()

    counts = [secint(0) for _ in range(CATEGORIES)]
    sums = [secint(0) for _ in range(CATEGORIES)]
    for g, s in zip(genders, salaries):
        valid = (s >= 0) * (s <= salary_max) * (g >= 0) * (g <= CATEGORIES - 1)
        for c in range(CATEGORIES):
            is_c = (g == c) * valid
            counts[c] += mpc.if_else(is_c, 1, 0)
            sums[c] += mpc.if_else(is_c, s, 0)
    out_counts = await mpc.output(counts)
    out_sums = await mpc.output(sums)
    t3 = time.perf_counter()
    await mpc.shutdown()

    if mpc.pid != 0:
        return None
    result = {"counts": [int(v) for v in out_counts], "sums": [int(v) for v in out_sums],
              "seconds": {"connect": t1 - t0, "input": t2 - t1, "compute": t3 - t2}}
    with open(args.naive_result, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return result


if __name__ == "__main__":
    from mpyc.runtime import mpc as _mpc

    _mpc.run(main(parse_args(sys.argv[1:])))
