/**
 * The JavaScript side of the cross-language tests (tests/test_web_core.py): one command per
 * run, JSON on stdin, JSON on stdout.  Bytes travel as hex, field elements as decimal strings.
 *
 *   node test/interop.js labels      -> {name: hex}
 *   node test/interop.js canonical   {texts}            -> per text {text, utf8: hex} or {error}
 *   node test/interop.js manifests   {manifests}        -> per text {sha256, canonical} or {error}
 *   node test/interop.js prepare     {manifest, vectors, tokens, batch_vectors, batch_tokens}
 *   node test/interop.js checks      {checks}           -> per check its result or {error}
 *   node test/interop.js submissions {cases}            -> per case its submission vector or {error}
 *   node test/interop.js vectors     {manifest, answers, randomness, amounts} -> per answer its vector (batched) or {error}
 *   node test/interop.js hrfiles     {files}            -> per file its rows, row errors and description, or {error}
 *   node test/interop.js currencies  {codes}            -> per code its accepted marks
 *   node test/interop.js text        {texts}            -> per text its fold, Python repr and isdigit
 *   node test/interop.js amounts     {cases}            -> per case [numerator, denominator] or {error}
 */

import { readFileSync } from "node:fs";
import { currencyMarks, parseAmount } from "../src/amounts.js";
import { readHrFile } from "../src/hrfile.js";
import { fromHex, toBase64, toHex, utf8 } from "../src/bytes.js";
import { makeBatch, makeCertificate, verifyBatch, verifyCertificate } from "../src/commitment.js";
import { openShareBlock, openShares } from "../src/envelope.js";
import { JsonFloat, canonicalJson, parseJson } from "../src/json.js";
import { Label, labelBytes } from "../src/labels.js";
import { parseManifest } from "../src/manifest.js";
import { encodeSubmission } from "../src/proof.js";
import { submissionVectors } from "../src/prover.js";
import { fold, makeRecord, recordFromAnswers } from "../src/record.js";
import { Scheme } from "../src/scheme.js";
import { isDigit, pyRepr } from "../src/text.js";
import { batchBody, prepareBatch, prepareSubmission, submissionBody } from "../src/submission.js";
import { bulkBodyFromBytes, bulkUploadJson } from "../src/wire.js";

/** @param {unknown} value */
const hasFloat = (value) => value instanceof JsonFloat
  || (value !== null && typeof value === "object" && Object.values(value).some(hasFloat));

/** @param {unknown} e */
const message = (e) => ({ error: e instanceof Error ? e.message : String(e) });

/** @type {Record<string, (input: any) => unknown>} */
const COMMANDS = {
  labels: () => Object.fromEntries(Object.keys(Label).map((k) => [k, toHex(labelBytes(/** @type {keyof typeof Label} */ (k)))])),

  canonical: ({ texts }) => texts.map((/** @type {string} */ text) => {
    let value;
    try {
      value = parseJson(text);
    } catch {
      return { error: "syntax" };
    }
    if (hasFloat(value)) return { error: "float" };
    const canonical = canonicalJson(value);
    try {
      return { text: canonical, utf8: toHex(utf8(canonical)) };
    } catch {
      return { text: canonical, error: "surrogate" };
    }
  }),

  manifests: ({ manifests }) => manifests.map((/** @type {string} */ text) => {
    try {
      const m = parseManifest(text);
      return { sha256: m.hashHex(), canonical: toHex(m.canonicalBytes()) };
    } catch (e) {
      return message(e);
    }
  }),

  prepare: async ({ manifest, vectors, tokens, batch_vectors: batchVectors, batch_tokens: batchTokens }) => {
    const m = parseManifest(manifest);
    const ints = (/** @type {string[][]} */ rows) => rows.map((row) => row.map(BigInt));
    const singles = [];
    for (const [r, vec] of ints(vectors).entries()) {
      const prepared = await prepareSubmission(m, vec);
      singles.push({ submission_id: prepared.submissionId, bodies: m.nodes.map((_, i) => submissionBody(prepared, i, tokens[r])) });
    }
    const batch = await prepareBatch(m, ints(batchVectors));
    return {
      singles,
      batch: {
        ids: batch.ids,
        binary: m.nodes.map((_, i) => toBase64(batchBody(batch, i, batchTokens))),
        json: m.nodes.map((_, i) => bulkUploadJson(bulkBodyFromBytes(batchBody(batch, i, batchTokens)))),
      },
    };
  },

  submissions: ({ cases }) => cases.map((/** @type {any} */ c) => {
    try {
      return submission(c);
    } catch (e) {
      return message(e);
    }
  }),

  vectors: batchVectors,

  hrfiles: ({ files }) => files.map((/** @type {any} */ f) => {
    try {
      const m = parseManifest(f.manifest);
      const out = readHrFile(fromHex(f.bytes), f.name, m, { columns: f.columns, decimal: f.decimal });
      return {
        rows: out.rows.map((r) => [r.line, r.record.gender, r.record.job, String(r.record.salary), String(r.record.variable),
          String(r.record.hours)]),
        errors: out.errors.map((e) => e.text), described: out.described,
      };
    } catch (e) {
      return message(e);
    }
  }),

  currencies: ({ codes }) => codes.map((/** @type {string} */ c) => currencyMarks(c)),

  text: ({ texts }) => texts.map((/** @type {string} */ t) => ({
    fold: fold(t), repr: pyRepr(t), isdigit: t !== "" && Array.from(t).every(isDigit),
  })),

  amounts: ({ cases }) => cases.map((/** @type {any} */ c) => {
    try {
      const a = parseAmount(c.text, { decimal: c.decimal, currencyMarks: c.marks, currency: c.currency }, c.what);
      return [String(a.numerator), String(a.denominator)];
    } catch (e) {
      return message(e);
    }
  }),

  checks: async ({ checks }) => {
    const out = [];
    for (const c of checks) {
      try {
        out.push(await CHECKS[c.kind](c));
      } catch (e) {
        out.push(message(e));
      }
    }
    return out;
  },
};

/**
 * A case: the layout (genders, jobs, bands, salary_max, and for a complete survey variable_max,
 * variable_bands, hours_max, hourly_max, hourly_bands), the answers (gender, job, salary as text
 * or integer, variable and hours when given) and the proof's random elements, or none for fresh
 * ones.
 * @param {any} c
 */
function submission(c) {
  const scheme = Scheme.of(c.genders, BigInt(c.salary_max), c.jobs, c.bands.map(BigInt), {
    variableMax: BigInt(c.variable_max ?? 0), variableBands: (c.variable_bands ?? []).map(BigInt), hoursMax: c.hours_max ?? 0,
    hourlyMax: BigInt(c.hourly_max ?? 0), hourlyBands: (c.hourly_bands ?? []).map(BigInt) });
  const big = (/** @type {any} */ v) => (typeof v === "number" ? BigInt(v) : v);
  const record = makeRecord(c.gender, big(c.salary), scheme, c.job, { genderLabels: c.gender_labels, jobLabels: c.job_labels,
    amounts: { decimal: c.decimal ?? null }, variable: big(c.variable), hours: big(c.hours) });
  const randomness = c.randomness ? c.randomness.map(BigInt) : undefined;
  return encodeSubmission(record, scheme, undefined, randomness).map(String);
}

/**
 * A manifest's answers as records (recordFromAnswers) and their vectors by the batched prover
 * with the given randomness: per answer its vector or {error}.
 * @param {any} input {manifest, answers: [{gender, job, basic, variable, hours}], randomness}
 */
function batchVectors({ manifest, answers, randomness, amounts }) {
  const m = parseManifest(manifest);
  /** @type {any[]} */
  const out = [];
  /** @type {any[]} */
  const records = [];
  /** @type {bigint[][]} */
  const rand = [];
  answers.forEach((/** @type {any} */ a, /** @type {number} */ i) => {
    try {
      records.push(recordFromAnswers(m, a, { amounts }));
      rand.push(randomness[i].map(BigInt));
      out.push(null);
    } catch (e) {
      out.push(message(e));
    }
  });
  const vectors = submissionVectors(m, records, undefined, rand);
  let k = 0;
  return out.map((o) => o ?? vectors[k++].map(String));
}

/** @type {Record<string, (c: any) => unknown>} */
const CHECKS = {
  certificate: (c) => {
    const cert = verifyCertificate(fromHex(c.cert), c.sid, c.n, fromHex(c.mh));
    return { commitments: cert.commitments.map(toHex) };
  },
  make_certificate: async (c) => {
    const { submissionId, certificate } = await makeCertificate(fromHex(c.mh), c.shares.map(fromHex), fromHex(c.sk));
    return { sid: submissionId, cert: toHex(certificate) };
  },
  batch: (c) => {
    const b = verifyBatch(fromHex(c.key), fromHex(c.signature), fromHex(c.commitments), c.k, c.n, fromHex(c.mh));
    return { ids: b.ids, certificates: b.ids.map((_, r) => toHex(b.certificate(r))) };
  },
  make_batch: async (c) => {
    const b = await makeBatch(fromHex(c.mh), c.rows.map((/** @type {string[]} */ row) => row.map(fromHex)), fromHex(c.sk));
    return { key: toHex(b.publicKey), signature: toHex(b.signature), commitments: toHex(b.allCommitments()), ids: b.ids,
      certificates: b.ids.map((_, r) => toHex(b.certificate(r))) };
  },
  open: async (c) => toHex(await openShares(fromHex(c.sealed), fromHex(c.sk), fromHex(c.mh), c.node, fromHex(c.sid), c.count)),
  open_block: async (c) => toHex(await openShareBlock(fromHex(c.sealed), fromHex(c.sk), fromHex(c.mh), c.node,
    fromHex(c.envelope_id), c.rows, c.width)),
};

const command = process.argv[2];
if (!(command in COMMANDS)) {
  console.error(`usage: node test/interop.js ${Object.keys(COMMANDS).join("|")} < input.json`);
  process.exit(2);
}
const input = command === "labels" ? null : JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(await COMMANDS[command](input)));
