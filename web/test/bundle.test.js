import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { bundleOptions } from "../build.js";
import { vector } from "./vectors.js";

const built = await build({ ...bundleOptions, write: false, outfile: "salary-mpc-core.js" });
const code = built.outputFiles[0].text;

test("the browser bundle builds without warnings, as one self-contained ES module", () => {
  assert.deepEqual(built.warnings, []);
  assert.ok(code.length > 10000 && code.length < 250000, `bundle is ${code.length} bytes`);
  assert.doesNotMatch(code, /\brequire\(/);
});

test("the bundle makes no network request of its own and names no host", () => {
  for (const api of ["fetch(", "XMLHttpRequest", "WebSocket", "EventSource", "sendBeacon", "importScripts"]) {
    assert.ok(!code.includes(api), api);
  }
  // the only URL text is the manifest's check that node URLs are https:// (and its messages)
  assert.deepEqual(new Set([...code.matchAll(/https?:\/\/[^`"'\s]*/g)].map((m) => m[0])), new Set(["https://", "https://HOST[:PORT]"]));
  // @hpke/common falls back to Node's crypto module where globalThis.crypto is missing (never in a browser)
  assert.deepEqual([...new Set([...code.matchAll(/import\(("[^"]*")\)/g)].map((m) => m[1]))], ['"crypto"']);
});

test("the bundle works: manifest identity, seal and open, certificate and submission vector known answers", async () => {
  const dir = mkdtempSync(join(tmpdir(), "salary-mpc-bundle-"));
  try {
    writeFileSync(join(dir, "bundle.mjs"), code);
    const lib = await import(pathToFileURL(join(dir, "bundle.mjs")).href);
    const m = vector("manifest");
    assert.equal(lib.parseManifest(JSON.stringify(m.manifest)).hashHex(), m.sha256);
    const c = vector("certificate");
    const shares = c.shares.map((/** @type {string[]} */ row) => lib.encodeElements(row.map(BigInt)));
    assert.equal(lib.toHex((await lib.makeCertificate(lib.fromHex(c.manifest_hash), shares, lib.fromHex(c.private_key))).certificate), c.certificate);
    const h = vector("hpke");
    const sealed = await lib.sealShares(shares[0], h.node_public_key, lib.fromHex(h.manifest_hash), 0, lib.fromHex(h.submission_id));
    const opened = await lib.openShares(sealed, lib.fromHex(h.node_private_key), lib.fromHex(h.manifest_hash), 0, lib.fromHex(h.submission_id), 3);
    assert.deepEqual(opened, shares[0]);
    const v = vector("validity").cases[1];
    const scheme = lib.Scheme.of(v.genders, v.salary_max, v.jobs, v.salary_bands);
    const record = lib.makeRecord(v.record.gender, v.record.salary, scheme, v.record.job);
    const randomness = ["m", "x1", "y1", "x2", "y2", "w0"].map((k) => BigInt(v.randomness[k]));
    assert.deepEqual(lib.encodeSubmission(record, scheme, lib.P127, randomness), v.submission.map(BigInt));
    // a complete survey's known answer through the batched prover, and an HR file
    const k = vector("validity_complete");
    const s = k.survey;
    const cm = lib.parseManifest(JSON.stringify(Object.assign(structuredClone(m.manifest), { categories: s.genders, job_categories: [],
      salary_max: s.salary_max, salary_bands: s.salary_bands, components: ["basic", "variable", "hours"], pay_period: "monthly",
      variable_max: s.variable_max, variable_bands: s.variable_bands, hours_max: s.hours_max, hourly_max: s.hourly_max,
      hourly_bands: s.hourly_bands })));
    const file = lib.readHrFile(new TextEncoder().encode("gender,basic,variable,hours\nmale,5,1,\"0,70\"\n"), "hr.csv", cm);
    assert.deepEqual(lib.submissionVectors(cm, file.rows.map((/** @type {any} */ r) => r.record), undefined,
      [k.randomness.map(BigInt)]), [k.submission.map(BigInt)]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
