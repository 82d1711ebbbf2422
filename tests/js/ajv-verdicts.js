// Verdicts of AJV (draft-07, Sockethub's options) on activities, for the agreement test.
// stdin: {"runs": [{"payload": <registry payload>, "activities": [...]}, ...]}
// stdout: {"verdicts": [[true|false, ...], ...], "errors": [[<first error or null>, ...], ...]}
// As Sockethub's SDK does: normalize the shorthands, then validate a credentials activity
// against the platforms' `credentials` schemas and any other against their `messages`.
"use strict";
const Ajv = require("ajv");

function normalize(activity) {
  if (activity === null || typeof activity !== "object" || Array.isArray(activity)) return activity;
  const out = { ...activity };
  for (const key of ["actor", "target"]) {
    if (typeof out[key] === "string") out[key] = { id: out[key] };
  }
  if (typeof out.object === "string") out.object = { content: out.object };
  return out;
}

function run({ payload, activities }) {
  // One instance per registry: the same options Sockethub's validator.ts passes.
  const ajv = new Ajv({ strictTypes: false, allErrors: true });
  const compiled = payload.platforms.map((p) => ({
    credentials: ajv.compile(p.schemas.credentials),
    messages: ajv.compile(p.schemas.messages),
  }));
  const verdicts = [];
  const errors = [];
  for (const raw of activities) {
    const activity = normalize(raw);
    const kind = activity && activity.type === "credentials" ? "credentials" : "messages";
    let firstError = null;
    let valid = false;
    for (const schemas of compiled) {
      if (schemas[kind](activity)) {
        valid = true;
        break;
      }
      firstError = firstError || schemas[kind].errors[0];
    }
    verdicts.push(valid);
    errors.push(valid ? null : firstError);
  }
  return { verdicts, errors };
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).runs.map(run);
  process.stdout.write(
    JSON.stringify({ verdicts: results.map((r) => r.verdicts), errors: results.map((r) => r.errors) }),
  );
});
