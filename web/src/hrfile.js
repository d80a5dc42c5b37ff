/**
 * HR files in the browser, read as contributor/hrfile.py reads them: CSV separated by ``,``
 * ``;`` tab or ``|`` (sniffed from the first lines, or given), in UTF-8 with or without a
 * byte-order mark, UTF-16 (with a BOM, or recognised by its zero bytes) or Windows-1252 (tried
 * last).  The first non-blank row is the header; each field's column is found by an explicit
 * header or by its usual header, compared after NFKC normalisation and case folding.  Every bad
 * row is reported (its line, its column, Python's one-line message) and the valid rows come back
 * as checked records; a file that cannot be read as a table, or lacks a needed column, throws
 * InvalidSubmission with Python's message (the file's name where Python names its path).
 * Workbooks (.xlsx, .xlsm) are read from their first sheet (xlsx.js), rows numbered as the sheet
 * numbers them; .xls, .xlsb and .ods are refused in one line (save the sheet as CSV or .xlsx).
 */

import { currencyMarks, parseAmount, reveals, wholeUnits } from "./amounts.js";
import { InvalidSubmission } from "./errors.js";
import { checkBounds, fold, parseSalary } from "./record.js";
import { Component, HOURS_SCALE } from "./scheme.js";
import { pyRepr, pyStrip } from "./text.js";
import { decimalValue, pyFloatRepr, readFirstSheet } from "./xlsx.js";

/** @import { Amount, AmountFormat } from "./amounts.js" */
/** @import { Choices, EmployeeRecord } from "./record.js" */
/** @import { Scheme } from "./scheme.js" */
/** @import { SheetCell } from "./xlsx.js" */

export const DELIMITERS = Object.freeze([",", ";", "\t", "|"]);
/** Longest CSV cell read (longer ones make the file invalid CSV). */
export const MAX_CELL_CHARS = 1 << 24;
export const SPREADSHEET_SUFFIXES = Object.freeze([".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"]);
/** The spreadsheets read here (Office Open XML workbooks). */
export const WORKBOOK_SUFFIXES = Object.freeze([".xlsx", ".xlsm"]);

/** What an HR file's columns can hold. @typedef {"gender" | "category" | "pay" | "hours" | "variable"} Field */

/** @type {Readonly<Record<Field, readonly string[]>>} */
const DEFAULT_HEADERS = { gender: ["gender"], category: ["job", "category"], pay: ["salary", "pay"], hours: [],
  variable: ["variable"] };
/** A complete survey's headers (basic pay, variable pay and hours are separate answers there). */
/** @type {Readonly<Record<Field, readonly string[]>>} */
const COMPLETE_HEADERS = { ...DEFAULT_HEADERS, pay: ["basic", "salary", "pay"], hours: ["hours"] };
/** How messages name each field's column when it is missing. @type {Readonly<Record<Field, string>>} */
const SHOWN = { gender: "gender", category: "job", pay: "salary", hours: "hours", variable: "variable" };
/** How a complete survey's messages name each amount. */
const SHOWN_COMPLETE = /** @type {const} */ ({ pay: "basic pay", variable: "variable pay", hours: "hours" });

/**
 * How to read an HR file: explicit headers per field, the decimal mark ("," "." a locale name,
 * or null to infer it from the file), the text encoding (a WHATWG label; default: detected), the
 * delimiter (default: sniffed), and the amount format's currency marks (default: the survey's
 * currency and its usual symbols).
 * @typedef {{columns?: Partial<Record<Field, string>>, decimal?: string | null, encoding?: string,
 *   delimiter?: string, currencyMarks?: readonly string[]}} HrReadOptions
 */

/**
 * A valid row: its line (the header is line 1; a spreadsheet's row number), the answers as the
 * file writes them (for display: the record is what is submitted, read with the file's decimal
 * mark) and the checked record.
 * @typedef {{line: number, answers: {gender: string, job: string, basic: string, variable?: string, hours?: string},
 *   record: EmployeeRecord}} HrRow
 */

/**
 * A bad row: its line (its row in a spreadsheet, as ``unit`` says), the column's header (null
 * when the row is short) and what is wrong; ``text`` is the one line contributor/hrfile.py
 * prints for it.
 * @typedef {{line: number, unit: "line" | "row", column: string | null, message: string, text: string}} HrError
 */

/**
 * The manifest as the reader uses it.
 * @typedef {{scheme(): Scheme, genderChoices(): Choices, jobChoices(): Choices, jobCategories: readonly string[],
 *   components: readonly string[], salaryUnit: string, salaryMax: number, currency(): string}} HrManifest
 */

/**
 * Read and check an HR file's rows for a survey.
 * @param {Uint8Array} bytes the file's content
 * @param {string} fileName how messages name the file
 * @param {HrManifest} manifest
 * @param {HrReadOptions} [options]
 * @returns {{rows: HrRow[], errors: HrError[], described: string, columns: Partial<Record<Field, string>>}}
 */
export function readHrFile(bytes, fileName, manifest, options = {}) {
  const lower = fileName.toLowerCase();
  if (SPREADSHEET_SUFFIXES.some((s) => lower.endsWith(s)) && !WORKBOOK_SUFFIXES.some((s) => lower.endsWith(s))) {
    throw new InvalidSubmission(`${fileName}: this page reads .xlsx workbooks and CSV files; save the sheet as one of them`);
  }
  const table = WORKBOOK_SUFFIXES.some((s) => lower.endsWith(s)) ? readSpreadsheet(bytes, fileName) : readTable(bytes, fileName, options);
  const columns = findColumns(table, manifest, options);
  const mark = decimalMark(options.decimal ?? null) ?? inferDecimal(table, columns);
  /** @type {AmountFormat} */
  const fmt = { decimal: mark, currencyMarks: options.currencyMarks ?? currencyMarks(manifest.currency()),
    currency: manifest.currency() };
  const reader = new RowReader(manifest, columns, fmt);
  /** @type {HrRow[]} */
  const rows = [];
  /** @type {HrError[]} */
  const errors = [];
  const needed = Math.max(...Object.values(columns.index)) + 1;
  for (const [line, cells] of table.rows) {
    if (cells.length < needed) {
      errors.push(problem(line, null, `has ${cells.length} fields, expected at least ${needed}`, table.unit));
      continue;
    }
    try {
      rows.push({ line, answers: reader.answers(cells), record: reader.record(cells) });
    } catch (e) {
      if (!(e instanceof BadCell)) throw e;
      errors.push(problem(line, e.column, e.message, table.unit));
    }
  }
  if (!rows.length && !errors.length) throw new InvalidSubmission(`${fileName} has no data rows`);
  return { rows, errors, described: table.described, columns: columns.header };
}

/**
 * @param {number} line
 * @param {string | null} column
 * @param {string} message
 * @param {"line" | "row"} unit
 * @returns {HrError}
 */
function problem(line, column, message, unit) {
  const where = `${unit} ${line}` + (column !== null ? `, column ${column}` : "");
  return { line, unit, column, message, text: `${where}: ${pySplit(message).join(" ")}` };
}

/** Python's str.split() with no argument: runs of whitespace, none at either end. */
const WHITESPACE = /[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/;

/** @param {string} s */
function pySplit(s) {
  return s.split(WHITESPACE).filter((w) => w !== "");
}

// ------------------------------------------------------------------------------------------
// Tables

/**
 * A file's header and data rows (line or row number, cells), how rows are numbered and how it
 * was read.
 * @typedef {{name: string, header: string[], rows: [number, SheetCell[]][], unit: "line" | "row", described: string}} Table
 */

/**
 * @param {Uint8Array} bytes
 * @param {string} name
 * @param {HrReadOptions} options
 * @returns {Table}
 */
export function readTable(bytes, name, options = {}) {
  const [text, encoding] = decode(bytes, options.encoding, name);
  const delimiter = options.delimiter ?? sniffDelimiter(text);
  /** @type {string[] | null} */
  let header = null;
  /** @type {[number, string[]][]} */
  const rows = [];
  for (const [line, raw] of csvRows(text, delimiter, name)) {
    if (!raw.length || raw.every((c) => !pyStrip(c))) continue;
    if (header === null) header = raw.map(pyStrip);
    else rows.push([line, raw]);
  }
  if (header === null) throw new InvalidSubmission(`${name} is empty; expected a header line with gender,salary`);
  const shown = /** @type {Record<string, string>} */ ({ "\t": "tab", ",": "','", ";": "';'", "|": "'|'" })[delimiter]
    ?? pyRepr(delimiter);
  return { name, header, rows, unit: "line", described: `CSV, ${encoding}, ${shown}-separated` };
}

/**
 * The first sheet of a workbook as a table (numbers stay numbers).
 * @param {Uint8Array} bytes
 * @param {string} name
 * @returns {Table}
 */
function readSpreadsheet(bytes, name) {
  const { sheet, rows: data } = readFirstSheet(bytes, name);
  /** @type {string[] | null} */
  let header = null;
  /** @type {[number, SheetCell[]][]} */
  const rows = [];
  data.forEach((cells, k) => {
    if (cells.every((c) => typeof c === "string" && !pyStrip(c))) return;
    if (header === null) header = cells.map((c) => pyStrip(typeof c === "string" ? c : pyFloatRepr(c)));
    else rows.push([k + 1, cells]);
  });
  if (header === null) throw new InvalidSubmission(`${name} is empty; expected a header row with gender,salary`);
  return { name, header, rows, unit: "row", described: `spreadsheet, sheet ${pyRepr(sheet)}` };
}

/**
 * A cell's amount: a spreadsheet number exactly as its shortest decimal form, or text.
 * @param {SheetCell} cell
 * @param {AmountFormat} fmt
 * @param {string} what
 * @returns {Amount}
 */
function amountOf(cell, fmt, what) {
  if (typeof cell === "string") return parseAmount(cell, fmt, what);
  if (!Number.isFinite(cell) || cell < 0) throw new InvalidSubmission(`${what} ${pyFloatRepr(cell)} is not a non-negative number`);
  return decimalValue(cell);
}

/**
 * A cell as text (a spreadsheet's whole numbers without ".0").
 * @param {SheetCell} cell
 */
function textOf(cell) {
  if (typeof cell === "string") return cell;
  return Number.isInteger(cell) ? BigInt(cell).toString() : pyFloatRepr(cell);
}

/** Bytes Windows-1252 leaves undefined (Python's cp1252 refuses them; WHATWG maps them to C1 controls). */
const CP1252_UNDEFINED = new Set([0x81, 0x8d, 0x8f, 0x90, 0x9d]);

/**
 * The file's text and the encoding it was read in (Python's codec names): ``encoding`` if
 * given; else by its byte-order mark, UTF-16 by its zero bytes, UTF-8, and Windows-1252 last.
 * @param {Uint8Array} data
 * @param {string | undefined} encoding
 * @param {string} name
 * @returns {[string, string]}
 */
function decode(data, encoding, name) {
  const dropBom = (/** @type {string} */ t) => (t.startsWith("\ufeff") ? t.slice(1) : t);
  if (encoding !== undefined) {
    try {
      return [dropBom(new TextDecoder(encoding, { fatal: true, ignoreBOM: true }).decode(data)), encoding];
    } catch (e) {
      if (e instanceof RangeError) throw new InvalidSubmission(`--encoding: unknown encoding ${pyRepr(encoding)}`);
      const text = new TextDecoder(encoding, { ignoreBOM: true }).decode(data);
      const line = text.slice(0, text.indexOf("\ufffd")).split("\n").length;
      throw new InvalidSubmission(`${name}: line ${line} is not ${encoding} text; give the file's --encoding `
        + "(e.g. utf-8, cp1252, big5, shift_jis)");
    }
  }
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
    const text = utf8(data.subarray(3));
    if (text === null) throw notText(name);
    return [dropBom(text), "utf-8-sig"];
  }
  const head = data.subarray(0, 4096);
  if ((data[0] === 0xff && data[1] === 0xfe) || (data[0] === 0xfe && data[1] === 0xff)) {
    return [dropBom(utf16(data.subarray(2), data[0] === 0xff, name, "utf-16", 2)), "utf-16"];
  }
  if (head.includes(0)) {
    let even = 0;
    let odd = 0;
    head.forEach((b, i) => { if (b === 0) { if (i % 2) odd++; else even++; } });
    const little = odd > even;
    return [dropBom(utf16(data, little, name, little ? "utf-16-le" : "utf-16-be", 0)), little ? "utf-16-le" : "utf-16-be"];
  }
  const text = utf8(data);
  if (text !== null) return [dropBom(text), "utf-8"];
  if (data.some((b) => CP1252_UNDEFINED.has(b))) throw notText(name);
  return [dropBom(cp1252(data)), "cp1252"];
}

/** Windows-1252's characters for the bytes 0x80..0x9f (0xfffd: undefined, refused before). */
const CP1252_HIGH = "\u20ac\ufffd\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\ufffd\u017d\ufffd\ufffd\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\ufffd\u017e\u0178";

/**
 * Windows-1252 text, decoded here: some platforms' TextDecoder reads the label as ISO-8859-1.
 * @param {Uint8Array} data
 */
function cp1252(data) {
  let out = "";
  for (let i = 0; i < data.length; i += 8192) {
    out += String.fromCharCode(...Array.from(data.subarray(i, i + 8192),
      (b) => (b >= 0x80 && b < 0xa0 ? CP1252_HIGH.charCodeAt(b - 0x80) : b)));
  }
  return out;
}

/** @param {string} name */
function notText(name) {
  return new InvalidSubmission(`${name} is not UTF-8, UTF-16 or Windows-1252 text; give its --encoding `
    + "(e.g. big5, cp950, shift_jis, latin-1)");
}

/**
 * @param {Uint8Array} data
 * @returns {string | null}
 */
function utf8(data) {
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    return null;
  }
}

/**
 * UTF-16 text, or InvalidSubmission naming the line of the first undecodable unit (as Python
 * counts it: newlines before the error).
 * @param {Uint8Array} data
 * @param {boolean} little
 * @param {string} name
 * @param {string} codec how the message names the encoding
 * @param {number} offset bytes before ``data`` in the file (a BOM)
 */
function utf16(data, little, name, codec, offset) {
  const units = Math.floor(data.length / 2);
  const at = (/** @type {number} */ i) => (little ? data[2 * i] | (data[2 * i + 1] << 8) : (data[2 * i] << 8) | data[2 * i + 1]);
  let bad = data.length % 2 ? 2 * units : -1;
  for (let i = 0; i < units; i++) {
    const u = at(i);
    if (u >= 0xd800 && u < 0xdc00) {
      if (i + 1 < units && at(i + 1) >= 0xdc00 && at(i + 1) < 0xe000) { i++; continue; }
      bad = 2 * i;
      break;
    }
    if (u >= 0xdc00 && u < 0xe000) { bad = 2 * i; break; }
  }
  if (bad >= 0) {
    let line = 1;
    for (let i = 0; i + 1 < offset + bad; i++) {
      const [a, b] = [i < offset ? -1 : data[i - offset], i + 1 < offset ? -1 : data[i + 1 - offset]];
      if (a === 0x0a && b === 0) line++;
    }
    throw new InvalidSubmission(`${name}: line ${line} is not ${codec} text; give the file's --encoding `
      + "(e.g. utf-8, cp1252, big5, shift_jis)");
  }
  return new TextDecoder(little ? "utf-16le" : "utf-16be", { ignoreBOM: true }).decode(data);
}

/** Python's str.splitlines() boundaries. */
const LINE_BREAK = /\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]/;

/**
 * The delimiter that splits the first lines into the same number (at least two) of fields most
 * consistently; "," when none does.
 * @param {string} text
 */
export function sniffDelimiter(text) {
  const cut = text.slice(0, 65536);
  let sample = cut.split(LINE_BREAK).slice(0, 50).filter((ln) => pyStrip(ln) !== "");
  if (sample.length > 1 && text.length > 65536) sample = sample.slice(0, -1);
  let best = ",";
  let score = [0, 0];
  for (const d of DELIMITERS) {
    let widths;
    try {
      widths = [...csvRows(sample.map((ln) => `${ln}\n`).join(""), d, "")].map(([, r]) => r.length);
    } catch {
      continue;
    }
    if (!widths.length || widths[0] < 2) continue;
    const s = [widths.filter((w) => w === widths[0]).length / widths.length, widths[0]];
    if (s[0] > score[0] || (s[0] === score[0] && s[1] > score[1])) {
      best = d;
      score = s;
    }
  }
  return best;
}

/**
 * The rows of CSV text as Python's csv.reader (excel dialect, non-strict) reads it from a file
 * opened with newline="": (the physical line the row ends on, its fields), empty lines as [].
 * @param {string} text
 * @param {string} delimiter
 * @param {string} name for messages
 * @returns {Generator<[number, string[]]>}
 */
export function* csvRows(text, delimiter, name) {
  const lines = text.match(/[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$/g) ?? [];
  let lineNum = 0;
  let state = "start";
  /** @type {string[]} */
  let fields = [];
  let field = "";
  const bad = (/** @type {string} */ why) => new InvalidSubmission(`${name}: line ${lineNum} is not valid CSV: ${why}`);
  const add = (/** @type {string} */ c) => {
    if (field.length >= MAX_CELL_CHARS) throw bad(`field larger than field limit (${MAX_CELL_CHARS})`);
    field += c;
  };
  const save = () => { fields.push(field); field = ""; };
  for (const line of lines) {
    lineNum++;
    for (const c of [...line, null]) {
      const eol = c === null;
      const nl = c === "\n" || c === "\r";
      if (state === "start") {
        if (eol) { state = "record"; break; }
        if (nl) { state = "crlf"; continue; }
        state = "field-start";
      }
      if (state === "field-start") {
        if (eol || nl) { save(); state = eol ? "record" : "crlf"; } else if (c === '"') state = "quoted";
        else if (c === delimiter) save();
        else { add(c); state = "field"; }
      } else if (state === "field") {
        if (eol || nl) { save(); state = eol ? "record" : "crlf"; } else if (c === delimiter) { save(); state = "field-start"; }
        else add(c);
      } else if (state === "quoted") {
        if (c === '"') state = "quote-in-quoted";
        else if (!eol) add(c);
      } else if (state === "quote-in-quoted") {
        if (c === '"') { add(c); state = "quoted"; } else if (c === delimiter) { save(); state = "field-start"; }
        else if (eol || nl) { save(); state = eol ? "record" : "crlf"; } else { add(c); state = "field"; }
      } else if (state === "crlf") {
        if (eol) state = "record";
        else if (!nl) throw bad("new-line character seen in unquoted field - do you need to open the file with newline=''?");
      }
    }
    if (state === "record") {
      yield [lineNum, fields];
      fields = [];
      state = "start";
    }
  }
  if (state !== "start" && (field.length || state === "quoted" || fields.length)) {
    save();
    yield [lineNum, fields];
  }
}

// ------------------------------------------------------------------------------------------
// Columns

/** @typedef {{index: Partial<Record<Field, number>>, header: Partial<Record<Field, string>>}} Columns */

/**
 * The columns of every field the survey needs (InvalidSubmission naming the option otherwise).
 * @param {Table} table
 * @param {HrManifest} manifest
 * @param {HrReadOptions} options
 * @returns {Columns}
 */
function findColumns(table, manifest, options) {
  const explicit = options.columns ?? {};
  /** @type {Field[]} */
  const wanted = ["gender", "pay", ...(manifest.jobCategories.length ? /** @type {Field[]} */ (["category"]) : [])];
  const why = `this survey asks for a job category: ${manifest.jobCategories.join(", ")}`;
  if (manifest.scheme().complete) {
    if (manifest.components.includes(Component.VARIABLE)) wanted.push("variable");
    if (manifest.components.includes(Component.HOURS)) wanted.push("hours");
    if (explicit.category !== undefined && !wanted.includes("category")) {
      throw new InvalidSubmission("--column category=...: this survey has no job categories");
    }
    return locateColumns(table, explicit, wanted, why, COMPLETE_HEADERS);
  }
  if (explicit.variable !== undefined) throw new InvalidSubmission("--column variable=...: this survey does not collect variable pay");
  for (const f of /** @type {Field[]} */ (["category", "hours"])) {
    if (explicit[f] !== undefined && !wanted.includes(f)) {
      if (f === "category") throw new InvalidSubmission("--column category=...: this survey has no job categories");
      const unit = manifest.salaryUnit.toLowerCase();
      if (!unit.endsWith("/hour") && !unit.endsWith("/h")) {
        throw new InvalidSubmission(`--column hours=... submits pay per hour; this survey's unit is ${manifest.salaryUnit}`);
      }
      wanted.push(f);
    }
  }
  return locateColumns(table, explicit, wanted, why, DEFAULT_HEADERS);
}

/**
 * @param {Table} table
 * @param {Partial<Record<Field, string>>} explicit
 * @param {Field[]} wanted
 * @param {string} whyCategory
 * @param {Readonly<Record<Field, readonly string[]>>} defaults
 * @returns {Columns}
 */
function locateColumns(table, explicit, wanted, whyCategory, defaults) {
  const folded = table.header.map(fold);
  const found = table.header.filter((h) => h).join(", ") || "none";
  /** @type {Partial<Record<Field, number>>} */
  const index = {};
  for (const f of wanted) {
    const given = explicit[f];
    const names = given !== undefined ? [given] : defaults[f];
    const hit = names.find((n) => folded.includes(fold(n)));
    if (hit === undefined) {
      if (given !== undefined) {
        throw new InvalidSubmission(`${table.name}: no column ${pyRepr(given)} (--column ${f}=${given}); the headers are: ${found}`);
      }
      const need = f === "category" && whyCategory ? whyCategory : `headers: ${found}`;
      throw new InvalidSubmission(`${table.name}: the header line has no ${SHOWN[f]} column (${need}); name it with `
        + `--column ${f}=HEADER`);
    }
    index[f] = folded.indexOf(fold(hit));
  }
  if (new Set(Object.values(index)).size !== Object.keys(index).length) {
    throw new InvalidSubmission(`${table.name}: two fields name the same column; check --column`);
  }
  return { index, header: Object.fromEntries(Object.entries(index).map(([f, i]) => [f, table.header[i]])) };
}

/**
 * "," or "." as given, the decimal mark of a locale name (de-DE, zh_TW), or null.
 * @param {string | null} spec
 * @returns {"." | "," | null}
 */
export function decimalMark(spec) {
  if (spec === null || !pyStrip(spec)) return null;
  const s = pyStrip(spec);
  if (s === "," || s === ".") return s;
  let symbol;
  try {
    symbol = new Intl.NumberFormat(s.replaceAll("_", "-")).formatToParts(1.5).find((p) => p.type === "decimal")?.value;
  } catch {
    throw new InvalidSubmission(`--decimal takes ',', '.' or a locale name such as de_DE, not ${pyRepr(s)}`);
  }
  if (symbol !== "," && symbol !== ".") {
    throw new InvalidSubmission(`the locale ${s} writes decimals with ${pyRepr(symbol ?? "")}; give --decimal , or --decimal .`);
  }
  return symbol;
}

/**
 * The decimal mark the file's unambiguous amounts use, or null when none tells;
 * InvalidSubmission when they disagree.
 * @param {Table} table
 * @param {Columns} columns
 * @returns {"." | "," | null}
 */
function inferDecimal(table, columns) {
  /** @type {Map<"." | ",", [number, string]>} */
  const seen = new Map();
  for (const f of /** @type {Field[]} */ (["pay", "hours", "variable"])) {
    const i = columns.index[f];
    if (i === undefined) continue;
    for (const [line, cells] of table.rows) {
      const cell = i < cells.length ? cells[i] : 0;
      if (typeof cell !== "string") continue;
      const m = reveals(cell);
      if (m === null || seen.has(m)) continue;
      seen.set(m, [line, pyStrip(cell)]);
      if (seen.size === 2) {
        const [c, p] = [/** @type {[number, string]} */ (seen.get(",")), /** @type {[number, string]} */ (seen.get("."))];
        throw new InvalidSubmission(`${table.name}: amounts mix a decimal comma (${table.unit} ${c[0]}: ${pyRepr(c[1])}) and a `
          + `decimal point (${table.unit} ${p[0]}: ${pyRepr(p[1])}); give --decimal , or --decimal .`);
      }
    }
  }
  return seen.keys().next().value ?? null;
}

// ------------------------------------------------------------------------------------------
// Rows

/** A cell that does not read: its column's header and Python's message. */
class BadCell extends Error {
  /**
   * @param {string} column
   * @param {string} message
   */
  constructor(column, message) {
    super(message);
    this.column = column;
  }
}

/** Turns one row's cells into a record (throws {@link BadCell} naming the column). */
class RowReader {
  /**
   * @param {HrManifest} manifest
   * @param {Columns} columns
   * @param {AmountFormat} fmt
   */
  constructor(manifest, columns, fmt) {
    this.cols = columns;
    this.fmt = fmt;
    this.genders = manifest.genderChoices();
    this.jobs = manifest.jobCategories.length ? manifest.jobChoices() : null;
    this.salaryMax = BigInt(manifest.salaryMax);
    this.scheme = manifest.scheme();
  }

  /**
   * @template T
   * @param {Field} f
   * @param {SheetCell[]} cells
   * @param {(cell: SheetCell) => T} read
   * @returns {T}
   */
  field(f, cells, read) {
    try {
      return read(cells[/** @type {number} */ (this.cols.index[f])]);
    } catch (e) {
      if (e instanceof InvalidSubmission) throw new BadCell(/** @type {string} */ (this.cols.header[f]), e.message);
      throw e;
    }
  }

  /**
   * The row's answers as written.
   * @param {SheetCell[]} cells
   */
  answers(cells) {
    const at = (/** @type {Field} */ f) => {
      const i = this.cols.index[f];
      return i === undefined ? undefined : textOf(cells[i]);
    };
    return { gender: textOf(cells[/** @type {number} */ (this.cols.index.gender)]), job: at("category") ?? "",
      basic: textOf(cells[/** @type {number} */ (this.cols.index.pay)]), variable: at("variable"), hours: at("hours") };
  }

  /**
   * @param {SheetCell[]} cells
   * @returns {EmployeeRecord}
   */
  record(cells) {
    const gender = this.field("gender", cells, (c) => this.genders.match(textOf(c)));
    let job = "";
    const jobs = this.jobs;
    if (jobs !== null) {
      job = this.field("category", cells, (c) => {
        const text = textOf(c);
        if (!pyStrip(text)) throw new InvalidSubmission(`job category is missing; expected one of: ${jobs.expected()}`);
        return jobs.match(text);
      });
    }
    if (this.scheme.complete) return this.complete(cells, gender, job);
    const pay = this.field("pay", cells, (c) => amountOf(c, this.fmt, "salary"));
    let value = pay;
    if (this.cols.index.hours !== undefined) {
      const hours = this.field("hours", cells, (c) => {
        const h = amountOf(c, this.fmt, "hours");
        if (h.numerator <= 0n) throw new InvalidSubmission("hours must be more than 0");
        return h;
      });
      value = { numerator: pay.numerator * hours.denominator, denominator: pay.denominator * hours.numerator };
    }
    const salary = wholeUnits(value);
    this.field("pay", cells, () => parseSalary(salary, this.salaryMax));
    return Object.freeze({ gender, job, salary, variable: 0n, hours: 0n });
  }

  /**
   * A complete survey's row: basic pay, and variable pay and hours when collected.
   * @param {SheetCell[]} cells
   * @param {string} gender
   * @param {string} job
   * @returns {EmployeeRecord}
   */
  complete(cells, gender, job) {
    /** @type {Partial<Record<"pay" | "variable" | "hours", Amount>>} */
    const amounts = {};
    for (const f of /** @type {const} */ (["pay", "variable", "hours"])) {
      if (this.cols.index[f] !== undefined) amounts[f] = this.field(f, cells, (c) => amountOf(c, this.fmt, SHOWN_COMPLETE[f]));
    }
    const zero = { numerator: 0n, denominator: 1n };
    const h = amounts.hours;
    const record = Object.freeze({
      gender, job, salary: wholeUnits(amounts.pay ?? zero), variable: wholeUnits(amounts.variable ?? zero),
      hours: h ? wholeUnits({ numerator: h.numerator * HOURS_SCALE, denominator: h.denominator }) : 0n,
    });
    try {
      checkBounds(record, this.scheme);
    } catch (e) {
      if (!(e instanceof InvalidSubmission)) throw e;
      /** @type {Field} */
      const f = /^hours|^hourly/.test(e.message) ? "hours" : e.message.startsWith("variable") ? "variable" : "pay";
      throw new BadCell(/** @type {string} */ (this.cols.header[f] ?? this.cols.header.pay), e.message);
    }
    return record;
  }
}
