/**
 * How long the browser library takes to turn a complete survey's answers into submission
 * vectors (record and validity proof), in Node: one record (submissionVector) and 1,000 HR-file
 * rows (recordFromAnswers, then the batched submissionVectors).  `npm run bench`.
 *
 * Layouts: "demo" is demo/run_local.py's default complete survey (monthly basic and variable
 * pay in bands of 100 up to 2,000, hours up to 200, hourly pay in bands of 2.00 up to 300.00)
 * with 3 genders, 3 job categories and pay up to 12,000 in bands of 500; "3x12-complete" is
 * benchmarks/proof.py's layout of that name.
 */

import { readFileSync } from "node:fs";
import os from "node:os";
import { parseManifest, recordFromAnswers, submissionVector, submissionVectors } from "./src/index.js";

const base = JSON.parse(readFileSync(new URL("../tests/vectors/manifest.json", import.meta.url), "utf8")).manifest;
const steps = (/** @type {number} */ top, /** @type {number} */ w) => Array.from({ length: Math.ceil(top / w) - 1 }, (_, k) => (k + 1) * w);

const LAYOUTS = {
  demo: { salary_max: 12000, salary_bands: steps(12000, 500), job_categories: ["engineering", "sales", "support"],
    variable_max: 2000, variable_bands: steps(2000, 100), hours_max: 200, hourly_max: 30000, hourly_bands: steps(30000, 200) },
  "3x12-complete": { salary_max: 15000, salary_bands: steps(15000, 250),
    job_categories: Array.from({ length: 12 }, (_, j) => `job${String(j).padStart(2, "0")}`), variable_max: 5000,
    variable_bands: steps(5000, 250), hours_max: 300, hourly_max: 20000, hourly_bands: steps(20000, 100) },
};

for (const [name, layout] of Object.entries(LAYOUTS)) {
  const m = parseManifest(JSON.stringify({ ...base, ...layout, components: ["basic", "variable", "hours"], pay_period: "monthly" }));
  const answers = Array.from({ length: 1000 }, (_, i) => ({
    gender: ["female", "male", "other"][i % 3], job: m.jobCategories[i % m.jobCategories.length],
    basic: String(3000 + ((i * 7919) % 6000)), variable: String((i * 131) % 1500), hours: String(120 + (i % 80)),
  }));
  const one = recordFromAnswers(m, answers[0]);
  let t = performance.now();
  submissionVector(m, one);
  const first = performance.now() - t;
  t = performance.now();
  submissionVector(m, one);
  const single = performance.now() - t;
  t = performance.now();
  const records = answers.map((a) => recordFromAnswers(m, a));
  const vectors = submissionVectors(m, records);
  const rows = performance.now() - t;
  console.log(`${name}: ${m.vectorLength().toLocaleString("en-US")} elements per submission; 1 record ${first.toFixed(1)} ms `
    + `(first, with the proof's tables) / ${single.toFixed(1)} ms; 1,000 rows ${(rows / 1000).toFixed(2)} s `
    + `(${vectors.length} vectors)`);
}
console.log(`Node ${process.version}, ${os.cpus()[0].model}, ${os.cpus().length} cores`);
