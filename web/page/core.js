/**
 * What the page asks of the contributor library (web/src), in one place: a record from a form's
 * or a file row's answers, its vector with the validity proof, a batch of vectors, and an HR
 * file's rows.  Every check and message is the library's (the Python contributor's).
 */

import * as lib from "../src/index.js";

/** @import { Manifest } from "../src/manifest.js" */

/**
 * @typedef {{gender: string, job?: string, basic: string, variable?: string, hours?: string}} Answers
 * @typedef {{line: number, answers: Answers}} HrRow
 * @typedef {{line: number, message: string}} HrError
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
  return lib.recordFromAnswers(m, answers, { amounts: {} });
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
 * An HR file's rows and its bad rows, nothing sent.
 * @param {Uint8Array} bytes
 * @param {string} name
 * @param {Manifest} m
 * @returns {{rows: HrRow[], errors: HrError[]}}
 */
export function readHr(bytes, name, m) {
  const api = /** @type {any} */ (lib);
  if (typeof api.readHrFile === "function") return api.readHrFile(bytes, name, m, {});
  return readCsv(new TextDecoder().decode(bytes), m);
}

const HEADERS = Object.freeze({ gender: ["gender"], job: ["job", "category"], basic: ["basic", "salary", "pay"],
  variable: ["variable"], hours: ["hours"] });

/**
 * A comma-separated UTF-8 file with a header line: the form the library reads when it has no
 * reader of its own.
 * @param {string} text
 * @param {Manifest} m
 */
function readCsv(text, m) {
  const lines = text.replace(/^\ufeff/, "").split(/\r?\n/);
  const header = lines[0].split(",").map((h) => h.trim().toLowerCase());
  /** @type {Record<string, number>} */
  const col = {};
  for (const [field, names] of Object.entries(HEADERS)) {
    const at = header.findIndex((h) => names.includes(h));
    if (at >= 0) col[field] = at;
  }
  /** @type {HrRow[]} */
  const rows = [];
  /** @type {HrError[]} */
  const errors = [];
  lines.slice(1).forEach((raw, k) => {
    if (!raw.trim()) return;
    const cells = raw.split(",");
    /** @type {any} */
    const answers = {};
    for (const [field, at] of Object.entries(col)) answers[field] = (cells[at] ?? "").trim();
    try {
      recordOf(m, answers);
      rows.push({ line: k + 2, answers });
    } catch (e) {
      errors.push({ line: k + 2, message: String(/** @type {Error} */ (e).message) });
    }
  });
  return { rows, errors };
}

export { lib };
