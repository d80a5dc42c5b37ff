"""HR files as real systems export them, written by the tests (no file is shipped), each with the
records it holds computed here, independently of the reader under test.

- :func:`taiwan_csv`: Chinese headers (員工編號, 性別, 月薪, 職類), 男/女/其他, monthly pay in TWD
  written ``NT$1,123,701`` and ``45,000``, several amounts over a million;
- :func:`semicolon_csv`: what Excel writes in most European locales: ``;``-separated, German
  headers, decimal commas and ``.`` grouping (``4.100,50``);
- :func:`xlsx_file`: a spreadsheet written with openpyxl, amounts as numbers (some with cents);
- :func:`encoded_csv`: the same rows as UTF-16, Windows-1252 or UTF-8 with a byte-order mark.

Amounts with cents round half to even to whole units, as the contributor does.
"""

from __future__ import annotations

import csv
import random
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

Row = tuple[str, int, str]  # (gender key, salary in whole units, job key)

GENDER_ZH = {"female": "女", "male": "男", "other": "其他"}
JOBS_ZH = ("工程", "業務", "行政")


def _people(n: int, seed: int, jobs: tuple[str, ...], base: int, spread: float) -> list[tuple[str, Decimal, str]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        g = "other" if k % 40 == 7 else ("female" if k % 2 else "male")
        job = jobs[rng.randrange(len(jobs))]
        cents = rng.randrange(100) if k % 3 == 0 else 0
        whole = int(base * rng.lognormvariate(0, spread) * (1.1 if g == "male" else 1.0))
        out.append((g, Decimal(whole) + Decimal(cents) / 100, job))
    return out


def _units(x: Decimal) -> int:
    return int(x.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def taiwan_csv(path: Path, n: int = 300, seed: int = 1) -> list[Row]:
    """Chinese headers and labels, TWD with NT$ and thousands separators, whole amounts (some over
    a million: the PET guideline's example earns 1,123,701 TWD/month)."""
    people = [(g, Decimal(int(s)), j) for g, s, j in _people(n, seed, JOBS_ZH, 52_000, 0.45)]
    people[0] = ("female", Decimal(1_123_701), JOBS_ZH[0])
    people[5] = ("male", Decimal(1_480_000), JOBS_ZH[1])
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["員工編號", "性別", "月薪", "職類"])
        for k, (g, s, j) in enumerate(people):
            amount = f"NT${int(s):,}" if k % 2 else f"{int(s):,}"
            w.writerow([f"A{k:04d}", GENDER_ZH[g], amount, j])
    return [(g, int(s), j) for g, s, j in people]


def semicolon_csv(path: Path, n: int = 200, seed: int = 2) -> list[Row]:
    """Excel in a European locale: ';', decimal commas, '.' grouping, German headers."""
    people = _people(n, seed, ("Technik", "Vertrieb"), 4_100, 0.3)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Personalnummer", "Geschlecht", "Monatsgehalt", "Abteilung"])
        for k, (g, s, j) in enumerate(people):
            whole, cents = divmod(int(s * 100), 100)
            w.writerow([f"P{k}", {"female": "weiblich", "male": "männlich", "other": "divers"}[g],
                        f"{whole:,}".replace(",", ".") + f",{cents:02d}", j])
    return [(g, _units(s), j.lower()) for g, s, j in people]


def xlsx_file(path: Path, n: int = 150, seed: int = 3) -> list[Row]:
    """A spreadsheet written by openpyxl: numeric amounts, some with cents."""
    from openpyxl import Workbook

    people = _people(n, seed, ("engineering", "sales"), 3_900, 0.3)
    wb = Workbook()
    ws = wb.active
    ws.append(["Employee", "Gender", "Salary", "Job"])
    for k, (g, s, j) in enumerate(people):
        ws.append([f"E{k}", g.capitalize(), float(s) if s != int(s) else int(s), j])
    wb.save(path)
    return [(g, _units(s), j) for g, s, j in people]


def encoded_csv(path: Path, encoding: str, n: int = 60, seed: int = 4) -> list[Row]:
    """The same kind of rows in ``encoding`` (utf-16, cp1252, utf-8-sig), with accented headers
    and a euro sign beside some amounts."""
    people = _people(n, seed, ("ingénierie", "ventes"), 3_500, 0.3)
    lines = ["Employé,Gender,Salary,Job"]
    for k, (g, s, j) in enumerate(people):
        amount = f"€{int(s)}" if k % 4 == 1 else str(int(s))
        lines.append(f"é{k},{g},{amount},{j}")
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return [(g, int(s), j) for g, s, j in people]
