import assert from "node:assert/strict";
import { test } from "node:test";
import { parseAmount, wholeUnits } from "../src/amounts.js";
import { InvalidSubmission } from "../src/errors.js";
import { casefold, isDigit, pyRepr } from "../src/text.js";

/**
 * @param {string} text
 * @param {import("../src/amounts.js").AmountFormat} [fmt]
 */
const whole = (text, fmt) => wholeUnits(parseAmount(text, fmt));

/**
 * @param {() => unknown} f
 * @param {string} message
 */
function refuses(f, message) {
  assert.throws(f, (e) => e instanceof InvalidSubmission && e.message === message, message);
}

test("amounts: grouping, decimal marks, currency marks, half-to-even rounding", () => {
  assert.deepEqual(parseAmount(" 4100 "), { numerator: 4100n, denominator: 1n });
  assert.equal(whole("4,100.50"), 4100n);
  assert.equal(whole("4.101,50"), 4102n);
  assert.equal(whole("1'234'567"), 1234567n);
  assert.equal(whole("4\u00a0100"), 4100n);
  assert.equal(whole("4,100", { decimal: "." }), 4100n);
  assert.equal(whole("4,100", { decimal: "," }), 4n);
  assert.equal(whole("NT$ 52,000.00", { currencyMarks: ["TWD", "NT$", "$"], currency: "TWD" }), 52000n);
  assert.equal(whole("52000 twd", { currencyMarks: ["TWD"], currency: "TWD" }), 52000n);
  assert.equal(whole("+0.5"), 0n);
  assert.equal(whole("1.5"), 2n);
  assert.equal(whole("-0"), 0n);
});

test("amounts that are not read are refused with Python's message", () => {
  const eg = "(expected e.g. 4100, 4,100.50 or 4.100,50)";
  refuses(() => parseAmount("4,100"), "salary '4,100' is ambiguous (4100 with a decimal point, 4.1 with a decimal comma): "
    + "give --decimal . or --decimal ,");
  refuses(() => parseAmount("1.234"), "salary '1.234' is ambiguous (1.234 with a decimal point, 1234 with a decimal comma): "
    + "give --decimal . or --decimal ,");
  refuses(() => parseAmount("4e3"), "salary '4e3' is not a number: exponents are not accepted");
  refuses(() => parseAmount("4_100"), "salary '4_100' is not a number: '_' is not a digit separator");
  refuses(() => parseAmount("٤١٠٠"), "salary '٤١٠٠' is not a number: only the digits 0-9 are accepted");
  refuses(() => parseAmount("4100²"), "salary '4100²' is not a number: only the digits 0-9 are accepted");
  refuses(() => parseAmount("abc"), `salary 'abc' is not a number ${eg}`);
  refuses(() => parseAmount("€ 100", { currencyMarks: ["TWD"], currency: "TWD" }), "salary '€ 100': '€' is not this survey's currency (TWD)");
  refuses(() => parseAmount("-5"), "salary must not be negative");
  refuses(() => parseAmount("\t"), "salary is missing");
  refuses(() => parseAmount("1".repeat(65)), "salary is too long (65 characters; an amount has at most 64)");
  refuses(() => parseAmount("4.100.5", { decimal: "," }, "hours"),
    "hours '4.100.5' is not a number (expected e.g. 4100, 4.100 or 4.100,50)");
});

test("Python's text rules: repr, isdigit, casefold", () => {
  assert.equal(pyRepr("it's"), `"it's"`);
  assert.equal(pyRepr(`it's "x"`), `'it\\'s "x"'`);
  assert.equal(pyRepr("a\u00a0b\tc\\"), "'a\\xa0b\\tc\\\\'");
  assert.equal(pyRepr("\u200b\u{e0001}é"), "'\\u200b\\U000e0001é'");
  assert.deepEqual(["7", "٤", "²", "①", "x", "½"].map(isDigit), [true, true, true, true, false, false]);
  assert.equal(casefold("Straße ΣΊΣΥΦΟΣ"), "strasse σίσυφοσ");
});
