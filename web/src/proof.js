/**
 * The validity proof a contributor appends to its record vector (protocol/validity.py's prove):
 *
 *     [record (W)] [m] [x_k y_k z_k for each Beaver check k] [w0] [h(0) .. h(2G)]
 *
 * m, every x_k, y_k and w0 uniformly random, z_k = x_k y_k (C triples: a one-hot and a product
 * check per banded value, and the hourly relation when hours are collected; C = 2 for a
 * one-figure survey, whose proof is then 4L + 9 elements), and h = w^2 given by its values at
 * 0..2G, where w is the polynomial of degree G through (0, w0) and (k, d_k) for the record's G
 * bits (every value's offset bits, then basic pay's and the hours' bits).  The nodes check it on
 * shares with random coefficients they draw after the submissions are frozen.  BigInt
 * arithmetic mod p; the wire's inputs are bits, so its extension adds coefficients rather than
 * multiplying them.
 */

import { P127, inverse, randomElements } from "./field.js";
import { encodeRecord } from "./record.js";

/** @import { EmployeeRecord } from "./record.js" */
/** @import { Scheme } from "./scheme.js" */

/**
 * The fixed random values of a proof, for known-answer tests: m, x and y of every triple, w0
 * (2 + 2C elements).
 * @typedef {readonly bigint[]} ProofRandomness
 */

/** Where each part of a submission vector sits: the record's {@link Scheme}, then the proof. */
export class Layout {
  /** @param {Scheme} scheme */
  constructor(scheme) {
    this.scheme = scheme;
    this.recordWidth = scheme.recordWidth;
    /** G: the squares the proof's polynomial h carries, one per bit of the record. */
    this.gates = scheme.totalBits;
    /** C: the Beaver triples. */
    this.triples = scheme.triples;
    this.maskAt = this.recordWidth;
    /** x1, y1, z1 */
    this.oneHotTripleAt = this.recordWidth + 1;
    /** x2, y2, z2 */
    this.productTripleAt = this.recordWidth + 4;
    /** w0, the wire polynomial's value at 0 */
    this.seedAt = this.recordWidth + 1 + 3 * this.triples;
    this.hAt = this.seedAt + 1;
    /** Field elements per submission. */
    this.width = this.hAt + 2 * this.gates + 1;
    /** Random elements a proof draws: m, x and y of every triple, w0. */
    this.randomCount = 2 + 2 * this.triples;
    Object.freeze(this);
  }

  /**
   * x, y, z of Beaver check k.
   * @param {number} k
   */
  tripleAt(k) {
    return this.recordWidth + 1 + 3 * k;
  }
}

/**
 * Lagrange coefficients l_k with f(x) = sum_k l_k f(k) over the nodes 0..count-1, for every f
 * of degree < count (protocol/field.py's lagrange_consecutive; p prime > count).
 * @param {number} count
 * @param {bigint} x
 * @param {bigint} [p]
 * @returns {bigint[]}
 */
export function lagrangeConsecutive(count, x, p = P127) {
  const xr = ((x % p) + p) % p;
  if (xr < BigInt(count)) return Array.from({ length: count }, (_, k) => (BigInt(k) === xr ? 1n : 0n));
  const fact = [1n];
  for (let k = 1; k < count; k++) fact.push((fact[k - 1] * BigInt(k)) % p);
  // prefix[k] = prod_{j<k} (x - j), suffix[k] = prod_{j>k-1} (x - j)
  const prefix = [1n];
  for (let j = 0; j < count; j++) prefix.push((prefix[j] * (xr - BigInt(j))) % p);
  const suffix = new Array(count + 1).fill(1n);
  for (let j = count - 1; j >= 0; j--) suffix[j] = (suffix[j + 1] * (xr - BigInt(j))) % p;
  const invFact = new Array(count).fill(1n);
  invFact[count - 1] = inverse(fact[count - 1], p);
  for (let k = count - 1; k > 0; k--) invFact[k - 1] = (invFact[k] * BigInt(k)) % p;
  return Array.from({ length: count }, (_, k) => {
    const v = (((((prefix[k] * suffix[k + 1]) % p) * invFact[k]) % p) * invFact[count - 1 - k]) % p;
    return (count - 1 - k) % 2 === 0 ? v : (p - v) % p;
  });
}

/** @type {Map<string, bigint[][]>} */
const extensions = new Map();

/**
 * Rows for the points G+1..2G: Lagrange coefficients over the nodes 0..G (degree-G
 * extrapolation of the wire polynomial).
 * @param {number} G
 * @param {bigint} p
 */
export function extension(G, p) {
  const key = `${G}:${p}`;
  let rows = extensions.get(key);
  if (rows === undefined) {
    rows = Array.from({ length: G }, (_, e) => lagrangeConsecutive(G + 1, BigInt(G + 1 + e), p));
    extensions.set(key, rows);
  }
  return rows;
}

/**
 * The wire polynomial w's values at 0..2G: w0, the record's G bits, then their extrapolation.
 * Inputs that are all 0 or 1 (every honest record) take sums of coefficients; others the
 * general products.
 * @param {readonly bigint[]} rec the record reduced mod p
 * @param {Layout} layout
 * @param {bigint} w0
 * @param {bigint} p
 */
function wireValues(rec, layout, w0, p) {
  const at = layout.scheme.d1At;
  const G = layout.gates;
  const inputs = [w0, ...rec.slice(at, at + G)];
  const w = [...inputs];
  const rows = extension(G, p);
  if (inputs.every((v, k) => k === 0 || v === 0n || v === 1n)) {
    const ones = [];
    for (let k = 1; k <= G; k++) if (inputs[k] === 1n) ones.push(k);
    for (const row of rows) {
      let acc = row[0] * w0;
      for (const k of ones) acc += row[k];
      w.push(acc % p);
    }
  } else {
    for (const row of rows) w.push(row.reduce((acc, c, k) => acc + c * inputs[k], 0n) % p);
  }
  return w;
}

/**
 * The full submission vector for a record vector: record, m, the triples, w0, h(0..2G).  A
 * record that is not valid still gets honest triples and the true squares of its bits, so the
 * nodes reject it for the constraint it breaks.
 * @param {readonly bigint[]} record
 * @param {Layout} layout
 * @param {bigint} [p]
 * @param {ProofRandomness} [randomness] fixes (m, x and y of every triple, w0) for known-answer
 *   tests; by default drawn uniformly from ``crypto.getRandomValues``
 * @returns {bigint[]}
 */
export function prove(record, layout, p = P127, randomness = undefined) {
  if (record.length !== layout.recordWidth) throw new RangeError("record vector has the wrong length for this layout");
  if (randomness !== undefined && randomness.length !== layout.randomCount) {
    throw new RangeError("randomness must be m, x and y of every triple, and w0");
  }
  const mod = (/** @type {bigint} */ v) => ((v % p) + p) % p;
  const rand = (randomness ?? randomElements(layout.randomCount, p)).map(mod);
  const w0 = rand[rand.length - 1];
  const out = record.map(mod);
  const wire = wireValues(out, layout, w0, p);
  out.push(rand[0]);
  for (let k = 0; k < layout.triples; k++) {
    const x = rand[1 + 2 * k];
    const y = rand[2 + 2 * k];
    out.push(x, y, (x * y) % p);
  }
  out.push(w0);
  for (const v of wire) out.push((v * v) % p);
  return out;
}

/**
 * What a contributor shares: the record's vector and its validity proof
 * (protocol/validity.py's encode_submission).
 * @param {EmployeeRecord} record
 * @param {Scheme} scheme
 * @param {bigint} [p]
 * @param {ProofRandomness} [randomness]
 */
export function encodeSubmission(record, scheme, p = P127, randomness = undefined) {
  return prove(encodeRecord(record, scheme), new Layout(scheme), p, randomness);
}
