/**
 * Byte helpers shared by the modules: concatenation, big-endian integers, hex, strict standard
 * base64 (as Python's ``base64.b64decode(validate=True)``), UTF-8, WebCrypto's SHA-256 for
 * large inputs, and the one source of randomness, ``crypto.getRandomValues``.
 */

/**
 * @param {...Uint8Array} parts
 * @returns {Uint8Array<ArrayBuffer>}
 */
export function concat(...parts) {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Big-endian unsigned integer of ``width`` bytes (1, 2 or 4).
 * @param {number} value
 * @param {number} width
 * @returns {Uint8Array}
 */
export function uintBE(value, width) {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** (8 * width)) {
    throw new RangeError(`${value} does not fit in ${width} bytes`);
  }
  const out = new Uint8Array(width);
  for (let i = width - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

/**
 * @param {Uint8Array} data
 * @param {number} at
 * @param {number} width
 * @returns {number}
 */
export function readUintBE(data, at, width) {
  let v = 0;
  for (let i = 0; i < width; i++) v = v * 256 + data[at + i];
  return v;
}

/**
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * @param {Uint8Array} data
 * @returns {string} lowercase hex
 */
export function toHex(data) {
  let s = "";
  for (let i = 0; i < data.length; i++) s += HEX[data[i]];
  return s;
}

/**
 * @param {string} text hex of even length (either case)
 * @returns {Uint8Array}
 */
export function fromHex(text) {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw new TypeError("not a hex string");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Map(Array.from(B64, (c, i) => [c, i]));

/**
 * Standard base64 with padding (Python's ``base64.b64encode``).
 * @param {Uint8Array} data
 * @returns {string}
 */
export function toBase64(data) {
  const parts = [];
  let i = 0;
  for (; i + 2 < data.length; i += 3) {
    const v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    parts.push(B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63]);
  }
  if (i + 1 === data.length) {
    const v = data[i] << 16;
    parts.push(B64[v >> 18] + B64[(v >> 12) & 63] + "==");
  } else if (i + 2 === data.length) {
    const v = (data[i] << 16) | (data[i + 1] << 8);
    parts.push(B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + "=");
  }
  return parts.join("");
}

/**
 * Strict standard base64: the alphabet, padded to a multiple of four characters.  Everything
 * this accepts, Python's ``b64decode(validate=True)`` accepts with the same bytes (it also takes
 * surplus padding after a full group, which this refuses).
 * @param {string} text
 * @returns {Uint8Array}
 */
export function fromBase64(text) {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new TypeError("not valid base64");
  const pad = text.endsWith("==") ? 2 : text.endsWith("=") ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    let v = 0;
    for (let k = 0; k < 4; k++) {
      const c = text[i + k];
      v = v * 64 + (c === "=" ? 0 : /** @type {number} */ (B64_INDEX.get(c)));
    }
    for (const byte of [(v >> 16) & 255, (v >> 8) & 255, v & 255]) {
      if (at < out.length) out[at++] = byte;
    }
  }
  return out;
}

/** Matches a UTF-16 code unit that is half of no surrogate pair. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * UTF-8 of a well-formed string; throws TypeError on an unpaired surrogate (which Python's
 * ``str.encode()`` refuses too: the string has no UTF-8 form).
 * @param {string} text
 * @returns {Uint8Array}
 */
export function utf8(text) {
  if (LONE_SURROGATE.test(text)) throw new TypeError("text holds an unpaired surrogate");
  return new TextEncoder().encode(text);
}

/**
 * UTF-8 that encodes an unpaired surrogate as its own three bytes, as Python's
 * ``str.encode("utf-8", "surrogatepass")``.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function utf8SurrogatePass(text) {
  if (!LONE_SURROGATE.test(text)) return new TextEncoder().encode(text);
  /** @type {number[]} */
  const out = [];
  for (const ch of text) {
    const cp = /** @type {number} */ (ch.codePointAt(0));
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 63));
    else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
    else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63));
  }
  return Uint8Array.from(out);
}

/**
 * SHA-256 by WebCrypto (native, several times faster than a JavaScript hash on the megabytes of
 * a batch's share vectors).
 * @param {Uint8Array<ArrayBuffer>} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256Native(data) {
  return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", data));
}

/** ``crypto.getRandomValues`` fills at most this many bytes per call. */
const RANDOM_CHUNK = 65536;

/**
 * ``count`` bytes from ``crypto.getRandomValues``: the only randomness of this library.
 * @param {number} count
 * @returns {Uint8Array}
 */
export function secureRandomBytes(count) {
  const out = new Uint8Array(count);
  for (let at = 0; at < count; at += RANDOM_CHUNK) {
    globalThis.crypto.getRandomValues(out.subarray(at, Math.min(count, at + RANDOM_CHUNK)));
  }
  return out;
}
