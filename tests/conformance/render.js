// Renders conformance cases with handlebars.js, the reference implementation promptctl must match.
// Usage: node render.js <handlebars install prefix> <cases.json>
// cases.json is an array of {"template": string, "vars": object}; stdout is a JSON array with, per
// case, {"output": string} or {"error": string}. Run once for the whole corpus by tests/it/conformance.rs.
"use strict";
const fs = require("fs");
const path = require("path");

const [prefix, casesPath] = process.argv.slice(2);
const Handlebars = require(path.resolve(prefix, "node_modules", "handlebars"));
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));

const results = cases.map(({ template, vars }) => {
  try {
    // A fresh environment per case, so that nothing (helpers, partials) leaks between cases.
    const render = Handlebars.create().compile(template, { noEscape: true, strict: true });
    return { output: render(vars) };
  } catch (error) {
    return { error: String((error && error.message) || error).split("\n")[0] };
  }
});
process.stdout.write(JSON.stringify({ version: Handlebars.VERSION, results }));
