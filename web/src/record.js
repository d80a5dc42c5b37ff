/**
 * One employee's answers checked into a record, and its record vector, as protocol/encoding.py
 * builds them (the layout is scheme.js's).  A one-figure survey's record is a salary; a complete
 * survey's is basic pay, variable pay and hours (hundredths) as the survey collects them, and
 * its banded values are the pay level T = basic + variable, V and the hourly level Y.  Amounts
 * are BigInt (squares exceed 2^53 for bounds above about 9.5e7).
 */

import { currencyMarks, parseAmount, wholeUnits } from "./amounts.js";
import { InvalidSubmission } from "./errors.js";
import { HOURLY_SCALE, HOURS_SCALE, ValueKind } from "./scheme.js";
import { casefold, pyRepr, pyStrip } from "./text.js";

/** @import { AmountFormat } from "./amounts.js" */
/** @import { Scheme, ValueBlock, ValueKindName } from "./scheme.js" */

/** Longest gender or job-category answer read (protocol/answers.py's MAX_CHOICE_CHARS). */
export const MAX_CHOICE_CHARS = 200;

/**
 * One employee's answer, checked against the survey (``job`` is "" when the survey declares no
 * job categories).  ``salary`` is the basic pay (the one figure of a one-figure survey),
 * ``variable`` the variable pay, ``hours`` the hours paid in the period in hundredths (0 when
 * the survey does not collect them).
 * @typedef {Readonly<{gender: string, job: string, salary: bigint, variable: bigint, hours: bigint}>} EmployeeRecord
 */

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

  /**
   * What people are shown for ``key``: its label, else the key.
   * @param {string} key
   */
  label(key) {
    return Object.hasOwn(this.labels, key) ? this.labels[key] : key;
  }

  /**
   * Keys and labels that fold to the same text but name different keys (a manifest with any is
   * refused).
   * @returns {string[]}
   */
  collisions() {
    /** @type {Map<string, string>} */
    const seen = new Map();
    /** @type {string[]} */
    const clash = [];
    for (const [k, text] of [...this.keys.map((k) => [k, k]), ...Object.entries(this.labels)]) {
      const f = fold(text);
      if (!seen.has(f)) seen.set(f, k);
      if (seen.get(f) !== k) clash.push(text);
    }
    return clash;
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
 * An amount of pay (basic or variable) in whole units, at most ``bound``, named ``what`` in
 * messages (protocol/encoding.py's parse_pay).
 * @param {string | number | bigint} value
 * @param {bigint} bound
 * @param {string} what
 * @param {AmountFormat} [fmt]
 * @returns {bigint}
 */
export function parsePay(value, bound, what, fmt = {}) {
  let v;
  if (typeof value === "bigint") v = value;
  else if (typeof value === "number" && Number.isSafeInteger(value)) v = BigInt(value);
  else if (typeof value === "string") v = wholeUnits(parseAmount(value, fmt, what));
  else throw new InvalidSubmission(`${what} must be a whole number`);
  if (v < 0n) throw new InvalidSubmission(`${what} must not be negative`);
  if (v > bound) throw new InvalidSubmission(`${what} above the survey's upper bound of ${bound}`);
  return v;
}

/**
 * Hours paid in the period, in hundredths (rounded half to even), above 0 and at most
 * ``hoursMax`` whole hours (protocol/encoding.py's parse_hours).  An integer is whole hours; a
 * number with a fraction is read as its shortest decimal text.
 * @param {string | number | bigint} value
 * @param {number} hoursMax
 * @param {AmountFormat} [fmt]
 * @returns {bigint}
 */
export function parseHours(value, hoursMax, fmt = {}) {
  let h;
  if (typeof value === "bigint") h = value * HOURS_SCALE;
  else if (typeof value === "number" && Number.isSafeInteger(value)) h = BigInt(value) * HOURS_SCALE;
  else if (typeof value === "string" || (typeof value === "number" && Number.isFinite(value))) {
    const a = parseAmount(String(value), fmt, "hours");
    h = wholeUnits({ numerator: a.numerator * HOURS_SCALE, denominator: a.denominator });
  } else throw new InvalidSubmission("hours must be a number");
  if (h <= 0n) throw new InvalidSubmission("hours must be above 0");
  if (h > BigInt(hoursMax) * HOURS_SCALE) throw new InvalidSubmission(`hours above the survey's upper bound of ${hoursMax}`);
  return h;
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
 * @typedef {string | number | bigint} AnswerValue
 * @typedef {{genderLabels?: Readonly<Record<string, string>>, jobLabels?: Readonly<Record<string, string>>,
 *   amounts?: AmountFormat, variable?: AnswerValue | null, hours?: AnswerValue | null}} RecordOptions
 */

/**
 * Check a form's answers into a record (protocol/encoding.py's make_record): InvalidSubmission
 * with Python's one-line message otherwise.  ``salary`` is the basic pay; ``options.variable``
 * and ``options.hours`` are required exactly when the survey collects them (variable pay may be
 * 0) and must be absent (undefined or null) otherwise.
 * @param {string} gender
 * @param {AnswerValue} salary
 * @param {Scheme} scheme
 * @param {string | null} [job]
 * @param {RecordOptions} [options] the organiser's labels, how amounts are written, the further answers
 * @returns {EmployeeRecord}
 */
export function makeRecord(gender, salary, scheme, job = null, options = {}) {
  const g = new Choices("gender", scheme.genders, options.genderLabels).match(gender);
  const variable = options.variable ?? null;
  const hours = options.hours ?? null;
  if (!scheme.complete) {
    const s = parseSalary(salary, scheme.salaryMax, options.amounts);
    const j = parseJob(job, scheme.jobs, options.jobLabels);
    if (variable !== null || hours !== null) {
      throw new InvalidSubmission("this survey asks for one pay figure; leave variable pay and hours out");
    }
    return Object.freeze({ gender: g, job: j, salary: s, variable: 0n, hours: 0n });
  }
  const basic = parsePay(salary, scheme.salaryMax, "basic pay", options.amounts);
  const j = parseJob(job, scheme.jobs, options.jobLabels);
  const v = optional(variable, scheme.variable !== null, "variable pay");
  const h = optional(hours, scheme.hoursMax > 0, "hours");
  const record = Object.freeze({
    gender: g, job: j, salary: basic,
    variable: v !== null ? parsePay(v, scheme.variable?.top ?? 0n, "variable pay", options.amounts) : 0n,
    hours: h !== null ? parseHours(h, scheme.hoursMax, options.amounts) : 0n,
  });
  checkBounds(record, scheme);
  return record;
}

/**
 * @param {AnswerValue | null} value
 * @param {boolean} collected
 * @param {string} what
 */
function optional(value, collected, what) {
  if (collected && (value === null || (typeof value === "string" && !pyStrip(value)))) {
    throw new InvalidSubmission(`${what} is missing (this survey collects it; 0 is an answer)`);
  }
  if (!collected && value !== null) throw new InvalidSubmission(`this survey does not collect ${what}; leave it out`);
  return value;
}

/**
 * A form's answers, as the page collects them (strings as typed, or numbers; ``job``,
 * ``variable`` and ``hours`` only when the survey asks them).
 * @typedef {{gender: string, basic: AnswerValue, job?: string | null, variable?: AnswerValue | null,
 *   hours?: AnswerValue | null}} Answers
 */

/**
 * A checked record for a manifest's survey from a form's answers (the labels and the layout are
 * the manifest's): InvalidSubmission with the Python contributor's one-line message otherwise.
 * Amounts may name the survey's currency (its code or usual symbols, as salary-submit accepts
 * them) unless ``options.amounts`` says otherwise.
 * @param {{scheme(): Scheme, genderLabels: Readonly<Record<string, string>>, jobLabels: Readonly<Record<string, string>>,
 *   currency(): string}} manifest
 * @param {Answers} answers
 * @param {{amounts?: AmountFormat}} [options] how amounts are written (the decimal mark; null: each amount
 *   read the one way it can be)
 * @returns {EmployeeRecord}
 */
export function recordFromAnswers(manifest, answers, options = {}) {
  const code = manifest.currency();
  const amounts = { currency: code, currencyMarks: currencyMarks(code), ...options.amounts };
  return makeRecord(answers.gender, answers.basic, manifest.scheme(), answers.job ?? null, {
    genderLabels: manifest.genderLabels, jobLabels: manifest.jobLabels, amounts,
    variable: answers.variable, hours: answers.hours,
  });
}

/**
 * The record's value of one kind: the pay level T = basic + variable, V, or Y = floor(T * 10^4 / h).
 * @param {EmployeeRecord} record
 * @param {ValueKindName} kind
 */
export function valueOf(record, kind) {
  const level = record.salary + record.variable;
  if (kind === ValueKind.LEVEL) return level;
  if (kind === ValueKind.VARIABLE) return record.variable;
  return record.hours ? (level * HOURLY_SCALE) / record.hours : 0n;
}

/** @type {Record<ValueKindName, string>} */
const VALUE_NAMES = { level: "salary", variable: "variable pay", hourly: "hourly pay (hundredths)" };

/**
 * InvalidSubmission unless every value of ``record`` lies in its bounds (protocol/encoding.py's
 * check_bounds, with its messages).
 * @param {EmployeeRecord} record
 * @param {Scheme} scheme
 */
export function checkBounds(record, scheme) {
  if (record.salary < 0n || record.variable < 0n) {
    throw new InvalidSubmission(scheme.complete ? "pay must not be negative"
      : `salary above the survey's upper bound of ${scheme.salaryMax}`);
  }
  if (record.variable && scheme.variable === null) throw new InvalidSubmission("this survey does not collect variable pay");
  if ((record.hours !== 0n) !== (scheme.hoursMax > 0) || record.hours < 0n) {
    throw new InvalidSubmission(scheme.hoursMax ? "hours must be above 0" : "this survey does not collect hours");
  }
  if (record.hours > BigInt(scheme.hoursMax) * HOURS_SCALE) {
    throw new InvalidSubmission(`hours above the survey's upper bound of ${scheme.hoursMax}`);
  }
  for (const v of scheme.values) {
    if (valueOf(record, v.kind) > v.banding.top) {
      throw new InvalidSubmission(`${VALUE_NAMES[v.kind]} above the survey's upper bound of ${v.banding.top}`);
    }
  }
}

/**
 * The record's cell (gender-major), or InvalidSubmission when it is not one of the scheme's.
 * @param {EmployeeRecord} record
 * @param {Scheme} scheme
 */
export function cellOf(record, scheme) {
  const g = scheme.genders.indexOf(record.gender);
  const j = scheme.jobs.length ? scheme.jobs.indexOf(record.job) : 0;
  if (g < 0 || j < 0) throw new InvalidSubmission("record does not match the survey's genders and job categories");
  if (!scheme.jobs.length && record.job) throw new InvalidSubmission("this survey has no job categories; leave the job out");
  return scheme.cell(g, j);
}

/**
 * The record's vector (protocol/encoding.py's encode_record): non-negative BigInt entries, in a
 * vector ``width`` long (longer than the record leaves room for the proof, its places 0n).
 * @param {EmployeeRecord} record from {@link makeRecord} for this scheme
 * @param {Scheme} scheme
 * @param {number} [width]
 * @returns {bigint[]}
 */
export function encodeRecord(record, scheme, width = scheme.recordWidth) {
  checkBounds(record, scheme);
  const c = cellOf(record, scheme);
  const vec = new Array(width).fill(0n);
  for (const v of scheme.values) putValue(vec, v, c, valueOf(record, v.kind));
  if (scheme.basicBits) putBits(vec, scheme.basicBitsAt, scheme.basicBits, record.salary);
  if (scheme.hoursBits) {
    const r = ((record.salary + record.variable) * HOURLY_SCALE) % record.hours;
    putBits(vec, scheme.remainderAt, scheme.hoursBits, r);
    putBits(vec, scheme.slackAt, scheme.hoursBits, record.hours - 1n - r);
  }
  return vec;
}

/**
 * One value on cell c: its band's one-hot entry, the value and its square on the cell, its
 * offset bits above the band's lower edge and below its top.
 * @param {bigint[]} vec
 * @param {ValueBlock} v
 * @param {number} c
 * @param {bigint} x
 */
function putValue(vec, v, c, x) {
  const b = v.banding.bandOf(x);
  vec[v.histAt + c * v.B + b] = 1n;
  vec[v.prodAt + c] = x;
  vec[v.sqAt + c] = x * x;
  putBits(vec, v.d1At, v.bits, x - v.banding.edges[b]);
  putBits(vec, v.d2At, v.bits, v.banding.bandHi(b) - x);
}

/**
 * The ``count`` low bits of ``v``, least significant first, from ``at`` on (as Numbers when ``v``
 * is below 2^53, as every bound the manifest allows is: an HR file's rows take this path).
 * @param {bigint[]} vec
 * @param {number} at
 * @param {number} count
 * @param {bigint} v
 */
function putBits(vec, at, count, v) {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    for (let j = 0; j < count; j++) vec[at + j] = (v >> BigInt(j)) & 1n;
    return;
  }
  let n = Number(v);
  for (let j = 0; j < count; j++) {
    vec[at + j] = n % 2 ? 1n : 0n;
    n = Math.floor(n / 2);
  }
}
