"""The browser library (web/src) against the Python protocol: its own Node test suite (the same
known-answer files as the Python tests), its type check, and cross-language tests run here with
the real Python code on the other side: labels, canonical JSON and manifest identity on tricky input
and on random manifests with and without every complete-survey field, submission vectors (record and
validity proof) and refusals of a form's answers on random one-figure and complete layouts, the
batched prover, HR files read and refused as contributor/hrfile.py reads them,
amounts read and refused as Python reads them, answers folded and quoted as Python folds and quotes
them, uploads the JavaScript prepares accepted by real nodes' ingest checks (and their shares
reconstructing the Python-encoded records), and Python-made certificates, batches and envelopes
verified and opened by the JavaScript.

The JavaScript runs under Node (``web/test/interop.js``: JSON in, JSON out); its packages come
from ``web/package-lock.json`` (``npm ci --prefix web``, which ./run_tests.sh runs).
"""

from __future__ import annotations

import base64
import copy
import csv
import dataclasses
import hashlib
import io
import json
import random
import re
import shutil
import subprocess
import unicodedata
from fractions import Fraction
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import Survey, make_survey
from contributor.hrfile import ReadOptions, check_file
from mpc_nodes.ingest import Ingest
from mpc_nodes.keys import load_hpke_private, load_public
from mpc_nodes.store import NodeStore
from protocol.commitment import batch_envelope_id, make_batch, make_certificate, verify_certificate
from protocol.answers import AmountFormat, DecimalMark, fold, parse_amount
from protocol.encoding import Record, Scheme, encode_record, make_record
from protocol.envelope import open_share_block, open_shares, private_bytes, seal_share_block, seal_shares
from protocol.errors import InvalidManifest, InvalidSubmission, SurveyError
from protocol.field import decode_elements, encode_elements, reconstruct_vector, share_vector
from protocol.labels import Label
from protocol.manifest import manifest_from_json
from protocol.validity import (Layout, all_openings, as_matrix, decide, derive_challenge, encode_submission, plain_reason,
                               prove)
from protocol.wire import BulkBody

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "web"
NODE = shutil.which("node")
VECTORS = ROOT / "tests" / "vectors"

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node, 20.19 or newer) is not installed: the browser "
                                                    "library's tests run under it")


@pytest.fixture(scope="module", autouse=True)
def _web_packages() -> None:
    version = node("--version").stdout.strip()
    if tuple(int(x) for x in version.lstrip("v").split(".")[:2]) < (20, 19):
        pytest.fail(f"the browser library needs Node.js 20.19 or newer (@noble/curves), this is {version}")
    if not (WEB / "node_modules" / "@hpke" / "core").is_dir():
        pytest.fail("web/node_modules is missing: run `npm ci --prefix web` (./run_tests.sh does)")


def node(*args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return subprocess.run([NODE, *args], input=stdin, cwd=WEB, capture_output=True, text=True, timeout=timeout)


def interop(command: str, payload: Any = None) -> Any:
    out = node("test/interop.js", command, stdin=json.dumps(payload))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


# -- the library's own suite and type check ---------------------------------------------------------

def test_the_node_suite_passes_on_the_shared_vector_files() -> None:
    files = sorted(str(p.relative_to(WEB)) for p in (WEB / "test").glob("*.test.js"))
    assert {"test/field.test.js", "test/manifest.test.js", "test/envelope.test.js", "test/commitment.test.js",
            "test/wire.test.js", "test/bundle.test.js", "test/submission.test.js", "test/record.test.js",
            "test/proof.test.js", "test/amounts.test.js", "test/complete.test.js", "test/hrfile.test.js"} <= set(files)
    out = node("--test", *files)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    passed = int(re.search(r"^# pass (\d+)$", out.stdout, re.M).group(1))  # type: ignore[union-attr]
    assert re.search(r"^# fail 0$", out.stdout, re.M) and passed >= 70, out.stdout[-2000:]


def test_the_library_type_checks() -> None:
    out = node("node_modules/typescript/bin/tsc", "-p", "tsconfig.json")
    assert out.returncode == 0, out.stdout + out.stderr


# -- labels, canonical JSON, manifests ----------------------------------------------------------------

def test_labels_are_byte_identical_to_the_python_registry() -> None:
    assert interop("labels") == {m.name: m.value.hex() for m in Label}


TRICKY_STRINGS = [
    "".join(map(chr, range(128))),  # every ASCII character, control characters included
    "Gehaltsumfrage Zürich – 2026", "naïve café", "日本語の調査", "😀 emoji", "e\u0301 combining",
    "quote \" backslash \\ slash / tab \t newline \n return \r", "\u2028\u2029 line separators", "\ufeffBOM",
    "\x7f DEL \x80 \x9f C1", "</script><!--", "\u00a0\u3000 spaces", "\U0010ffff last code point",
]


def test_canonical_json_is_python_json_dumps_on_tricky_values() -> None:
    values: list[Any] = [{s: s} for s in TRICKY_STRINGS] + [
        {"\U0001f600": 1, "\uff5e": 2, "Z": 3, "a": 4, "": 5, "é": 6},  # code-point order, not UTF-16 order
        [0, -1, 2**127 - 1, -(2**200), True, False, None, [], {}, [[[]]]],
        {"nested": {"b": [1, {"d": 1, "c": 2}], "a": "x"}},
    ]
    # Transported as ASCII JSON so that the JavaScript parser, not the test, decodes every escape.
    texts = [json.dumps(v, ensure_ascii=True) for v in values]
    got = interop("canonical", {"texts": texts})
    for v, g in zip(values, got, strict=True):
        want = json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert g == {"text": want, "utf8": want.encode().hex()}, want


def test_json_parser_accepts_and_refuses_what_python_does() -> None:
    texts = ["1.0", "5e0", "NaN", "-Infinity", "01", "-0", "[1,]", "{\"a\":1,\"a\":2}", " \t\n\r{}\r\n", "\"\\ud800\"",
             "\"\\udc00\\ud800\"", "\"\\ud83d\\ude00\"", "\"a\x01\"", "\"\x7f\"", "\"\\x41\"", "\"\\u12G4\"", "[1] 2", "\ufeff{}",
             "1" + "0" * 4299, "1" + "0" * 4300, "{\"__proto__\": 1}", "[1e400]", "\"\\/\"", "\u00a01", "tru", ""]
    got = interop("canonical", {"texts": texts})
    for text, g in zip(texts, got, strict=True):
        try:
            value = json.loads(text)
        except ValueError:
            assert g == {"error": "syntax"}, text
            continue
        if _has_float(value):
            assert g == {"error": "float"}, text
            continue
        want = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert g["text"] == want, text
        try:
            assert g == {"text": want, "utf8": want.encode().hex()}, text
        except UnicodeEncodeError:  # an unpaired surrogate: no UTF-8 form on either side
            assert g == {"text": want, "error": "surrogate"}, text


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, (list, dict)):
        return any(_has_float(v) for v in (value.values() if isinstance(value, dict) else value))
    return False


def _vector_manifest() -> dict[str, Any]:
    return copy.deepcopy(json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))["manifest"])


def _manifest_variants() -> list[str]:
    """Manifests as text: valid ones with tricky but legal values, and invalid ones."""
    out: list[str] = []
    for title in TRICKY_STRINGS:
        d = _vector_manifest()
        d["title"], d["salary_unit"], d["created_at"] = title, title[::-1], title
        out += [json.dumps(d, ensure_ascii=False), json.dumps(d, ensure_ascii=True, indent=2)]
    d = _vector_manifest()
    d.update(categories=["female", "male", "divers", "ñ-binary"], job_categories=["forschung & entwicklung", "vente"],
             salary_bands=[1, 999_999, 1_000_000], dp_epsilon=" 1e-3 ", field_modulus=2**127 - 1)
    out.append(json.dumps(d))
    bare = _vector_manifest()
    for k in ("salary_unit", "min_group_size", "categories", "job_categories", "salary_bands", "dp_epsilon",
              "field_modulus", "encoding", "version", "created_at", "salary_max"):
        del bare[k]
    out.append(json.dumps(bare))
    mutations: list[tuple[str, Any]] = [
        ("version", 2), ("survey_id", "a b"), ("model", "honest"), ("threshold", 2), ("threshold", 1.0),
        ("threshold", True), ("title", None), ("categories", ["Female", "male"]), ("categories", ["female", "other"]),
        ("categories", [" male"]), ("categories", ["male", "female\u2003"]), ("job_categories", ["a,b"]),
        ("salary_bands", [5, 5]), ("salary_bands", [2_000_000]), ("salary_max", 10**12), ("min_group_size", 0),
        ("dp_epsilon", "0.0000001"), ("dp_epsilon", "101"), ("dp_epsilon", "x"), ("closes_at", "2026-12-31"),
        ("closes_at", "2026-13-01T00:00:00Z"), ("encoding", "v9"), ("field_modulus", str(2**61 - 1)),
        ("analyst_public_key", "zz"), ("surprise", 1),
    ]
    for key, value in mutations:
        d = _vector_manifest()
        d[key] = value
        out.append(json.dumps(d))
    for key, value in [("url", "http://x"), ("mpc_address", "x:0"), ("hpke_public_key", "00"), ("tls_cert_sha256", "0" * 64)]:
        d = _vector_manifest()
        d["nodes"][1][key] = value
        out.append(json.dumps(d))
    d = _vector_manifest()
    d["nodes"] = d["nodes"][:2]
    out += [json.dumps(d), "[]", "{", json.dumps(_vector_manifest()).replace('"title": "', '"title": "\\ud800')]
    return out


def test_manifest_identity_and_refusals_agree_with_python() -> None:
    texts = _manifest_variants()
    got = interop("manifests", {"manifests": texts})
    accepted = 0
    for text, g in zip(texts, got, strict=True):
        try:
            m = manifest_from_json(text)
            canonical = m.canonical_bytes()
        except (InvalidManifest, UnicodeEncodeError):
            assert "error" in g, f"JavaScript accepts a manifest Python refuses: {text[:200]}"
            continue
        if m.field_modulus != 2**127 - 1:  # the one rule where the page is deliberately stricter
            assert g == {"error": "this page supports surveys over the field 2^127 - 1 only"}
            continue
        assert g == {"sha256": hashlib.sha256(canonical).hexdigest(), "canonical": canonical.hex()}, text[:200]
        accepted += 1
    assert accepted == 2 * len(TRICKY_STRINGS) + 2


def test_the_javascript_refuses_with_the_python_message() -> None:
    """Where both refuse, the one-line reason is the same (same rules, same order)."""
    texts = _manifest_variants()
    got = interop("manifests", {"manifests": texts})
    same = 0
    for text, g in zip(texts, got, strict=True):
        try:
            manifest_from_json(text)
        except InvalidManifest as exc:
            prefix = "manifest has missing or unexpected fields"
            if str(exc).startswith(prefix):  # the detail after it names a Python exception
                assert g["error"].startswith(prefix), text[:200]
            else:
                assert g == {"error": str(exc)}, text[:200]
            same += 1
    assert same == len(texts) - (2 * len(TRICKY_STRINGS) + 2) - 2  # all but the accepted, 2^61 - 1 and the surrogate


# -- records and their validity proofs -----------------------------------------------------------------

P127 = (1 << 127) - 1
GENDER_KEYS = ("female", "male", "other", "nonbinary")
JOB_KEYS = ("engineering", "sales", "hr", "legal", "operations")


def _random_case(rng: random.Random) -> dict[str, Any]:
    """A random layout and a form's answers for it: mostly valid, spelled by key or label in any case,
    sometimes naming an unknown gender or job, leaving the job out or giving one, a salary out of
    range, or one written with digit groups, a decimal part or a currency."""
    genders = rng.sample(GENDER_KEYS, rng.randint(1, len(GENDER_KEYS)))
    jobs = rng.sample(JOB_KEYS, rng.choice([0, 0, 1, 2, len(JOB_KEYS)]))
    salary_max = rng.choice([1, 15, 20, 1000, 99_999, (1 << 31) - 1, 10**12 - 1])
    bands = sorted(rng.sample(range(1, salary_max + 1), rng.randint(0, min(4, salary_max))))
    gender_labels = {genders[0]: rng.choice(["Frau", "女", "Straße"])} if rng.random() < 0.3 else {}
    gender = rng.choice(genders)
    answer = gender_labels.get(gender, gender)
    job: str | None = rng.choice(jobs) if jobs else ""
    salary: int | str = rng.choice([0, salary_max, rng.randint(0, salary_max), *bands, *(b - 1 for b in bands)])
    fault = rng.randrange(8)
    if fault == 0:
        answer = rng.choice(["robot", "it's", " "])
    elif fault == 1:
        job = "marketing" if jobs or rng.random() < 0.5 else "sales"
    elif fault == 2:
        job = None
    elif fault == 3:
        salary = rng.choice([salary_max + 1, -1, 10**13])
    elif fault == 4:
        salary = f"  {salary} "
    elif fault == 5:
        answer = rng.choice([answer.upper(), f" {answer.title()}\u00a0"])
    elif fault == 6:
        salary = rng.choice([f"{salary:,}", f"{salary:,}.50", f"{salary}.5", f"EUR {salary}"])
    return {"genders": genders, "jobs": jobs, "bands": bands, "salary_max": str(salary_max), "gender": answer, "job": job,
            "salary": salary, "gender_labels": gender_labels, "job_labels": {},
            "randomness": [str(rng.randrange(P127)) for _ in range(6)]}


def _python_submission(case: dict[str, Any]) -> list[str] | dict[str, str]:
    scheme = Scheme.of(case["genders"], int(case["salary_max"]), case["jobs"], case["bands"])
    try:
        record = make_record(case["gender"], case["salary"], scheme, case["job"], gender_labels=case["gender_labels"])
    except InvalidSubmission as exc:
        return {"error": str(exc)}
    vec = prove(encode_record(record, scheme), Layout(scheme), P127, [int(x) for x in case["randomness"]])
    return [str(v) for v in vec]


def test_javascript_submission_vectors_are_pythons_on_random_layouts_and_answers() -> None:
    """The same answers and proof randomness give the same submission vector (or the same refusal)."""
    rng = random.Random(20261205)
    cases = [_random_case(rng) for _ in range(160)]
    got = interop("submissions", {"cases": cases})
    want = [_python_submission(c) for c in cases]
    for case, g, w in zip(cases, got, want, strict=True):
        assert g == w, case
    refused = sum(isinstance(w, dict) for w in want)
    assert 25 <= refused <= 100  # both outcomes are exercised
    assert {w["error"].split(" ")[0] for w in want if isinstance(w, dict)} >= {"unknown", "salary", "job", "this"}


def test_a_javascript_submission_with_fresh_randomness_passes_pythons_validity_checks() -> None:
    """End to end: the JavaScript's vector (its own random proof values) is a valid record by the
    plaintext oracle and passes every check the nodes run, under a challenge it did not see."""
    scheme = Scheme.of(["female", "male", "other"], 20_000, ["engineering", "sales"], [3000, 6000])
    layout = Layout(scheme)
    cases = [{"genders": list(scheme.genders), "jobs": list(scheme.jobs), "bands": [3000, 6000], "salary_max": "20000",
              "gender": r.gender, "job": r.job, "salary": r.salary, "gender_labels": {}, "job_labels": {}} for r in RECORDS]
    got = interop("submissions", {"cases": cases})
    for r, g in zip(RECORDS, got, strict=True):
        vec = [int(x) for x in g]
        assert len(vec) == layout.width == scheme.vector_length
        assert vec[: layout.record_width] == encode_record(r, scheme)
        assert plain_reason(vec[: layout.record_width], layout) is None
        challenge = derive_challenge(hashlib.sha256(b"test_web_core: validity " + str(r).encode()).digest(), layout, P127)
        opened = all_openings(as_matrix([vec], layout.width), layout, challenge, P127)
        assert decide(opened.tolist(), P127) == [None]
        tampered = list(vec)
        tampered[layout.h_at + 1] = (tampered[layout.h_at + 1] + 1) % P127
        assert decide(all_openings(as_matrix([tampered], layout.width), layout, challenge, P127).tolist(), P127) != [None]


FOLD_TEXTS = ["Female", "STRASSE", "Straße", "ΣΊΣΥΦΟΣ", "σίσυφος", "ﬁ", "Ｍａｌｅ", "\u00a0other\t", "女", "İstanbul",
              "ǅemal", "Ⅻ", "ÅNGSTRÖM", "e\u0301", "\u212a"]


def test_answers_fold_and_messages_quote_as_python_does() -> None:
    """Tricky words, and every character Python's Unicode version assigns (private use aside):
    folded, quoted by repr() and classified by isdigit() alike.  Characters assigned later may
    fold in a newer Node and not here."""
    assigned = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) not in ("Cn", "Cs", "Co")]
    texts = FOLD_TEXTS + assigned
    got = interop("text", {"texts": texts})
    want = [{"fold": fold(t), "repr": repr(t), "isdigit": t.isdigit()} for t in texts]
    assert [(t, g, w) for t, g, w in zip(texts, got, want, strict=True) if g != w] == []
    assert len(assigned) > 140_000


AMOUNT_PIECES = ["1", "4", "0", "100", "000", "52", "1234", ",", ".", ",", ".", "'", " ", "\u00a0", "+", "-", "e", "E3", "_",
                 "\u20ac", "$", "NT$", "TWD", "twd", "\u0664", "\u00b2", "x", "12", "50", "5"]


def _amount_texts(rng: random.Random) -> list[str]:
    """Amounts as people write them (grouped, with a decimal part, a currency, a sign) and
    random runs of the characters amounts are made of."""
    out = []
    for _ in range(1500):
        whole = str(rng.choice([0, 7, 52, 999, 4100, 52_000, 1_234_567, rng.randrange(10**9)]))
        sep = rng.choice(["", ",", ".", "'", " ", "\u00a0", "\u202f"])
        groups = [whole[max(0, k - 3): k] for k in range(len(whole), 0, -3)][::-1] if sep else [whole]
        text = sep.join(groups) + rng.choice(["", "", ".5", ",50", ".50", ",5", ".123", ",123", "."])
        text = rng.choice(["", "", "+", "-", "NT$ ", "\u20ac", "$"]) + text + rng.choice(["", "", " TWD", "twd", " \u20ac"])
        out.append(rng.choice(["", " ", "\t"]) + text + rng.choice(["", " "]))
        out.append("".join(rng.choice(AMOUNT_PIECES) for _ in range(rng.randint(1, 7))))
    return out + ["", " ", "9" * 64, "9" * 65, "4,100", "1.234", "4e3", "4_100", "\u0664\u0661", "abc", "-0", "-5"]


def test_amounts_are_read_and_refused_as_python_reads_them() -> None:
    rng = random.Random(20261205)
    marks = frozenset({"TWD", "NT$", "$"})
    formats = [(None, frozenset(), ""), (DecimalMark.POINT, frozenset(), ""), (DecimalMark.COMMA, marks, "TWD"),
               (None, marks, "TWD")]
    cases: list[dict[str, Any]] = []
    want: list[Fraction | dict[str, str]] = []
    for text in _amount_texts(rng):
        decimal, currency_marks, currency = rng.choice(formats)
        what = rng.choice(["salary", "hours"])
        cases.append({"text": text, "decimal": decimal.value if decimal else None, "marks": sorted(currency_marks),
                      "currency": currency, "what": what})
        try:
            value = parse_amount(text, AmountFormat(decimal, currency_marks, currency), what)
            want.append(value)
        except InvalidSubmission as exc:
            want.append({"error": str(exc)})
    got = interop("amounts", {"cases": cases})
    for case, g, w in zip(cases, got, want, strict=True):
        assert (Fraction(int(g[0]), int(g[1])) if isinstance(g, list) else g) == w, case
    read = sum(isinstance(w, Fraction) for w in want)
    assert 300 <= read <= len(want) - 300  # both outcomes are exercised
    messages = {w["error"].split(" ", 2)[-1][:12] for w in want if isinstance(w, dict)}
    assert len(messages) > 10


# -- uploads made in JavaScript, checked by real nodes --------------------------------------------------

@dataclasses.dataclass
class Cluster:
    survey: Survey
    ingests: list[Ingest]
    stores: list[NodeStore]
    keys: list[bytes]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    s = make_survey(tmp_path, tokens=12, job_categories=("engineering", "sales"), salary_bands=(3000, 6000),
                    salary_max=20_000)
    bundle = json.loads((s.dir / "node-bundle.json").read_text())
    stores, ingests, keys = [], [], []
    for d in s.node_dirs:
        store = NodeStore(d / "node.db")
        pub = load_public(d)
        store.import_survey(bundle, pub.hpke_public_key, pub.tls_cert_sha256)
        stores.append(store)
        ingests.append(Ingest(store, load_hpke_private(d)))
        keys.append(private_bytes(load_hpke_private(d)))
    yield Cluster(s, ingests, stores, keys)
    for store in stores:
        store.close()


RECORDS = [Record("female", 4200, "engineering"), Record("male", 2999, "sales"), Record("other", 20_000, "sales"),
           Record("female", 0, "sales"), Record("male", 6000, "engineering")]


def _opened(c: Cluster, i: int, sealed: bytes, sid: str) -> list[int]:
    m = c.survey.manifest
    return open_shares(sealed, load_hpke_private(c.survey.node_dirs[i]), m.hash(), i, bytes.fromhex(sid),
                       m.vector_length(), m.field_modulus)


def test_uploads_prepared_in_javascript_are_accepted_by_python_nodes(cluster: Cluster) -> None:
    c, m = cluster, cluster.survey.manifest
    vectors = [encode_submission(r, m.scheme(), m.field_modulus) for r in RECORDS]
    assert all(len(v) == m.vector_length() for v in vectors)
    tokens = c.survey.tokens
    out = interop("prepare", {"manifest": m.canonical_bytes().decode(), "vectors": [[str(x) for x in v] for v in vectors[:2]],
                              "tokens": tokens[:2], "batch_vectors": [[str(x) for x in v] for v in vectors],
                              "batch_tokens": tokens[2:7]})
    # one request per record and node: every node stores it, and a repeat is answered "duplicate"
    for r, single in enumerate(out["singles"]):
        shares = {}
        for i, ingest in enumerate(c.ingests):
            body = single["bodies"][i].encode()
            ack = ingest.check_upload(m.survey_id, body)
            sealed = base64.b64decode(json.loads(body)["envelope"])
            assert (ack.status, ack.submission_id, ack.node_index) == ("stored", single["submission_id"], i)
            assert ack.envelope_sha256 == hashlib.sha256(sealed).hexdigest()
            assert ingest.check_upload(m.survey_id, body).status == "duplicate"
            shares[i] = _opened(c, i, sealed, single["submission_id"])
        assert reconstruct_vector(shares, m.threshold, m.field_modulus) == vectors[r]
    # a batch: the binary form at nodes 0 and 1, the JSON form at node 2, one transaction each
    batch = out["batch"]
    for i, ingest in enumerate(c.ingests):
        binary = base64.b64decode(batch["binary"][i])
        bulk_ack = (ingest.check_batch(m.survey_id, binary, True) if i < 2
                    else ingest.check_batch(m.survey_id, batch["json"][i].encode(), False))
        assert bulk_ack.statuses == ["stored"] * len(vectors) and bulk_ack.submission_ids == batch["ids"]
        assert bulk_ack.envelope_sha256 == hashlib.sha256(BulkBody.from_bytes(binary).envelope).hexdigest()
    for store in c.stores:
        assert store.count(m.survey_id) == 2 + len(vectors)
    _check_batch_shares(c, batch, vectors)


def _check_batch_shares(c: Cluster, batch: dict[str, Any], vectors: list[list[int]]) -> None:
    """Every batch record reconstructs to its Python-encoded vector from the nodes' opened blocks."""
    m = c.survey.manifest
    width = m.vector_length()
    per_node = {}
    for i in range(m.n):
        body = BulkBody.from_bytes(base64.b64decode(batch["binary"][i]))
        block = open_share_block(body.envelope, load_hpke_private(c.survey.node_dirs[i]), m.hash(), i,
                                 batch_envelope_id(body.batch_key), len(vectors), width)
        per_node[i] = decode_elements(block, len(vectors) * width, m.field_modulus)
    for r, vec in enumerate(vectors):
        shares = {i: per_node[i][r * width: (r + 1) * width] for i in per_node}
        assert reconstruct_vector(shares, m.threshold, m.field_modulus) == vec


def test_a_javascript_upload_sealed_for_one_node_is_refused_by_another(cluster: Cluster) -> None:
    c, m = cluster, cluster.survey.manifest
    vec = encode_submission(RECORDS[0], m.scheme(), m.field_modulus)
    out = interop("prepare", {"manifest": m.canonical_bytes().decode(), "vectors": [[str(x) for x in vec]],
                              "tokens": [c.survey.tokens[0]], "batch_vectors": [[str(x) for x in vec]],
                              "batch_tokens": [c.survey.tokens[1]]})
    with pytest.raises(SurveyError, match="does not open"):
        c.ingests[1].check_upload(m.survey_id, out["singles"][0]["bodies"][0].encode())
    with pytest.raises(SurveyError, match="does not open"):
        c.ingests[0].check_batch(m.survey_id, base64.b64decode(out["batch"]["binary"][2]), True)


# -- values made in Python, checked in JavaScript ---------------------------------------------------------

def test_python_certificates_batches_and_envelopes_verify_and_open_in_javascript(cluster: Cluster) -> None:
    c, m = cluster, cluster.survey.manifest
    mh, p, n, width = m.hash(), m.field_modulus, m.n, m.vector_length()
    vectors = [encode_submission(r, m.scheme(), p) for r in RECORDS[:3]]
    shared = [share_vector(v, n, m.threshold, p) for v in vectors]
    share_bytes = [[encode_elements(s, p) for s in rec] for rec in shared]
    sk_raw = hashlib.sha256(b"test_web_core: one-time key").digest()
    sk = Ed25519PrivateKey.from_private_bytes(sk_raw)
    sid, cert = make_certificate(mh, share_bytes[0], sk)
    batch = make_batch(mh, share_bytes, sk)
    env_id = batch_envelope_id(batch.public_key)
    sealed = [seal_shares(shared[0][i], nd.hpke_public_key, mh, i, bytes.fromhex(sid), p) for i, nd in enumerate(m.nodes)]
    blocks = [b"".join(share_bytes[r][i] for r in range(3)) for i in range(n)]
    sealed_blocks = [seal_share_block(blocks[i], 3, width, nd.hpke_public_key, mh, i, env_id)
                     for i, nd in enumerate(m.nodes)]
    tampered = bytearray(cert)
    tampered[100] ^= 1
    common = {"mh": mh.hex(), "n": n}
    checks: list[dict[str, Any]] = [
        {"kind": "certificate", "cert": cert.hex(), "sid": sid, **common},
        {"kind": "make_certificate", "shares": [b.hex() for b in share_bytes[0]], "sk": sk_raw.hex(), **common},
        {"kind": "batch", "key": batch.public_key.hex(), "signature": batch.signature.hex(),
         "commitments": b"".join(batch.commitments).hex(), "k": 3, **common},
        {"kind": "make_batch", "rows": [[b.hex() for b in row] for row in share_bytes], "sk": sk_raw.hex(), **common},
        *({"kind": "certificate", "cert": batch.certificate(r).hex(), "sid": batch.ids[r], **common} for r in range(3)),
        *({"kind": "open", "sealed": sealed[i].hex(), "sk": c.keys[i].hex(), "node": i, "sid": sid, "count": width,
           **common} for i in range(n)),
        *({"kind": "open_block", "sealed": sealed_blocks[i].hex(), "sk": c.keys[i].hex(), "node": i,
           "envelope_id": env_id.hex(), "rows": 3, "width": width, **common} for i in range(n)),
        # refusals, each with the message the node gives
        {"kind": "certificate", "cert": bytes(tampered).hex(), "sid": sid, **common},
        {"kind": "certificate", "cert": cert.hex(), "sid": batch.ids[0], **common},
        {"kind": "certificate", "cert": batch.certificate(1).hex(), "sid": batch.ids[2], **common},
        {"kind": "open", "sealed": sealed[0].hex(), "sk": c.keys[1].hex(), "node": 0, "sid": sid, "count": width, **common},
    ]
    got = interop("checks", {"checks": checks})
    commitments = [cert[96 + 32 * j: 128 + 32 * j].hex() for j in range(n)]
    assert got[0] == {"commitments": commitments}
    assert got[1] == {"sid": sid, "cert": cert.hex()}  # Ed25519 is deterministic: the same bytes
    certificates = [batch.certificate(r).hex() for r in range(3)]
    assert got[2] == {"ids": list(batch.ids), "certificates": certificates}
    assert got[3] == {"key": batch.public_key.hex(), "signature": batch.signature.hex(),
                      "commitments": b"".join(batch.commitments).hex(), "ids": list(batch.ids), "certificates": certificates}
    for r in range(3):
        assert got[4 + r] == {"commitments": [batch.commitments[r][32 * j: 32 * (j + 1)].hex() for j in range(n)]}
    assert got[7: 7 + n] == [b.hex() for b in share_bytes[0]]
    assert got[7 + n: 7 + 2 * n] == [b.hex() for b in blocks]
    refusals = got[7 + 2 * n:]

    def python_says(cert_bytes: bytes, sub_id: str) -> str:
        with pytest.raises(SurveyError) as info:
            verify_certificate(cert_bytes, sub_id, n, mh)
        return str(info.value)

    assert refusals[0] == {"error": python_says(bytes(tampered), sid)}
    assert refusals[1] == {"error": python_says(cert, batch.ids[0])}
    assert refusals[2] == {"error": python_says(batch.certificate(1), batch.ids[2])}
    assert refusals[3] == {"error": "sealed data does not open: tampered, or sealed for another survey, node or submission"}


# -- complete surveys: manifests, records and proofs, batches --------------------------------------------

def _complete_fields(rng: random.Random, salary_max: int) -> dict[str, Any]:
    """A random valid choice of a complete survey's fields (or none of them)."""
    comps = rng.choice([[], ["basic"], ["basic", "variable"], ["basic", "hours"], ["basic", "variable", "hours"]])
    out: dict[str, Any] = {}
    if comps:
        out.update(components=comps, pay_period=rng.choice(["annual", "monthly"]))
    if "variable" in comps:
        vmax = rng.randint(1, salary_max)
        out.update(variable_max=vmax, variable_bands=sorted(rng.sample(range(2, vmax + 1), min(rng.randint(0, 3), vmax - 1))))
    if "hours" in comps:
        ymax = rng.choice([1, 300, 30_000, 10**12 - 1, 10**12 - 1, 10**12 - 1])
        out.update(hours_max=rng.choice([1, 40, 200, 100_000]), hourly_max=ymax,
                   hourly_bands=sorted(rng.sample(range(1, ymax + 1), min(rng.randint(0, 3), ymax))))
    return out


def _random_manifests(rng: random.Random, count: int) -> list[str]:
    """Manifests with and without every field of a complete survey, the labels and the filing details."""
    out = []
    for _ in range(count):
        d = _vector_manifest()
        d["salary_max"] = rng.choice([1, 20, 15_000, 999_999_999_999])
        d["salary_bands"] = sorted(rng.sample(range(1, d["salary_max"] + 1), min(3, d["salary_max"])))
        d.update(_complete_fields(rng, d["salary_max"]))
        if rng.random() < 0.4:
            d["gender_labels"] = dict(rng.sample([("female", "Frau"), ("male", "男"), ("other", "Divers")], rng.randint(1, 3)))
        if rng.random() < 0.3:
            d["job_labels"] = {"sales": rng.choice(["Vertrieb", "Ventes & co"])}
        if rng.random() < 0.4:
            d["organisation"] = rng.choice(["Muster AG", "台灣公司", "x" * 200])
        if rng.random() < 0.4:
            d["reporting_period"] = rng.choice(["2026", "2026-01 to 2026-12"])
        out.append(json.dumps(d, ensure_ascii=rng.random() < 0.5))
    return out


COMPLETE_MUTATIONS: list[dict[str, Any]] = [
    {"components": ["variable"]}, {"components": ["basic", "hours", "variable"]}, {"components": ["basic", "basic"]},
    {"components": ["basic", "bonus"]}, {"components": "basic"}, {"components": ["basic"]},
    {"components": ["basic"], "pay_period": "weekly"}, {"pay_period": "annual"},
    {"components": ["basic", "variable"], "pay_period": "annual"},
    {"components": ["basic"], "pay_period": "annual", "variable_max": 5},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": 5, "variable_bands": [1]},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": 5, "variable_bands": [3, 3]},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": 5, "variable_bands": [6]},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": 2_000_000},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": 5.0},
    {"components": ["basic", "variable"], "pay_period": "annual", "variable_max": True},
    {"variable_bands": [5]}, {"hourly_max": 5}, {"variable_max": -5}, {"hours_max": -5},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 0, "hourly_max": 5},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 100_001, "hourly_max": 5},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 10, "hourly_max": 0},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 10, "hourly_max": 10**12},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 10, "hourly_max": 50, "hourly_bands": [50, 51]},
    {"components": ["basic", "hours"], "pay_period": "monthly", "hours_max": 10, "hourly_max": 50, "hourly_bands": ["5"]},
    {"components": ["basic", "variable", "hours"], "pay_period": "annual", "variable_max": 1000, "hours_max": 10,
     "hourly_max": 20_000, "hourly_bands": list(range(1, 20_000, 2)), "salary_bands": []},
    {"salary_bands": list(range(1, 6000))},
    {"gender_labels": {}}, {"gender_labels": {"female": 1}}, {"gender_labels": ["female"]},
    {"gender_labels": {"robot": "R"}}, {"gender_labels": {"female": " Frau"}}, {"gender_labels": {"female": "a,b"}},
    {"gender_labels": {"female": "a=b"}}, {"gender_labels": {"female": "a\u200bb"}}, {"gender_labels": {"female": "x" * 65}},
    {"gender_labels": {"female": "MALE"}}, {"gender_labels": {"female": "Ｍａｌｅ"}},
    {"gender_labels": {"female": "X", "other": "x"}}, {"job_labels": {"sales": "Engineering"}}, {"job_labels": {"hr": "HR"}},
    {"organisation": " Muster AG"}, {"organisation": "x" * 201}, {"organisation": "a\nb"}, {"organisation": 5},
    {"reporting_period": "2026\u00ad"}, {"reporting_period": None},
]


def _mutated(mutation: dict[str, Any]) -> str:
    d = _vector_manifest()
    d.update(mutation)
    return json.dumps(d)


def test_manifests_with_and_without_each_complete_field_hash_as_in_python() -> None:
    """Random manifests (every complete-survey field, labels, filing details, each set or not) and
    broken ones: the same canonical bytes and hash, or the same one-line refusal."""
    texts = _random_manifests(random.Random(20261205), 120) + [_mutated(m) for m in COMPLETE_MUTATIONS]
    got = interop("manifests", {"manifests": texts})
    accepted, refused = 0, 0
    for text, g in zip(texts, got, strict=True):
        try:
            canonical = manifest_from_json(text).canonical_bytes()
        except InvalidManifest as exc:
            prefix = "manifest has missing or unexpected fields"
            assert (g["error"].startswith(prefix) if str(exc).startswith(prefix) else g == {"error": str(exc)}), text[-300:]
            refused += 1
            continue
        assert g == {"sha256": hashlib.sha256(canonical).hexdigest(), "canonical": canonical.hex()}, text[-300:]
        accepted += 1
    assert accepted >= 120 and refused >= len(COMPLETE_MUTATIONS) - 3, (accepted, refused)


def test_web_fields_agree_with_python_once_it_has_them() -> None:
    """language, web_page_sha256, web_origins and nodes' web_url: the same bytes and refusals as
    protocol/manifest.py, once it defines them."""
    names = {f.name for f in dataclasses.fields(manifest_from_json(_mutated({})))}
    if "language" not in names:
        pytest.skip("protocol/manifest.py does not define the page's fields (language, web_*) on this branch")
    good: list[dict[str, Any]] = [{"language": "en"}, {"language": "zh-TW"}, {"language": "sr-Latn-RS"},
                                  {"web_page_sha256": "ab" * 32}, {"web_origins": ["https://survey.example.org"]},
                                  {"web_origins": ["https://a.example:8443", "https://b.example"]}, {"language": ""},
                                  {"web_origins": []}]
    bad: list[dict[str, Any]] = [{"language": "EN"}, {"language": "english"}, {"language": "en-" + "a" * 9},
                                 {"language": "en-ab-cd-ef-gh"}, {"web_page_sha256": "AB" * 32},
                                 {"web_page_sha256": "ab" * 31}, {"web_origins": ["http://a.example"]},
                                 {"web_origins": ["https://a.example/"]}, {"web_origins": ["https://A.example"]},
                                 {"web_origins": ["https://a.example:0"]}, {"web_origins": ["https://a.example:65536"]},
                                 {"web_origins": ["https://a.example"] * 2},
                                 {"web_origins": [f"https://{i}.example" for i in range(17)]}, {"web_origins": "x"},
                                 {"language": 5}]
    texts = [_mutated(m) for m in good + bad]
    for url in ("https://proxy.example/node0", "http://proxy.example", ""):
        d = _vector_manifest()
        d["nodes"][0]["web_url"] = url
        texts.append(json.dumps(d))
    got = interop("manifests", {"manifests": texts})
    for text, g in zip(texts, got, strict=True):
        try:
            canonical = manifest_from_json(text).canonical_bytes()
        except InvalidManifest as exc:
            prefix = "manifest has missing or unexpected fields"
            assert (g["error"].startswith(prefix) if str(exc).startswith(prefix) else g == {"error": str(exc)}), text[-300:]
            continue
        assert g == {"sha256": hashlib.sha256(canonical).hexdigest(), "canonical": canonical.hex()}, text[-300:]


def _random_complete_case(rng: random.Random) -> dict[str, Any]:
    """A random complete layout and a form's answers for it, with the faults a form can have."""
    case = _random_case(rng)
    smax = int(case["salary_max"])
    fields = _complete_fields(rng, min(smax, 10**6))
    comps = fields.get("components", ["basic", "variable"])
    vmax = fields.get("variable_max", rng.randint(1, min(smax, 10**6))) if "variable" in comps else 0
    case.update(variable_max=str(vmax), variable_bands=fields.get("variable_bands", []) if vmax else [],
                hours_max=fields.get("hours_max", 0), hourly_max=str(fields.get("hourly_max", 0)),
                hourly_bands=fields.get("hourly_bands", []))
    scheme = Scheme.of(case["genders"], smax, case["jobs"], case["bands"], variable_max=vmax,
                       variable_bands=case["variable_bands"], hours_max=case["hours_max"],
                       hourly_max=int(case["hourly_max"]), hourly_bands=case["hourly_bands"])
    if vmax:
        valid = [0, 1, vmax, rng.randint(0, vmax), str(rng.randint(0, vmax)), f"{vmax:,}"]
        case["variable"] = rng.choice(valid if rng.random() < 0.8 else [f"{vmax},5", vmax + 1, " ", None, -1])
    elif rng.random() < 0.1:
        case["variable"] = 0
    if case["hours_max"]:
        hmax = case["hours_max"]
        valid = [1, hmax, rng.randint(1, hmax), f"{rng.randint(1, hmax * 100) / 100}"]
        case["hours"] = rng.choice(valid if rng.random() < 0.8 else ["0", "0.004", hmax + 1, None, "", "37,5"])
    elif rng.random() < 0.1:
        case["hours"] = 8
    case["randomness"] = [str(rng.randrange(P127)) for _ in range(2 + 2 * scheme.triples)]
    return case


def _python_complete_submission(case: dict[str, Any]) -> list[str] | dict[str, str]:
    scheme = Scheme.of(case["genders"], int(case["salary_max"]), case["jobs"], case["bands"],
                       variable_max=int(case["variable_max"]), variable_bands=case["variable_bands"],
                       hours_max=case["hours_max"], hourly_max=int(case["hourly_max"]), hourly_bands=case["hourly_bands"])
    try:
        record = make_record(case["gender"], case["salary"], scheme, case["job"], gender_labels=case["gender_labels"],
                             variable=case.get("variable"), hours=case.get("hours"))
    except InvalidSubmission as exc:
        return {"error": str(exc)}
    return [str(v) for v in encode_submission_with(record, scheme, [int(x) for x in case["randomness"]])]


def encode_submission_with(record: Record, scheme: Scheme, randomness: list[int]) -> list[int]:
    return prove(encode_record(record, scheme), Layout(scheme), P127, randomness)


def test_complete_submission_vectors_are_pythons_on_random_layouts_and_answers() -> None:
    """Complete surveys (variable pay, hours, both): the same answers and randomness give the
    same vector as protocol's make_record, encode_record and prove, or the same refusal."""
    rng = random.Random(20261206)
    cases = [_random_complete_case(rng) for _ in range(240)]
    got = interop("submissions", {"cases": cases})
    want = [_python_complete_submission(c) for c in cases]
    for case, g, w in zip(cases, got, want, strict=True):
        assert g == w, case
    refused = [w["error"] for w in want if isinstance(w, dict)]
    assert 40 <= len(refused) <= 180, len(refused)
    for start in ("variable pay", "hours", "hourly pay", "this survey does not collect", "unknown gender", "salary above"):
        assert any(e.startswith(start) for e in refused), start


def _demo_complete_manifest() -> dict[str, Any]:
    d = _vector_manifest()
    d.update(salary_max=12_000, salary_bands=list(range(500, 12_000, 500)), components=["basic", "variable", "hours"],
             pay_period="monthly", variable_max=2000, variable_bands=list(range(100, 2000, 100)), hours_max=200,
             hourly_max=30_000, hourly_bands=list(range(200, 30_000, 200)), gender_labels={"female": "Frau"})
    return d


def test_batched_vectors_of_a_complete_survey_are_pythons() -> None:
    """recordFromAnswers and the batched prover (the HR-file path) against make_record, encode_record
    and prove with the same randomness, with refusals in between."""
    d = _demo_complete_manifest()
    m = manifest_from_json(json.dumps(d))
    rng = random.Random(7)
    answers, randomness, want = [], [], []
    for k in range(60):
        a = {"gender": rng.choice(["frau", "MALE", "other"]), "job": rng.choice(["engineering", "sales", "support"]),
             "basic": str(rng.randint(0, 10_000)), "variable": str(rng.choice([0, rng.randint(0, 2000)])),
             "hours": rng.choice(["160", "37.5", "0.5", str(rng.randint(1, 200))])}
        if k % 9 == 4:
            a["gender"] = "robot"
        rand = [rng.randrange(P127) for _ in range(2 + 2 * m.scheme().triples)]
        answers.append(a)
        randomness.append([str(x) for x in rand])
        try:
            rec = make_record(a["gender"], a["basic"], m.scheme(), a["job"], gender_labels=dict(m.gender_labels),
                              variable=a["variable"], hours=a["hours"])
            want.append([str(v) for v in encode_submission_with(rec, m.scheme(), rand)])
        except InvalidSubmission as exc:
            want.append({"error": str(exc)})
    got = interop("vectors", {"manifest": m.canonical_bytes().decode(), "answers": answers, "randomness": randomness})
    assert got == want
    assert 5 <= sum(isinstance(w, dict) for w in want) <= 30


# -- HR files read in the browser -----------------------------------------------------------------------

def _hr_rows(rng: random.Random, complete: bool, comma: bool) -> list[list[str]]:
    """Data rows as HR systems export them: valid ones and the mistakes rows have."""
    rows = []
    for _ in range(rng.randint(3, 25)):
        basic = rng.randint(0, 12_000)
        amount = f"{basic:,}".replace(",", ".") + ",50" if comma and rng.random() < 0.3 else str(basic)
        row = [rng.choice(["female", "Male", " other ", "Frau", "robot", ""]),
               rng.choice(["engineering", "Sales", "support", "hr", ""]), rng.choice([amount] * 6 + ["abc", "-5", "1e3", "€ 400"])]
        if complete:
            row += [rng.choice(["0", "150", str(rng.randint(0, 2500)), "x"]),
                    rng.choice(["160", "37" + ("," if comma else ".") + "5", "0", "201", "0.001" if not comma else "0,001", ""])]
        rows.append(row[: rng.choice([len(row)] * 12 + [1])])
    return rows


def _hr_file(rng: random.Random, complete: bool) -> tuple[bytes, dict[str, Any]]:
    """A random HR file's bytes (delimiter, encoding, quoting, line ends, blank lines) and how to read it."""
    delim = rng.choice([",", ";", "\t", "|"])
    comma = delim != "," and rng.random() < 0.5
    header = ["Gender", rng.choice(["job", "Category", "JOB"]), rng.choice(["basic", "Salary", "pay"] if complete else ["salary", "PAY"])]
    if complete:
        header += ["variable", "Hours"]
    columns: dict[str, str] = {}
    if rng.random() < 0.2:
        header[0] = "Geschlecht"
        columns["gender"] = "geschlecht"
    lines = [header] + _hr_rows(rng, complete, comma)
    buf = io.StringIO()
    csv.writer(buf, delimiter=delim, lineterminator=rng.choice(["\n", "\r\n"]),
               quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])).writerows(lines)
    text = buf.getvalue()
    if rng.random() < 0.2:
        text = "\n" + text.replace("\n", "\n\n", 1)
    if rng.random() < 0.2:
        text += f'"female"{delim}"sales, with ""quotes""\nand a new line"{delim}100\n'
    encoding = rng.choice(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "cp1252"])
    return text.encode(encoding), {"columns": columns}


def _python_hr(path: Path, manifest: Any, columns: dict[str, str], decimal: str | None) -> dict[str, Any]:
    try:
        check = check_file(path, manifest, ReadOptions.of([f"{k}={v}" for k, v in columns.items()], decimal))
    except InvalidSubmission as exc:
        return {"error": str(exc)}
    if not check.rows and not check.problems:
        return {"error": f"{path} has no data rows"}
    return {"rows": [[r.line, r.record.gender, r.record.job, str(r.record.salary), str(r.record.variable), str(r.record.hours)]
                     for r in check.rows],
            "errors": [str(p) for p in check.problems], "described": check.table.described}


HR_FILES_FIXED: list[tuple[bytes, dict[str, Any]]] = [
    (b"", {}), (b"\n \n", {}), (b"gender,salary\n", {}), (b"gender,job\nmale,sales\n", {}),
    (b"gender,job,salary\nmale,sales,4.100,50\n", {}), (b"gender;job;salary\nmale;sales;4.100,50\nmale;sales;4,100.50\n", {}),
    (b"gender,job,salary\nmale,sales,1\x00\n", {}), ("gender,job,salary\nmale,sales,1\x00\n".encode("utf-16"), {}), (b"gender,job,salary\nm\x81le,sales,1\n", {}),
    ("gender,job,salary\nmännlich,sales,1\n".encode("utf-16-le") + b"\x00\xd8a\x00", {}),
    ("gender,job,salary\nmale,sales,€ 100\n".encode("cp1252"), {}), (b"gender,job,salary\nmale,sales,4100\n", {"decimal": ","}),
    (b"gender,job,salary\nmale,sales,4100\n", {"columns": {"gender": "sex"}}), (b"gender,job,gender\nmale,sales,4\n", {}),
    (b"gender,job,salary,hours\nmale,sales,4,2\n", {"columns": {"hours": "hours"}}),
    (b'gender,job,salary\nmale,sales,"4\n', {}), (b"gender,job,salary\r\nmale,\"sa\"les,4\r\n\r\n", {}),
    (b"gender\tjob\tsalary\nmale\tsales\t4\nfemale\tsupport\n", {}), ("gender,job,salary\n\ufeffmale,sales,1\n".encode("utf-8-sig"), {}),
]


def test_hr_files_are_read_as_contributor_hrfile_reads_them(tmp_path: Path) -> None:
    """Random CSV files (delimiters, encodings, quoting, line ends, decimal commas, bad rows) and
    broken ones, for a one-figure and a complete survey: the same rows, row errors (line, column,
    message), description, or the same refusal as contributor/hrfile.py's check_file."""
    one = manifest_from_json(json.dumps({**_vector_manifest(), "gender_labels": {"female": "Frau"}}))
    complete = manifest_from_json(json.dumps(_demo_complete_manifest()))
    rng = random.Random(20261207)
    files = [(*_hr_file(rng, k % 2 == 1), complete if k % 2 else one) for k in range(80)]
    files += [(data, opts, one) for data, opts in HR_FILES_FIXED]
    payload, want = [], []
    for k, (data, opts, m) in enumerate(files):
        path = tmp_path / f"hr{k}.csv"
        path.write_bytes(data)
        payload.append({"bytes": data.hex(), "name": str(path), "manifest": m.canonical_bytes().decode(),
                        "columns": opts.get("columns", {}), "decimal": opts.get("decimal")})
        want.append(_python_hr(path, m, opts.get("columns", {}), opts.get("decimal")))
    got = interop("hrfiles", {"files": payload})
    for p, g, w in zip(payload, got, want, strict=True):
        assert g == w, bytes.fromhex(p["bytes"])[:400]
    rows = sum(len(w.get("rows", [])) for w in want)
    errors = [e for w in want for e in w.get("errors", [])]
    refusals = [w["error"] for w in want if "error" in w]
    assert rows > 150 and len(errors) > 300 and len(refusals) >= 11, (rows, len(errors), len(refusals))
    assert {w["described"].split(", ")[1] for w in want if "described" in w} >= {"utf-8", "utf-8-sig", "utf-16", "utf-16-le",
                                                                                 "utf-16-be", "cp1252"}


def test_currency_marks_are_babels() -> None:
    """The currency symbols accepted beside amounts: the platform's CLDR data, as Babel's."""
    from contributor.amounts import currency_marks

    codes = ["EUR", "TWD", "USD", "GBP", "JPY", "CHF", "SEK", "PLN", "CNY", "KRW", "INR", "BRL", "AUD", "CAD"]
    assert interop("currencies", {"codes": codes}) == [sorted(currency_marks(c)) for c in codes]


def _xlsx_file(path: Path, rng: random.Random, complete: bool) -> None:
    """A workbook as HR systems export it (openpyxl): numbers as numbers (whole, with cents,
    negative), text amounts, labels, dates and booleans where they do not belong, blank rows, a
    leading empty row and column."""
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = rng.choice(["Staff", "Personal 2026", "Sheet1"])
    start = rng.choice([1, 2])
    header = ["Gender", "Job", "Basic" if complete else "Salary"] + (["Variable", "Hours"] if complete else [])
    rows: list[list[Any]] = [header]
    for _ in range(rng.randint(5, 30)):
        row: list[Any] = [rng.choice(["female", "Male", "Frau", "female", "robot", True, 3]),
                          rng.choice(["sales", "support", "sales", "hr", None]),
                          rng.choice([rng.randint(0, 12_000), rng.randint(0, 1_200_000) / 100, "4,100.50", -5, 1e-05,
                                      dt.date(2026, 1, 15), None, "abc"])]
        if complete:
            row += [rng.choice([0, 150.5, rng.randint(0, 2000), "x", None]), rng.choice([160, 37.5, 0, 201, 0.004, "37.5", None])]
        rows.append(row if rng.random() < 0.9 else [None] * len(row))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                ws.cell(row=start + r, column=start + c, value=value)
    wb.save(path)


def test_xlsx_workbooks_are_read_as_contributor_hrfile_reads_them(tmp_path: Path) -> None:
    """Workbooks written by openpyxl, and a damaged one: the same rows (numbered as the sheet
    numbers them), row errors, description or refusal as check_file with python-calamine."""
    one = manifest_from_json(json.dumps({**_vector_manifest(), "gender_labels": {"female": "Frau"}}))
    complete = manifest_from_json(json.dumps(_demo_complete_manifest()))
    rng = random.Random(20261208)
    payload, want = [], []
    for k in range(40):
        m = complete if k % 2 else one
        path = tmp_path / f"staff{k}.xlsx"
        _xlsx_file(path, rng, k % 2 == 1)
        payload.append({"bytes": path.read_bytes().hex(), "name": str(path), "manifest": m.canonical_bytes().decode(),
                        "columns": {}, "decimal": None})
        want.append(_python_hr(path, m, {}, None))
    got = interop("hrfiles", {"files": payload})
    for p, g, w in zip(payload, got, want, strict=True):
        assert g == w, p["name"]
    assert sum(len(w.get("rows", [])) for w in want) > 40 and sum(len(w.get("errors", [])) for w in want) > 100
    assert all(w["described"].startswith("spreadsheet, sheet ") for w in want)
    damaged = tmp_path / "damaged.xlsx"
    damaged.write_bytes(b"PK\x03\x04 not really a workbook")
    g = interop("hrfiles", {"files": [{"bytes": damaged.read_bytes().hex(), "name": str(damaged),
                                       "manifest": one.canonical_bytes().decode(), "columns": {}, "decimal": None}]})[0]
    prefix = f"{damaged} is not a readable spreadsheet ("
    assert _python_hr(damaged, one, {}, None)["error"].startswith(prefix) and g["error"].startswith(prefix)
