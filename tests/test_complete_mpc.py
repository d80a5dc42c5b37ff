"""A complete survey (basic and variable pay, hours) on real MPC parties: every invalid kind of
demo/bad_contributors.py is rejected for its reason, and the release vector is the plaintext
oracle's over the valid records, with variable-pay figures suppressed by recipients."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from conftest import make_survey
from demo.bad_contributors import COMPLETE_KINDS, KINDS, bad_vector
from mpc_nodes.party_job import PartyOutcome
from protocol.disclosure import ReleaseLayout
from protocol.encoding import Record, encode_record
from protocol.field import reconstruct_vector
from protocol.validity import REASONS, encode_submission
from test_mpc import _run_parties, _shared_rows

pytestmark = pytest.mark.slow


def test_complete_survey_on_real_parties(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=3, salary_max=20_000, job_categories=("eng", "ops"),
                    salary_bands=(5000, 10_000), components=("basic", "variable", "hours"), pay_period="monthly",
                    variable_max=5000, variable_bands=(1000,), hours_max=300, hourly_max=1_000_000,
                    hourly_bands=(2_000, 4_000))
    m = s.manifest
    sc = m.scheme()
    rng = random.Random(16)
    kinds = sorted(COMPLETE_KINDS) + [k for k, why in KINDS.items() if why is not None and k != "inconsistent-shares"]
    vectors = [bad_vector(k, m, rng) for k in kinds]
    # female/eng: 4 employees, 2 with variable pay (< k = 3: its variable figures suppressed);
    # male/eng: 3, all with variable pay; male/ops: 4, 3 with variable pay, one part-time; other: 1
    # (gender below k)
    records = ([Record("female", 4000 + 100 * i, "eng", 500 * (i % 2), 16_000) for i in range(4)]
               + [Record("male", 4500 + 200 * i, "eng", 300 + i, 17_000) for i in range(3)]
               + [Record("male", 3000, "ops", 10, 8_000), Record("male", 6000, "ops", 0, 16_000),
                  Record("male", 5200, "ops", 800, 16_000), Record("male", 5100, "ops", 4000, 16_500),
                  Record("other", 5000, "ops", 0, 16_000)])
    vectors += [encode_submission(r, sc, m.field_modulus) for r in records]
    out = _run_parties(s.node_dirs, [m] * 3, _shared_rows(m, vectors), ["a1" * 32] * 3, timeout=90)
    outcomes = {i: v for i, v in out.items() if isinstance(v, PartyOutcome)}
    assert len(outcomes) == 3, out
    by_text = {text: reason.value for reason, text in REASONS.items()}
    want = [(i, by_text[{**KINDS, **COMPLETE_KINDS}[k] or ""]) for i, k in enumerate(kinds)]
    assert all(o.invalid == want for o in outcomes.values())
    got = reconstruct_vector({i: o.shares for i, o in outcomes.items()}, 1, m.field_modulus)
    layout = ReleaseLayout(sc)
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in records))]
    full = layout.build(totals, m.field_modulus)
    pl = layout.plan_of(full[: layout.n_counts], k=3)
    assert pl.cells[sc.cell(0, 0)] and not pl.variable_cells[sc.cell(0, 0)] and not pl.variable_genders[0]
    assert pl.variable_cells[sc.cell(1, 0)] and pl.variable_cells[sc.cell(1, 1)] and pl.variable_genders[1]
    assert got == [v if keep else 0 for v, keep in zip(full, layout.released_mask(pl))]


def test_complete_survey_with_differential_privacy_on_real_parties(tmp_path: Path) -> None:
    """Every entry of the release vector, recipient counts and the further values' sums included,
    carries the parties' joint noise; each value's noise is drawn at its own scale."""
    s = make_survey(tmp_path, n=3, t=1, k=2, salary_max=2_000, job_categories=("eng",), salary_bands=(1000,),
                    components=("basic", "variable", "hours"), pay_period="monthly", variable_max=500,
                    hours_max=200, hourly_max=100_000, dp_epsilon="1")
    m = s.manifest
    sc = m.scheme()
    records = [Record(g, 900 + 10 * i, "eng", 50 * (i % 2), 16_000) for g in ("female", "male") for i in range(6)]
    vectors = [encode_submission(r, sc, m.field_modulus) for r in records]
    out = _run_parties(s.node_dirs, [m] * 3, _shared_rows(m, vectors), ["d1" * 32] * 3, timeout=90)
    outcomes = {i: v for i, v in out.items() if isinstance(v, PartyOutcome)}
    assert len(outcomes) == 3, out
    got = reconstruct_vector({i: o.shares for i, o in outcomes.items()}, 1, m.field_modulus)
    layout = ReleaseLayout(sc)
    totals = [sum(col) for col in zip(*(encode_record(r, sc)[: sc.aggregate_width] for r in records))]
    exact = layout.build(totals, m.field_modulus)
    p = m.field_modulus
    noise = [((g - e) % p + p // 2) % p - p // 2 for g, e in zip(got, exact)]
    assert len(got) == layout.length and sum(1 for x in noise if x) > len(noise) // 2
    # recipient counts (after the cell counts) are noised like counts: a few units, not a pay bound
    n = layout.n_groups
    assert all(abs(x) < 500 for x in noise[n: 2 * n])
