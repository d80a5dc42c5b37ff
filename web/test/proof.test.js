import assert from "node:assert/strict";
import { test } from "node:test";
import { P127 } from "../src/field.js";
import { Layout, encodeSubmission, lagrangeConsecutive, prove } from "../src/proof.js";
import { makeRecord } from "../src/record.js";
import { Scheme } from "../src/scheme.js";
import { vector } from "./vectors.js";

const CASES = vector("validity").cases;
/** @param {string[]} xs */
const ints = (xs) => xs.map(BigInt);
/** @param {any} c */
const schemeOf = (c) => Scheme.of(c.genders, c.salary_max, c.jobs, c.salary_bands);
/** @param {any} c @returns {[bigint, bigint, bigint, bigint, bigint, bigint]} */
const randomnessOf = (c) => /** @type {any} */ (["m", "x1", "y1", "x2", "y2", "w0"].map((k) => BigInt(c.randomness[k])));

test("every known-answer record and proof with fixed randomness: the same vector", () => {
  for (const c of CASES) {
    const scheme = schemeOf(c);
    const record = makeRecord(c.record.gender, c.record.salary, scheme, c.record.job);
    assert.deepEqual(encodeSubmission(record, scheme, P127, randomnessOf(c)), ints(c.submission), c.name);
    assert.deepEqual(prove(ints(c.record_vector), new Layout(scheme), P127, randomnessOf(c)), ints(c.submission), c.name);
  }
});

test("invalid record vectors proved honestly with the same randomness: the known vectors", () => {
  let honest = 0;
  let forged = 0;
  for (const c of CASES) {
    const layout = new Layout(schemeOf(c));
    for (const neg of c.negatives.filter((/** @type {any} */ n) => n.record_vector)) {
      const proved = prove(ints(neg.record_vector), layout, P127, randomnessOf(c));
      if (neg.forged_against) {
        // a forgery is not what an honest prover makes of its record
        assert.notDeepEqual(proved, ints(neg.submission), neg.name);
        forged++;
      } else {
        assert.deepEqual(proved, ints(neg.submission), neg.name);
        honest++;
      }
    }
  }
  assert.deepEqual([honest, forged], [6, 4]);
});

test("a tampered known answer differs from the honest proof at the tampered entry only", () => {
  let tampered = 0;
  for (const c of CASES) {
    const proved = prove(ints(c.record_vector), new Layout(schemeOf(c)), P127, randomnessOf(c));
    for (const neg of c.negatives.filter((/** @type {any} */ n) => n.tampered_index !== undefined)) {
      const diff = proved.map((v, i) => (v === BigInt(neg.submission[i]) ? -1 : i)).filter((i) => i >= 0);
      assert.deepEqual(diff, [neg.tampered_index], neg.name);
      tampered++;
    }
  }
  assert.equal(tampered, 6);
});

test("the proof's layout and parts: triples multiply, h is the square of the wire through w0 and the bits", () => {
  const scheme = Scheme.of(["female", "male", "other"], 20, ["engineering", "sales"], [6, 12]);
  const layout = new Layout(scheme);
  assert.deepEqual([layout.gates, layout.maskAt, layout.oneHotTripleAt, layout.productTripleAt, layout.seedAt, layout.hAt,
    layout.width], [8, 38, 39, 42, 45, 46, 63]);
  const vec = encodeSubmission(makeRecord("female", 7, scheme, "engineering"), scheme);
  const again = encodeSubmission(makeRecord("female", 7, scheme, "engineering"), scheme);
  assert.equal(vec.length, scheme.vectorLength);
  assert.deepEqual(vec.slice(0, 38), again.slice(0, 38));
  assert.notDeepEqual(vec.slice(38), again.slice(38)); // fresh randomness
  const [x1, y1, z1, x2, y2, z2] = vec.slice(39, 45);
  assert.equal(z1, (x1 * y1) % P127);
  assert.equal(z2, (x2 * y2) % P127);
  const w0 = vec[45];
  const bits = vec.slice(scheme.d1At, scheme.d1At + 8);
  assert.deepEqual(vec.slice(46, 55), [w0, ...bits].map((v) => (v * v) % P127));
  // h(9..16) are the squares of w's degree-8 extrapolation: interpolating h (degree 16) at 17 points agrees
  const h = vec.slice(46);
  const lam = lagrangeConsecutive(17, 123456789n);
  const wAt = lagrangeConsecutive(9, 123456789n).reduce((acc, c, k) => (acc + c * [w0, ...bits][k]) % P127, 0n);
  assert.equal(lam.reduce((acc, c, k) => (acc + c * h[k]) % P127, 0n), (wAt * wAt) % P127);
});

test("Lagrange coefficients over 0..count-1 reproduce a polynomial, and a node gives a unit vector", () => {
  const f = (/** @type {bigint} */ x) => (3n + 5n * x + 7n * x * x + (P127 - 2n) * x * x * x) % P127;
  for (const x of [4n, 17n, P127 - 1n, 2n ** 100n]) {
    const lam = lagrangeConsecutive(4, x);
    const xr = x % P127;
    assert.equal(lam.reduce((acc, c, k) => (acc + c * f(BigInt(k))) % P127, 0n), f(xr));
  }
  assert.deepEqual(lagrangeConsecutive(4, 2n), [0n, 0n, 1n, 0n]);
});

test("a record vector of the wrong length or randomness of the wrong size is refused", () => {
  const layout = new Layout(Scheme.of(["male"], 15));
  assert.throws(() => prove(new Array(layout.recordWidth - 1).fill(0n), layout), { name: "RangeError",
    message: "record vector has the wrong length for this layout" });
  assert.throws(() => prove(new Array(layout.recordWidth).fill(0n), layout, P127, /** @type {any} */ ([1n, 2n])),
    /randomness must be m, x and y of every triple, and w0/);
});
