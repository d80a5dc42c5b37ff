/**
 * The survey manifest: everything every party must agree on, read exactly as
 * protocol/manifest.py reads it.  Its identity is the SHA-256 of its canonical JSON (the fields
 * with their defaults filled in, the field modulus as a decimal string, sorted keys, no spaces,
 * UTF-8); every sealed share and certificate is bound to that hash, and a contributor submits
 * only when every node serves the same bytes ({@link checkServedManifests}).
 *
 * Validation follows manifest_from_json rule by rule, with its messages (the detail after
 * "missing or unexpected fields" differs), with three exceptions.  Stricter: the field must be
 * 2^127 - 1, and the closing time ``YYYY-MM-DDTHH:MM:SS`` (a fraction of a second allowed) with
 * ``Z`` or a ``+HH:MM`` offset.  Laxer: a node's TLS certificate is checked as PEM whose DER
 * hashes to its fingerprint, not parsed as X.509 (a browser does not pin it; every node parsed
 * it when it imported the survey, and a manifest that all nodes serve is one they imported).
 */

import { sha256 } from "@noble/hashes/sha2.js";
import { fromBase64, toHex, utf8 } from "./bytes.js";
import { InvalidManifest, NodeUnreachable } from "./errors.js";
import { P127 } from "./field.js";
import { JsonFloat, canonicalJson, parseJson } from "./json.js";
import { Choices } from "./record.js";
import { Component, MAX_HOURS, PayPeriod, Scheme } from "./scheme.js";
import { pyRepr, pyStrip } from "./text.js";

export const MANIFEST_VERSION = 1;
export const ENCODING_ID = "cells-bands-rank1/v4";
export const MODELS = Object.freeze(["semi-honest", "malicious"]);
/** genders x job categories x salary bands at most this */
export const MAX_CELL_BANDS = 16384;
const MAX_EPSILON = 100n;
const MAX_EPSILON_PLACES = 6;

/** @typedef {"str" | "int" | "strs" | "ints" | "nodes" | "modulus" | "labels"} Kind */
/** @import { JsonValue } from "./json.js" */

/**
 * The manifest's fields, their kinds and defaults (undefined: required), as the Python
 * dataclass declares them.  The fields of {@link WHEN_SET} are in the canonical JSON only when
 * set (not 0, "" or empty), so that manifests without them keep their bytes and hash.
 * @type {ReadonlyArray<[string, Kind, JsonValue | Readonly<JsonValue[]> | undefined]>}
 */
const FIELDS = [
  ["survey_id", "str", undefined],
  ["title", "str", undefined],
  ["model", "str", undefined],
  ["threshold", "int", undefined],
  ["nodes", "nodes", undefined],
  ["analyst_public_key", "str", undefined],
  ["closes_at", "str", undefined],
  ["salary_unit", "str", "EUR/month"],
  ["salary_max", "int", 1000000n],
  ["min_group_size", "int", 5n],
  ["categories", "strs", Object.freeze(["female", "male", "other"])],
  ["job_categories", "strs", Object.freeze([])],
  ["salary_bands", "ints", Object.freeze([])],
  ["dp_epsilon", "str", ""],
  ["gender_labels", "labels", null],
  ["job_labels", "labels", null],
  ["components", "strs", Object.freeze([])],
  ["pay_period", "str", ""],
  ["variable_max", "int", 0n],
  ["variable_bands", "ints", Object.freeze([])],
  ["hours_max", "int", 0n],
  ["hourly_max", "int", 0n],
  ["hourly_bands", "ints", Object.freeze([])],
  ["organisation", "str", ""],
  ["reporting_period", "str", ""],
  ["language", "str", ""],
  ["web_page_sha256", "str", ""],
  ["web_origins", "strs", Object.freeze([])],
  ["field_modulus", "modulus", P127.toString()],
  ["encoding", "str", ENCODING_ID],
  ["version", "int", BigInt(MANIFEST_VERSION)],
  ["created_at", "str", ""],
];
const WHEN_SET = new Set(["gender_labels", "job_labels", "components", "pay_period", "variable_max", "variable_bands",
  "hours_max", "hourly_max", "hourly_bands", "organisation", "reporting_period", "language", "web_page_sha256", "web_origins"]);
/** The integer and string fields in the order Python checks their types. */
const INT_FIELDS = ["threshold", "salary_max", "min_group_size", "version", "variable_max", "hours_max", "hourly_max"];
const STR_FIELDS = ["survey_id", "title", "model", "analyst_public_key", "closes_at", "salary_unit", "encoding", "created_at",
  "dp_epsilon", "pay_period", "organisation", "reporting_period", "language", "web_page_sha256"];
const NODE_FIELDS = ["name", "url", "mpc_address", "hpke_public_key", "tls_cert_pem", "tls_cert_sha256"];
/** A node's optional field, in the JSON only when set. */
const NODE_WEB_URL = "web_url";
/** The longest organisation name or reporting period. */
export const MAX_FILING_CHARS = 200;
/** The longest label of a gender or job category. */
export const MAX_LABEL_CHARS = 64;
const LANGUAGE = /^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$/;
const MAX_LANGUAGE_CHARS = 35;
const ORIGIN = /^https:\/\/[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?(:[0-9]{1,5})?$/;
export const MAX_WEB_ORIGINS = 16;
const CONTROL = /\p{C}/u;
const SURVEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const HEX32 = /^[0-9a-f]{64}$/;
/** Python's str.strip() whitespace together with JavaScript's trim(): a name starting or ending with any is refused. */
const EDGE_SPACE = /^[\s\x1c-\x1f\x85]|[\s\x1c-\x1f\x85]$/u;

/**
 * A node's public identity.
 * @typedef {object} NodeInfo
 * @property {string} name
 * @property {string} url HTTPS base URL of the node's ingest API
 * @property {string} mpcAddress
 * @property {string} hpkePublicKey hex of the raw X25519 public key
 * @property {string} tlsCertPem
 * @property {string} tlsCertSha256
 * @property {string} webUrl the HTTPS base URL browsers use for the node: its ``web_url``, else ``url``
 */

/** A parsed and validated manifest.  Build with {@link parseManifest}. */
export class Manifest {
  /**
   * @param {Record<string, JsonValue>} fields every field, defaults filled in, canonical types
   */
  constructor(fields) {
    const str = (/** @type {string} */ k) => /** @type {string} */ (fields[k]);
    const num = (/** @type {string} */ k) => Number(fields[k]);
    const strs = (/** @type {string} */ k) => Object.freeze([.../** @type {string[]} */ (fields[k])]);
    this.surveyId = str("survey_id");
    this.title = str("title");
    this.model = str("model");
    this.threshold = num("threshold");
    this.analystPublicKey = str("analyst_public_key");
    this.closesAt = str("closes_at");
    this.salaryUnit = str("salary_unit");
    this.salaryMax = num("salary_max");
    this.minGroupSize = num("min_group_size");
    this.categories = strs("categories");
    this.jobCategories = strs("job_categories");
    this.salaryBands = Object.freeze(/** @type {bigint[]} */ (fields.salary_bands).map(Number));
    this.dpEpsilon = str("dp_epsilon");
    /** The organiser's labels of some gender categories (key -> label). @type {Readonly<Record<string, string>>} */
    this.genderLabels = Object.freeze({ .../** @type {Record<string, string>} */ (fields.gender_labels ?? {}) });
    /** The same for job categories. @type {Readonly<Record<string, string>>} */
    this.jobLabels = Object.freeze({ .../** @type {Record<string, string>} */ (fields.job_labels ?? {}) });
    const components = /** @type {string[]} */ (fields.components);
    /** What the survey collects: "basic" first, then "variable" and "hours" as collected. */
    this.components = Object.freeze(components.length ? [...components] : [Component.BASIC]);
    /** "annual" or "monthly" for a survey with components, else "". */
    this.payPeriod = str("pay_period");
    this.variableMax = num("variable_max");
    this.variableBands = Object.freeze(/** @type {bigint[]} */ (fields.variable_bands).map(Number));
    this.hoursMax = num("hours_max");
    this.hourlyMax = num("hourly_max");
    this.hourlyBands = Object.freeze(/** @type {bigint[]} */ (fields.hourly_bands).map(Number));
    this.organisation = str("organisation");
    this.reportingPeriod = str("reporting_period");
    /** The organiser's language for the page and the report (BCP 47), or "". */
    this.language = str("language");
    /** Hex SHA-256 of the page's bundle every node serves, or "". */
    this.webPageSha256 = str("web_page_sha256");
    /** Further origins allowed to upload from a browser. */
    this.webOrigins = strs("web_origins");
    this.fieldModulus = BigInt(str("field_modulus"));
    this.encoding = str("encoding");
    this.version = num("version");
    this.createdAt = str("created_at");
    /** @type {ReadonlyArray<Readonly<NodeInfo>>} */
    this.nodes = Object.freeze(/** @type {Record<string, string>[]} */ (fields.nodes).map((nd) => Object.freeze({
      name: nd.name, url: nd.url, mpcAddress: nd.mpc_address, hpkePublicKey: nd.hpke_public_key,
      tlsCertPem: nd.tls_cert_pem, tlsCertSha256: nd.tls_cert_sha256, webUrl: nd.web_url || nd.url,
    })));
    this.#scheme = schemeOf(fields);
    this.#genderChoices = new Choices("gender", this.categories, this.genderLabels);
    this.#jobChoices = new Choices("job category", this.jobCategories, this.jobLabels);
    /** The canonical JSON text (see json.js). */
    this.canonicalText = canonicalJson(canonicalFields(fields));
    try {
      this.#canonical = utf8(this.canonicalText);
    } catch {
      throw new InvalidManifest("manifest text holds an unpaired surrogate: it has no UTF-8 form");
    }
    this.#hash = sha256(this.#canonical);
    Object.freeze(this);
  }

  /** @type {Uint8Array} */
  #canonical;
  /** @type {Uint8Array} */
  #hash;
  /** @type {Scheme} */
  #scheme;
  /** @type {Choices} */
  #genderChoices;
  /** @type {Choices} */
  #jobChoices;

  /** @returns {Scheme} the record layout this survey's submissions use */
  scheme() {
    return this.#scheme;
  }

  /** @returns {Choices} the gender question: keys and the organiser's labels */
  genderChoices() {
    return this.#genderChoices;
  }

  /** @returns {Choices} the job-category question (no keys when the survey declares none) */
  jobChoices() {
    return this.#jobChoices;
  }

  /** @returns {string} the ISO 4217 code the salary unit starts with (``TWD`` of ``TWD/month``), or "" */
  currency() {
    const code = pyStrip(this.salaryUnit.split("/")[0]);
    return /^[A-Z]{3}$/.test(code) ? code : "";
  }

  /** @returns {number} field elements per encoded submission, record and proof */
  vectorLength() {
    return this.#scheme.vectorLength;
  }

  /** @returns {number} the number of nodes */
  get n() {
    return this.nodes.length;
  }

  /** @returns {Uint8Array} the canonical bytes (UTF-8 of the canonical text) */
  canonicalBytes() {
    return this.#canonical.slice();
  }

  /** @returns {Uint8Array} the 32-byte identity of this manifest */
  hash() {
    return this.#hash.slice();
  }

  /** @returns {string} */
  hashHex() {
    return toHex(this.hash());
  }

  /** @returns {number} the closing time, milliseconds since the epoch */
  closesAtMs() {
    return parseTime(this.closesAt);
  }

  /**
   * How a node is named in messages: ``node1 (https://host:port)``.
   * @param {number} index
   */
  nodeLabel(index) {
    const nd = this.nodes[index];
    return `${nd.name} (${nd.url})`;
  }
}

/**
 * Parse and validate a manifest (its JSON text or bytes); throws {@link InvalidManifest} with a
 * clear reason.
 * @param {string | Uint8Array} data
 * @returns {Manifest}
 */
export function parseManifest(data) {
  let obj;
  try {
    const text = typeof data === "string" ? data : new TextDecoder("utf-8", { fatal: true }).decode(data);
    obj = parseJson(text);
  } catch {
    throw new InvalidManifest("manifest is not valid JSON");
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj) || obj instanceof JsonFloat) {
    throw new InvalidManifest("manifest must be a JSON object");
  }
  const fields = normalize(obj);
  validate(fields);
  return new Manifest(fields);
}

/**
 * Every field with its default filled in and its canonical type, or InvalidManifest (the type
 * checks of manifest_from_json, in its order).
 * @param {{[key: string]: JsonValue}} obj
 * @returns {Record<string, JsonValue>}
 */
function normalize(obj) {
  onlyWhenSet(obj);
  for (const [name, kind] of FIELDS) {
    if ((kind === "strs" || kind === "ints") && name in obj && !isList(obj[name], kind === "strs" ? "string" : "bigint")) {
      throw new InvalidManifest(`manifest field ${name} must be a list of ${kind === "strs" ? "strings" : "whole numbers"}`);
    }
  }
  const nodes = "nodes" in obj ? normalizeNodes(obj.nodes) : null;
  for (const [name, kind] of FIELDS) {
    if (kind === "labels" && name in obj) checkLabelsObject(obj[name], name);
  }
  const known = new Set(FIELDS.map(([name]) => name));
  const unexpected = Object.keys(obj).filter((k) => !known.has(k));
  const missing = FIELDS.filter(([name, , dflt]) => dflt === undefined && !(name in obj)).map(([name]) => name);
  if (unexpected.length || missing.length) {
    throw new InvalidManifest(`manifest has missing or unexpected fields (${[...missing.map((k) => `missing ${k}`),
      ...unexpected.map((k) => `unexpected ${k}`)].join(", ")})`);
  }
  /** @type {Record<string, JsonValue>} */
  const out = {};
  for (const [name, kind, dflt] of FIELDS) {
    const v = name in obj ? obj[name] : /** @type {JsonValue} */ (dflt);
    out[name] = kind === "nodes" ? nodes : kind === "modulus" ? normalizeModulus(v) : v;
  }
  for (const name of INT_FIELDS) {
    if (typeof out[name] !== "bigint") throw new InvalidManifest(`manifest field ${name} must be an integer`);
  }
  for (const name of STR_FIELDS) {
    if (typeof out[name] !== "string") throw new InvalidManifest(`manifest field ${name} must be a string`);
  }
  return out;
}

/**
 * The page's fields present but empty are refused: written only when set, an empty one would not
 * come back as the same bytes.
 * @param {{[key: string]: JsonValue}} obj
 */
function onlyWhenSet(obj) {
  for (const name of ["language", "web_page_sha256", "web_origins"]) {
    const v = obj[name];
    if (name in obj && (v === "" || (Array.isArray(v) && !v.length))) {
      throw new InvalidManifest(`manifest field ${name} is empty (leave it out instead)`);
    }
  }
  const nodes = obj.nodes;
  if (Array.isArray(nodes) && nodes.some((nd) => nd !== null && typeof nd === "object" && !Array.isArray(nd)
    && !(nd instanceof JsonFloat) && nd[NODE_WEB_URL] === "")) {
    throw new InvalidManifest(`node field ${NODE_WEB_URL} is empty (leave it out instead)`);
  }
}

/**
 * A label object (key -> label): absent is none, and an empty one is refused (it would not
 * come back as the same bytes).
 * @param {JsonValue} v
 * @param {string} name
 */
function checkLabelsObject(v, name) {
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof JsonFloat || !Object.keys(v).length
    || Object.values(v).some((x) => typeof x !== "string")) {
    throw new InvalidManifest(`manifest field ${name} must be a non-empty object of strings`);
  }
}

/**
 * The fields as the canonical JSON holds them: those of {@link WHEN_SET} only when set.
 * @param {Record<string, JsonValue>} fields
 * @returns {Record<string, JsonValue>}
 */
function canonicalFields(fields) {
  return Object.fromEntries(Object.entries(fields).filter(([k, v]) => !WHEN_SET.has(k) || isSet(v)));
}

/** @param {JsonValue} v */
function isSet(v) {
  if (v === null || v === "" || v === 0n) return false;
  return !Array.isArray(v) || v.length > 0;
}

/**
 * The record layout of normalised fields (RangeError with protocol/encoding.py's message for
 * bands it refuses).
 * @param {Record<string, JsonValue>} f
 */
function schemeOf(f) {
  const components = /** @type {string[]} */ (f.components);
  const big = (/** @type {string} */ k) => /** @type {bigint} */ (f[k]);
  return Scheme.of(/** @type {string[]} */ (f.categories), big("salary_max"), /** @type {string[]} */ (f.job_categories),
    /** @type {bigint[]} */ (f.salary_bands), {
      variableMax: components.includes(Component.VARIABLE) ? big("variable_max") : 0n,
      variableBands: /** @type {bigint[]} */ (f.variable_bands),
      hoursMax: components.includes(Component.HOURS) ? Number(big("hours_max")) : 0,
      hourlyMax: big("hourly_max"), hourlyBands: /** @type {bigint[]} */ (f.hourly_bands),
    });
}

/**
 * @param {JsonValue} v
 * @param {"string" | "bigint"} type
 */
function isList(v, type) {
  return Array.isArray(v) && v.every((x) => typeof x === type);
}

/**
 * @param {JsonValue} v
 * @returns {JsonValue}
 */
function normalizeNodes(v) {
  if (!Array.isArray(v)) throw new InvalidManifest("manifest has missing or unexpected fields (nodes must be a list)");
  return v.map((nd) => {
    if (nd === null || typeof nd !== "object" || Array.isArray(nd) || nd instanceof JsonFloat) {
      throw new InvalidManifest("manifest has missing or unexpected fields (a node must be an object)");
    }
    const keys = Object.keys(nd).filter((k) => k !== NODE_WEB_URL);
    if (keys.length !== NODE_FIELDS.length || !NODE_FIELDS.every((k) => k in nd)) {
      throw new InvalidManifest(`manifest has missing or unexpected fields (a node must have exactly ${NODE_FIELDS.join(", ")}`
        + `, and may have ${NODE_WEB_URL})`);
    }
    for (const k of [...NODE_FIELDS, ...(NODE_WEB_URL in nd ? [NODE_WEB_URL] : [])]) {
      if (typeof nd[k] !== "string") throw new InvalidManifest(`node field ${k} must be a string`);
    }
    const fields = NODE_FIELDS.map((k) => [k, nd[k]]);
    // in the JSON only when set, so that a node without it keeps the manifest's bytes
    if (nd[NODE_WEB_URL]) fields.push([NODE_WEB_URL, nd[NODE_WEB_URL]]);
    return Object.fromEntries(fields);
  });
}

/**
 * The field modulus as its canonical decimal string; only 2^127 - 1 is supported here.
 * @param {JsonValue} v
 * @returns {string}
 */
function normalizeModulus(v) {
  let value = null;
  if (typeof v === "bigint") value = v;
  else if (typeof v === "string" && /^\s*[+-]?[0-9]+(?:_[0-9]+)*\s*$/.test(v)) value = BigInt(v.trim().replaceAll("_", ""));
  if (value !== P127) throw new InvalidManifest("this page supports surveys over the field 2^127 - 1 only");
  return value.toString();
}

/**
 * The checks of Manifest.validate, in its order and with its messages.
 * @param {Record<string, JsonValue>} f
 */
function validate(f) {
  validateParties(f);
  validateQuestions(f);
  validateLabels(f);
  validateComponents(f);
  validateFiling(f);
  validateWeb(f);
  validateLayout(f);
  if (f.dp_epsilon) checkEpsilon(/** @type {string} */ (f.dp_epsilon));
  parseTime(/** @type {string} */ (f.closes_at));
}

/**
 * Version, survey id, model, the nodes and the analyst's key.
 * @param {Record<string, JsonValue>} f
 */
function validateParties(f) {
  const nodes = /** @type {Record<string, string>[]} */ (f.nodes);
  const threshold = /** @type {bigint} */ (f.threshold);
  if (f.version !== BigInt(MANIFEST_VERSION)) throw new InvalidManifest(`unsupported manifest version ${f.version}`);
  if (!SURVEY_ID.test(/** @type {string} */ (f.survey_id))) {
    throw new InvalidManifest("survey id must be 1-64 characters of letters, digits, '.', '_' or '-'");
  }
  if (!MODELS.includes(/** @type {string} */ (f.model))) throw new InvalidManifest(`model must be one of ${MODELS.join(", ")}`);
  if (nodes.length < 3) throw new InvalidManifest(`a survey needs at least 3 nodes, this one has ${nodes.length}`);
  if (threshold < 1n || 2n * threshold >= BigInt(nodes.length)) {
    throw new InvalidManifest(`threshold t=${threshold} needs 1 <= t and 2t < n (n=${nodes.length})`);
  }
  nodes.forEach(validateNode);
  if (new Set(nodes.map((nd) => nd.hpke_public_key)).size !== nodes.length) throw new InvalidManifest("two nodes share an HPKE key");
  if (new Set(nodes.map((nd) => nd.tls_cert_sha256)).size !== nodes.length) throw new InvalidManifest("two nodes share a TLS certificate");
  if (!HEX32.test(/** @type {string} */ (f.analyst_public_key))) throw new InvalidManifest("analyst public key must be 32 bytes of hex");
  if (f.encoding !== ENCODING_ID) {
    throw new InvalidManifest(`the survey uses record encoding ${pyRepr(/** @type {string} */ (f.encoding))}, this version `
      + `reads only ${pyRepr(ENCODING_ID)}: finish that survey with the version that created it, or create a new survey`);
  }
}

/**
 * Genders, the salary bound, k and the job categories.
 * @param {Record<string, JsonValue>} f
 */
function validateQuestions(f) {
  const categories = /** @type {string[]} */ (f.categories);
  const jobs = /** @type {string[]} */ (f.job_categories);
  const salaryMax = /** @type {bigint} */ (f.salary_max);
  if (!categories.length || new Set(categories).size !== categories.length) throw new InvalidManifest("categories must be distinct and non-empty");
  if (!categories.includes("male")) throw new InvalidManifest("categories must include 'male' (the pay-gap reference)");
  if (categories.some((c) => !isLowerName(c))) {
    throw new InvalidManifest("categories must be lower-case words (answers are matched case-insensitively)");
  }
  if (!(salaryMax > 0n && salaryMax < 10n ** 12n)) throw new InvalidManifest("salary upper bound must be between 1 and 10^12");
  if (/** @type {bigint} */ (f.min_group_size) < 1n) throw new InvalidManifest("minimum group size k must be at least 1");
  if (new Set(jobs).size !== jobs.length || jobs.length > 64) throw new InvalidManifest("job categories must be distinct, at most 64");
  if (jobs.some((c) => !isLowerName(c) || c.includes(","))) throw new InvalidManifest("job categories must be lower-case names without commas");
}

/**
 * The organiser's labels: at most one per declared category, each a short line without commas
 * or '=', and no label or key folding to another category's.
 * @param {Record<string, JsonValue>} f
 */
function validateLabels(f) {
  for (const [name, keysField] of [["gender_labels", "categories"], ["job_labels", "job_categories"]]) {
    const labels = /** @type {Record<string, string>} */ (f[name] ?? {});
    const keys = /** @type {string[]} */ (f[keysField]);
    if (Object.keys(labels).some((k) => !keys.includes(k))) {
      throw new InvalidManifest(`${name} must give at most one label to each declared category`);
    }
    for (const label of Object.values(labels)) {
      const chars = [...label];
      if (!label || label !== pyStrip(label) || chars.length > MAX_LABEL_CHARS
        || chars.some((c) => c === "," || c === "=" || CONTROL.test(c))) {
        throw new InvalidManifest(`${name}: ${pyRepr(label)} is not a label (1 to ${MAX_LABEL_CHARS} characters, `
          + "no commas, '=' or control characters, no surrounding spaces)");
      }
    }
  }
  for (const choices of [new Choices("gender", /** @type {string[]} */ (f.categories), /** @type {any} */ (f.gender_labels ?? {})),
    new Choices("job category", /** @type {string[]} */ (f.job_categories), /** @type {any} */ (f.job_labels ?? {}))]) {
    const clash = choices.collisions();
    if (clash.length) {
      throw new InvalidManifest(`the ${choices.what} label ${pyRepr(clash[0])} names two different categories `
        + "(labels and keys are compared after NFKC normalisation and case folding)");
    }
  }
}

/**
 * A complete survey's fields: present only with the component they describe.
 * @param {Record<string, JsonValue>} f
 */
function validateComponents(f) {
  const names = Object.values(Component);
  const components = /** @type {string[]} */ (f.components);
  const big = (/** @type {string} */ k) => /** @type {bigint} */ (f[k]);
  const [variableMax, hoursMax, hourlyMax] = [big("variable_max"), big("hours_max"), big("hourly_max")];
  const order = components.map((c) => names.indexOf(/** @type {any} */ (c)));
  if (components.length && (components[0] !== Component.BASIC || new Set(components).size !== components.length
    || order.some((k, i) => k < 0 || (i > 0 && order[i - 1] > k)))) {
    throw new InvalidManifest("components must be 'basic' followed by any of 'variable', 'hours', in that order");
  }
  const has = (/** @type {string} */ c) => components.includes(c);
  if (components.length && !Object.values(PayPeriod).includes(/** @type {any} */ (f.pay_period))) {
    throw new InvalidManifest("pay_period must be 'annual' or 'monthly' in a survey with components");
  }
  if (!components.length && f.pay_period) throw new InvalidManifest('pay_period needs components (e.g. ["basic", "variable"])');
  if (has(Component.VARIABLE) !== variableMax > 0n || (!variableMax && /** @type {bigint[]} */ (f.variable_bands).length)) {
    throw new InvalidManifest("variable_max (above 0) and variable_bands go with the component 'variable', and only with it");
  }
  if (has(Component.HOURS) !== hoursMax > 0n
    || (!hoursMax && (hourlyMax || /** @type {bigint[]} */ (f.hourly_bands).length))) {
    throw new InvalidManifest("hours_max, hourly_max and hourly_bands go with the component 'hours', and only with it");
  }
  if (hoursMax && !(hoursMax > 0n && hoursMax <= BigInt(MAX_HOURS) && hourlyMax > 0n && hourlyMax < 10n ** 12n)) {
    throw new InvalidManifest(`hours_max must be 1 to ${MAX_HOURS} hours and hourly_max (hundredths of the unit per `
      + "hour) between 1 and 10^12");
  }
  if (variableMax >= 10n ** 12n || variableMax > big("salary_max")) {
    throw new InvalidManifest("variable_max must be at most the salary bound (the pay level includes variable pay)");
  }
}

/**
 * Who files the report and the period it covers: short lines without control characters.
 * @param {Record<string, JsonValue>} f
 */
function validateFiling(f) {
  for (const name of ["organisation", "reporting_period"]) {
    const v = /** @type {string} */ (f[name]);
    const chars = [...v];
    if (v && (v !== pyStrip(v) || chars.length > MAX_FILING_CHARS || chars.some((c) => CONTROL.test(c)))) {
      throw new InvalidManifest(`${name}: ${pyRepr(v)} must be 1 to ${MAX_FILING_CHARS} characters, without control `
        + "characters or surrounding spaces");
    }
  }
}

/**
 * The page's fields: its language, its bundle's hash and the further origins allowed to upload.
 * @param {Record<string, JsonValue>} f
 */
function validateWeb(f) {
  const language = /** @type {string} */ (f.language);
  if (language && (!LANGUAGE.test(language) || language.length > MAX_LANGUAGE_CHARS)) {
    throw new InvalidManifest(`language: ${pyRepr(language)} is not a BCP 47 tag such as 'en', 'de' or 'zh-TW' `
      + `(at most ${MAX_LANGUAGE_CHARS} characters)`);
  }
  const page = /** @type {string} */ (f.web_page_sha256);
  if (page && !HEX32.test(page)) {
    throw new InvalidManifest("web_page_sha256 must be 64 lower-case hex digits (the SHA-256 of salary-page.js)");
  }
  const origins = /** @type {string[]} */ (f.web_origins);
  if (origins.length > MAX_WEB_ORIGINS || new Set(origins).size !== origins.length) {
    throw new InvalidManifest(`web_origins must be 1 to ${MAX_WEB_ORIGINS} distinct origins`);
  }
  for (const origin of origins) {
    const port = ORIGIN.exec(origin)?.[2];
    if (!ORIGIN.test(origin) || (port !== undefined && !(Number(port.slice(1)) >= 1 && Number(port.slice(1)) <= 65535))) {
      throw new InvalidManifest(`web_origins: ${pyRepr(origin)} is not an origin https://HOST[:PORT] (lower case, `
        + "port 1-65535, no path or trailing slash)");
    }
  }
}

/**
 * Every value's bands, and the cells x bands limit with the submission size it would give.
 * @param {Record<string, JsonValue>} f
 */
function validateLayout(f) {
  let sc;
  try {
    sc = schemeOf(f);
  } catch (e) {
    throw new InvalidManifest(e instanceof Error ? e.message : String(e));
  }
  if (sc.cellBands > MAX_CELL_BANDS) {
    const what = sc.complete ? "the bands of every value" : "salary bands";
    const width = sc.vectorLength;
    throw new InvalidManifest(`genders x job categories x ${what} is ${sc.cellBands}, at most ${MAX_CELL_BANDS}: `
      + `each submission would be ${width.toLocaleString("en-US")} field elements `
      + `(${(16 * width).toLocaleString("en-US")} bytes per node)`);
  }
}

/**
 * A lower-case name with no space at either end (an empty one is refused).
 * @param {string} c
 */
function isLowerName(c) {
  return c !== "" && !EDGE_SPACE.test(c) && c === c.toLowerCase();
}

/** @param {Record<string, string>} nd */
function validateNode(nd) {
  const name = nd.name;
  if (!nd.url.startsWith("https://")) throw new InvalidManifest(`node ${name}: URL must be https://`);
  if (NODE_WEB_URL in nd && !nd[NODE_WEB_URL].startsWith("https://")) {
    throw new InvalidManifest(`node ${name}: web_url must be https://`);
  }
  const colon = nd.mpc_address.lastIndexOf(":");
  const port = nd.mpc_address.slice(colon + 1);
  if (colon < 1 || !/^[0-9]+$/.test(port) || !(Number(port) > 0 && Number(port) < 65536)) {
    throw new InvalidManifest(`node ${name}: mpc_address must be host:port`);
  }
  if (!HEX32.test(nd.hpke_public_key)) throw new InvalidManifest(`node ${name}: HPKE public key must be 32 bytes of hex`);
  const m = /^-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\r?\n?$/.exec(nd.tls_cert_pem);
  let der = null;
  try {
    der = m ? fromBase64(m[1].replace(/[\r\n]/g, "")) : null;
  } catch {
    der = null;
  }
  if (der === null || der[0] !== 0x30) throw new InvalidManifest(`node ${name}: the TLS certificate is not a PEM certificate`);
  if (toHex(sha256(der)) !== nd.tls_cert_sha256) throw new InvalidManifest(`node ${name}: certificate does not match its fingerprint`);
}

/**
 * The dp_epsilon rule of protocol/dp.py's parse_epsilon: a decimal in (0, 100] with at most
 * six decimal places (counted on the value).
 * @param {string} text
 */
function checkEpsilon(text) {
  const m = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([+-]?[0-9]+))?$/.exec(pyStrip(text));
  const bad = (/** @type {string} */ why) => new InvalidManifest(`dp_epsilon: ${why}, got ${pyRepr(text)}`);
  if (!m) throw bad("epsilon must be a decimal number such as 1, 0.5 or 2.25");
  const [whole, frac = ""] = m[2].split(".");
  let digits = (whole + frac).replace(/^0+/, "");
  let exponent = BigInt(m[3] ?? "0") - BigInt(frac.length);
  const trailing = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += BigInt(trailing);
  if (digits === "" || m[1] === "-") throw bad("epsilon must be greater than 0");
  // value = digits x 10^exponent; above 100 once it has more than three integer digits
  const magnitude = BigInt(digits.length) + exponent;
  if (magnitude > 3n || (magnitude > 0n && BigInt(digits) * 10n ** (exponent > 0n ? exponent : 0n)
    > MAX_EPSILON * 10n ** (exponent < 0n ? -exponent : 0n))) {
    throw bad(`epsilon must be at most ${MAX_EPSILON} (larger values protect nobody)`);
  }
  if (-exponent > BigInt(MAX_EPSILON_PLACES)) throw bad(`epsilon may have at most ${MAX_EPSILON_PLACES} decimal places`);
}

const TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|([+-])([0-9]{2}):([0-9]{2}))?)?$/;

/**
 * An ISO 8601 time with its zone (``2026-12-31T23:59:59Z``, or with a fraction of a second or
 * a +HH:MM offset) as milliseconds since the epoch; InvalidManifest otherwise, naming a time
 * without a zone as Python does.
 * @param {string} text
 * @returns {number}
 */
export function parseTime(text) {
  const m = TIME.exec(text);
  const [y, mo, d, h, mi, s, oh, om] = [1, 2, 3, 4, 5, 6, 10, 11].map((k) => Number(m?.[k] ?? 0));
  // Date.UTC rolls over (Feb 30 is Mar 2) and maps years 0..99 to 1900..1999: such dates do not come back
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (!m || day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d
    || h > 23 || mi > 59 || s > 59 || oh > 23 || om > 59) {
    throw new InvalidManifest(`closing time ${pyRepr(text)} is not ISO 8601`);
  }
  if (m[8] === undefined) throw new InvalidManifest("closing time must carry a time zone, e.g. 2026-12-31T23:59:59Z");
  const offsetMinutes = (m[9] === "-" ? -1 : 1) * (oh * 60 + om);
  const ms = Math.floor(Number((m[7] ?? "").padEnd(6, "0")) / 1000);
  return Date.UTC(y, mo - 1, d, h, mi, s, ms) - offsetMinutes * 60000;
}

/**
 * What each node answered to GET /manifest: its bytes, or why it could not be asked.
 * @typedef {{bytes: Uint8Array} | {unreachable: string} | {error: string}} ServedManifest
 */

/**
 * Check that every node serves byte for byte the manifest loaded (as the Python contributor's
 * verify_nodes_agree).  ``served[i]`` is node i's answer.  Returns the unreachable nodes'
 * reasons; throws {@link InvalidManifest} naming every node that serves something else (or
 * answered with an error), and {@link NodeUnreachable} if fewer than t + 1 nodes confirmed it
 * (too few nodes would then vouch for the keys).
 * @param {Manifest} manifest
 * @param {ReadonlyArray<ServedManifest>} served
 * @returns {Map<number, string>}
 */
export function checkServedManifests(manifest, served) {
  if (served.length !== manifest.n) throw new RangeError(`expected one answer per node (${manifest.n}), got ${served.length}`);
  const want = manifest.hashHex();
  /** @type {string[]} */
  const differ = [];
  /** @type {Map<number, string>} */
  const unreachable = new Map();
  let ok = 0;
  served.forEach((answer, i) => {
    const label = manifest.nodeLabel(i);
    if ("unreachable" in answer) {
      unreachable.set(i, answer.unreachable);
    } else if ("error" in answer) {
      differ.push(answer.error.startsWith(label) ? answer.error : `${label}: ${answer.error}`);
    } else {
      const got = toHex(sha256(answer.bytes));
      if (got === want) ok++;
      else differ.push(`${label} serves manifest ${got.slice(0, 16)}…`);
    }
  });
  if (differ.length) {
    throw new InvalidManifest(`refusing to submit: not every node serves the manifest you loaded (${want.slice(0, 16)}…): `
      + differ.join("; "));
  }
  if (ok < manifest.threshold + 1) {
    throw new NodeUnreachable(`only ${ok} of ${manifest.n} nodes could confirm the survey manifest (at least `
      + `${manifest.threshold + 1} must): ` + [...unreachable].map(([i, why]) => `${manifest.nodeLabel(i)} is ${why}`).join("; "));
  }
  return unreachable;
}
