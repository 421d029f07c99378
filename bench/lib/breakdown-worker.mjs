// bench/breakdown.ts in one Miniflare, in front of the bench origin, with one unlimited
// key: what `npm run bench:breakdown` and `npm run bench:profile` both drive.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Miniflare } from "miniflare";
import { bundleWorker } from "./build.mjs";

export const WORKER_NAME = "breakdown";

function startOrigin(root) {
	const child = fork(path.join(root, "bench", "lib", "origin.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
	return new Promise((resolve, reject) => {
		child.once("message", (m) => resolve({ url: `http://127.0.0.1:${m.port}`, child }));
		child.once("exit", (code) => reject(new Error(`origin exited early (${code})`)));
	});
}

/**
 * @param {string} root the repository root
 * @param {{ inspector?: boolean }} options inspector: open workerd's V8 inspector (bench:profile)
 * @returns {Promise<{ base: string, key: string, leasedKey: string, mf: Miniflare, close(): Promise<void> }>}
 * (`leasedKey`: the same key's limits with `consistency: "leased"`)
 */
export async function startBreakdownWorker(root, { inspector = false } = {}) {
	const adminToken = randomBytes(24).toString("base64url");
	const tmp = await mkdtemp(path.join(os.tmpdir(), "keygate-breakdown-"));
	const origin = await startOrigin(root);
	let mf;
	const close = async () => {
		if (mf) await Promise.race([mf.dispose(), new Promise((r) => setTimeout(r, 5000))]);
		origin.child.kill("SIGTERM");
		await rm(tmp, { recursive: true, force: true });
	};
	try {
		const file = path.join(tmp, "index.js");
		await bundleWorker(root, "bench/breakdown.ts", file);
		const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
		const quiet = console.log;
		console.log = () => {}; // "Using secrets defined in .dev.vars": we pass our own
		const { workerOptions } = unstable_getMiniflareWorkerOptions(path.join(root, "wrangler.toml"));
		console.log = quiet;
		const config = JSON.parse(await readFile(path.join(root, "keygate.config.json"), "utf8"));
		for (const api of config.apis) for (const env of Object.values(api.environments)) env.origin = origin.url;
		mf = new Miniflare({
			name: WORKER_NAME,
			modules: true,
			modulesRoot: tmp,
			scriptPath: file,
			...(inspector ? { inspectorPort: 0 } : {}),
			compatibilityDate: workerOptions.compatibilityDate,
			compatibilityFlags: workerOptions.compatibilityFlags ?? [],
			durableObjects: workerOptions.durableObjects ?? {},
			kvNamespaces: Object.keys(workerOptions.kvNamespaces ?? {}),
			bindings: {
				KEYGATE_CONFIG: JSON.stringify(config),
				ADMIN_TOKEN: adminToken,
				SIGNING_SECRET: randomBytes(24).toString("base64url"),
				BENCH_ORIGIN: origin.url,
			},
			unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
		});
		await mf.ready;
		const base = (await mf.unsafeGetDirectURL(WORKER_NAME)).href.replace(/\/$/, "");
		const scopes = [...new Set(config.apis[0].routes.flatMap((r) => r.scopes ?? []))];
		const create = async (name, consistency) => {
			const created = await fetch(`${base}/_keygate/v1/keys`, {
				method: "POST",
				headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
				body: JSON.stringify({ name, scopes, rateLimit: { limit: null, window: 3600, burst: 1_000_000, consistency } }),
			});
			if (created.status !== 201) throw new Error(`creating the key: ${created.status} ${await created.text()}`);
			return (await created.json()).key;
		};
		const key = await create("breakdown", "strict");
		const leasedKey = await create("breakdown-leased", "leased");
		return { base, key, leasedKey, mf, close };
	} catch (e) {
		await close();
		throw e;
	}
}
