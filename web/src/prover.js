/**
 * A survey's records turned into what contributors share: one record's submission vector
 * (record and validity proof, protocol/validity.py's encode_submission), or many at once for an
 * HR file.  The batched form writes the same vectors (the tests compare them entry by entry)
 * with fewer BigInt operations: the record's entries are written already reduced (they are
 * below p), its bits as shared 0n/1n constants, the wire's extension as sums of coefficients,
 * and products reduced modulo the Mersenne prime 2^127 - 1 by shifts.
 */

import { P127, randomElements } from "./field.js";
import { Layout, encodeSubmission, extension } from "./proof.js";
import { encodeRecord } from "./record.js";

/** @import { EmployeeRecord } from "./record.js" */
/** @import { Scheme } from "./scheme.js" */
/** @import { ProofRandomness } from "./proof.js" */

/**
 * The manifest's layout, as the prover reads it.
 * @typedef {{scheme(): Scheme, fieldModulus: bigint}} SurveyLayout
 */

/**
 * One record's submission vector: the record and its validity proof, fresh randomness from
 * ``crypto.getRandomValues``.
 * @param {SurveyLayout} manifest
 * @param {EmployeeRecord} record from recordFromAnswers (or makeRecord) for this survey
 * @returns {bigint[]}
 */
export function submissionVector(manifest, record) {
  return encodeSubmission(record, manifest.scheme(), manifest.fieldModulus);
}

/** How many records between two progress reports. */
const PROGRESS_EVERY = 100;

/**
 * Many records' submission vectors at once (the HR file's path), each equal to what
 * {@link submissionVector} gives with the same randomness.  ``onProgress(done, total)`` is called
 * every 100 records and at the end.  ``randomness`` fixes each record's proof randomness (tests).
 * @param {SurveyLayout} manifest
 * @param {readonly EmployeeRecord[]} records
 * @param {(done: number, total: number) => void} [onProgress]
 * @param {readonly ProofRandomness[]} [randomness]
 * @returns {bigint[][]}
 */
export function submissionVectors(manifest, records, onProgress = undefined, randomness = undefined) {
  if (manifest.fieldModulus !== P127) throw new RangeError("the batched prover works over 2^127 - 1 only");
  const scheme = manifest.scheme();
  const layout = new Layout(scheme);
  const rows = extension(layout.gates, P127);
  const out = [];
  for (let r = 0; r < records.length; r++) {
    const rand = randomness ? randomness[r].map((v) => ((v % P127) + P127) % P127) : randomElements(layout.randomCount);
    if (rand.length !== layout.randomCount) throw new RangeError("randomness must be m, x and y of every triple, and w0");
    out.push(proveFast(encodeRecord(records[r], scheme, layout.width), layout, rows, rand));
    if (onProgress && ((r + 1) % PROGRESS_EVERY === 0 || r + 1 === records.length)) onProgress(r + 1, records.length);
  }
  return out;
}

/**
 * x mod 2^127 - 1 for 0 <= x < 2^255.
 * @param {bigint} x
 */
function reduce(x) {
  let v = (x & P127) + (x >> 127n);
  v = (v & P127) + (v >> 127n);
  return v >= P127 ? v - P127 : v;
}

/**
 * The proof appended in place: m, the triples, w0, and h(0..2G), the squares of the wire through
 * w0 and the record's bits (the record's entries at d1At.. are 0n or 1n).
 * @param {bigint[]} vec the record's entries, then room for the proof
 * @param {Layout} layout
 * @param {bigint[][]} rows the wire's extension coefficients
 * @param {readonly bigint[]} rand m, x and y of every triple, w0
 */
function proveFast(vec, layout, rows, rand) {
  const G = layout.gates;
  const at = layout.scheme.d1At;
  const w0 = rand[rand.length - 1];
  let k = layout.maskAt;
  vec[k++] = rand[0];
  for (let t = 0; t < layout.triples; t++) {
    const x = rand[1 + 2 * t];
    const y = rand[2 + 2 * t];
    vec[k++] = x;
    vec[k++] = y;
    vec[k++] = reduce(x * y);
  }
  vec[k++] = w0;
  /** @type {number[]} */
  const ones = [];
  for (let j = 1; j <= G; j++) if (vec[at + j - 1] === 1n) ones.push(j);
  vec[k++] = reduce(w0 * w0);
  for (let j = 0; j < G; j++) vec[k++] = vec[at + j];
  for (const row of rows) {
    let acc = row[0] * w0;
    for (const j of ones) acc += row[j];
    const w = reduce(acc);
    vec[k++] = reduce(w * w);
  }
  return vec;
}
