#!/usr/bin/env node
// Writes keygate.schema.json (JSON Schema for keygate.config.json) from the zod schema in
// src/config/schema.ts, so editors check the config with the very rules keygate enforces.
// Usage: npm run schema            (write)
//        npm run schema -- --check (exit 1 if the committed file is stale)
import { readFileSync, writeFileSync } from "node:fs";
import { importTs } from "./lib/import-ts.mjs";

// One bundle holds the schema and the toJSONSchema of the same zod instance, so the
// descriptions registered in its global registry reach the JSON Schema.
const { ConfigSchema, toJSONSchema } = await importTs(
	'export { ConfigSchema } from "./src/config/schema.ts"; export { toJSONSchema } from "zod/mini";',
);
const schema = {
	...toJSONSchema(ConfigSchema, { io: "input", unrepresentable: "any" }),
	title: "keygate configuration",
};
const text = JSON.stringify(schema, null, 2) + "\n";
if (process.argv.includes("--check")) {
	const current = readFileSync("keygate.schema.json", "utf8");
	if (current !== text) {
		console.error("keygate.schema.json is stale: run `npm run schema`.");
		process.exit(1);
	}
	console.log("keygate.schema.json is up to date.");
} else {
	writeFileSync("keygate.schema.json", text);
	console.log("wrote keygate.schema.json");
}
