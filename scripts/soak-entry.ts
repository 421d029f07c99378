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
 *   POST /__soak/fill-caches?records=soak|max
 *                                 fills every bounded per-isolate map to its bound, so the
 *                                 soak can read the live heap with every cache full: the
 *                                 key cache (records made like the soak's keys, or with
 *                                 every field at its admin-contract maximum), its dead-id
 *                                 set, the brute-force and admin throttles (IPv6 addresses),
 *                                 the OAuth token endpoint's throttle, and, for sharded
 *                                 keys, an ExhaustionMemory, an unreported-refusals map
 *                                 and a LeaseBook of the same bound (src/limits/limiter.ts
 *                                 and leased.ts keep their own private; these stand in for
 *                                 them). Run after the measured run only.
 *
 * Everything else goes to `app.fetch`, as src/index.ts does. Never deployed.
 */
import { MAX_METADATA_BYTES } from "../src/admin/contract";
import { adminFailures } from "../src/admin/auth";
import { app } from "../src/app";
import type { CheckResult } from "../src/authority/key-authority";
import { failureThrottle, MAX_TRACKED_ADDRESSES } from "../src/credentials/brute-force";
import { keyCache, MAX_ENTRIES } from "../src/keys/cache";
import { randomId } from "../src/keys/crypto";
import { generateKey } from "../src/keys/format";
import type { StoredKey } from "../src/keys/record";
import { LeaseBook } from "../src/limits/lease";
import { ExhaustionMemory } from "../src/limits/limiter";
import { oauthThrottle } from "../src/oauth/endpoints";

/** Stand-ins for limiter.ts's private maps, held for the isolate's lifetime like theirs. */
const exhaustion = new ExhaustionMemory();
const unreported = new Map<string, number>();
const leases = new LeaseBook(); // stands in for src/limits/leased.ts's private book

function record(max: boolean): StoredKey {
	const now = new Date().toISOString();
	const pad = (prefix: string, n: number) => `${prefix}${randomId("x")}`.padEnd(n, "x").slice(0, n);
	const base: StoredKey = {
		id: randomId("key"),
		hash: [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join(""),
		api: "demo",
		name: max ? pad("n", 200) : "valid-1",
		type: "sk",
		kind: "secret",
		environment: "live",
		start: "sk_live_AbCd",
		last4: "wxyz",
		scopes: max ? Array.from({ length: 100 }, (_, i) => pad(`s${i}`, 100)) : ["read", "write"],
		tier: "free",
		rateLimit: { limit: null, window: 3600, burst: 100_000, shards: 1 },
		owner: max ? pad("o", 200) : null,
		service: max ? pad("v", 200) : null,
		ipAllowlist: max ? Array.from({ length: 100 }, (_, i) => `2001:db8:${i.toString(16)}:ffff:ffff:ffff:ffff:0/112`) : null,
		metadata: null,
		pairId: null,
		createdAt: now,
		expiresAt: null,
		revokedAt: null,
		rotatedAt: null,
		replacedBy: null,
		graceEndsAt: null,
	};
	if (max) {
		const metadata: Record<string, string> = {};
		for (let i = 0; JSON.stringify(metadata).length < MAX_METADATA_BYTES - 120; i++) metadata[`field${i}`] = pad("m", 80);
		base.metadata = metadata;
	}
	// As KV gives it: parsed from JSON, every string its own.
	return JSON.parse(JSON.stringify(base)) as StoredKey;
}

function fillCaches(max: boolean): Record<string, number> {
	const now = Date.now();
	for (let i = 0; i < MAX_ENTRIES; i++) {
		const r = record(max);
		keyCache.set(r.hash, r, now);
		keyCache.markDead(randomId("key"), "revoked");
	}
	const ipv6 = (i: number, salt: number) =>
		`2001:db8:${salt.toString(16)}:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}:aaaa:bbbb:cccc`;
	for (let i = 0; i < MAX_TRACKED_ADDRESSES; i++) {
		failureThrottle.recordFailure(ipv6(i, 1), now, 60);
		adminFailures.recordFailure(ipv6(i, 2), now, 60);
		oauthThrottle.recordFailure(i % 2 === 0 ? `ip:${ipv6(i, 3)}` : `client:${randomId("client")}`, now, 60);
	}
	for (let i = 0; i < 10_000; i++) {
		const keyId = randomId("key");
		const rate = {
			limit: 1000,
			remaining: 0,
			reset: Math.ceil(now / 1000) + 60,
			window: null,
			burst: { limit: 100, remaining: 0, reset: 0 },
		};
		const refusal = {
			ok: false,
			reason: "rate_limited",
			bucket: "window",
			rate,
			retryAfter: 60,
			retryAt: Math.ceil(now / 1000) + 60,
			available: 0,
		};
		exhaustion.remember(`${keyId}#3`, refusal as Extract<CheckResult, { reason: "rate_limited" }>, now);
		unreported.set(keyId, 1);
		// A lease entry with everything it can hold: tokens, a refusal of one shard, tokens to give back.
		const second = Math.floor(now / 1000);
		const answer = { granted: 50, second, notAfterMs: now + 500, rate, deprecatedAt: null, graceEndsAt: null };
		leases.accept(`${keyId}|window`, answer, now, 250, 1, now, false, 0);
		leases.rememberRefusal(`${keyId}|window`, refusal as Parameters<LeaseBook["rememberRefusal"]>[1], now, 250, 1);
		leases.accept(`${keyId}|window`, { ...answer, notAfterMs: now - 1 }, now - 300, 250, 0, now, false, 0);
	}
	return {
		keyCache: keyCache.size,
		bruteForce: failureThrottle.size,
		adminThrottle: adminFailures.size,
		oauthThrottle: oauthThrottle.size,
		unreported: unreported.size,
		leases: leases.size,
	};
}

// The Durable Object classes (and anything else) src/index.ts exports.
export * from "../src/index";

export default {
	async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
		const url = new URL(request.url);
		if (url.pathname === "/__soak/cache-size") return Response.json({ size: keyCache.size, max: MAX_ENTRIES });
		if (url.pathname === "/__soak/fill-caches" && request.method === "POST")
			return Response.json(fillCaches(url.searchParams.get("records") === "max"));
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
