/**
 * Python's text rules the messages and the answers depend on: str.strip()'s whitespace,
 * repr(), str.isdigit() and str.casefold(), as Python 3.11 (Unicode 14) applies them.
 */

/** Python's str.strip() set (the characters whose isspace() is true). */
const EDGE_TRIM = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/**
 * ``s`` without the whitespace Python's str.strip() removes at either end.
 * @param {string} s
 */
export function pyStrip(s) {
  return s.replace(EDGE_TRIM, "");
}

/** What repr() escapes: Python's non-printable characters (other than the space). */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
const NAMED = /** @type {Record<string, string>} */ ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" });

/**
 * ``s`` as Python's repr() writes it: single quotes unless it holds one and no double quote,
 * non-printable characters as \xhh, \uhhhh or \Uhhhhhhhh.
 * @param {string} s
 */
export function pyRepr(s) {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = Array.from(s, (c) => {
    if (c in NAMED) return NAMED[c];
    if (c === quote) return `\\${c}`;
    if (c === " " || !UNPRINTABLE.test(c)) return c;
    const code = /** @type {number} */ (c.codePointAt(0));
    const [prefix, width] = code < 0x100 ? ["\\x", 2] : code < 0x10000 ? ["\\u", 4] : ["\\U", 8];
    return prefix + code.toString(16).padStart(width, "0");
  }).join("");
  return quote + body + quote;
}

/** Characters whose str.isdigit() is true beyond the decimal digits (superscripts, circled digits, ...). */
const OTHER_DIGITS = /[\u00b2\u00b3\u00b9\u1369-\u1371\u19da\u2070\u2074-\u2079\u2080-\u2089\u2460-\u2468\u2474-\u247c\u2488-\u2490\u24ea\u24f5-\u24fd\u24ff\u2776-\u277e\u2780-\u2788\u278a-\u2792\u{10a40}-\u{10a43}\u{10e60}-\u{10e68}\u{11052}-\u{1105a}\u{1f100}-\u{1f10a}]/u;
const DECIMAL_DIGIT = /\p{Nd}/u;

/**
 * Python's str.isdigit() for one character.
 * @param {string} c
 */
export function isDigit(c) {
  return DECIMAL_DIGIT.test(c) || OTHER_DIGITS.test(c);
}

/** Characters whose folding is not their upper case lower-cased. */
const FOLD_EXCEPTIONS = new Map([["\u0131", "\u0131"], ["\u1e9e", "ss"]]); // dotless i, capital sharp s

/**
 * Python's str.casefold().  JavaScript has none: each character upper-cased then lower-cased
 * is its folding (ß -> ss, final sigma -> sigma), but for Cherokee, which folds to its
 * capitals, and the two letters in FOLD_EXCEPTIONS.
 * @param {string} text
 */
export function casefold(text) {
  return Array.from(text, foldChar).join("");
}

/** @param {string} c one code point */
function foldChar(c) {
  const code = /** @type {number} */ (c.codePointAt(0));
  if ((code >= 0x13a0 && code <= 0x13ff) || (code >= 0xab70 && code <= 0xabbf)) return c.toUpperCase(); // Cherokee
  return FOLD_EXCEPTIONS.get(c) ?? c.toUpperCase().toLowerCase();
}
