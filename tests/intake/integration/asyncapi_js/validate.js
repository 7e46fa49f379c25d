// Parses an AsyncAPI document with the official parser (npm @asyncapi/parser) and prints its
// diagnostics as JSON: [{severity, message, path}], severity 0 = error. Exit 0 unless it crashed.
// Usage: NODE_PATH=<node_modules> node validate.js <asyncapi.yaml>
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");

(async () => {
  const text = fs.readFileSync(process.argv[2], "utf8");
  const { document, diagnostics } = await new Parser().parse(text);
  const out = diagnostics.map((d) => ({ severity: d.severity, message: d.message, path: d.path.join("/") }));
  console.log(JSON.stringify({ parsed: document !== undefined, diagnostics: out,
    channels: document ? document.channels().all().map((c) => c.address()) : [],
    messages: document ? document.allMessages().all().map((m) => m.name()) : [] }));
})().catch((error) => { console.error(error); process.exit(1); });
