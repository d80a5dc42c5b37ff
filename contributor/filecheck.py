"""The summary ``salary-submit --csv FILE --check`` prints: how the file was read, its columns,
rows per gender and job category (the organiser's labels), the range of every amount as
written, and how many rows have problems (listed separately, one line each)."""

from __future__ import annotations

from fractions import Fraction

from protocol.manifest import Manifest

from .hrfile import Field, FileCheck


def _amount(x: Fraction) -> str:
    whole = f"{int(x):,}"
    return whole if x.denominator == 1 else f"{float(x):,.2f}"


def _counts(check: FileCheck, manifest: Manifest) -> list[str]:
    genders, jobs = manifest.gender_choices(), manifest.job_choices()
    heads = [genders.label(g) for g in manifest.categories]
    width = max([8] + [len(h) + 2 for h in heads])
    first = max([12] + [len(jobs.label(j)) + 2 for j in manifest.job_categories])
    rows = [(jobs.label(j), j) for j in manifest.job_categories] if manifest.job_categories else [("rows", "")]
    out = [f"{'':<{first}}" + "".join(f"{h:>{width}}" for h in heads) + f"{'total':>{width}}"]
    for label, j in rows:
        cells = [check.counts[(g, j)] for g in manifest.categories]
        out.append(f"{label:<{first}}" + "".join(f"{c:>{width},}" for c in cells) + f"{sum(cells):>{width},}")
    if manifest.job_categories:
        totals = [sum(check.counts[(g, j)] for j in manifest.job_categories) for g in manifest.categories]
        out.append(f"{'total':<{first}}" + "".join(f"{c:>{width},}" for c in totals) + f"{sum(totals):>{width},}")
    return ["  " + line for line in out]


def print_check(check: FileCheck, manifest: Manifest) -> str:
    """The summary of a checked file (see the module docstring)."""
    table, cols = check.table, check.columns
    total = len(check.rows) + len(check.problems)
    lines = [f"{table.path}: {table.described}; {total:,} data row(s): {len(check.rows):,} valid, "
             f"{len(check.problems):,} with problems",
             "columns: " + ", ".join(f"{f.value} = {h}" for f, h in cols.header.items())
             + (f"; amounts read with a decimal {'comma' if check.amounts.decimal.value == ',' else 'point'}"
                if check.amounts.decimal is not None else "")]
    lines.append("valid rows per job category and gender:" if manifest.job_categories else "valid rows per gender:")
    lines += _counts(check, manifest)
    complete = manifest.scheme().complete
    for f in (Field.PAY, Field.VARIABLE, Field.HOURS):
        if f in check.ranges:
            lo, hi = check.ranges[f]
            unit = f" ({manifest.salary_unit})" if f is not Field.HOURS and (complete or Field.HOURS not in check.ranges) \
                else ""
            lines.append(f"{f.value}{unit}: min {_amount(lo)}, max {_amount(hi)}")
    if Field.HOURS in check.ranges and not complete:
        lines.append(f"submitted: pay / hours, in {manifest.salary_unit}")
    if check.rounded:
        lines.append(f"{check.rounded:,} amount(s) with a decimal part, rounded half to even to whole units")
    return "\n".join(lines)
