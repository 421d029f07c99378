#!/usr/bin/env node
// `npm run config:check`: validates keygate configs with keygate's own code and prints
// exactly the lines keygate logs when it loads each one (the error of an invalid config,
// one line per lint), so what the JSON Schema cannot express (unique API names, a
// defaultTier among the tiers, CORS key types among the key types, APIs that tie on
// host and prefix, …) is caught before deploying.
//
//   npm run config:check                          (keygate.config.json)
//   npm run config:check -- examples/novu/keygate.config.json other.json
//
// Exit codes: 0 every config is valid (lints are warnings), 1 one is invalid or
// unreadable, 2 the command line was wrong.
import { readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { importTs } from "./lib/import-ts.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_CONFIG = join(ROOT, "keygate.config.json");

let loaded;
/** src/config/load.ts, bundled once (as scripts/schema.mjs bundles the schema): the Worker's own parser. */
async function loader() {
	loaded ??= (async () => {
		return importTs('export { parseConfig, configLogLines } from "./src/config/load.ts";');
	})();
	return loaded;
}

/**
 * Checks a config given as its JSON text, as the Worker reads `KEYGATE_CONFIG`.
 * @returns {Promise<{ ok: boolean, lines: { level: "error" | "warn", line: string }[] }>}
 */
export async function checkConfigText(text) {
	const { parseConfig, configLogLines } = await loader();
	const result = parseConfig(text);
	return { ok: result.ok, lines: configLogLines(result) };
}

/** Checks config files and prints the verdict and keygate's log lines for each; returns the exit code. */
export async function checkConfigFiles(paths, out = console) {
	let code = 0;
	for (const path of paths) {
		const under = relative(process.cwd(), path);
		const shown = under && !under.startsWith("..") ? under : path;
		let text;
		try {
			text = readFileSync(path, "utf8");
		} catch (e) {
			out.error(`${shown}: cannot read: ${e.message}`);
			code = 1;
			continue;
		}
		const { ok, lines } = await checkConfigText(text);
		const lints = ok ? lines.length : 0;
		out.log(`${shown}: ${ok ? "valid" : "invalid"}${lints ? `, ${lints} lint${lints === 1 ? "" : "s"}` : ""}`);
		for (const { line } of lines) out.log(line);
		if (!ok) code = 1;
	}
	return code;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
	const args = process.argv.slice(2);
	const flag = args.find((a) => a.startsWith("-"));
	if (flag) {
		console.error(
			`config:check: unknown option ${flag}\nUsage: npm run config:check [-- <config.json> ...]   (default: keygate.config.json)`,
		);
		process.exit(2);
	}
	checkConfigFiles(args.length > 0 ? args : [DEFAULT_CONFIG]).then(
		(code) => process.exit(code),
		(e) => {
			console.error(`config:check: ${e?.stack ?? e}`);
			process.exit(1);
		},
	);
}
