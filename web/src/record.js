/**
 * One employee's answer and its record vector, as protocol/encoding.py builds it.
 *
 * A survey declares genders, optional job categories and optional salary bands (lower edges
 * ``0 = e_0 < e_1 < ... < e_{B-1} <= max``).  A cell is a (gender, job) pair, K = genders x
 * max(1, jobs) cells, gender-major.  A record (cell c, salary s in band b) is
 *
 *     H[c', b']  one-hot: 1 at (c, b)                                 (K*B)
 *     P[c']      s on cell c, else 0                                  (K)
 *     Q[c']      s^2 on cell c, else 0                                (K)
 *     d1[0..L)   bits of s - e_b        d2[0..L)   bits of hi_b - s
 *
 * with L the bit length of the widest band.  Each part is written by its own function, so that
 * a record of several values can add value blocks beside the salary's.  Salaries are BigInt
 * (s^2 exceeds 2^53 for bounds above about 9.5e7).
 */

import { parseAmount, wholeUnits } from "./amounts.js";
import { InvalidSubmission } from "./errors.js";
import { casefold, pyRepr, pyStrip } from "./text.js";

/** @import { AmountFormat } from "./amounts.js" */
/** @import { Manifest } from "./manifest.js" */

/** Longest gender or job-category answer read (protocol/answers.py's MAX_CHOICE_CHARS). */
export const MAX_CHOICE_CHARS = 200;

/**
 * One employee's answer, checked against the survey (``job`` is "" when the survey declares no
 * job categories).
 * @typedef {Readonly<{gender: string, job: string, salary: bigint}>} EmployeeRecord
 */

/** Everything the record layout depends on.  Build with {@link Scheme.of} or {@link Scheme.fromManifest}. */
export class Scheme {
  /**
   * @param {readonly string[]} genders
   * @param {readonly string[]} jobs
   * @param {readonly bigint[]} edges band lower edges, edges[0] = 0
   * @param {bigint} salaryMax
   */
  constructor(genders, jobs, edges, salaryMax) {
    this.genders = Object.freeze([...genders]);
    this.jobs = Object.freeze([...jobs]);
    this.edges = Object.freeze([...edges]);
    this.salaryMax = salaryMax;
    this.G = this.genders.length;
    /** Job columns: 1 when the survey declares no job categories. */
    this.J = Math.max(1, this.jobs.length);
    this.K = this.G * this.J;
    this.B = this.edges.length;
    /** L: bits of each in-band offset (d1 and d2). */
    this.bits = Math.max(1, ...this.edges.map((_, b) => bitLength(this.bandWidth(b))));
    this.prodAt = this.K * this.B;
    this.sqAt = this.prodAt + this.K;
    /** The leading entries that are summed: histogram, salary sums, sums of squares. */
    this.aggregateWidth = this.sqAt + this.K;
    this.d1At = this.aggregateWidth;
    this.d2At = this.d1At + this.bits;
    this.recordWidth = this.d2At + this.bits;
    /** Field elements a contributor shares: the record, then its 4L + 9 element validity proof. */
    this.vectorLength = this.recordWidth + 4 * this.bits + 9;
    Object.freeze(this);
  }

  /**
   * ``bands`` are the band boundaries above 0 (the manifest's ``salary_bands``), strictly
   * increasing and at most ``salaryMax``; none is one band [0, max].
   * @param {readonly string[]} genders
   * @param {bigint | number} salaryMax
   * @param {readonly string[]} [jobs]
   * @param {readonly (bigint | number)[]} [bands]
   */
  static of(genders, salaryMax, jobs = [], bands = []) {
    const max = BigInt(salaryMax);
    const b = bands.map(BigInt);
    if (b.some((x, i) => x <= 0n || x > max || (i > 0 && b[i - 1] >= x))) {
      throw new RangeError("salary bands must be strictly increasing, above 0 and at most the salary bound");
    }
    return new Scheme(genders, jobs, [0n, ...b], max);
  }

  /** @param {Manifest} manifest */
  static fromManifest(manifest) {
    return Scheme.of(manifest.categories, manifest.salaryMax, manifest.jobCategories, manifest.salaryBands);
  }

  /**
   * @param {number} g
   * @param {number} j
   */
  cell(g, j) {
    return g * this.J + j;
  }

  /** @param {number} b */
  bandHi(b) {
    return b + 1 < this.B ? this.edges[b + 1] - 1n : this.salaryMax;
  }

  /** @param {number} b */
  bandWidth(b) {
    return this.bandHi(b) - this.edges[b];
  }

  /**
   * The band holding ``salary`` (in [0, max]).
   * @param {bigint} salary
   */
  bandOf(salary) {
    let b = 0;
    while (b + 1 < this.B && this.edges[b + 1] <= salary) b++;
    return b;
  }
}

/** @param {bigint} v non-negative */
function bitLength(v) {
  return v === 0n ? 0 : v.toString(2).length;
}

/**
 * ``text`` as answers are compared with keys and labels: NFKC-normalised, case-folded,
 * stripped (protocol/answers.py's fold).
 * @param {string} text
 */
export function fold(text) {
  return pyStrip(casefold(text.normalize("NFKC")));
}

/**
 * The answers a question accepts: canonical keys and the organiser's labels for some of them.
 */
export class Choices {
  /**
   * @param {string} what "gender", "job category"
   * @param {readonly string[]} keys
   * @param {Readonly<Record<string, string>>} [labels] key -> label
   */
  constructor(what, keys, labels = {}) {
    this.what = what;
    this.keys = Object.freeze([...keys]);
    this.labels = Object.freeze({ ...labels });
    /** @type {Map<string, string>} */
    this.lookup = new Map();
    for (const k of this.keys) if (!this.lookup.has(fold(k))) this.lookup.set(fold(k), k);
    for (const [k, label] of Object.entries(this.labels)) if (!this.lookup.has(fold(label))) this.lookup.set(fold(label), k);
    Object.freeze(this);
  }

  /** The choices as messages list them: "label (key)" where a label exists, else the key. */
  expected() {
    return this.keys.map((k) => (Object.hasOwn(this.labels, k) ? `${this.labels[k]} (${k})` : k)).join(", ");
  }

  /**
   * The key ``text`` names, by key or by label after {@link fold}; InvalidSubmission naming the
   * choices otherwise.
   * @param {string} text
   */
  match(text) {
    const chars = [...text].length;
    if (chars > MAX_CHOICE_CHARS) {
      throw new InvalidSubmission(`${this.what} is too long (${chars} characters; at most ${MAX_CHOICE_CHARS})`);
    }
    const key = this.lookup.get(fold(text));
    if (key === undefined) {
      throw new InvalidSubmission(`unknown ${this.what} ${pyRepr(pyStrip(text))}; expected one of: ${this.expected()}`);
    }
    return key;
  }
}

/**
 * A salary given on a form, in whole units of the survey, at most ``salaryMax``: an integer, or
 * text read by {@link parseAmount} in format ``fmt`` with a decimal part rounded half to even
 * (protocol/encoding.py's parse_salary).
 * @param {string | number | bigint} value
 * @param {bigint} salaryMax
 * @param {AmountFormat} [fmt]
 * @returns {bigint}
 */
export function parseSalary(value, salaryMax, fmt = {}) {
  let s;
  if (typeof value === "bigint") s = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) s = BigInt(value);
  else if (typeof value === "string") s = wholeUnits(parseAmount(value, fmt));
  else throw new InvalidSubmission("salary must be a whole number");
  if (s < 0n) throw new InvalidSubmission("salary must not be negative");
  if (s > salaryMax) throw new InvalidSubmission(`salary above the survey's upper bound of ${salaryMax}`);
  return s;
}

/**
 * The job category ``text`` names; "" when the survey declares none (protocol/encoding.py's
 * parse_job).
 * @param {string | null | undefined} text
 * @param {readonly string[]} jobs
 * @param {Readonly<Record<string, string>>} [labels]
 */
export function parseJob(text, jobs, labels = {}) {
  const raw = pyStrip(text ?? "");
  if (!jobs.length) {
    if (raw) throw new InvalidSubmission("this survey has no job categories; leave the job out");
    return "";
  }
  const choices = new Choices("job category", jobs, labels);
  if (!raw) throw new InvalidSubmission(`job category is missing; expected one of: ${choices.expected()}`);
  return choices.match(raw);
}

/**
 * Check a form's answers into a record (protocol/encoding.py's make_record): InvalidSubmission
 * with Python's one-line message otherwise.
 * @param {string} gender
 * @param {string | number | bigint} salary
 * @param {Scheme} scheme
 * @param {string | null} [job]
 * @param {{genderLabels?: Readonly<Record<string, string>>, jobLabels?: Readonly<Record<string, string>>,
 *   amounts?: AmountFormat}} [options] the organiser's labels, how the salary is written
 * @returns {EmployeeRecord}
 */
export function makeRecord(gender, salary, scheme, job = null, options = {}) {
  return Object.freeze({
    gender: new Choices("gender", scheme.genders, options.genderLabels).match(gender),
    salary: parseSalary(salary, scheme.salaryMax, options.amounts),
    job: parseJob(job, scheme.jobs, options.jobLabels),
  });
}

/**
 * @param {EmployeeRecord} record
 * @param {Scheme} scheme
 */
function cellOf(record, scheme) {
  const g = scheme.genders.indexOf(record.gender);
  const j = scheme.jobs.length ? scheme.jobs.indexOf(record.job) : 0;
  if (g < 0 || j < 0) throw new InvalidSubmission("record does not match the survey's genders and job categories");
  if (!scheme.jobs.length && record.job) throw new InvalidSubmission("this survey has no job categories; leave the job out");
  return scheme.cell(g, j);
}

/**
 * The record's vector (protocol/encoding.py's encode_record): non-negative BigInt entries.
 * @param {EmployeeRecord} record from {@link makeRecord} for this scheme
 * @param {Scheme} scheme
 * @returns {bigint[]}
 */
export function encodeRecord(record, scheme) {
  const s = record.salary;
  if (!(s >= 0n && s <= scheme.salaryMax)) {
    throw new InvalidSubmission(`salary above the survey's upper bound of ${scheme.salaryMax}`);
  }
  const c = cellOf(record, scheme);
  const b = scheme.bandOf(s);
  const vec = new Array(scheme.recordWidth).fill(0n);
  putCellBand(vec, scheme, c, b);
  putValueSums(vec, scheme.prodAt, scheme.sqAt, c, s);
  putBits(vec, scheme.d1At, scheme.bits, s - scheme.edges[b]);
  putBits(vec, scheme.d2At, scheme.bits, scheme.bandHi(b) - s);
  return vec;
}

/**
 * H: 1 at (cell c, band b).
 * @param {bigint[]} vec
 * @param {Scheme} scheme
 * @param {number} c
 * @param {number} b
 */
function putCellBand(vec, scheme, c, b) {
  vec[c * scheme.B + b] = 1n;
}

/**
 * A value's sum and sum of squares on cell c: v at ``sumAt + c``, v^2 at ``squareAt + c``.
 * @param {bigint[]} vec
 * @param {number} sumAt
 * @param {number} squareAt
 * @param {number} c
 * @param {bigint} v
 */
function putValueSums(vec, sumAt, squareAt, c, v) {
  vec[sumAt + c] = v;
  vec[squareAt + c] = v * v;
}

/**
 * The ``count`` low bits of ``v``, least significant first, from ``at`` on.
 * @param {bigint[]} vec
 * @param {number} at
 * @param {number} count
 * @param {bigint} v
 */
function putBits(vec, at, count, v) {
  for (let j = 0; j < count; j++) vec[at + j] = (v >> BigInt(j)) & 1n;
}
