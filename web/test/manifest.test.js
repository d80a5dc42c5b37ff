import assert from "node:assert/strict";
import { test } from "node:test";
import { sha256 } from "@noble/hashes/sha2.js";
import { toHex } from "../src/bytes.js";
import { InvalidManifest, NodeUnreachable } from "../src/errors.js";
import { JsonFloat, canonicalJson, parseJson } from "../src/json.js";
import { checkServedManifests, parseManifest, parseTime } from "../src/manifest.js";
import { vector } from "./vectors.js";

const VEC = vector("manifest");
const base = () => structuredClone(VEC.manifest);
const text = (/** @type {unknown} */ obj) => JSON.stringify(obj);

test("manifest.json: canonical bytes and SHA-256 identity are the known answers", () => {
  const m = parseManifest(text(VEC.manifest));
  assert.equal(m.canonicalText, VEC.canonical);
  assert.deepEqual(m.canonicalBytes(), new TextEncoder().encode(VEC.canonical));
  assert.equal(m.hashHex(), VEC.sha256);
  assert.ok(Buffer.from(m.canonicalBytes()).includes(Buffer.from("Zürich –")), "non-ASCII stays UTF-8");
  assert.equal(m.n, 3);
  assert.equal(m.threshold, 1);
  assert.equal(m.nodes[2].hpkePublicKey, VEC.manifest.nodes[2].hpke_public_key);
  assert.deepEqual(m.jobCategories, ["engineering", "sales", "support"]);
  assert.deepEqual(m.salaryBands, [2000, 4000, 8000]);
  assert.equal(m.fieldModulus, (1n << 127n) - 1n);
});

test("the hash does not depend on formatting, key order, ASCII escapes or the modulus written as a number", () => {
  const d = base();
  const shuffled = Object.fromEntries(Object.entries(d).reverse());
  shuffled.nodes = d.nodes.map((/** @type {object} */ nd) => Object.fromEntries(Object.entries(nd).reverse()));
  const indented = JSON.stringify(shuffled, null, 3).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  assert.match(indented, /\\u00fc/);
  assert.equal(parseManifest(indented).hashHex(), VEC.sha256);
  assert.equal(parseManifest(new TextEncoder().encode(indented)).hashHex(), VEC.sha256);
  // the modulus as a JSON number keeps every digit (JSON.parse would round it)
  const asNumber = text(d).replace(`"field_modulus":"${d.field_modulus}"`, `"field_modulus":${d.field_modulus}`);
  assert.notEqual(asNumber, text(d));
  assert.equal(parseManifest(asNumber).hashHex(), VEC.sha256);
  // a UTF-8 byte order mark is skipped, as Python's json.loads(bytes) does
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text(d))]);
  assert.equal(parseManifest(bom).hashHex(), VEC.sha256);
});

test("defaults are filled in as the Python dataclass's, and are part of the identity", () => {
  const d = base();
  for (const k of ["salary_unit", "min_group_size", "categories", "job_categories", "salary_bands", "dp_epsilon",
    "field_modulus", "encoding", "version", "created_at", "salary_max"]) delete d[k];
  const m = parseManifest(text(d));
  const canonical = JSON.parse(m.canonicalText);
  assert.equal(canonical.salary_unit, "EUR/month");
  assert.equal(canonical.salary_max, 1000000);
  assert.equal(canonical.min_group_size, 5);
  assert.deepEqual(canonical.categories, ["female", "male", "other"]);
  assert.deepEqual(canonical.job_categories, []);
  assert.equal(canonical.field_modulus, String((1n << 127n) - 1n));
  assert.equal(canonical.encoding, "cells-bands-rank1/v4");
  assert.equal(canonical.version, 1);
  assert.equal(canonical.created_at, "");
  assert.equal(m.hashHex(), toHex(sha256(new TextEncoder().encode(m.canonicalText))));
});

test("invalid manifests are refused with the node's one-line message", () => {
  /** @type {[(d: any) => void, RegExp][]} */
  const cases = [
    [(d) => { d.version = 2; }, /^unsupported manifest version 2$/],
    [(d) => { d.survey_id = "bad id"; }, /^survey id must be/],
    [(d) => { d.model = "honest"; }, /^model must be one of semi-honest, malicious$/],
    [(d) => { d.nodes = d.nodes.slice(0, 2); }, /^a survey needs at least 3 nodes, this one has 2$/],
    [(d) => { d.threshold = 2; }, /^threshold t=2 needs 1 <= t and 2t < n \(n=3\)$/],
    [(d) => { d.threshold = 0; }, /^threshold t=0 needs/],
    [(d) => { d.nodes[1].url = "http://x"; }, /^node node1: URL must be https:\/\/$/],
    [(d) => { d.nodes[1].mpc_address = "host"; }, /^node node1: mpc_address must be host:port$/],
    [(d) => { d.nodes[1].mpc_address = "host:70000"; }, /^node node1: mpc_address must be host:port$/],
    [(d) => { d.nodes[1].hpke_public_key = "AB".repeat(32); }, /^node node1: HPKE public key must be 32 bytes of hex$/],
    [(d) => { d.nodes[1].tls_cert_sha256 = "0".repeat(64); }, /^node node1: certificate does not match its fingerprint$/],
    [(d) => { d.nodes[1].tls_cert_pem = "not a certificate"; }, /^node node1: the TLS certificate is not a PEM certificate$/],
    [(d) => { d.nodes[1].hpke_public_key = d.nodes[0].hpke_public_key; }, /^two nodes share an HPKE key$/],
    [(d) => { d.analyst_public_key = "00"; }, /^analyst public key must be 32 bytes of hex$/],
    [(d) => { d.encoding = "other/v9"; }, /^the survey uses record encoding 'other\/v9', this version reads only 'cells-bands-rank1\/v4': finish that survey with the version that created it, or create a new survey$/],
    [(d) => { d.categories = ["female", "female", "male"]; }, /^categories must be distinct and non-empty$/],
    [(d) => { d.categories = ["female", "other"]; }, /^categories must include 'male'/],
    [(d) => { d.categories = ["Female", "male"]; }, /^categories must be lower-case words/],
    [(d) => { d.categories = ["female ", "male"]; }, /^categories must be lower-case words/],
    [(d) => { d.categories = ["female\x1f", "male"]; }, /^categories must be lower-case words/],
    [(d) => { d.salary_max = 0; }, /^salary upper bound must be between 1 and 10\^12$/],
    [(d) => { d.min_group_size = 0; }, /^minimum group size k must be at least 1$/],
    [(d) => { d.job_categories = ["a,b"]; }, /^job categories must be lower-case names without commas$/],
    [(d) => { d.job_categories = ["a", "a"]; }, /^job categories must be distinct, at most 64$/],
    [(d) => { d.salary_bands = [4000, 2000]; }, /^salary bands must be strictly increasing/],
    [(d) => { d.salary_bands = [0]; }, /^salary bands must be strictly increasing/],
    [(d) => { d.job_categories = Array.from({ length: 10 }, (_, i) => `j${i}`); d.salary_bands = Array.from({ length: 600 }, (_, i) => i + 1); },
      /^genders x job categories x salary bands is 18030, at most 16384: each submission would be 18,219 field elements \(291,504 bytes per node\)$/],
    [(d) => { d.dp_epsilon = "abc"; }, /^dp_epsilon: epsilon must be a decimal number such as 1, 0.5 or 2.25, got 'abc'$/],
    [(d) => { d.dp_epsilon = "0"; }, /^dp_epsilon: epsilon must be greater than 0/],
    [(d) => { d.dp_epsilon = "100.5"; }, /^dp_epsilon: epsilon must be at most 100/],
    [(d) => { d.dp_epsilon = "1e3"; }, /^dp_epsilon: epsilon must be at most 100/],
    [(d) => { d.dp_epsilon = "0.0000001"; }, /^dp_epsilon: epsilon may have at most 6 decimal places/],
    [(d) => { d.closes_at = "2026-12-31T23:59:59"; }, /^closing time must carry a time zone, e.g. 2026-12-31T23:59:59Z$/],
    [(d) => { d.closes_at = "2026-12-31"; }, /^closing time must carry a time zone/],
    [(d) => { d.closes_at = "31.12.2026"; }, /^closing time '31.12.2026' is not ISO 8601$/],
    [(d) => { d.closes_at = "2026-02-30T00:00:00Z"; }, /is not ISO 8601$/],
    [(d) => { d.threshold = "1"; }, /^manifest field threshold must be an integer$/],
    [(d) => { d.threshold = true; }, /^manifest field threshold must be an integer$/],
    [(d) => { d.title = 5; }, /^manifest field title must be a string$/],
    [(d) => { d.categories = "female,male"; }, /^manifest field categories must be a list of strings$/],
    [(d) => { d.salary_bands = ["1000"]; }, /^manifest field salary_bands must be a list of whole numbers$/],
    [(d) => { d.surprise = 1; }, /^manifest has missing or unexpected fields/],
    [(d) => { delete d.title; }, /^manifest has missing or unexpected fields/],
    [(d) => { d.nodes[0].extra = "x"; }, /^manifest has missing or unexpected fields/],
    [(d) => { d.nodes[0].name = 3; }, /^node field name must be a string$/],
    [(d) => { d.field_modulus = String((1n << 61n) - 1n); }, /^this page supports surveys over the field 2\^127 - 1 only$/],
  ];
  for (const [mutate, message] of cases) {
    const d = base();
    mutate(d);
    assert.throws(() => parseManifest(text(d)), (e) => e instanceof InvalidManifest && message.test(e.message), String(message));
  }
  assert.throws(() => parseManifest("{"), /^InvalidManifest: manifest is not valid JSON$/);
  assert.throws(() => parseManifest("[]"), /^InvalidManifest: manifest must be a JSON object$/);
  assert.throws(() => parseManifest(Uint8Array.of(0x7b, 0xff, 0x7d)), /manifest is not valid JSON/);
  // numbers that are integers in JavaScript but floats in Python
  for (const literal of ["5.0", "5e0", "NaN"]) {
    assert.throws(() => parseManifest(text(base()).replace('"min_group_size":5', `"min_group_size":${literal}`)),
      /manifest field min_group_size must be an integer/);
  }
  // a title with an unpaired surrogate has no UTF-8 form, so no identity (Python cannot hash it either)
  assert.throws(() => parseManifest(text(base()).replace('"title":"', '"title":"\\ud800')), /unpaired surrogate/);
});

test("accepted variants: epsilon forms Python accepts, closing times with fractions and offsets", () => {
  for (const eps of ["1", "0.5", " 2.25 ", "1e-3", "1.500000000", "100", "+7", ".5", "5."]) {
    const d = base();
    d.dp_epsilon = eps;
    assert.equal(parseManifest(text(d)).dpEpsilon, eps);
  }
  assert.equal(parseTime("2026-12-31T23:59:59Z"), Date.UTC(2026, 11, 31, 23, 59, 59));
  assert.equal(parseTime("2026-12-31T23:59:59.250+01:30"), Date.UTC(2026, 11, 31, 22, 29, 59, 250));
  assert.equal(parseTime("2024-02-29T00:00:00-00:00"), Date.UTC(2024, 1, 29));
});

test("checkServedManifests: all nodes must serve the same bytes; t+1 must confirm", () => {
  const m = parseManifest(text(VEC.manifest));
  const good = { bytes: m.canonicalBytes() };
  assert.deepEqual(checkServedManifests(m, [good, good, good]), new Map());
  assert.deepEqual(checkServedManifests(m, [good, { unreachable: "unreachable (timed out)" }, good]),
    new Map([[1, "unreachable (timed out)"]]));
  const other = { bytes: new TextEncoder().encode(JSON.stringify(VEC.manifest, null, 1)) };
  assert.throws(() => checkServedManifests(m, [good, other, { error: "survey unknown" }]), (e) => e instanceof InvalidManifest
    && e.message === `refusing to submit: not every node serves the manifest you loaded (${VEC.sha256.slice(0, 16)}…): `
      + `node1 (https://127.0.0.1:8442) serves manifest ${toHex(sha256(other.bytes)).slice(0, 16)}…; `
      + "node2 (https://127.0.0.1:8443): survey unknown");
  assert.throws(() => checkServedManifests(m, [good, { unreachable: "down" }, { unreachable: "down" }]), (e) => e instanceof NodeUnreachable
    && e.message === "only 1 of 3 nodes could confirm the survey manifest (at least 2 must): node1 (https://127.0.0.1:8442) is down; "
      + "node2 (https://127.0.0.1:8443) is down");
  assert.throws(() => checkServedManifests(m, [good, good]), /one answer per node/);
});

test("parseJson follows Python's grammar and keeps integers exact", () => {
  assert.equal(parseJson("170141183460469231731687303715884105727"), (1n << 127n) - 1n);
  assert.equal(parseJson("-0"), 0n);
  for (const f of ["1.0", "1e5", "-2.5E-3", "NaN", "Infinity", "-Infinity"]) assert.ok(parseJson(f) instanceof JsonFloat, f);
  assert.deepEqual(parseJson(' {"a" : [1 , "x\\u00e9\\n"] ,"a":2}\r\n'), Object.assign(Object.create(null), { a: 2n }));
  assert.equal(parseJson('"\\ud83d\\ude00"'), "😀");
  assert.equal(parseJson('"\\udc00"'), "\udc00");
  for (const bad of ["", "01", "1.", ".5", "+1", "[1,]", "{\"a\":1,}", "'x'", "\"a\u0001\"", "\"\\x41\"", "\"\\u12g4\"",
    "[1] 2", "\ufeff{}", "tru", "{1:2}", "\"abc", "1" + "0".repeat(4300), "\u00a0 1"]) {
    assert.throws(() => parseJson(bad), SyntaxError, JSON.stringify(bad));
  }
  assert.equal(parseJson("1" + "0".repeat(4299)), 10n ** 4299n);
});

test("canonicalJson writes what Python's json.dumps(sort_keys, compact, ensure_ascii=False) writes", () => {
  // every ASCII character: the control characters escaped (\b \f \n \r \t short, the rest \u00xx), " and \ escaped
  let ascii = "";
  for (let c = 0; c < 128; c++) ascii += String.fromCharCode(c);
  const expected = '"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f'
    + "\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f"
    + ' !\\"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\x7f"';
  assert.equal(canonicalJson(ascii), expected);
  assert.equal(canonicalJson("é\u2028\u2029\ufeff😀</script>"), '"é\u2028\u2029\ufeff😀</script>"');
  assert.equal(canonicalJson({ b: 1, a: [true, false, null, -5n], "": {} }), '{"":{},"a":[true,false,null,-5],"b":1}');
  // code-point order: U+1F600 sorts after U+FF5E although its first UTF-16 unit (0xD83D) is smaller
  assert.equal(canonicalJson({ "\u{1F600}": 1, "\uFF5E": 2, Z: 3, a: 4 }), '{"Z":3,"a":4,"～":2,"😀":1}');
  assert.throws(() => canonicalJson(1.5), TypeError);
  assert.throws(() => canonicalJson(new JsonFloat("1.0")), TypeError);
  assert.throws(() => canonicalJson(2 ** 60), TypeError);
  assert.throws(() => canonicalJson(undefined), TypeError);
});

test("a complete survey's fields, labels and filing details: properties, and in the canonical JSON only when set", () => {
  const d = base();
  Object.assign(d, { components: ["basic", "variable", "hours"], pay_period: "monthly", variable_max: 2000,
    variable_bands: [100, 200], hours_max: 200, hourly_max: 30000, hourly_bands: [200], organisation: "Muster AG",
    reporting_period: "2026", gender_labels: { female: "Frau" }, job_labels: { sales: "Vertrieb" } });
  const m = parseManifest(text(d));
  assert.deepEqual([m.components, m.payPeriod, m.variableMax, m.variableBands, m.hoursMax, m.hourlyMax, m.hourlyBands],
    [["basic", "variable", "hours"], "monthly", 2000, [100, 200], 200, 30000, [200]]);
  assert.deepEqual([m.organisation, m.reportingPeriod, m.genderLabels, m.jobLabels],
    ["Muster AG", "2026", { female: "Frau" }, { sales: "Vertrieb" }]);
  assert.ok(m.scheme().complete);
  assert.equal(m.vectorLength(), m.scheme().vectorLength);
  assert.equal(m.currency(), "EUR");
  const plain = parseManifest(text(base()));
  assert.deepEqual([plain.components, plain.payPeriod, plain.variableMax, plain.genderLabels, plain.language, plain.webOrigins],
    [["basic"], "", 0, {}, "", []]);
  // unset fields written out as their defaults keep the bytes and the hash
  const spelled = Object.assign(base(), { components: [], pay_period: "", variable_max: 0, variable_bands: [], hours_max: 0,
    hourly_max: 0, hourly_bands: [], organisation: "", reporting_period: "" });
  assert.equal(parseManifest(text(spelled)).hashHex(), VEC.sha256);
  assert.equal(parseManifest(text(spelled)).canonicalText, VEC.canonical);
});

test("the page's fields: language, the bundle's hash, further origins and nodes' web URLs", () => {
  const d = Object.assign(base(), { language: "zh-TW", web_page_sha256: "ab".repeat(32),
    web_origins: ["https://survey.example.org", "https://hr.example:8443"] });
  d.nodes[1].web_url = "https://proxy.example/node1";
  const m = parseManifest(text(d));
  assert.deepEqual([m.language, m.webPageSha256, m.webOrigins], ["zh-TW", "ab".repeat(32), d.web_origins]);
  assert.deepEqual(m.nodes.map((nd) => nd.webUrl), [d.nodes[0].url, "https://proxy.example/node1", d.nodes[2].url]);
  const canonical = JSON.parse(m.canonicalText);
  assert.equal(canonical.nodes[1].web_url, "https://proxy.example/node1");
  assert.ok(!("web_url" in canonical.nodes[0]));
  assert.notEqual(m.hashHex(), VEC.sha256);
  const refuses = (/** @type {object} */ change, /** @type {RegExp} */ why) =>
    assert.throws(() => parseManifest(text(Object.assign(base(), change))), (e) => e instanceof InvalidManifest && why.test(e.message));
  for (const language of ["EN", "english", "en-abcdefghi", "en-ab-cd-ef-gh", "e"]) refuses({ language }, /^language: .* BCP 47 tag/);
  // the page's fields written empty would not come back as the same bytes
  for (const name of ["language", "web_page_sha256"]) refuses({ [name]: "" }, new RegExp(`^manifest field ${name} is empty`));
  refuses({ web_origins: [] }, /^manifest field web_origins is empty \(leave it out instead\)$/);
  refuses({ language: 5 }, /^manifest field language must be a string$/);
  for (const web_page_sha256 of ["AB".repeat(32), "ab".repeat(31)]) refuses({ web_page_sha256 }, /^web_page_sha256 must be 64/);
  for (const origin of ["http://a.example", "https://a.example/", "https://A.example", "https://a.example:0",
    "https://a.example:65536", "https://-a.example", "https://a.example/path"]) {
    refuses({ web_origins: [origin] }, /^web_origins: .* is not an origin https:\/\/HOST\[:PORT\]/);
  }
  refuses({ web_origins: ["https://a.example", "https://a.example"] }, /^web_origins must be 1 to 16 distinct origins$/);
  refuses({ web_origins: Array.from({ length: 17 }, (_, i) => `https://${i}.example`) }, /1 to 16 distinct/);
  refuses({ web_origins: "https://a.example" }, /^manifest field web_origins must be a list of strings$/);
  const bad = base();
  bad.nodes[0].web_url = "http://proxy.example";
  assert.throws(() => parseManifest(text(bad)), { message: `node ${bad.nodes[0].name}: web_url must be https://` });
  bad.nodes[0].web_url = "";
  assert.throws(() => parseManifest(text(bad)), { message: "node field web_url is empty (leave it out instead)" });
  bad.nodes[0].web_url = 5;
  assert.throws(() => parseManifest(text(bad)), { message: "node field web_url must be a string" });
});
