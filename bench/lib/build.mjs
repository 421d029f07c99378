// Bundles the bench's Workers with esbuild (the copy wrangler itself depends on), the
// way wrangler bundles keygate: one ES module per Worker, TypeScript and JSON handled
// by esbuild, `cloudflare:*` left to the runtime, workerd's export conditions.
import { build, stop } from "esbuild";
import { mkdir } from "node:fs/promises";
import path from "node:path";

/**
 * Bundles one Worker entry (relative to `root`) into `outfile`; returns its size in bytes.
 * Also used by scripts/soak.mjs.
 */
export async function bundleWorker(root, entry, outfile) {
	const result = await build({
		absWorkingDir: root,
		entryPoints: [path.join(root, entry)],
		outfile,
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2024",
		conditions: ["workerd", "worker", "browser"],
		mainFields: ["module", "main"],
		external: ["cloudflare:*", "node:*"],
		logLevel: "silent",
		metafile: true,
	});
	return Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
}

export const ENTRIES = {
	bare: "bench/workers/bare.ts",
	keygate: "src/index.ts",
	"keygate-instrumented": "bench/instrumented.ts",
	peer: "bench/workers/peer.ts",
	"peer-instrumented": "bench/workers/peer-instrumented.ts",
};

/**
 * @param {string} root the repository root
 * @param {string} outDir where the bundles go (a temporary directory)
 * @returns {Promise<Record<keyof typeof ENTRIES, { dir: string, file: string, bytes: number }>>}
 */
export async function buildWorkers(root, outDir) {
	const out = {};
	await Promise.all(
		Object.entries(ENTRIES).map(async ([name, entry]) => {
			const dir = path.join(outDir, name);
			await mkdir(dir, { recursive: true });
			const file = path.join(dir, "index.js");
			const bytes = await bundleWorker(root, entry, file);
			out[name] = { dir, file, bytes };
		}),
	);
	// esbuild keeps a service process for further builds: there are none.
	await stop();
	return out;
}
