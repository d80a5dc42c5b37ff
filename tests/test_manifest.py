"""The survey manifest: canonical identity (known answer) and validation messages."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from protocol.encoding import ENCODING_ID, Scheme
from protocol.errors import InvalidManifest
from protocol.manifest import (
    Manifest,
    NodeInfo,
    load_manifest,
    manifest_from_json,
    parse_time,
    save_manifest,
)

VEC: dict[str, Any] = json.loads((Path(__file__).parent / "vectors" / "manifest.json").read_text(encoding="utf-8"))
BASE: dict[str, Any] = VEC["manifest"]


def base() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def rejected(obj: Any) -> str:
    with pytest.raises(InvalidManifest) as exc:
        manifest_from_json(obj)
    return str(exc.value)


# ---------------------------------------------------------------------------- canonical identity

def test_vector_has_provenance() -> None:
    assert "generate_vectors.py" in VEC["provenance"]


def test_canonical_bytes_and_hash_known_answer() -> None:
    m = manifest_from_json(base())
    assert m.canonical_bytes() == VEC["canonical"].encode("utf-8")
    assert m.hash_hex() == VEC["sha256"]
    assert m.hash() == bytes.fromhex(VEC["sha256"])
    # Non-ASCII stays UTF-8 (ensure_ascii=False): part of the identity.
    assert "Zürich –".encode() in m.canonical_bytes()


def test_hash_independent_of_input_formatting_and_key_order() -> None:
    d = base()
    shuffled = {k: d[k] for k in reversed(list(d))}
    shuffled["nodes"] = [{k: nd[k] for k in reversed(list(nd))} for nd in d["nodes"]]
    text = json.dumps(shuffled, indent=3, ensure_ascii=True)
    assert manifest_from_json(text).hash_hex() == VEC["sha256"]
    assert manifest_from_json(text.encode()).hash_hex() == VEC["sha256"]
    # The field modulus may be given as a JSON number; the canonical form writes a string.
    d["field_modulus"] = int(d["field_modulus"])
    assert manifest_from_json(d).hash_hex() == VEC["sha256"]


def test_canonical_roundtrip_and_file_roundtrip(tmp_path: Path) -> None:
    m = manifest_from_json(base())
    again = manifest_from_json(m.canonical_bytes())
    assert again == m and again.canonical_bytes() == m.canonical_bytes()
    save_manifest(m, tmp_path / "m.json")
    assert (tmp_path / "m.json").read_bytes() == VEC["canonical"].encode()
    assert load_manifest(tmp_path / "m.json") == m


def test_load_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidManifest, match="cannot read manifest"):
        load_manifest(tmp_path / "nope.json")


def _other_value(v: Any) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 2
    if isinstance(v, str):
        return v + "x"
    if isinstance(v, tuple):
        return v + ("extra",)
    raise AssertionError(type(v))


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Manifest) if f.name != "nodes"])
def test_hash_changes_when_any_field_changes(name: str) -> None:
    m = manifest_from_json(base())
    value = (("male", "M"),) if name.endswith("_labels") else _other_value(getattr(m, name))  # (key, label) pairs
    changed = dataclasses.replace(m, **{name: value})
    assert changed.canonical_bytes() != m.canonical_bytes()
    assert changed.hash() != m.hash()


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(NodeInfo)])
@pytest.mark.parametrize("node", [0, 2])
def test_hash_changes_when_any_node_field_changes(name: str, node: int) -> None:
    m = manifest_from_json(base())
    nodes = list(m.nodes)
    nodes[node] = dataclasses.replace(nodes[node], **{name: getattr(nodes[node], name) + "x"})
    assert dataclasses.replace(m, nodes=tuple(nodes)).hash() != m.hash()


def test_hash_changes_when_nodes_are_reordered() -> None:
    m = manifest_from_json(base())
    swapped = dataclasses.replace(m, nodes=(m.nodes[1], m.nodes[0], m.nodes[2]))
    assert swapped.hash() != m.hash()


def test_closing_time_helpers() -> None:
    m = manifest_from_json(base())
    closes = dt.datetime(2026, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)
    assert m.closes_at_dt() == closes
    assert not m.is_past_closing(closes - dt.timedelta(seconds=1))
    assert m.is_past_closing(closes)
    assert parse_time("2027-01-01T00:59:59+01:00") == closes


# -------------------------------------------------------------------------------- validation

def test_base_vector_is_valid() -> None:
    m = manifest_from_json(base())
    assert m.n == 3 and m.threshold == 1 and m.categories == ("female", "male", "other")
    assert m.encoding == ENCODING_ID == "cells-bands-rank1/v4"
    assert m.job_categories == ("engineering", "sales", "support") and m.salary_bands == (2000, 4000, 8000)
    assert m.dp_epsilon == "1.5"


def test_scheme_and_vector_length() -> None:
    m = manifest_from_json(base())
    sc = m.scheme()
    assert sc == Scheme.of(("female", "male", "other"), 1_000_000, ("engineering", "sales", "support"),
                           (2000, 4000, 8000))
    assert (sc.K, sc.B, sc.edges) == (9, 4, (0, 2000, 4000, 8000))
    # 36 (cell, band) indicators, 9 salary sums, 9 squares, 2 x 20 offset bits (the top band is 992,000 wide)
    assert sc.record_width == 36 + 18 + 40 == 94
    assert m.vector_length() == 94 + 4 * 20 + 9 == sc.vector_length
    plain = manifest_from_json(_with(job_categories=[], salary_bands=[], dp_epsilon=""))
    assert plain.scheme() == Scheme.of(("female", "male", "other"), 1_000_000)
    assert plain.vector_length() == (3 + 6 + 40) + 4 * 20 + 9


def test_new_fields_default_when_absent() -> None:
    """A manifest without job_categories, salary_bands and dp_epsilon means none of them; its
    canonical form writes the defaults, so it is the same survey as one that spells them out."""
    d = base()
    for name in ("job_categories", "salary_bands", "dp_epsilon"):
        del d[name]
    m = manifest_from_json(d)
    assert (m.job_categories, m.salary_bands, m.dp_epsilon) == ((), (), "")
    assert b'"job_categories":[]' in m.canonical_bytes() and b'"salary_bands":[]' in m.canonical_bytes()
    assert b'"dp_epsilon":""' in m.canonical_bytes()
    explicit = manifest_from_json(_with(job_categories=[], salary_bands=[], dp_epsilon=""))
    assert explicit.hash() == m.hash() != manifest_from_json(base()).hash()


def _with(**changes: Any) -> dict[str, Any]:
    d = base()
    d.update(changes)
    return d


def _with_node(i: int, **changes: Any) -> dict[str, Any]:
    d = base()
    d["nodes"][i].update(changes)
    return d


def test_threshold_zero() -> None:
    assert rejected(_with(threshold=0)) == "threshold t=0 needs 1 <= t and 2t < n (n=3)"


def test_threshold_too_large_for_n() -> None:
    assert rejected(_with(threshold=2)) == "threshold t=2 needs 1 <= t and 2t < n (n=3)"
    d = base()
    d["nodes"].append(copy.deepcopy(d["nodes"][0]))  # n=4, t=2: 2t >= n checked before duplicates
    d["threshold"] = 2
    assert rejected(d) == "threshold t=2 needs 1 <= t and 2t < n (n=4)"


def test_fewer_than_three_nodes() -> None:
    d = base()
    d["nodes"] = d["nodes"][:2]
    assert rejected(d) == "a survey needs at least 3 nodes, this one has 2"
    d["nodes"] = []
    assert rejected(d) == "a survey needs at least 3 nodes, this one has 0"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8441", "ftp://x", "127.0.0.1:8441", "HTTPS://x:1", ""])
def test_bad_url_scheme(url: str) -> None:
    assert rejected(_with_node(1, url=url)) == "node node1: URL must be https://"


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.0.0.1:", ":9000", "host:port", "host:0", "host:65536"])
def test_bad_mpc_address(addr: str) -> None:
    assert rejected(_with_node(0, mpc_address=addr)) == "node node0: mpc_address must be host:port"


def test_fingerprint_mismatch() -> None:
    other_fp = BASE["nodes"][1]["tls_cert_sha256"]
    assert rejected(_with_node(0, tls_cert_sha256=other_fp)) == "node node0: certificate does not match its fingerprint"
    # The certificate of another node under this node's fingerprint.
    msg = rejected(_with_node(2, tls_cert_pem=BASE["nodes"][0]["tls_cert_pem"]))
    assert msg == "node node2: certificate does not match its fingerprint"


def test_unparseable_certificate() -> None:
    assert rejected(_with_node(0, tls_cert_pem="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                    ).startswith("node node0: ")


def test_duplicate_node_keys() -> None:
    assert rejected(_with_node(1, hpke_public_key=BASE["nodes"][0]["hpke_public_key"])) == "two nodes share an HPKE key"


def test_duplicate_tls_certificates() -> None:
    d = _with_node(2, tls_cert_pem=BASE["nodes"][0]["tls_cert_pem"], tls_cert_sha256=BASE["nodes"][0]["tls_cert_sha256"])
    assert rejected(d) == "two nodes share a TLS certificate"


def test_duplicate_node_keys_cannot_hide_behind_trailing_newline() -> None:
    d = _with_node(1, hpke_public_key=BASE["nodes"][0]["hpke_public_key"] + "\n")
    rejected(d)


@pytest.mark.parametrize("key", ["AB" * 32, "ab" * 31, "ab" * 33, "zz" * 32, ""])
def test_bad_hpke_key(key: str) -> None:
    assert rejected(_with_node(0, hpke_public_key=key)) == "node node0: HPKE public key must be 32 bytes of hex"
    assert rejected(_with(analyst_public_key=key)) == "analyst public key must be 32 bytes of hex"


def test_closing_time_without_timezone() -> None:
    msg = rejected(_with(closes_at="2026-12-31T23:59:59"))
    assert msg == "closing time must carry a time zone, e.g. 2026-12-31T23:59:59Z"


@pytest.mark.parametrize("text", ["next friday", "", "2026-13-01T00:00:00Z", "31/12/2026"])
def test_closing_time_not_iso(text: str) -> None:
    assert rejected(_with(closes_at=text)) == f"closing time {text!r} is not ISO 8601"


@pytest.mark.parametrize("k", [0, -1])
def test_min_group_size_below_one(k: int) -> None:
    assert rejected(_with(min_group_size=k)) == "minimum group size k must be at least 1"


@pytest.mark.parametrize("cats", [["female", "other"], ["Male", "female"], ["men", "women"]])
def test_missing_male_category(cats: list[str]) -> None:
    assert rejected(_with(categories=cats)) == "categories must include 'male' (the pay-gap reference)"


@pytest.mark.parametrize("cats", [[], ["male", "male"]])
def test_categories_empty_or_repeated(cats: list[str]) -> None:
    assert rejected(_with(categories=cats)) == "categories must be distinct and non-empty"


@pytest.mark.parametrize("data", [b"{not json", "{", b"\xff\xfe", "", '{"a": 1,}'])
def test_malformed_json(data: bytes | str) -> None:
    assert rejected(data) == "manifest is not valid JSON"


@pytest.mark.parametrize("data", ["[]", "3", '"manifest"', "null"])
def test_json_that_is_not_an_object(data: str) -> None:
    assert rejected(data) == "manifest must be a JSON object"


def test_missing_and_unexpected_fields() -> None:
    d = base()
    del d["survey_id"]
    assert rejected(d).startswith("manifest has missing or unexpected fields (TypeError:")
    d = base()
    del d["nodes"]
    assert rejected(d).startswith("manifest has missing or unexpected fields (KeyError:")
    assert "unexpected keyword argument 'colour'" in rejected(_with(colour="blue"))
    d = base()
    d["nodes"][0]["extra"] = 1
    assert rejected(d).startswith("manifest has missing or unexpected fields")
    assert rejected(_with(field_modulus="abc")).startswith("manifest has missing or unexpected fields (ValueError:")


@pytest.mark.parametrize("field", ["threshold", "salary_max", "min_group_size", "version"])
@pytest.mark.parametrize("value", ["1", 1.0, True, None])
def test_integer_fields_must_be_integers(field: str, value: Any) -> None:
    assert rejected(_with(**{field: value})) == f"manifest field {field} must be an integer"


def test_other_field_rules() -> None:
    assert rejected(_with(version=2)) == "unsupported manifest version 2"
    assert rejected(_with(survey_id="has space")).startswith("survey id must be 1-64 characters")
    assert rejected(_with(survey_id="-leading")).startswith("survey id must be 1-64 characters")
    assert rejected(_with(survey_id="a" * 65)).startswith("survey id must be 1-64 characters")
    assert manifest_from_json(_with(survey_id="a" * 64)).survey_id == "a" * 64
    assert rejected(_with(model="paranoid")) == "model must be one of semi-honest, malicious"
    for old in ("count-sum/v2", "count-sum-range-flp/v2", "cells-bands-flp/v3"):
        assert rejected(_with(encoding=old)) == (
            f"the survey uses record encoding '{old}', this version reads only 'cells-bands-rank1/v4': finish that "
            "survey with the version that created it, or create a new survey")
    assert rejected(_with(salary_max=0)) == "salary upper bound must be between 1 and 10^12"
    assert rejected(_with(salary_max=10**12)) == "salary upper bound must be between 1 and 10^12"
    assert rejected(_with(field_modulus=str(1 << 130))) == "field modulus must be an odd prime below 2^128"
    assert manifest_from_json(_with(model="malicious")).model == "malicious"


@pytest.mark.parametrize("obj", [
    _with(survey_id=123),
    _with(closes_at=1767225599),
    _with(analyst_public_key=7),
    _with_node(0, url=443),
], ids=["survey_id", "closes_at", "analyst_public_key", "node.url"])
def test_non_string_fields_are_invalid_manifest(obj: dict[str, Any]) -> None:
    rejected(obj)


def test_even_field_modulus_is_rejected() -> None:
    rejected(_with(field_modulus=str(1 << 127)))


def test_categories_must_be_lower_case() -> None:
    """Answers are matched case-insensitively, so only lower-case categories can ever be chosen."""
    assert rejected(_with(categories=["Female", "male", "other"])) == (
        "categories must be lower-case words (answers are matched case-insensitively)")


# ------------------------------------------------------- job categories, salary bands, dp_epsilon

BANDS_MSG = "salary bands must be strictly increasing, above 0 and at most the salary bound"


@pytest.mark.parametrize("bands", [
    [4000, 2000], [2000, 2000], [2000, 4000, 3999],  # not increasing
    [2000, 1_000_001], [1_000_001], [10**12],  # above the bound
    [0], [0, 2000], [-5, 2000], [-1],  # zero or negative
])
def test_bad_salary_bands(bands: list[int]) -> None:
    assert rejected(_with(salary_bands=bands)) == BANDS_MSG


def test_salary_bands_at_the_edges() -> None:
    assert manifest_from_json(_with(salary_bands=[1, 1_000_000])).scheme().edges == (0, 1, 1_000_000)
    assert manifest_from_json(_with(salary_bands=[])).scheme().edges == (0,)
    assert rejected(_with(salary_bands=[1, 1_000_000], salary_max=999_999)) == BANDS_MSG


@pytest.mark.parametrize("bands", [[2000.0], [2000.5], ["2000"], [True], [2000, None]])
def test_salary_bands_must_be_whole_numbers(bands: list[Any]) -> None:
    assert rejected(_with(salary_bands=bands)) == "manifest field salary_bands must be a list of whole numbers"


@pytest.mark.parametrize("jobs", [["sales", "sales"], ["engineering", "sales", "engineering"],
                                  [f"job{k}" for k in range(65)]])
def test_job_categories_duplicate_or_too_many(jobs: list[str]) -> None:
    assert rejected(_with(job_categories=jobs)) == "job categories must be distinct, at most 64"


@pytest.mark.parametrize("jobs", [["Sales"], ["engineering", "SALES"], [" sales"], ["sales "], [""],
                                  ["sales, north"]])
def test_job_categories_must_be_lower_case_names_without_commas(jobs: list[Any]) -> None:
    assert rejected(_with(job_categories=jobs)) == "job categories must be lower-case names without commas"


def test_job_categories_may_be_many_words_and_up_to_64() -> None:
    jobs = [f"job {k}" for k in range(64)]
    m = manifest_from_json(_with(job_categories=jobs, salary_bands=[]))
    assert m.job_categories == tuple(jobs) and m.scheme().K == 3 * 64


def test_cells_times_bands_at_most_16384_and_the_error_states_the_cost() -> None:
    # only male, no jobs: one cell; 16383 boundaries make 16384 bands (allowed), 16384 make 16385
    ok = manifest_from_json(_with(categories=["male"], job_categories=[], salary_bands=list(range(1, 16384))))
    assert ok.scheme().K * ok.scheme().B == 16384
    # 16385 indicators, one salary sum and square, 2 x 20 bits; the proof 4 x 20 + 9
    width = 16385 + 2 + 40 + 80 + 9
    assert rejected(_with(categories=["male"], job_categories=[], salary_bands=list(range(1, 16385)))) == (
        f"genders x job categories x salary bands is 16385, at most 16384: each submission would be {width:,} "
        f"field elements ({16 * width:,} bytes per node)")
    # 3 genders x 64 job categories = 192 cells, times 86 bands
    jobs = [f"job{k}" for k in range(64)]
    width = 192 * 86 + 2 * 192 + 40 + 89
    assert rejected(_with(job_categories=jobs, salary_bands=[1000 * k for k in range(1, 86)])) == (
        f"genders x job categories x salary bands is 16512, at most 16384: each submission would be {width:,} "
        f"field elements ({16 * width:,} bytes per node)")
    # 2 genders x 64 job categories x 128 bands = 16384: allowed
    m = manifest_from_json(_with(categories=["female", "male"], job_categories=jobs,
                                 salary_bands=[1000 * k for k in range(1, 128)]))
    assert m.scheme().K * m.scheme().B == 16384


@pytest.mark.parametrize(("eps", "message"), [
    ("0", "dp_epsilon: epsilon must be greater than 0, got '0'"),
    ("-1", "dp_epsilon: epsilon must be greater than 0, got '-1'"),
    ("abc", "dp_epsilon: epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'abc'"),
    ("nan", "dp_epsilon: epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'nan'"),
    ("  ", "dp_epsilon: epsilon must be a decimal number such as 1, 0.5 or 2.25, got '  '"),
    ("1,5", "dp_epsilon: epsilon must be a decimal number such as 1, 0.5 or 2.25, got '1,5'"),
    ("101", "dp_epsilon: epsilon must be at most 100 (larger values protect nobody), got '101'"),
    ("1.1234567", "dp_epsilon: epsilon may have at most 6 decimal places, got '1.1234567'"),
])
def test_bad_dp_epsilon(eps: str, message: str) -> None:
    assert rejected(_with(dp_epsilon=eps)) == message


@pytest.mark.parametrize("eps", [1.5, 1, None, ["1"]])
def test_dp_epsilon_must_be_a_string(eps: Any) -> None:
    assert rejected(_with(dp_epsilon=eps)) == "manifest field dp_epsilon must be a string"


@pytest.mark.parametrize("eps", ["", "1", "0.5", "100", " 2.25 ", "1.500000000", "0.000001"])
def test_good_dp_epsilon(eps: str) -> None:
    assert manifest_from_json(_with(dp_epsilon=eps)).dp_epsilon == eps


@pytest.mark.parametrize("field,value,message", [
    ("job_categories", [["a"]], "manifest field job_categories must be a list of strings"),
    ("job_categories", "eng", "manifest field job_categories must be a list of strings"),
    ("categories", [{"x": 1}, "male"], "manifest field categories must be a list of strings"),
    ("salary_bands", [100, "200"], "manifest field salary_bands must be a list of whole numbers"),
    ("salary_bands", [True], "manifest field salary_bands must be a list of whole numbers"),
])
def test_list_fields_of_the_wrong_type_are_refused_cleanly(field: str, value: object, message: str) -> None:
    data = json.loads(json.dumps(VEC["manifest"]))
    data[field] = value
    with pytest.raises(InvalidManifest) as exc:
        manifest_from_json(data)
    assert str(exc.value) == message


# ------------------------------------------------------------------------ the browser page's fields

WEB = {"language": "zh-TW", "web_page_sha256": "ab" * 32, "web_origins": ["https://survey.example.org",
                                                                          "https://hr.example.org:8443"]}


def test_page_fields_are_in_the_canonical_json_only_when_set() -> None:
    """Without them the known answer holds (above); with them the canonical form is the base's
    JSON with these keys added, written out here independently of protocol/manifest.py."""
    d = base()
    d.update(WEB)
    d["nodes"][1]["web_url"] = "https://node1.example.org"
    m = manifest_from_json(d)
    want = json.loads(VEC["canonical"])
    want.update(WEB)
    want["nodes"][1]["web_url"] = "https://node1.example.org"
    assert m.canonical_bytes() == json.dumps(want, sort_keys=True, separators=(",", ":"),
                                             ensure_ascii=False).encode()
    assert m.hash_hex() != VEC["sha256"]
    assert (m.language, m.web_page_sha256, m.web_origins) == ("zh-TW", "ab" * 32, tuple(WEB["web_origins"]))
    assert manifest_from_json(m.canonical_bytes()) == m
    assert "web_url" not in json.loads(m.canonical_bytes())["nodes"][0]


def test_browser_origins_are_the_nodes_page_origins_then_web_origins() -> None:
    d = base()
    d["web_origins"] = ["https://survey.example.org", "https://node1.example.org"]
    d["nodes"][1]["web_url"] = "https://Node1.Example.org:443/proxy/node1"
    d["nodes"][2]["web_url"] = "https://[::1]:9443"
    m = manifest_from_json(d)
    assert m.nodes[0].browser_url == m.nodes[0].url == "https://127.0.0.1:8441"
    assert m.browser_origins() == ("https://127.0.0.1:8441", "https://node1.example.org", "https://[::1]:9443",
                                   "https://survey.example.org")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("language", "english", "language: 'english' is not a BCP 47 tag such as 'en', 'de' or 'zh-TW' (at most 35 "
                            "characters)"),
    ("language", "EN", "language: 'EN' is not a BCP 47 tag such as 'en', 'de' or 'zh-TW' (at most 35 characters)"),
    ("language", "en-" + "-".join(["abcdefgh"] * 3) + "x", "language: 'en-abcdefgh-abcdefgh-abcdefghx' is not a "
                                                          "BCP 47 tag such as 'en', 'de' or 'zh-TW' (at most 35 "
                                                          "characters)"),
    ("language", 7, "manifest field language must be a string"),
    ("language", "", "manifest field language is empty (leave it out instead)"),
    ("web_page_sha256", "AB" * 32, "web_page_sha256 must be 64 lower-case hex digits (the SHA-256 of "
                                   "salary-page.js)"),
    ("web_page_sha256", "ab" * 31, "web_page_sha256 must be 64 lower-case hex digits (the SHA-256 of "
                                   "salary-page.js)"),
    ("web_page_sha256", "", "manifest field web_page_sha256 is empty (leave it out instead)"),
    ("web_origins", [], "manifest field web_origins is empty (leave it out instead)"),
    ("web_origins", "https://a.example", "manifest field web_origins must be a list of strings"),
    ("web_origins", ["https://a.example", "https://a.example"], "web_origins must be 1 to 16 distinct origins"),
    ("web_origins", [f"https://a{i}.example" for i in range(17)], "web_origins must be 1 to 16 distinct origins"),
    ("web_origins", ["https://a.example/"], "web_origins: 'https://a.example/' is not an origin https://HOST[:PORT] "
                                           "(lower case, port 1-65535, no path or trailing slash)"),
    ("web_origins", ["http://a.example"], "web_origins: 'http://a.example' is not an origin https://HOST[:PORT] "
                                         "(lower case, port 1-65535, no path or trailing slash)"),
    ("web_origins", ["https://A.example"], "web_origins: 'https://A.example' is not an origin https://HOST[:PORT] "
                                          "(lower case, port 1-65535, no path or trailing slash)"),
    ("web_origins", ["https://a.example:0"], "web_origins: 'https://a.example:0' is not an origin "
                                            "https://HOST[:PORT] (lower case, port 1-65535, no path or trailing "
                                            "slash)"),
    ("web_origins", ["https://a.example:65536"], "web_origins: 'https://a.example:65536' is not an origin "
                                                "https://HOST[:PORT] (lower case, port 1-65535, no path or "
                                                "trailing slash)"),
])
def test_bad_page_fields_are_refused_with_one_line(field: str, value: Any, message: str) -> None:
    assert rejected(_with(**{field: value})) == message


@pytest.mark.parametrize(("value", "message"), [
    ("http://node1.example.org", "node node1: web_url must be https://"),
    ("", "node field web_url is empty (leave it out instead)"),
    (443, "node field web_url must be a string"),
])
def test_bad_node_web_url_is_refused_with_one_line(value: Any, message: str) -> None:
    d = base()
    d["nodes"][1]["web_url"] = value
    assert rejected(d) == message


@pytest.mark.parametrize("tag", ["en", "de", "zh-TW", "zh-Hant-TW", "sr-Latn-RS", "gsw", "es-419"])
def test_good_languages(tag: str) -> None:
    assert manifest_from_json(_with(language=tag)).language == tag
