// Does each ECMA-262 pattern (with the "u" flag, as AJV compiles `pattern`) match each string?
// stdin: [{"pattern": "...", "strings": ["...", ...]}, ...]  stdout: [[true|false, ...], ...]
"use strict";
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map(({ pattern, strings }) => {
    const re = new RegExp(pattern, "u");
    return strings.map((s) => re.test(s));
  });
  process.stdout.write(JSON.stringify(out));
});
