/**
 * The first sheet of an .xlsx or .xlsm workbook as a grid of cells from A1, the way
 * contributor/hrfile.py gets it from python-calamine: text as text, numbers as numbers (a
 * boolean as "True"/"False", a date-formatted number as its date, an error as its code), empty
 * cells and formulas without a cached value as "".  The workbook is unzipped with fflate; its XML parts are regular enough to read
 * with a few patterns (no DTDs, no namespaces prefixes on the elements read here).
 */

import { strFromU8, unzipSync } from "fflate";
import { InvalidSubmission } from "./errors.js";

/** @typedef {string | number} SheetCell */

/** Largest part of a workbook unzipped (a sheet of a million rows is far below it). */
export const MAX_PART_BYTES = 1 << 28;

/** Which parts are read (the sheet's own path is found through the workbook's relationships). */
const WANTED = /^xl\/(workbook\.xml|_rels\/workbook\.xml\.rels|sharedStrings\.xml|styles\.xml|worksheets\/[^/]+\.xml)$/;

/**
 * The first sheet's name and its rows (each as wide as the widest, from column A and row 1).
 * @param {Uint8Array} bytes
 * @param {string} name how messages name the file
 * @returns {{sheet: string, rows: SheetCell[][]}}
 */
export function readFirstSheet(bytes, name) {
  /** @type {Record<string, Uint8Array>} */
  let parts;
  let tooLarge = "";
  try {
    parts = unzipSync(bytes, { filter: (f) => {
      if (!WANTED.test(f.name)) return false;
      if (f.originalSize > MAX_PART_BYTES) tooLarge = f.name;
      return !tooLarge;
    } });
  } catch (e) {
    throw new InvalidSubmission(`${name} is not a readable spreadsheet (not a zip archive: ${e instanceof Error ? e.message : e})`);
  }
  if (tooLarge) {
    throw new InvalidSubmission(`${name} is not a readable spreadsheet (${tooLarge} unpacks to more than ${MAX_PART_BYTES} bytes)`);
  }
  const text = (/** @type {string} */ path) => (parts[path] ? strFromU8(parts[path]) : null);
  const workbook = text("xl/workbook.xml");
  const first = workbook && /<sheet\b[^>]*>/.exec(workbook);
  if (!first) throw new InvalidSubmission(`${name} is not a readable spreadsheet (no workbook with a sheet)`);
  const sheetName = decodeXml(attr(first[0], "name") ?? "");
  const rid = attr(first[0], "r:id");
  const rels = text("xl/_rels/workbook.xml.rels") ?? "";
  const rel = [...rels.matchAll(/<Relationship\b[^>]*>/g)].find((m) => attr(m[0], "Id") === rid);
  const target = rel ? attr(rel[0], "Target") ?? "" : "";
  const path = target.startsWith("/") ? target.slice(1) : `xl/${target}`;
  const sheet = text(path);
  if (sheet === null) throw new InvalidSubmission(`${name} is not a readable spreadsheet (its first sheet ${path} is missing)`);
  const shared = sharedStrings(text("xl/sharedStrings.xml") ?? "");
  const dates = dateStyles(text("xl/styles.xml") ?? "");
  return { sheet: sheetName, rows: grid(sheet, shared, dates) };
}

/**
 * @param {string} tag
 * @param {string} key
 */
function attr(tag, key) {
  const m = new RegExp(`\\s${key.replace(":", "\\:")}="([^"]*)"`).exec(tag);
  return m ? m[1] : null;
}

/**
 * XML text with its entities and OOXML's _xHHHH_ escapes resolved.
 * @param {string} s
 */
function decodeXml(s) {
  return s.replace(/&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/g, (_, e) => {
    if (e[0] === "#") return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return /** @type {Record<string, string>} */ ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" })[e];
  }).replace(/_x([0-9A-Fa-f]{4})_/g, (_, h) => String.fromCharCode(parseInt(h, 16)));
}

/**
 * The text of every <t> in a string item, phonetic runs left out.
 * @param {string} xml
 */
function itemText(xml) {
  const body = xml.replace(/<rPh\b[\s\S]*?<\/rPh>/g, "");
  return [...body.matchAll(/<t\b[^>]*>([\s\S]*?)<\/t>|<t\b[^>]*\/>/g)].map((m) => decodeXml(m[1] ?? "")).join("");
}

/** @param {string} xml */
function sharedStrings(xml) {
  return [...xml.matchAll(/<si\b[^>]*>([\s\S]*?)<\/si>|<si\b[^>]*\/>/g)].map((m) => itemText(m[1] ?? ""));
}

/** Built-in number formats that show dates or times. */
const DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47]);

/**
 * For each cell style (xf index), whether its number format shows a date or a time.
 * @param {string} xml
 * @returns {boolean[]}
 */
function dateStyles(xml) {
  /** @type {Map<number, boolean>} */
  const custom = new Map();
  for (const m of xml.matchAll(/<numFmt\b[^>]*>/g)) {
    const code = decodeXml(attr(m[0], "formatCode") ?? "").replace(/"[^"]*"|\[[^\]]*\]|\\./g, "");
    custom.set(Number(attr(m[0], "numFmtId")), /[dmyhs]/i.test(code));
  }
  const xfs = /<cellXfs\b[^>]*>([\s\S]*?)<\/cellXfs>/.exec(xml)?.[1] ?? "";
  return [...xfs.matchAll(/<xf\b[^>]*>/g)].map((m) => {
    const id = Number(attr(m[0], "numFmtId") ?? 0);
    return custom.get(id) ?? DATE_FORMATS.has(id);
  });
}

/**
 * Column letters to a 0-based index (A: 0, AA: 26).
 * @param {string} letters
 */
function columnIndex(letters) {
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

/**
 * The sheet's cells as rows from A1 ("" where empty).
 * @param {string} xml
 * @param {string[]} shared
 * @param {boolean[]} dates
 * @returns {SheetCell[][]}
 */
function grid(xml, shared, dates) {
  /** @type {Map<number, Map<number, SheetCell>>} */
  const cells = new Map();
  let width = 0;
  let height = 0;
  let nextRow = 0;
  for (const rm of xml.matchAll(/<row\b([^>]*?)(?:\/>|>([\s\S]*?)<\/row>)/g)) {
    const r = attr(rm[0].slice(0, rm[0].indexOf(">") + 1), "r");
    const row = r ? Number(r) - 1 : nextRow;
    nextRow = row + 1;
    let nextCol = 0;
    for (const cm of (rm[2] ?? "").matchAll(/<c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
      const head = `<c${cm[1]}>`;
      const ref = attr(head, "r");
      const col = ref ? columnIndex(/^[A-Z]+/.exec(ref)?.[0] ?? "A") : nextCol;
      nextCol = col + 1;
      const value = cellValue(attr(head, "t") ?? "n", cm[2] ?? "", shared, dates[Number(attr(head, "s") ?? 0)] ?? false);
      if (value === "") continue;
      if (!cells.has(row)) cells.set(row, new Map());
      /** @type {Map<number, SheetCell>} */ (cells.get(row)).set(col, value);
      width = Math.max(width, col + 1);
      height = Math.max(height, row + 1);
    }
  }
  return Array.from({ length: height }, (_, r) => Array.from({ length: width }, (_, c) => cells.get(r)?.get(c) ?? ""));
}

/**
 * One cell's value: text, a number, or the text of a boolean, a date or an error.
 * @param {string} type the cell's t attribute
 * @param {string} body its XML content
 * @param {string[]} shared
 * @param {boolean} isDate whether its style shows a date
 * @returns {SheetCell}
 */
function cellValue(type, body, shared, isDate) {
  const v = /<v\b[^>]*>([\s\S]*?)<\/v>/.exec(body)?.[1];
  if (type === "inlineStr") return itemText(/<is\b[^>]*>([\s\S]*?)<\/is>/.exec(body)?.[1] ?? "");
  if (v === undefined) return "";
  if (type === "s") return shared[Number(v)] ?? "";
  if (type === "str" || type === "e" || type === "d") return decodeXml(v);
  if (type === "b") return v.trim() === "1" ? "True" : "False";
  const n = Number(v);
  if (!Number.isFinite(n)) return decodeXml(v);
  return isDate ? excelDate(n) : n;
}

/**
 * A date-formatted number (days since 1899-12-30) as Python's str() of the date (a whole day) or
 * of the date and time.
 * @param {number} serial
 */
function excelDate(serial) {
  const ms = Math.round(serial * 86400000);
  const d = new Date(Date.UTC(1899, 11, 30) + ms);
  const day = d.toISOString().slice(0, 10);
  return ms % 86400000 === 0 ? day : `${day} ${d.toISOString().slice(11, 19)}`;
}

/**
 * A number as Python's repr() writes a float: the shortest digits that read back, in fixed
 * notation for exponents -4..15 (whole numbers with ".0"), else as d.ddde+XX.
 * @param {number} n
 */
export function pyFloatRepr(n) {
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  const sign = n < 0 || Object.is(n, -0) ? "-" : "";
  const [mantissa, e] = Math.abs(n).toExponential().split("e");
  const exp = Number(e);
  const digits = mantissa.replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp >= digits.length - 1) return `${sign}${digits}${"0".repeat(exp - digits.length + 1)}.0`;
  if (exp >= 0) return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
}

/**
 * A finite number's exact value as its shortest decimal form reads (Python's Fraction(repr(x))).
 * @param {number} n
 * @returns {{numerator: bigint, denominator: bigint}}
 */
export function decimalValue(n) {
  const [mantissa, e] = Math.abs(n).toExponential().split("e");
  const digits = mantissa.replace(".", "");
  const scale = Number(e) - (digits.length - 1);
  const numerator = BigInt(digits) * (n < 0 ? -1n : 1n);
  return scale >= 0 ? { numerator: numerator * 10n ** BigInt(scale), denominator: 1n }
    : { numerator, denominator: 10n ** BigInt(-scale) };
}
