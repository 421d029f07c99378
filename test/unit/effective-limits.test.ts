import { describe, expect, it } from "vitest";
import { parseConfig, type CompiledApi } from "../../src/config/load";
import { findRoute } from "../../src/config/routes";
import type { Principal } from "../../src/credentials/principal";
import { effectiveLimits } from "../../src/limits/effective";

const config = parseConfig({
	apis: [
		{
			name: "demo",
			environments: { live: { origin: "https://origin.example" } },
			keyTypes: { sk: { kind: "secret" } },
			routes: [
				{ path: "/v1/bulk", category: "trigger", cost: 10 },
				{ path: "/v1/events/**", category: "trigger" },
				{ path: "/v1/search", rateLimit: { limit: 100, window: 60, burst: 16 } },
				{ path: "/v1/reports", category: "reports", rateLimit: { limit: 16, window: 60, burst: 8 } },
			],
			tiers: {
				free: { limit: 1000, window: 3600, burst: 50, categories: { trigger: { limit: 60, window: 60, burst: 20 } } },
				big: { limit: 100000, window: 3600, burst: 4000, shards: 8, onLimiterError: "open" },
			},
			defaultTier: "free",
		},
	],
});
if (!config.ok) throw new Error(config.error);
const api: CompiledApi = config.value.apis[0]!;
const route = (path: string) => findRoute(api.routeTable, "GET", path);

const principal = (over: Partial<Principal> = {}): Principal => ({
	kind: "key",
	id: "key_x",
	api: "demo",
	environment: "live",
	scopes: [],
	tier: "free",
	rateLimit: null,
	owner: null,
	service: null,
	ipAllowlist: null,
	keyType: "sk",
	subject: null,
	clientId: null,
	authority: "key_x",
	...over,
});

describe("effective limits of a principal on a route (pure)", () => {
	it("an unmatched route: the tier's limit alone, cost 1, closed on limiter failure", () => {
		expect(effectiveLimits(principal(), api, undefined)).toEqual({
			buckets: [{ name: "key", spec: { limit: 1000, window: 3600, burst: 50, cost: 1 } }],
			shards: 1,
			onLimiterError: "closed",
			consistency: "strict",
			leaseMs: 1000,
		});
	});

	it("consistency and leaseMs come from the key's own rateLimit, else its tier; absent reads strict, 1000 ms", () => {
		const own = { limit: 5, window: 60, burst: 2, shards: 1, consistency: "leased" as const, leaseMs: 250 };
		const limits = effectiveLimits(principal({ tier: "free", rateLimit: own }), api, undefined)!;
		expect([limits.consistency, limits.leaseMs]).toEqual(["leased", 250]);
		const stored = { limit: 5, window: 60, burst: 2, shards: 1 };
		const old = effectiveLimits(principal({ tier: "free", rateLimit: stored }), api, undefined)!;
		expect([old.consistency, old.leaseMs]).toEqual(["strict", 1000]);
	});

	it("a category route spends the route's cost from the key's bucket and the tier's category bucket", () => {
		const limits = effectiveLimits(principal(), api, route("/v1/bulk"))!;
		expect(limits.buckets).toEqual([
			{ name: "key", spec: { limit: 1000, window: 3600, burst: 50, cost: 10 } },
			{ name: "category:trigger", spec: { limit: 60, window: 60, burst: 20, cost: 10 } },
		]);
		// Every rule of one category shares the bucket.
		expect(effectiveLimits(principal(), api, route("/v1/events/x"))!.buckets[1]!.name).toBe("category:trigger");
	});

	it("a route's own rateLimit is a bucket named by its methods and pattern", () => {
		expect(effectiveLimits(principal(), api, route("/v1/search"))!.buckets[1]).toEqual({
			name: "route:* /v1/search",
			spec: { limit: 100, window: 60, burst: 16, cost: 1 },
		});
	});

	it("a category the tier sets no limit for falls back to the rule's own rateLimit", () => {
		expect(effectiveLimits(principal(), api, route("/v1/reports"))!.buckets[1]!.name).toBe("route:* /v1/reports");
		expect(effectiveLimits(principal({ tier: "big" }), api, route("/v1/bulk"))!.buckets).toHaveLength(1);
	});

	it("a per-key rateLimit replaces the tier's own limit and shards, but the tier's categories still apply", () => {
		const own = { limit: 5, window: 60, burst: 2, shards: 1 };
		const limits = effectiveLimits(principal({ tier: "free", rateLimit: own }), api, route("/v1/bulk"))!;
		expect(limits.buckets[0]!.spec).toEqual({ limit: 5, window: 60, burst: 2, cost: 10 });
		expect(limits.buckets[1]!.name).toBe("category:trigger");
	});

	it("shards and the failure mode come from the tier", () => {
		const limits = effectiveLimits(principal({ tier: "big" }), api, undefined)!;
		expect(limits.shards).toBe(8);
		expect(limits.onLimiterError).toBe("open");
	});

	it("a tier that has left the config gives no limits (the caller fails closed)", () => {
		expect(effectiveLimits(principal({ tier: "gone" }), api, undefined)).toBeUndefined();
		// unless the key carries its own
		expect(
			effectiveLimits(principal({ tier: "gone", rateLimit: { limit: 1, window: 1, burst: 1, shards: 1 } }), api, undefined),
		).toBeDefined();
	});
});
