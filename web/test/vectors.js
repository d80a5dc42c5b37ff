/** The known-answer files the Python tests use (tests/vectors/*.json). */

import { readFileSync } from "node:fs";

/**
 * @param {string} name file name without .json
 * @returns {any}
 */
export function vector(name) {
  return JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}.json`, import.meta.url), "utf8"));
}

/**
 * The raw text of a vector file.
 * @param {string} name
 */
export function vectorText(name) {
  return readFileSync(new URL(`../../tests/vectors/${name}.json`, import.meta.url), "utf8");
}
