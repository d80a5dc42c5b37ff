import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidSubmission } from "../src/errors.js";
import { P127 } from "../src/field.js";
import { Layout, prove } from "../src/proof.js";
import { encodeRecord, makeRecord } from "../src/record.js";
import { Scheme } from "../src/scheme.js";
import { vector } from "./vectors.js";

const V = vector("validity_complete");
/** @param {string[]} xs */
const ints = (xs) => xs.map(BigInt);
/** @param {any} s */
const schemeOf = (s) => Scheme.of(s.genders, s.salary_max, s.jobs, s.salary_bands, { variableMax: s.variable_max,
  variableBands: s.variable_bands, hoursMax: s.hours_max, hourlyMax: s.hourly_max, hourlyBands: s.hourly_bands });
const SCHEME = schemeOf(V.survey);
const LAYOUT = new Layout(SCHEME);

test("validity_complete.json: the record's vector and its proof with the file's randomness, byte for byte", () => {
  const r = V.record;
  const record = makeRecord(r.gender, r.basic, SCHEME, r.job || null, { variable: r.variable, hours: "0.70" });
  assert.deepEqual(record, { gender: "male", job: "", salary: 5n, variable: 1n, hours: 70n });
  assert.deepEqual(encodeRecord(record, SCHEME), ints(V.record_vector));
  assert.deepEqual([SCHEME.recordWidth, SCHEME.vectorLength, LAYOUT.width, LAYOUT.triples, LAYOUT.randomCount],
    [V.record_vector.length, V.submission.length, V.submission.length, 7, 16]);
  assert.deepEqual(prove(ints(V.record_vector), LAYOUT, P127, ints(V.randomness)), ints(V.submission));
});

test("validity_complete.json negatives: broken records proved honestly are the file's; forged triples differ at z only", () => {
  const honest = prove(ints(V.record_vector), LAYOUT, P127, ints(V.randomness));
  let broken = 0;
  let tampered = 0;
  for (const neg of V.negatives) {
    if (neg.tampered_index === undefined) {
      assert.notDeepEqual(neg.record_vector, V.record_vector, neg.name);
      assert.deepEqual(prove(ints(neg.record_vector), LAYOUT, P127, ints(V.randomness)), ints(neg.submission), neg.name);
      broken++;
    } else {
      const diff = honest.map((v, i) => (v === BigInt(neg.submission[i]) ? -1 : i)).filter((i) => i >= 0);
      assert.deepEqual(diff, [neg.tampered_index], neg.name);
      assert.equal(BigInt(neg.submission[neg.tampered_index]), (honest[neg.tampered_index] + 1n) % P127, neg.name);
      tampered++;
    }
  }
  assert.deepEqual([broken, tampered], [5, 3]);
});

test("the complete layout: T, V, Y blocks, then every value's bits, basic pay's and the hours' bits", () => {
  const [t, v, y] = SCHEME.values;
  assert.deepEqual([t.kind, v.kind, y.kind], ["level", "variable", "hourly"]);
  // K = 2; T bands {0..3, 4..7}, V bands {0}, {1}, {2..3}, Y bands {0..499, 500..70000}
  assert.deepEqual([t.B, v.B, y.B, t.bits, v.bits, y.bits], [2, 3, 2, 2, 1, 17]);
  assert.deepEqual([t.histAt, t.prodAt, t.sqAt, v.histAt, y.histAt, SCHEME.aggregateWidth], [0, 4, 6, 8, 18, 26]);
  assert.deepEqual([t.d1At, v.d1At, y.d1At, SCHEME.basicBitsAt, SCHEME.basicBits, SCHEME.remainderAt, SCHEME.hoursBits,
    SCHEME.recordWidth], [26, 30, 32, 66, 3, 69, 7, 83]);
  assert.equal(SCHEME.totalBits, 57);
});

/**
 * @param {() => unknown} f
 * @param {string} message
 */
function refuses(f, message) {
  assert.throws(f, (e) => e instanceof InvalidSubmission && e.message === message, message);
}

test("a complete survey's answers refused with the Python messages", () => {
  const sc = Scheme.of(["female", "male"], 1000, ["a", "b"], [], { variableMax: 300, variableBands: [100], hoursMax: 200,
    hourlyMax: 20000 });
  const ok = makeRecord("male", "900", sc, "a", { variable: "100", hours: "37.5" });
  assert.deepEqual(ok, { gender: "male", job: "a", salary: 900n, variable: 100n, hours: 3750n });
  refuses(() => makeRecord("male", 900, sc, "a", { hours: 40 }), "variable pay is missing (this survey collects it; 0 is an answer)");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 0, hours: " " }), "hours is missing (this survey collects it; 0 is an answer)");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 0, hours: "0" }), "hours must be above 0");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 0, hours: "0.004", amounts: { decimal: "." } }), "hours must be above 0");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 0, hours: 201 }), "hours above the survey's upper bound of 200");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 301, hours: 40 }), "variable pay above the survey's upper bound of 300");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 200, hours: 40 }), "salary above the survey's upper bound of 1000");
  refuses(() => makeRecord("male", 1001, sc, "a", { variable: 0, hours: 40 }), "basic pay above the survey's upper bound of 1000");
  refuses(() => makeRecord("male", "-1", sc, "a", { variable: 0, hours: 40 }), "basic pay must not be negative");
  refuses(() => makeRecord("male", 900, sc, "a", { variable: 0, hours: 0.5 }), "hourly pay (hundredths) above the survey's upper bound of 20000");
  const one = Scheme.of(["female", "male"], 1000);
  refuses(() => makeRecord("male", 900, one, null, { variable: 0 }), "this survey asks for one pay figure; leave variable pay and hours out");
  const noHours = Scheme.of(["male"], 1000, [], [], { variableMax: 300 });
  refuses(() => makeRecord("male", 9, noHours, null, { variable: 0, hours: 4 }), "this survey does not collect hours; leave it out");
  const noVariable = Scheme.of(["male"], 1000, [], [], { hoursMax: 10, hourlyMax: 10 ** 7 });
  refuses(() => makeRecord("male", 9, noVariable, null, { variable: 0, hours: 4 }), "this survey does not collect variable pay; leave it out");
  refuses(() => encodeRecord({ gender: "male", job: "", salary: 9n, variable: 1n, hours: 400n }, noVariable),
    "this survey does not collect variable pay");
});

test("recordFromAnswers: the manifest's labels, layout and currency", async () => {
  const { parseManifest } = await import("../src/manifest.js");
  const { recordFromAnswers } = await import("../src/record.js");
  const m = parseManifest(JSON.stringify(Object.assign(structuredClone(vector("manifest").manifest), {
    components: ["basic", "variable"], pay_period: "annual", variable_max: 5000, gender_labels: { female: "Frau" } })));
  assert.deepEqual(recordFromAnswers(m, { gender: "frau", job: "Sales", basic: "€ 4.100,50", variable: "EUR 0" }),
    { gender: "female", job: "sales", salary: 4100n, variable: 0n, hours: 0n });
  refuses(() => recordFromAnswers(m, { gender: "male", job: "sales", basic: "$ 4", variable: 0 }),
    "basic pay '$ 4': '$' is not this survey's currency (EUR)");
  refuses(() => recordFromAnswers(m, { gender: "male", job: "sales", basic: "4", variable: "0", hours: "40" }),
    "this survey does not collect hours; leave it out");
  assert.equal(recordFromAnswers(m, { gender: "male", job: "sales", basic: "4,5", variable: "0" }, { amounts: { decimal: "," } })
    .salary, 4n);
});
