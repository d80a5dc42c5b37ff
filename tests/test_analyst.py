"""The analyst's verification and reconstruction, on result shares sealed like the nodes do."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from analyst.formats import format_table
from analyst.release import Release
from analyst.results import build_report
from analyst.survey import load_analyst_secret
from conftest import Survey, make_survey
from protocol.envelope import seal_result
from protocol.errors import CheatingDetected, DecryptionFailed, InconsistentShares, SurveyError
from protocol.field import share_vector
from protocol.wire import ResultShare, b64d, b64e


def _shares(s: Survey, values: list[int], accepted: int, rejected: int = 0,
            tamper: dict[int, int] | None = None) -> list[ResultShare]:
    m = s.manifest
    per_node = share_vector(values, m.n, m.threshold, m.field_modulus)
    out = []
    for i, vec in enumerate(per_node):
        if tamper and i in tamper:
            vec = [(vec[0] + tamper[i]) % m.field_modulus] + vec[1:]
        sealed = seal_result(vec, m.analyst_public_key, m.hash(), i, m.field_modulus)
        out.append(ResultShare(m.survey_id, i, m.hash_hex(), b64e(sealed), accepted, rejected, "d" * 64,
                               "2026-11-22T00:00:00Z"))
    return out


def _vec(counts: list[int], sums: list[int], squares: list[int]) -> list[int]:
    """The release vector of a survey without job categories or bands (protocol.disclosure):
    counts, sums, sums of squares, one band count per gender (zero where suppressed, like sums)."""
    return counts + sums + squares + [c if s else 0 for c, s in zip(counts, sums)]


# female 6 (sum 24,600, stdev 167.33), male 8 (sum 36,000, stdev 126.49), other 2 (suppressed: the
# MPC zeroed its figures)
V = _vec([6, 8, 2], [24_600, 36_000, 0], [101_000_000, 162_112_000, 0])


def _report(s: Survey, shares: list[ResultShare]) -> Release:
    m, sk, _ = load_analyst_secret(s.dir)
    return build_report(m, sk, shares)


def test_report_means_gaps_and_suppression(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    r = _report(s, _shares(s, V, accepted=16, rejected=1))
    by = {g.gender: g for g in r.all_employees.groups}
    assert (by["female"].count, by["female"].mean, by["female"].suppressed) == (6, 4100.0, False)
    assert (by["male"].count, by["male"].mean) == (8, 4500.0)
    assert by["other"].suppressed and by["other"].mean is None and by["other"].count == 2
    assert r.all_employees.pay_gap_percent == {"female": round((4500 - 4100) / 4500 * 100, 2), "other": None}
    assert (r.submissions.accepted, r.submissions.rejected, r.warnings) == (16, 1, ())
    js = r.to_json()
    assert js["submissions"] == {"accepted": 16, "rejected": 1}
    assert js["groups"][2] == {"gender": "other", "count": 2, "mean": None, "suppressed": True, "median": None,
                               "median_max_error": None, "stdev": None, "quartile_shares": None, "dp_sd": None}
    assert round(by["female"].stdev, 2) == 167.33 and round(by["male"].stdev, 2) == 126.49
    assert by["female"].median is None  # no salary bands declared: no median
    assert js["quartiles"]["thresholds"] is None and js["categories"] == [] and js["differential_privacy"] is None
    table = format_table(r)
    assert "suppressed*" in table and "+8.89 %" in table and "167.33" in table


def test_male_suppressed_means_no_gap(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    r = _report(s, _shares(s, _vec([6, 4, 5], [24_600, 0, 20_000], [101_000_000, 0, 80_000_000]), accepted=15))
    assert r.all_employees.pay_gap_percent == {"female": None, "other": None}


@pytest.mark.parametrize("n,t,tamper", [(4, 1, {2: 1}), (7, 2, {0: 3, 5: 9}), (5, 1, {4: 7})])
def test_tampered_shares_are_corrected_and_named_with_3t_plus_1(tmp_path: Path, n: int, t: int,
                                                                 tamper: dict[int, int]) -> None:
    s = make_survey(tmp_path, n=n, t=t, k=5)
    r = _report(s, _shares(s, V, accepted=16, tamper=tamper))
    assert list(r.cheating_nodes) == sorted(tamper)
    assert [g.mean for g in r.all_employees.groups] == [4100.0, 4500.0, None]  # the correct result all the same
    assert "corrected by error-correcting reconstruction" in r.warnings[0]


def test_tampered_share_detected_but_not_named_below_3t_plus_1(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=5, t=2, k=5)  # n < 3t+1: detect; naming could frame an honest node
    with pytest.raises(CheatingDetected, match=r"n=5 < 3t\+1=7 nodes the culprit cannot be identified") as exc:
        _report(s, _shares(s, V, accepted=16, tamper={3: 1}))
    assert exc.value.culprits == ()


def test_inconsistent_shares_with_minimal_redundancy(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)  # 3 shares, degree 1: detectable, not attributable
    with pytest.raises(CheatingDetected, match=r"n=3 < 3t\+1=4 nodes the culprit cannot be identified"):
        _report(s, _shares(s, V, accepted=16, tamper={0: 5}))


def test_nodes_disagreeing_on_the_set_are_named(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    shares[1] = ResultShare(**{**shares[1].__dict__, "accepted": 15})
    with pytest.raises(CheatingDetected, match=r"node\(s\) 1 disagree with the others on the counted submission set"):
        _report(s, shares)


def test_suppressed_group_with_a_salary_figure_is_refused(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    for at in (5, 8, 11):  # other's sum, its sum of squares, its band count
        bad = list(V)
        bad[at] = 7_000
        with pytest.raises(InconsistentShares, match="a suppressed group came with a salary figure; the nodes did "
                                                     "not apply the disclosure rule"):
            _report(s, _shares(s, bad, accepted=16))


def test_result_share_sealed_for_another_node_does_not_open(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    swapped = [ResultShare(**{**shares[0].__dict__, "sealed_result": shares[1].sealed_result}), *shares[1:]]
    with pytest.raises(DecryptionFailed, match="result share from node 0 does not open"):
        _report(s, swapped)
    flipped = bytearray(b64d(shares[2].sealed_result, "x"))
    flipped[-1] ^= 1
    bad = [*shares[:2], ResultShare(**{**shares[2].__dict__, "sealed_result": b64e(bytes(flipped))})]
    with pytest.raises(DecryptionFailed, match="node 2"):
        _report(s, bad)


def test_counts_not_adding_up_are_reported(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=3, t=1, k=5)
    r = _report(s, _shares(s, V, accepted=17))
    assert r.warnings == ("group counts add up to 16, not to the 17 accepted submissions",)


def test_nodes_caught_by_t_plus_1_nodes_are_reported_and_t_liars_frame_nobody(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    honest_reports = [ResultShare(**{**rs.__dict__, "caught": [3] if rs.node_index != 3 else []}) for rs in shares]
    r = _report(s, honest_reports)
    assert r.cheating_nodes == (3,) and any("node(s) 3 were caught by the other nodes" in w for w in r.warnings)
    assert [g.mean for g in r.all_employees.groups] == [4100.0, 4500.0, None]
    # one lying node (t = 1) accusing node 0 is not believed
    framed = [ResultShare(**{**rs.__dict__, "caught": [0] if rs.node_index == 3 else []}) for rs in shares]
    assert _report(s, framed).cheating_nodes == ()


def test_results_refuses_a_report_path_it_cannot_write_before_fetching_anything(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from analyst.cli import main

    s = make_survey(tmp_path, n=3, t=1, k=5)
    runner = CliRunner()
    res = runner.invoke(main, ["results", "--survey", str(s.dir), "--report", str(tmp_path / "nowhere" / "r.html")])
    assert res.exit_code == 2 and "does not exist" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["results", "--survey", str(s.dir), "--report", str(tmp_path / "r.docx")])
    assert res.exit_code == 2 and "the report file must end in .html, .md or .pdf" in res.output


# -- any bad result share is an erasure or an error, corrected within 2s + e <= n - t - 1 --

def _replace(rs: ResultShare, **changes: object) -> ResultShare:
    return ResultShare(**{**rs.__dict__, **changes})


def _other_survey_share(tmp_path: Path, node: int) -> str:
    """Node ``node``'s real sealed result share of another survey (same shape)."""
    other = make_survey(tmp_path / "other", n=4, t=1, k=5)
    return _shares(other, V, accepted=16)[node].sealed_result


def _bad_share_cases(tmp_path: Path, shares: list[ResultShare]) -> dict[str, ResultShare]:
    flipped = bytearray(b64d(shares[2].sealed_result, "x"))
    flipped[-1] ^= 1
    return {
        "another survey's share": _replace(shares[2], sealed_result=_other_survey_share(tmp_path, 2)),
        "a damaged envelope": _replace(shares[2], sealed_result=b64e(bytes(flipped))),
        "accepted off by one": _replace(shares[2], accepted=17),
        "another run": _replace(shares[2], run_id="another"),
        "another node's share": _replace(shares[2], sealed_result=shares[1].sealed_result),
        "labelled for another survey": _replace(shares[2], survey_id="another-survey"),
    }


def test_any_bad_result_share_is_left_out_named_and_the_result_released_with_3t_plus_1(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    for case, bad in _bad_share_cases(tmp_path, shares).items():
        r = _report(s, [*shares[:2], bad, shares[3]])
        assert [g.mean for g in r.all_employees.groups] == [4100.0, 4500.0, None], case
        assert r.cheating_nodes == (2,), case
        assert r.warnings[0].startswith("node 2's result share was left out ("), case
        assert r.warnings[0].endswith("); the result was reconstructed from the other 3 shares, which agree"), case
        assert r.submissions.accepted == 16


def test_bad_share_messages_name_what_was_wrong(tmp_path: Path) -> None:
    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    cases = _bad_share_cases(tmp_path, shares)
    said = {case: _report(s, [*shares[:2], bad, shares[3]]).warnings[0] for case, bad in cases.items()}
    assert "(result share from node 2 does not open: tampered or not for this survey)" in said["another survey's share"]
    assert "(node(s) 2 disagree with the others on the counted submission set or the MPC run; nothing is released)" \
        in said["accepted off by one"]
    assert "(node 2 sent a result share for another node or survey)" in said["labelled for another survey"]


def test_a_missing_share_is_an_erasure_with_3t_plus_1(tmp_path: Path) -> None:
    from analyst.results import MissingShare

    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    gone = MissingShare(1, "node 1 (node1) has no result for you: unreachable")
    r = _report(s, [shares[0], gone, *shares[2:]])  # type: ignore[list-item]
    assert [g.mean for g in r.all_employees.groups] == [4100.0, 4500.0, None]
    assert r.cheating_nodes == ()  # down is not cheating
    assert r.warnings[0] == ("node 1's result share was left out (node 1 (node1) has no result for you: unreachable); "
                             "the result was reconstructed from the other 3 shares, which agree")


def test_the_budget_2s_plus_e_is_enforced(tmp_path: Path) -> None:
    """n = 4, t = 1: one erasure plus one wrong share is 2 + 1 > n - t - 1 = 2: refused; two
    erasures leave no check: refused with the first problem."""
    from analyst.results import MissingShare

    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16, tamper={3: 5})
    with pytest.raises(CheatingDetected, match="with n=3 < 3t\\+1=4 nodes the culprit cannot be identified"):
        _report(s, [shares[0], shares[1], _replace(shares[2], accepted=17), shares[3]])
    good = _shares(s, V, accepted=16)
    with pytest.raises(SurveyError, match="^node 2 is down$"):  # the first problem found: the missing share
        _report(s, [good[0], _replace(good[1], sealed_result=good[0].sealed_result),  # type: ignore[list-item]
                    MissingShare(2, "node 2 is down"), good[3]])


def test_bad_share_with_2t_plus_1_still_stops_the_release(tmp_path: Path) -> None:
    """n = 3: leaving a share out leaves two points and no check: nothing is released."""
    s = make_survey(tmp_path, n=3, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    with pytest.raises(CheatingDetected, match=r"node\(s\) 2 disagree with the others"):
        _report(s, [*shares[:2], _replace(shares[2], accepted=17)])


# -- submissions set aside are never quiet --

def test_set_aside_submissions_are_counted_in_the_result_the_table_and_the_report(tmp_path: Path) -> None:
    from analyst.release import parse
    from analyst.report import render_markdown

    s = make_survey(tmp_path, n=3, t=1, k=5)
    r = _report(s, [_replace(rs, set_aside=4) for rs in _shares(s, V, accepted=16, rejected=4)])
    assert r.submissions.set_aside == 4 and r.to_json()["submissions"] == {"accepted": 16, "rejected": 4,
                                                                           "set_aside": 4}
    assert r.warnings[0] == ("4 submission(s) were set aside and are not counted: their validation shares were off "
                             "the polynomial, so either their contributors sent inconsistent shares or a node lied; "
                             "with 3 nodes (n < 3t+1 = 4) the culprit cannot be told")
    assert parse(r.to_json()) == r
    assert ("4 submissions set aside and not counted: their validation shares were off the polynomial (see the "
            "warnings)") in format_table(r).splitlines()[1]
    md = render_markdown(r, None)
    assert md.index("Warning: 4 submissions were set aside and are not counted") < md.index("## ")
    # a node that disagrees on how many were set aside disagrees on the run
    shares = [_replace(rs, set_aside=4) for rs in _shares(s, V, accepted=16, rejected=4)]
    with pytest.raises(CheatingDetected, match=r"node\(s\) 1 disagree"):
        _report(s, [shares[0], _replace(shares[1], set_aside=0), shares[2]])


def test_results_exits_3_when_submissions_were_set_aside_in_the_malicious_model(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import analyst.cli as cli

    for model, status in (("malicious", 3), ("semi-honest", 0)):
        s = make_survey(tmp_path / model, n=3, t=1, k=5, model=model)
        shares = [_replace(rs, set_aside=2) for rs in _shares(s, V, accepted=16, rejected=2)]
        monkeypatch.setattr(cli, "fetch_result_shares", lambda manifest, cred: shares)
        res = CliRunner().invoke(cli.main, ["results", "--survey", str(s.dir), "--format", "json"])
        assert res.exit_code == status, res.output
        if status:
            assert res.stderr.strip().splitlines()[-1] == ("salary-analyst: warning: 2 submission(s) set aside "
                                                           "(validation shares off the polynomial); exit status 3")
        assert '"set_aside": 2' in res.stdout


# -- the nodes' signed audit-log heads travel with the result --

def test_signed_audit_heads_are_checked_recorded_and_reported(tmp_path: Path) -> None:
    from analyst.release import AuditHead, parse
    from analyst.report import render_markdown
    from mpc_nodes.anchors import head_signer

    s = make_survey(tmp_path, n=4, t=1, k=5)
    heads = [head_signer(s.node_dirs[j], s.manifest, j)(10 + j, f"{j:x}" * 64) for j in range(4)]
    shares = [_replace(rs, anchor=heads[j]) for j, rs in enumerate(_shares(s, V, accepted=16))]
    r = _report(s, shares)
    assert r.audit_heads == tuple(AuditHead(node=j, seq=10 + j, head=f"{j:x}" * 64) for j in range(4))
    assert r.to_json()["audit_heads"][1] == {"node": 1, "seq": 11, "head": "1" * 64}
    assert parse(r.to_json()) == r
    md = render_markdown(r, None)
    assert "## Audit log heads" in md and f"node 3: line 13, hash {'3' * 64}" in md
    # a head node 2 did not sign makes its share a bad one: left out, named, the result released
    forged = _replace(shares[2], anchor=dataclasses.replace(heads[2], seq=99))
    bad = _report(s, [*shares[:2], forged, shares[3]])
    assert bad.cheating_nodes == (2,) and [a.node for a in bad.audit_heads] == [0, 1, 3]
    assert bad.warnings[0].startswith("node 2's result share was left out (node 2's audit head is not signed by it)")
    assert [g.mean for g in bad.all_employees.groups] == [4100.0, 4500.0, None]


def test_nodes_left_out_are_believed_on_t_plus_1_reports(tmp_path: Path) -> None:
    from analyst.release import parse

    s = make_survey(tmp_path, n=4, t=1, k=5)
    shares = _shares(s, V, accepted=16)
    r = _report(s, [_replace(rs, left_out=[3] if j != 3 else []) for j, rs in enumerate(shares)])
    assert r.left_out_nodes == (3,) and r.cheating_nodes == ()
    assert ("node(s) 3 were lost (down, crashed or silent past the stall timeout) and left out of the computation by "
            "the other nodes") in r.warnings
    assert r.to_json()["left_out_nodes"] == [3] and parse(r.to_json()) == r
    alone = _report(s, [_replace(rs, left_out=[0] if j == 3 else []) for j, rs in enumerate(shares)])
    assert alone.left_out_nodes == () and "left_out_nodes" not in alone.to_json()
