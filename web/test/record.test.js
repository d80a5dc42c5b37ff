import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidSubmission } from "../src/errors.js";
import { parseManifest } from "../src/manifest.js";
import { encodeRecord, fold, makeRecord } from "../src/record.js";
import { Scheme } from "../src/scheme.js";
import { vector } from "./vectors.js";

const CASES = vector("validity").cases;
const SCHEME = Scheme.of(["female", "male", "other"], 20, ["engineering", "sales"], [6, 12]);

/** @param {any} c */
const schemeOf = (c) => Scheme.of(c.genders, c.salary_max, c.jobs, c.salary_bands);

test("every known-answer record encodes to its vector", () => {
  assert.equal(CASES.length, 2);
  for (const c of CASES) {
    const scheme = schemeOf(c);
    const record = makeRecord(c.record.gender, c.record.salary, scheme, c.record.job);
    assert.deepEqual(record, { gender: c.record.gender, job: c.record.job, salary: BigInt(c.record.salary), variable: 0n, hours: 0n });
    assert.deepEqual(encodeRecord(record, scheme), c.record_vector.map(BigInt), c.name);
    assert.equal(scheme.recordWidth, c.record_vector.length);
    assert.equal(scheme.vectorLength, c.submission.length);
  }
});

test("the layout: cells gender-major, bands by lower edge, L from the widest band (12..20: 8, four bits)", () => {
  assert.deepEqual([SCHEME.G, SCHEME.J, SCHEME.K, SCHEME.B, SCHEME.bits], [3, 2, 6, 3, 4]);
  assert.deepEqual([SCHEME.bandOf(0n), SCHEME.bandOf(5n), SCHEME.bandOf(6n), SCHEME.bandOf(11n), SCHEME.bandOf(12n),
    SCHEME.bandOf(20n)], [0, 0, 1, 1, 2, 2]);
  assert.deepEqual([0, 1, 2].map((b) => SCHEME.bandWidth(b)), [5n, 5n, 8n]);
  assert.deepEqual([SCHEME.prodAt, SCHEME.sqAt, SCHEME.d1At, SCHEME.d2At, SCHEME.recordWidth, SCHEME.vectorLength],
    [18, 24, 30, 34, 38, 63]);
  const none = Scheme.of(["female", "male"], 1);
  assert.deepEqual([none.J, none.K, none.B, none.bits, none.recordWidth], [1, 2, 1, 1, 8]);
  assert.throws(() => Scheme.of(["male"], 10, [], [5, 5]), /strictly increasing/);
  assert.throws(() => Scheme.of(["male"], 10, [], [11]), /at most the salary bound/);
});

test("a record's entries: one-hot cell and band, salary and its square on the cell, offset bits", () => {
  const vec = encodeRecord(makeRecord("male", 13, SCHEME, "sales"), SCHEME);
  const cell = 1 * 2 + 1;
  assert.deepEqual(vec.map((v, i) => (v ? i : -1)).filter((i) => i >= 0 && i < 18), [cell * 3 + 2]);
  assert.equal(vec[18 + cell], 13n);
  assert.equal(vec[24 + cell], 169n);
  assert.deepEqual(vec.slice(30, 34), [1n, 0n, 0n, 0n]); // 13 - 12 = 1
  assert.deepEqual(vec.slice(34, 38), [1n, 1n, 1n, 0n]); // 20 - 13 = 7
  // a salary bound above 2^53 keeps exact squares
  const big = Scheme.of(["male"], 999_999_999_999);
  const v = encodeRecord(makeRecord("male", 999_999_999_999n, big), big);
  assert.equal(v[2], 999_999_999_999n * 999_999_999_999n);
});

test("answers match keys and labels after NFKC normalisation and case folding", () => {
  const labels = { genderLabels: { female: "女", other: "Divers" }, jobLabels: { sales: "Vertrieb" } };
  assert.equal(makeRecord(" Female ", 0, SCHEME, "ENGINEERING").gender, "female");
  assert.equal(makeRecord("女", "  4 ", SCHEME, "vertrieb", labels).job, "sales");
  assert.equal(makeRecord("DIVERS", "+20", SCHEME, "Ｓａｌｅｓ", labels).gender, "other");
  assert.equal(fold("Straße"), "strasse");
  assert.equal(fold("ΣΊΣΥΦΟΣ"), fold("σίσυφος"));
  assert.equal(fold("ﬁ\u00a0"), "fi");
  // where folding is not upper case lower-cased: dotless i, capital sharp s, Cherokee (to its capitals)
  assert.deepEqual(["\u0131", "\u1e9e", "\uab70\u13a0"].map(fold), ["\u0131", "ss", "\u13a0\u13a0"]);
});

/**
 * @param {() => unknown} f
 * @param {string} message
 */
function refuses(f, message) {
  assert.throws(f, (e) => e instanceof InvalidSubmission && e.message === message, message);
}

test("what a form can get wrong is refused with the Python message", () => {
  const jobs = "expected one of: engineering, sales";
  refuses(() => makeRecord("robot", 5, SCHEME, "sales"), "unknown gender 'robot'; expected one of: female, male, other");
  refuses(() => makeRecord("  it's ", 5, SCHEME, "sales"), `unknown gender "it's"; expected one of: female, male, other`);
  refuses(() => makeRecord("male", 5, SCHEME, "hr"), `unknown job category 'hr'; ${jobs}`);
  refuses(() => makeRecord("male", 5, SCHEME, "  "), `job category is missing; ${jobs}`);
  refuses(() => makeRecord("male", 5, SCHEME), `job category is missing; ${jobs}`);
  refuses(() => makeRecord("x", 5, SCHEME, "sales", { genderLabels: { female: "Frau" } }),
    "unknown gender 'x'; expected one of: Frau (female), male, other");
  refuses(() => makeRecord("male", 21, SCHEME, "sales"), "salary above the survey's upper bound of 20");
  refuses(() => makeRecord("male", "21", SCHEME, "sales"), "salary above the survey's upper bound of 20");
  refuses(() => makeRecord("male", -1n, SCHEME, "sales"), "salary must not be negative");
  refuses(() => makeRecord("male", "-3", SCHEME, "sales"), "salary must not be negative");
  refuses(() => makeRecord("male", " ", SCHEME, "sales"), "salary is missing");
  refuses(() => makeRecord("male", "9".repeat(65), SCHEME, "sales"), "salary is too long (65 characters; an amount has at most 64)");
  refuses(() => makeRecord("m".repeat(201), 5, SCHEME, "sales"), "gender is too long (201 characters; at most 200)");
  const noJobs = Scheme.of(["female", "male"], 100);
  refuses(() => makeRecord("male", 5, noJobs, "sales"), "this survey has no job categories; leave the job out");
  assert.equal(makeRecord("male", "-0", noJobs).salary, 0n);
  refuses(() => makeRecord("male", "4,100", Scheme.of(["male"], 5000)),
    "salary '4,100' is ambiguous (4100 with a decimal point, 4.1 with a decimal comma): give --decimal . or --decimal ,");
  refuses(() => makeRecord("male", 4.5, noJobs), "salary must be a whole number");
});

test("a record that did not come from makeRecord for this scheme is not encoded", () => {
  const noJobs = Scheme.of(["female", "male"], 100);
  refuses(() => encodeRecord({ gender: "other", job: "", salary: 5n, variable: 0n, hours: 0n }, noJobs),
    "record does not match the survey's genders and job categories");
  refuses(() => encodeRecord({ gender: "male", job: "sales", salary: 5n, variable: 0n, hours: 0n }, noJobs),
    "this survey has no job categories; leave the job out");
  refuses(() => encodeRecord({ gender: "male", job: "", salary: 101n, variable: 0n, hours: 0n }, noJobs), "salary above the survey's upper bound of 100");
});

test("the manifest's scheme", () => {
  const m = parseManifest(JSON.stringify(vector("manifest").manifest));
  const scheme = Scheme.fromManifest(m);
  assert.deepEqual(scheme.genders, m.categories);
  assert.deepEqual(scheme.edges, [0n, ...m.salaryBands.map(BigInt)]);
  assert.equal(scheme.salaryMax, BigInt(m.salaryMax));
});
