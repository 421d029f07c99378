import type { MiddlewareHandler } from "hono";
import type { CompiledApi } from "../config/load";
import { keyCache } from "../keys/cache";
import type { StoredKey } from "../keys/record";
import type { CompiledRoute } from "../config/routes";
import type { Bucket, CheckResult } from "../limiter/key-state";
import type { RateInfo } from "../limiter/window";
import { checkLimits } from "../limiter/client";
import { reject, type GatewayEnv } from "./context";

/**
 * The buckets a request spends from: the key's own limit (its `rateLimit`, else its
 * tier's); then, for a route with a category, that category's limit in the key's tier
 * (shared by every rule of the category), else the rule's own `rateLimit`. Undefined if
 * the key's tier has left the config.
 */
export function bucketsFor(key: StoredKey, api: CompiledApi, route: CompiledRoute | undefined): Bucket[] | undefined {
	const tier = api.tiers[key.tier];
	const limits = key.rateLimit ?? tier;
	if (!limits) return undefined;
	const cost = route?.cost ?? 1;
	const buckets: Bucket[] = [{ name: "key", spec: { limit: limits.limit, window: limits.window, burst: limits.burst, cost } }];
	const category = route?.category !== undefined ? tier?.categories[route.category] : undefined;
	if (category) {
		buckets.push({
			name: `category:${route!.category}`,
			spec: { limit: category.limit, window: category.window, burst: category.burst, cost },
		});
	} else if (route?.rateLimit) {
		const methods = route.methods ? [...route.methods].join(",") : "*";
		buckets.push({
			name: `route:${methods} ${route.pattern}`,
			spec: { limit: route.rateLimit.limit, window: route.rateLimit.window, burst: route.rateLimit.burst, cost },
		});
	}
	return buckets;
}

/** X-RateLimit-* and the IETF RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers). */
export function rateLimitHeaders(rate: RateInfo, nowSec: number): Record<string, string> {
	const policies: string[] = [];
	const current: string[] = [];
	if (rate.window) {
		policies.push(`"window";q=${rate.window.limit};w=${rate.window.window}`);
		current.push(`"window";r=${rate.window.remaining};t=${Math.max(0, rate.window.reset - nowSec)}`);
	}
	policies.push(`"burst";q=${rate.burst.limit};w=1`);
	current.push(`"burst";r=${rate.burst.remaining};t=${Math.max(0, rate.burst.reset - nowSec)}`);
	return {
		"X-RateLimit-Limit": String(rate.limit),
		"X-RateLimit-Remaining": String(rate.remaining),
		"X-RateLimit-Reset": String(rate.reset),
		"RateLimit-Policy": policies.join(", "),
		RateLimit: current.join(", "),
	};
}

/**
 * Stage: one call to the key's Durable Object, which is both the rate limiter and the
 * authority on revocation (none when this isolate already knows the key is out of
 * budget). Any failure there fails closed.
 */
export const rateLimit: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const key = c.var.key;
	const buckets = bucketsFor(key, c.var.api, c.var.route);
	if (!buckets) {
		console.error(JSON.stringify({ event: "tier_missing", keyId: key.id, tier: key.tier }));
		return reject(c, "config_invalid");
	}
	const tier = c.var.api.tiers[key.tier];
	const shards = (key.rateLimit ?? tier!).shards;
	let result: CheckResult;
	try {
		result = await checkLimits(c.env.KEY_STATE, key.id, buckets, shards);
	} catch (e) {
		// Closed by default: with the authority unreachable, neither the limit nor a fresh
		// revocation can be checked. A tier may choose availability instead (Kong, Envoy and
		// Zuplo fail open by default); then the request passes uncounted and says so.
		const open = tier?.onLimiterError === "open";
		console.error(JSON.stringify({ event: open ? "limiter_bypassed" : "limiter_failed", keyId: key.id, error: String(e) }));
		if (!open) return reject(c, "limiter_failed");
		c.set("limiterBypassed", true);
		return next();
	}
	if (!result.ok) {
		if (result.reason === "rate_limited") {
			const headers = rateLimitHeaders(result.rate, Math.floor(Date.now() / 1000));
			return reject(c, "rate_limited", { retryAfter: result.retryAfter, headers });
		}
		// Revoked, deleted and expired are final: later requests in this isolate skip the call.
		keyCache.markDead(key.id, result.reason);
		return reject(c, result.reason === "deleted" ? "deleted_key" : result.reason === "revoked" ? "revoked" : "grace_ended");
	}
	c.set("rate", result.rate);
	if (result.graceEndsAt !== null && result.deprecatedAt !== null) {
		c.set("deprecation", { at: result.deprecatedAt, sunset: result.graceEndsAt });
	}
	await next();
};
