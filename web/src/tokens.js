/**
 * Participation tokens, as protocol/tokens.py and protocol/wire.py see them: a token is 1 to 256
 * printable ASCII characters (issued ones are URL-safe base64); nodes keep only its SHA-256.
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { toHex, utf8SurrogatePass } from "./bytes.js";

export const MAX_TOKEN_CHARS = 256;
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * True for a string a node could accept as a token (the wire's rule).
 * @param {unknown} token
 * @returns {token is string}
 */
export function isToken(token) {
  return typeof token === "string" && token.length > 0 && token.length <= MAX_TOKEN_CHARS && TOKEN.test(token);
}

/**
 * Hex SHA-256 of the token's UTF-8, as nodes store it and receipts name it.
 * @param {string} token
 * @returns {string}
 */
export function tokenHash(token) {
  return toHex(sha256(utf8SurrogatePass(token)));
}
