import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidSubmission } from "../src/errors.js";
import { csvRows, readHrFile, sniffDelimiter } from "../src/hrfile.js";
import { parseManifest } from "../src/manifest.js";
import { submissionVectors } from "../src/prover.js";
import { vector } from "./vectors.js";

const complete = () => parseManifest(JSON.stringify(Object.assign(structuredClone(vector("manifest").manifest), {
  salary_max: 12000, components: ["basic", "variable", "hours"], pay_period: "monthly", variable_max: 2000,
  hours_max: 200, hourly_max: 30000, gender_labels: { female: "Frau" } })));

/** @param {string} text */
const utf16le = (text) => new Uint8Array([0xff, 0xfe, ...Array.from(text).flatMap((c) => [c.charCodeAt(0) & 255, c.charCodeAt(0) >> 8])]);

test("a complete survey's HR file: UTF-16, semicolons, decimal commas, labels; bad rows with line and column", () => {
  const m = complete();
  const text = "Geschlecht;Job;Basic;Variable;Hours\r\nFrau;Sales;4.100,50;0;37,5\r\n\r\nmale;engineering;3000;\"1.200\";160\r\n"
    + "male;hr;1;0;1\r\nfemale;sales;100;0;0\r\nother;support;12000;1;100\r\nmale;sales\r\n";
  const out = readHrFile(utf16le(text), "hr.csv", m, { columns: { gender: "geschlecht" } });
  assert.equal(out.described, "CSV, utf-16, ';'-separated");
  assert.deepEqual(out.columns, { gender: "Geschlecht", pay: "Basic", category: "Job", variable: "Variable", hours: "Hours" });
  assert.deepEqual(out.rows.map((r) => [r.line, r.record]), [
    [2, { gender: "female", job: "sales", salary: 4100n, variable: 0n, hours: 3750n }],
    [4, { gender: "male", job: "engineering", salary: 3000n, variable: 1200n, hours: 16000n }]]);
  assert.deepEqual(out.rows[0].answers, { gender: "Frau", job: "Sales", basic: "4.100,50", variable: "0", hours: "37,5" });
  assert.deepEqual(out.errors.map((e) => e.text), [
    "line 5, column Job: unknown job category 'hr'; expected one of: engineering, sales, support",
    "line 6, column Hours: hours must be above 0",
    "line 7, column Basic: salary above the survey's upper bound of 12000",
    "line 8: has 2 fields, expected at least 5"]);
  // the valid rows go on to the batched prover as they are
  assert.equal(submissionVectors(m, out.rows.map((r) => r.record))[1].length, m.vectorLength());
});

test("files that cannot be read as a table are refused in one line", () => {
  const m = complete();
  const refuses = (/** @type {string | Uint8Array} */ data, /** @type {string} */ message, name = "hr.csv") =>
    assert.throws(() => readHrFile(typeof data === "string" ? new TextEncoder().encode(data) : data, name, m),
      (e) => e instanceof InvalidSubmission && e.message === message, message);
  refuses("", "hr.csv is empty; expected a header line with gender,salary");
  refuses("gender,basic\n", "hr.csv: the header line has no job column (this survey asks for a job category: engineering, "
    + "sales, support); name it with --column category=HEADER");
  refuses("gender,job,basic,variable,hours\n", "hr.csv has no data rows");
  refuses("gender;job;basic;variable;hours\nmale;sales;4.100,50;0;1\nmale;sales;4,100.50;0;1\n",
    "hr.csv: amounts mix a decimal comma (line 2: '4.100,50') and a decimal point (line 3: '4,100.50'); give --decimal , or --decimal .");
  refuses(new Uint8Array([0x67, 0x81, 0x0a]), "hr.csv is not UTF-8, UTF-16 or Windows-1252 text; give its --encoding "
    + "(e.g. big5, cp950, shift_jis, latin-1)");
  refuses("x", "hr.ods: this page reads .xlsx workbooks and CSV files; save the sheet as one of them", "hr.ods");
  assert.throws(() => readHrFile(new TextEncoder().encode("gender,salary"), "hr.xlsx", m),
    (e) => e instanceof InvalidSubmission && e.message.startsWith("hr.xlsx is not a readable spreadsheet (not a zip archive"));
});

test("CSV as Python's csv module reads it: quotes, doubled quotes, new lines in quotes, line numbers", () => {
  assert.deepEqual([...csvRows('a,"b,c"\r\n\r\n"d ""e""\nf",g\n"h"i,\n', ",", "x")],
    [[1, ["a", "b,c"]], [2, []], [4, ['d "e"\nf', "g"]], [5, ["hi", ""]]]);
  assert.deepEqual([...csvRows('a,"b\n', ",", "x")], [[1, ["a", "b\n"]]]);
  assert.equal(sniffDelimiter("a;b;c\n1;2,5;3\n"), ";");
  assert.equal(sniffDelimiter("a\tb\n1\t2\n"), "\t");
  assert.equal(sniffDelimiter("single\n"), ",");
});

test("spreadsheet numbers: Python's float repr in messages, their exact decimal value as amounts", async () => {
  const { decimalValue, pyFloatRepr } = await import("../src/xlsx.js");
  assert.deepEqual([3, 4100.5, -5, 1e-5, 1e16, 0.1 + 0.2, 123456789012.25, -0, 1e-4].map(pyFloatRepr),
    ["3.0", "4100.5", "-5.0", "1e-05", "1e+16", "0.30000000000000004", "123456789012.25", "-0.0", "0.0001"]);
  assert.deepEqual(decimalValue(4100.5), { numerator: 41005n, denominator: 10n });
  assert.deepEqual(decimalValue(1e16), { numerator: 10n ** 16n, denominator: 1n });
  assert.deepEqual(decimalValue(0.1 + 0.2), { numerator: 30000000000000004n, denominator: 10n ** 17n });
});
