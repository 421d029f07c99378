// Imports TypeScript from src/ into a Node script: bundled by esbuild (which wrangler
// already brings) into one ES module, loaded from memory. One bundle per call, so a zod
// schema and the zod functions that read its registry come from the same instance.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** `source` is module text resolved from the repository root, e.g. `export { x } from "./src/a.ts";`. */
export async function importTs(source) {
	const out = await build({
		stdin: { contents: source, resolveDir: ROOT, loader: "ts" },
		bundle: true,
		format: "esm",
		platform: "neutral",
		mainFields: ["module", "main"],
		write: false,
		logLevel: "silent",
	});
	return import("data:text/javascript;base64," + Buffer.from(out.outputFiles[0].text).toString("base64"));
}
