/**
 * Soak-only entry (scripts/soak.mjs): keygate exactly as src/index.ts serves it, plus
 * two paths for the soak to read what it cannot see from outside:
 *
 *   GET /__soak/cache-size        {size, max}: the isolate key cache's entries (records,
 *                                 misses and dead ids) and its per-map bound MAX_ENTRIES
 *   GET /__soak/mint?count=N&type=sk&environment=live
 *                                 {keys}: well-formed keys (valid checksum) made by
 *                                 keygate's own generateKey and never stored, i.e.
 *                                 garbage that gets as far as a KV lookup
 *
 * Everything else goes to `app.fetch`, as src/index.ts does. Never deployed.
 */
import { app } from "../src/app";
import { keyCache, MAX_ENTRIES } from "../src/keys/cache";
import { generateKey } from "../src/keys/format";

// The Durable Object classes (and anything else) src/index.ts exports.
export * from "../src/index";

export default {
	async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
		const url = new URL(request.url);
		if (url.pathname === "/__soak/cache-size") return Response.json({ size: keyCache.size, max: MAX_ENTRIES });
		if (url.pathname === "/__soak/mint") {
			const count = Math.min(Math.max(1, Number(url.searchParams.get("count") ?? 1) || 1), 50_000);
			const type = url.searchParams.get("type") ?? "sk";
			const environment = url.searchParams.get("environment") ?? "live";
			const keys: string[] = [];
			for (let i = 0; i < count; i++) keys.push(generateKey(type, environment));
			return Response.json({ keys });
		}
		return app.fetch(request, env, ctx);
	},
} satisfies ExportedHandler<Env>;
