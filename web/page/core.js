/**
 * What the page asks of the contributor library (web/src), in one place: a record from a form's
 * or a file row's answers, its vector with the validity proof, a batch of vectors, and an HR
 * file's rows.  Every check and message is the library's (the Python contributor's).
 */

import * as lib from "../src/index.js";

/** @import { Manifest } from "../src/manifest.js" */

/**
 * @typedef {{gender: string, job?: string, basic: string, variable?: string, hours?: string}} Answers
 * @typedef {{line: number, answers: Answers, record: any}} HrRow
 * @typedef {{line: number, column: string | null, message: string}} HrError
 */

/**
 * The survey's answers: "basic" always, "variable" and "hours" when it collects them.
 * @param {Manifest} m
 * @returns {ReadonlyArray<string>}
 */
export function components(m) {
  return m.components;
}

/**
 * @param {Manifest} m
 * @param {"gender" | "job"} what
 * @returns {Readonly<Record<string, string>>}
 */
export function labels(m, what) {
  return what === "gender" ? m.genderLabels : m.jobLabels;
}

/**
 * The record the answers describe; throws the library's InvalidSubmission (one line).
 * @param {Manifest} m
 * @param {Answers} answers
 */
export function recordOf(m, answers) {
  return lib.recordFromAnswers(m, answers);
}

/**
 * One record's vector with its validity proof (fresh randomness).
 * @param {Manifest} m
 * @param {any} record
 * @returns {bigint[]}
 */
export function vectorOf(m, record) {
  return lib.submissionVector(m, record);
}

/**
 * Many records' vectors, the library's batched prover.
 * @param {Manifest} m
 * @param {any[]} records
 * @param {(done: number) => void} onProgress
 * @returns {bigint[][]}
 */
export function vectorsOf(m, records, onProgress) {
  return lib.submissionVectors(m, records, onProgress);
}

/**
 * An HR file's checked rows and its bad rows, nothing sent (the library reads it as
 * contributor/hrfile.py does: encoding, delimiter, headers, decimal mark).
 * @param {Uint8Array} bytes
 * @param {string} name
 * @param {Manifest} m
 * @returns {{rows: HrRow[], errors: HrError[]}}
 */
export function readHr(bytes, name, m) {
  return lib.readHrFile(bytes, name, m);
}

export { lib };
