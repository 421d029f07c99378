/**
 * The isolate key cache is bounded by count (MAX_ENTRIES) and by estimated weight
 * (MAX_WEIGHT): 10,000 records at the admin contract's maximum sizes held 220 MiB of V8
 * heap in the soak (scripts/soak.mjs, SOAK_FILL_RECORDS=max) before the weight bound.
 */
import { describe, expect, it } from "vitest";
import { MAX_METADATA_BYTES } from "../../src/admin/contract";
import { entryWeight, KeyCache, MAX_ENTRIES, MAX_WEIGHT } from "../../src/keys/cache";
import type { StoredKey } from "../../src/keys/record";

function record(i: number, big: boolean): StoredKey {
	const fill = (prefix: string, n: number) => `${prefix}${i}-`.padEnd(n, "x");
	const metadata: Record<string, string> = {};
	if (big) for (let f = 0; JSON.stringify(metadata).length < MAX_METADATA_BYTES - 120; f++) metadata[`field${f}`] = fill("m", 80);
	return {
		id: `key_${i}`,
		hash: `hash-${i}`,
		api: "demo",
		name: big ? fill("n", 200) : `key ${i}`,
		type: "sk",
		kind: "secret",
		environment: "live",
		start: "sk_live_AbCd",
		last4: "wxyz",
		scopes: big ? Array.from({ length: 100 }, (_, s) => fill(`s${s}`, 100)) : ["read"],
		tier: "free",
		rateLimit: null,
		owner: big ? fill("o", 200) : null,
		service: big ? fill("v", 200) : null,
		ipAllowlist: big ? Array.from({ length: 100 }, (_, r) => `2001:db8:${r.toString(16)}::/112`) : null,
		metadata: big ? metadata : null,
		pairId: null,
		createdAt: "2026-01-01T00:00:00.000Z",
		expiresAt: null,
		revokedAt: null,
		rotatedAt: null,
		replacedBy: null,
		graceEndsAt: null,
	};
}

describe("KeyCache bounds", () => {
	it("holds at most MAX_ENTRIES small entries (misses), oldest dropped first", () => {
		const cache = new KeyCache();
		for (let i = 0; i < MAX_ENTRIES + 50; i++) cache.set(`miss-${i}`, null, 0);
		expect(cache.size).toBe(MAX_ENTRIES);
		expect(cache.get("miss-0", 1)).toBeUndefined();
		expect(cache.get("miss-49", 1)).toBeUndefined();
		expect(cache.get("miss-50", 1)).toBeNull();
		expect(cache.get(`miss-${MAX_ENTRIES + 49}`, 1)).toBeNull();
		expect(cache.weight).toBe(MAX_ENTRIES * entryWeight(null));
	});

	it("holds records of the largest size the admin contract allows only up to MAX_WEIGHT, not MAX_ENTRIES of them", () => {
		const cache = new KeyCache();
		const big = entryWeight(record(0, true));
		expect(big).toBeGreaterThan(60_000);
		for (let i = 0; i < 2_000; i++) {
			const r = record(i, true);
			cache.set(r.hash, r, 0);
			expect(cache.weight).toBeLessThanOrEqual(MAX_WEIGHT);
		}
		expect(cache.size).toBe(Math.floor(MAX_WEIGHT / big));
		expect(cache.size).toBeLessThan(400);
		// The newest are kept, the oldest dropped.
		expect(cache.get("hash-1999", 1)?.id).toBe("key_1999");
		expect(cache.get("hash-0", 1)).toBeUndefined();
	});

	it("keeps its weight exact through refreshes, expiry and clear", () => {
		const cache = new KeyCache();
		const r = record(1, false);
		cache.set(r.hash, r, 0);
		cache.set(r.hash, r, 0);
		cache.set("miss", null, 0);
		expect(cache.weight).toBe(entryWeight(r) + entryWeight(null));
		// Past freshness and the stale-if-error window: a read drops it and its weight.
		expect(cache.get("miss", 10_000_000)).toBeUndefined();
		expect(cache.weight).toBe(entryWeight(r));
		cache.clear();
		expect(cache.weight).toBe(0);
		expect(cache.size).toBe(0);
	});
});
