/**
 * JSON exactly as the Python side reads and writes it.
 *
 * {@link parseJson} accepts what Python's ``json.loads`` accepts (the same number, string and
 * whitespace grammar; NaN and Infinity; duplicate keys, the last winning; unpaired surrogate
 * escapes) and keeps what JavaScript's JSON.parse would lose: integers are BigInt (a field
 * modulus written as a number keeps its digits) and non-integers are {@link JsonFloat}, so
 * that a 5.0 is never taken for the integer 5.
 *
 * {@link canonicalJson} is Python's ``json.dumps(value, sort_keys=True, separators=(",", ":"),
 * ensure_ascii=False)``: keys sorted by code point, no spaces, non-ASCII characters as they
 * are, and only ``"``, ``\`` and the control characters U+0000..U+001F escaped (``\b \f \n \r
 * \t`` short, the others ``\u00XX`` in lowercase hex).  The manifest's identity is the SHA-256
 * of these bytes.
 */

/** A JSON number with a fraction or an exponent (or NaN, Infinity), kept as its source text. */
export class JsonFloat {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
  }
}

/** @typedef {null | boolean | bigint | JsonFloat | string | JsonValue[] | {[key: string]: JsonValue}} JsonValue */

/** Python's int() refuses longer digit strings (its default limit against quadratic parsing). */
const MAX_INT_DIGITS = 4300;
const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const ESCAPES = /** @type {Record<string, string>} */ ({ '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" });

/**
 * Parse JSON text as Python's ``json.loads`` does; throws SyntaxError where it would raise.
 * @param {string} text
 * @returns {JsonValue}
 */
export function parseJson(text) {
  const reader = new Reader(text);
  const result = reader.value();
  reader.skip();
  if (reader.at !== text.length) reader.fail("extra data");
  return result;
}

/** @type {[string, () => JsonValue][]} */
const WORDS = [["null", () => null], ["true", () => true], ["false", () => false], ["NaN", () => new JsonFloat("NaN")],
  ["Infinity", () => new JsonFloat("Infinity")], ["-Infinity", () => new JsonFloat("-Infinity")]];

/** A recursive-descent reader over one JSON text (Python's json.scanner grammar). */
class Reader {
  /** @param {string} text */
  constructor(text) {
    this.text = text;
    this.at = 0;
  }

  /**
   * @param {string} what
   * @returns {never}
   */
  fail(what) {
    throw new SyntaxError(`${what} at character ${this.at}`);
  }

  skip() {
    WHITESPACE.lastIndex = this.at;
    WHITESPACE.exec(this.text);
    this.at = WHITESPACE.lastIndex;
  }

  /** @returns {JsonValue} */
  value() {
    this.skip();
    const c = this.text[this.at];
    if (c === '"') return this.string();
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    for (const [word, make] of WORDS) {
      if (this.text.startsWith(word, this.at)) {
        this.at += word.length;
        return make();
      }
    }
    return this.number();
  }

  /** @returns {string} */
  string() {
    const text = this.text;
    this.at++; // the opening quote
    let out = "";
    for (;;) {
      const start = this.at;
      while (this.at < text.length && text[this.at] !== '"' && text[this.at] !== "\\" && text.charCodeAt(this.at) >= 0x20) this.at++;
      out += text.slice(start, this.at);
      if (this.at >= text.length) this.fail("unterminated string");
      if (text[this.at] === '"') {
        this.at++;
        return out;
      }
      if (text[this.at] !== "\\") this.fail("invalid control character in string");
      out += this.escape();
    }
  }

  /** @returns {string} the character of the escape at the reader's position */
  escape() {
    const e = this.text[this.at + 1];
    if (e === "u") {
      const hex = this.text.slice(this.at + 2, this.at + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("invalid \\uXXXX escape");
      this.at += 6;
      return String.fromCharCode(parseInt(hex, 16));
    }
    if (e === undefined || !Object.hasOwn(ESCAPES, e)) this.fail("invalid escape");
    this.at += 2;
    return ESCAPES[e];
  }

  /** @returns {bigint | JsonFloat} */
  number() {
    NUMBER.lastIndex = this.at;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail("expecting value");
    this.at = NUMBER.lastIndex;
    if (m[1] !== undefined || m[2] !== undefined) return new JsonFloat(m[0]);
    if (m[0].replace("-", "").length > MAX_INT_DIGITS) this.fail("integer too long");
    return BigInt(m[0]);
  }

  /** @returns {{[key: string]: JsonValue}} */
  object() {
    /** @type {{[key: string]: JsonValue}} */
    const out = Object.create(null);
    this.items("}", () => {
      this.skip();
      if (this.text[this.at] !== '"') this.fail("expecting property name enclosed in double quotes");
      const key = this.string();
      this.skip();
      if (this.text[this.at] !== ":") this.fail("expecting ':' delimiter");
      this.at++;
      out[key] = this.value();
    });
    return out;
  }

  /** @returns {JsonValue[]} */
  array() {
    /** @type {JsonValue[]} */
    const out = [];
    this.items("]", () => out.push(this.value()));
    return out;
  }

  /**
   * The comma-separated items of an object or array, from its opening bracket to ``close``.
   * @param {string} close
   * @param {() => void} item
   */
  items(close, item) {
    this.at++; // the opening bracket
    this.skip();
    if (this.text[this.at] === close) {
      this.at++;
      return;
    }
    for (;;) {
      item();
      this.skip();
      if (this.text[this.at] === close) {
        this.at++;
        return;
      }
      if (this.text[this.at] !== ",") this.fail("expecting ',' delimiter");
      this.at++;
    }
  }
}

/** @type {Record<string, string>} */
const SHORT = { '"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A string as Python's json.dumps(ensure_ascii=False) writes it.
 * @param {string} s
 * @returns {string}
 */
function quote(s) {
  return '"' + s.replace(/[\x00-\x1f"\\]/g, (c) => SHORT[c] ?? "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) + '"';
}

/**
 * Code-point order (Python's str ordering), not UTF-16 code-unit order.
 * @param {string} a
 * @param {string} b
 */
function byCodePoint(a, b) {
  const x = Array.from(a, (c) => /** @type {number} */ (c.codePointAt(0)));
  const y = Array.from(b, (c) => /** @type {number} */ (c.codePointAt(0)));
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/**
 * The canonical JSON text of a value of strings, integers (BigInt or safe-integer numbers),
 * booleans, null, arrays and plain objects; throws TypeError on anything else (floats have no
 * canonical form here).
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new TypeError(`${value} is not an integer JSON can carry exactly`);
    return String(value);
  }
  if (typeof value === "string") return quote(value);
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  if (typeof value === "object" && !(value instanceof JsonFloat)) {
    const entries = Object.entries(/** @type {object} */ (value)).sort(([a], [b]) => byCodePoint(a, b));
    return "{" + entries.map(([k, v]) => quote(k) + ":" + canonicalJson(v)).join(",") + "}";
  }
  throw new TypeError("value has no canonical JSON form");
}
