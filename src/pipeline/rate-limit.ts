import type { MiddlewareHandler } from "hono";
import { authority, deadReason } from "../authority/client";
import { keyCache } from "../keys/cache";
import { effectiveLimits } from "../limits/effective";
import { grantsLimiter } from "../limits/grants-limiter";
import { leasedLimiter } from "../limits/leased";
import { strictLimiter, type LimitDecision, type Limiter } from "../limits/limiter";
import type { RateInfo } from "../limits/window";
import { logEvent } from "../util/log";
import { principalOf, reject, type GatewayEnv } from "./context";

/**
 * `t`, seconds until a quota resets, at least 1: the counts were taken when the request was
 * decided, and a second (or window) that ended while the origin answered would otherwise
 * read `t=0` beside a remaining count from the quota that ended (found by a peer's suite).
 */
const untilReset = (reset: number, nowSec: number) => Math.max(1, reset - nowSec);

/**
 * X-RateLimit-* and the IETF RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers).
 * X-RateLimit-* describe the window (the burst when the window is unlimited); on a 429
 * (`refused`) they describe the limit that refused it, so a burst refusal reads as the
 * burst's limit, 0 left and the next second, never as a window with room left. `refusedUntil`
 * is the refusal's `retryAt` (Unix seconds).
 */
export function rateLimitHeaders(rate: RateInfo, nowSec: number, refusedUntil?: number): Record<string, string> {
	const policies: string[] = [];
	const current: string[] = [];
	if (rate.window) {
		policies.push(`"window";q=${rate.window.limit};w=${rate.window.window}`);
		current.push(`"window";r=${rate.window.remaining};t=${untilReset(rate.window.reset, nowSec)}`);
	}
	policies.push(`"burst";q=${rate.burst.limit};w=1`);
	current.push(`"burst";r=${rate.burst.remaining};t=${untilReset(rate.burst.reset, nowSec)}`);
	// A refusal that ends before the window does was the burst's (a window refusal waits for the window's reset).
	const main = refusedUntil !== undefined && rate.window && refusedUntil < rate.window.reset ? rate.burst : rate;
	return {
		"X-RateLimit-Limit": String(main.limit),
		"X-RateLimit-Remaining": String(main.remaining),
		"X-RateLimit-Reset": String(main.reset),
		"RateLimit-Policy": policies.join(", "),
		RateLimit: current.join(", "),
	};
}

/**
 * Stage: the key's limiter. Strict (the default): one call to the key's authority, which
 * is both the rate limiter and the last word on revocation (none when this isolate
 * already knows a sharded key is out of budget). Leased: a token this isolate holds,
 * else one call for a batch (src/limits/leased.ts). An access token counted by its
 * grants object: one call there, which also checks the grant (src/limits/grants-limiter.ts).
 * Any failure there fails closed, unless the tier chose otherwise (never for that token:
 * its grant would pass unchecked).
 */
export const rateLimit: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const principal = principalOf(c);
	const limits = effectiveLimits(principal, c.get("api"), c.get("route"));
	if (!limits) {
		logEvent("tier_missing", { keyId: principal.id, tier: principal.tier });
		return reject(c, "config_invalid");
	}
	let result: LimitDecision;
	try {
		const keys = authority(c.env);
		// Three implementations of one interface: this stage cannot tell them apart.
		const limiter: Limiter<LimitDecision> = principal.grantCounter
			? grantsLimiter(c.env, principal.grantCounter)
			: limits.consistency === "leased"
				? leasedLimiter(keys, (work) => c.executionCtx.waitUntil(work))
				: strictLimiter(keys);
		result = await limiter.check(principal, limits);
	} catch (e) {
		// Closed by default: with the authority unreachable, neither the limit nor a fresh
		// revocation can be checked. A tier may choose availability instead (Kong, Envoy and
		// Zuplo fail open by default); then the request passes uncounted and says so. Not a
		// token whose grant this call was to check: that would be an unchecked pass.
		const open = limits.onLimiterError === "open" && !principal.grantCounter;
		logEvent(open ? "limiter_bypassed" : "limiter_failed", { keyId: principal.id, error: String(e) });
		if (!open) return reject(c, "limiter_failed");
		c.set("limiterBypassed", true);
		return next();
	}
	if (!result.ok) {
		if (result.reason === "rate_limited") {
			const headers = rateLimitHeaders(result.rate, Math.floor(Date.now() / 1000), result.retryAt);
			return reject(c, "rate_limited", { retryAfter: result.retryAfter, headers });
		}
		// The same answer the verifier gives when it checks the grant itself: invalid_api_key.
		if (result.reason === "grant_revoked") return reject(c, "grant_revoked");
		// Revoked, deleted and expired are final: later requests in this isolate skip the call.
		keyCache.markDead(principal.id, result.reason);
		return reject(c, deadReason(result.reason));
	}
	c.set("rate", result.rate);
	if (result.graceEndsAt !== null && result.deprecatedAt !== null) {
		c.set("deprecation", { at: result.deprecatedAt, sunset: result.graceEndsAt });
	}
	await next();
};
