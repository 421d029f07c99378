import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Tier } from "../config/schema";
import type { Principal } from "../credentials/principal";
import type { LimitSpec } from "./window";

/** One counter set on the key's authority: the key's own limit (`key`), a category's or a route rule's. */
export interface Bucket {
	name: string;
	spec: LimitSpec;
}

/** Everything that decides how a request of this caller is counted. */
export interface EffectiveLimits {
	/** The key's own bucket first, then at most one of the route's (its category's, else its own). */
	buckets: Bucket[];
	/** Durable Objects the key's limits are split over (docs/scaling.md). */
	shards: number;
	onLimiterError: Tier["onLimiterError"];
	/** "strict": one authority call per request; "leased": tokens leased in batches (src/limits/lease.ts). */
	consistency: "strict" | "leased";
	/** Leased mode: the longest a lease lives, in ms (≤ 1000). */
	leaseMs: number;
}

export const DEFAULT_LEASE_MS = 1_000;

/**
 * Pure: the limits of `principal` on `route`. The key's own limit is its `rateLimit`,
 * else its tier's; a route with a category spends from that category's limit in the
 * tier (shared by every rule of the category), else from the rule's own `rateLimit`.
 * Undefined when the principal's tier has left the config (the caller fails closed).
 */
export function effectiveLimits(principal: Principal, api: CompiledApi, route: CompiledRoute | undefined): EffectiveLimits | undefined {
	const tier = api.tiers[principal.tier];
	const own = principal.rateLimit ?? tier;
	if (!own) return undefined;
	const cost = route?.cost ?? 1;
	const buckets: Bucket[] = [{ name: "key", spec: { limit: own.limit, window: own.window, burst: own.burst, cost } }];
	const category = route?.category !== undefined ? tier?.categories[route.category] : undefined;
	if (category) {
		buckets.push({
			name: `category:${route!.category}`,
			spec: { limit: category.limit, window: category.window, burst: category.burst, cost },
		});
	} else if (route?.rateLimit) {
		buckets.push({ name: routeBucketName(route), spec: { ...route.rateLimit, cost } });
	}
	return {
		buckets,
		shards: own.shards,
		onLimiterError: tier?.onLimiterError ?? "closed",
		consistency: own.consistency ?? "strict",
		leaseMs: own.leaseMs ?? DEFAULT_LEASE_MS,
	};
}

/** A rule's own bucket is named by its methods and pattern, so reordering the config keeps its counts. */
export function routeBucketName(route: CompiledRoute): string {
	return `route:${route.methods ? [...route.methods].join(",") : "*"} ${route.pattern}`;
}
