/**
 * Amounts as people write them, read exactly as protocol/answers.py's parse_amount reads them:
 * ASCII digits, optionally grouped by three (``,`` ``.`` ``'`` or a space, whichever is not the
 * decimal mark), an optional decimal part, an optional leading ``+`` and an optional currency
 * code or symbol before or after (one of the format's marks).  Exponents, underscores,
 * non-ASCII digits and anything else are refused with Python's one-line message; with no
 * declared decimal mark an amount whose two readings differ (``4,100``) is refused as
 * ambiguous.  Amounts come back exact, as a fraction.
 */

import { InvalidSubmission } from "./errors.js";
import { casefold, isDigit, pyRepr } from "./text.js";

/** Longest amount text read (longer ones are refused before any other work). */
export const MAX_AMOUNT_CHARS = 64;

/** The character between whole units and their fraction. */
export const DecimalMark = Object.freeze({ POINT: ".", COMMA: "," });

/**
 * How amounts are written: the decimal mark (null: read each amount the one way it can be
 * read), the currency codes and symbols accepted beside them (compared case-insensitively) and
 * the code named in messages.
 * @typedef {{decimal?: "." | "," | null, currencyMarks?: readonly string[], currency?: string}} AmountFormat
 */

/** An exact non-negative amount: ``numerator / denominator``, the denominator a power of ten. */
/** @typedef {{numerator: bigint, denominator: bigint}} Amount */

const SPACES = " \t\u00a0\u202f\u2009";
/** digit-group separators besides the other decimal mark */
const GROUPING = " \u00a0\u202f\u2009'";
const ASCII_DIGITS = /^[0-9]+$/;

/**
 * The example an error names for a format.
 * @param {AmountFormat} fmt
 */
function example(fmt) {
  if (fmt.decimal === ",") return "4100, 4.100 or 4.100,50";
  if (fmt.decimal === ".") return "4100, 4,100 or 4,100.50";
  return "4100, 4,100.50 or 4.100,50";
}

/**
 * ``text`` without the given characters at either end (Python's str.strip(chars)).
 * @param {string[]} chars code points
 * @param {string} set
 */
function stripChars(chars, set) {
  let start = 0;
  let end = chars.length;
  while (start < end && set.includes(chars[start])) start++;
  while (end > start && set.includes(chars[end - 1])) end--;
  return chars.slice(start, end);
}

/**
 * (whole digits, fraction digits) of ``body`` read with decimal mark ``mark``, or null.
 * @param {string} body
 * @param {"." | ","} mark
 * @returns {[string, string] | null}
 */
function read(body, mark) {
  const at = body.indexOf(mark);
  const whole = at < 0 ? body : body.slice(0, at);
  const frac = at < 0 ? "" : body.slice(at + 1);
  if (at >= 0 && !ASCII_DIGITS.test(frac)) return null;
  if (ASCII_DIGITS.test(whole)) return [whole, frac];
  const other = mark === "." ? "," : ".";
  const seps = new Set(Array.from(whole).filter((c) => !"0123456789".includes(c)));
  const sep = [...seps][0];
  if (seps.size !== 1 || !(GROUPING.includes(sep) || sep === other)) return null;
  const groups = whole.split(sep);
  if (!(groups[0].length >= 1 && groups[0].length <= 3 && ASCII_DIGITS.test(groups[0]))
    || groups.slice(1).some((g) => g.length !== 3 || !ASCII_DIGITS.test(g))) return null;
  return [groups.join(""), frac];
}

/**
 * (currency part, number part): a leading or trailing run of characters that are neither
 * digits nor separators nor a sign is the currency part.
 * @param {string[]} chars code points
 * @returns {[string, string]}
 */
function splitCurrency(chars) {
  const digit = (/** @type {string} */ c) => "0123456789".includes(c);
  let start = 0;
  while (start < chars.length && !digit(chars[start]) && !"+-.,".includes(chars[start])) start++;
  let end = chars.length;
  while (end > start && !digit(chars[end - 1]) && !".,".includes(chars[end - 1])) end--;
  if (start && end < chars.length) return [chars.join(""), ""]; // currency on both sides: not an amount
  const cur = stripChars([...chars.slice(0, start), ...chars.slice(end)], SPACES).join("");
  return [cur, stripChars(chars.slice(start, end), SPACES).join("")];
}

/**
 * The refusal for a text that is not an amount, naming the likely reason.
 * @param {string} raw
 * @param {string} what
 * @param {AmountFormat} fmt
 */
function whyNot(raw, what, fmt) {
  const chars = Array.from(raw);
  let reason;
  if (chars.some((c) => isDigit(c) && !"0123456789".includes(c))) reason = ": only the digits 0-9 are accepted";
  else if (raw.includes("_")) reason = ": '_' is not a digit separator";
  else if (/[eE]/.test(raw) && /[0-9]/.test(raw)) reason = ": exponents are not accepted";
  else reason = ` (expected e.g. ${example(fmt)})`;
  return new InvalidSubmission(`${what} ${pyRepr(raw)} is not a number${reason}`);
}

/**
 * The exact non-negative amount ``text`` writes in format ``fmt``; InvalidSubmission with
 * Python's one line naming ``what`` was expected otherwise.
 * @param {string} text
 * @param {AmountFormat} [fmt]
 * @param {string} [what]
 * @returns {Amount}
 */
export function parseAmount(text, fmt = {}, what = "salary") {
  const length = Array.from(text).length;
  if (length > MAX_AMOUNT_CHARS) {
    throw new InvalidSubmission(`${what} is too long (${length} characters; an amount has at most ${MAX_AMOUNT_CHARS})`);
  }
  const chars = stripChars(Array.from(text), SPACES);
  const raw = chars.join("");
  if (!raw) throw new InvalidSubmission(`${what} is missing`);
  if (ASCII_DIGITS.test(raw)) return { numerator: BigInt(raw), denominator: 1n };
  const [cur, number] = splitCurrency(chars);
  const marks = (fmt.currencyMarks ?? []).map(casefold);
  if (cur && !marks.includes(casefold(cur))) {
    if (!number || !marks.length) throw whyNot(raw, what, fmt);
    throw new InvalidSubmission(`${what} ${pyRepr(raw)}: ${pyRepr(cur)} is not this survey's currency (${fmt.currency ?? ""})`);
  }
  const negative = number.startsWith("-");
  const body = "+-".includes(number.slice(0, 1)) && number ? number.slice(1) : number;
  /** @type {("." | ",")[]} */
  const tried = fmt.decimal ? [fmt.decimal] : [".", ","];
  /** @type {Map<"." | ",", Amount>} */
  const values = new Map();
  for (const mark of tried) {
    const r = read(body, mark);
    if (r) values.set(mark, { numerator: BigInt(r[0] + r[1]), denominator: 10n ** BigInt(r[1].length) });
  }
  if (!values.size) throw whyNot(raw, what, fmt);
  const [first, second] = [...values.values()];
  if (second && first.numerator * second.denominator !== second.numerator * first.denominator) {
    throw new InvalidSubmission(`${what} ${pyRepr(raw)} is ambiguous (${plain(first)} with a decimal point, `
      + `${plain(second)} with a decimal comma): give --decimal . or --decimal ,`);
  }
  if (negative && first.numerator) throw new InvalidSubmission(`${what} must not be negative`);
  return first;
}

/**
 * An amount as Python's messages show it: the integer, else ``f"{float(x):g}"``.
 * @param {Amount} x
 */
function plain(x) {
  if (x.numerator % x.denominator === 0n) return String(x.numerator / x.denominator);
  const v = Number(x.numerator) / Number(x.denominator);
  const [mantissa, e] = v.toExponential(5).split("e");
  if (Number(e) < -4 || Number(e) >= 6) {
    const digits = e.replace(/^[+-]/, "").padStart(2, "0");
    return `${mantissa.replace(/\.?0+$/, "")}e${e.startsWith("-") ? "-" : "+"}${digits}`;
  }
  return String(Number(v.toPrecision(6)));
}

/**
 * ``x`` rounded half to even to a whole unit (Python's round on a Fraction).
 * @param {Amount} x
 * @returns {bigint}
 */
export function wholeUnits(x) {
  const q = x.numerator / x.denominator;
  const twice = 2n * (x.numerator % x.denominator);
  if (twice > x.denominator || (twice === x.denominator && q % 2n === 1n)) return q + 1n;
  return q;
}

/**
 * The decimal mark an amount's text can only be read with (``4.100,50``: ","; ``4,100.5`` and
 * ``1,234,567``: "."), or null when it reads the same either way, is ambiguous or is not an
 * amount (protocol/answers.py's reveals: a file's convention from its unambiguous amounts).
 * @param {string} text
 * @returns {"." | "," | null}
 */
export function reveals(text) {
  const chars = Array.from(text);
  if (chars.length > MAX_AMOUNT_CHARS) return null;
  const [, number] = splitCurrency(stripChars(chars, SPACES));
  const body = number.replace(/^[+-]+/, "");
  const ok = /** @type {const} */ ([".", ","]).filter((m) => read(body, m) !== null);
  return ok.length === 1 ? ok[0] : null;
}

/** Locales whose spellings of a currency's symbol are accepted besides its code (contributor/amounts.py's). */
const SYMBOL_LOCALES = ["en", "en-US", "en-GB", "zh-Hant-TW", "zh-Hans-CN", "ja-JP", "ko-KR", "de-DE", "de-CH", "fr-FR",
  "es-ES", "it-IT", "nl-NL", "pl-PL", "sv-SE", "pt-BR", "en-IN", "en-AU", "en-CA"];

/**
 * The ISO code and the symbols the platform's CLDR data gives it in common locales (empty for
 * ""), as contributor/amounts.py's currency_marks takes them from Babel.
 * @param {string} code
 * @returns {string[]}
 */
export function currencyMarks(code) {
  if (!code) return [];
  const known = MARKS.get(code);
  if (known) return [...known];
  const marks = new Set([code]);
  for (const loc of SYMBOL_LOCALES) {
    try {
      const part = new Intl.NumberFormat(loc, { style: "currency", currency: code }).formatToParts(1)
        .find((p) => p.type === "currency");
      if (part) marks.add(part.value);
    } catch {
      // a code the platform does not know: its code alone
    }
  }
  const out = Object.freeze([...marks].sort());
  MARKS.set(code, out);
  return [...out];
}

/** @type {Map<string, readonly string[]>} */
const MARKS = new Map();
