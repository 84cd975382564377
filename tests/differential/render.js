// The handlebars.js side of the differential test (src/differential/): renders batches of
// generated cases with handlebars.js 4, `compile(t, {noEscape: true, strict: true})`.
// Usage: node render.js <handlebars install prefix>
// Prints {"version": "4.x.y"} on a line, then for each line read on stdin (a JSON array of
// {"template": string, "vars": object}) prints one line: a JSON array with, per case,
// {"output": string} or {"error": string}. One process serves a whole run.
"use strict";
const path = require("path");
const readline = require("readline");

const [prefix] = process.argv.slice(2);
const Handlebars = require(path.resolve(prefix, "node_modules", "handlebars"));

// stdout carries the protocol: the `log` helper (which promptctl refuses, and the generator
// writes to check that) must not print on it.
for (const method of ["log", "info", "debug", "warn", "error"]) {
  console[method] = () => {};
}

// Indexing a string can split a surrogate pair: a lone surrogate becomes U+FFFD, so that the
// answer is valid JSON for Rust (as promptctl prints one), in outputs and in error messages.
function wellFormed(text) {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

function render(template, vars) {
  try {
    // A fresh environment per case, so that nothing (helpers, partials) leaks between cases.
    const compiled = Handlebars.create().compile(template, { noEscape: true, strict: true });
    // With `noEscape`, a template of one mustache returns the value itself (a number, an array):
    // what an application gets when it uses the result as a string.
    return { output: wellFormed(String(compiled(vars))) };
  } catch (error) {
    return { error: wellFormed(String((error && error.message) || error).split("\n")[0]) };
  }
}

process.stdout.write(JSON.stringify({ version: Handlebars.VERSION }) + "\n");
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  const cases = JSON.parse(line);
  const results = cases.map(({ template, vars }) => render(template, vars));
  process.stdout.write(JSON.stringify(results) + "\n");
});
