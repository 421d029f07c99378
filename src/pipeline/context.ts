import type { Context } from "hono";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Reason } from "../errors/catalogue";
import { renderError, type ErrorContext, type ErrorDetails } from "../errors/render";
import type { ParsedKey } from "../keys/format";
import type { StoredKey } from "../keys/record";
import type { RateInfo } from "../limiter/window";
import { failureThrottle } from "./brute-force";

export type Bindings = Env & {
	/** Optional: the config's JSON, replacing the bundled keygate.config.json. */
	KEYGATE_CONFIG?: unknown;
};

export interface Variables {
	/** The request URL, parsed once. */
	url: URL;
	api: CompiledApi;
	errors: ErrorContext;
	route: CompiledRoute | undefined;
	credential: ParsedKey;
	key: StoredKey;
	rate: RateInfo | undefined;
	/** Set when the key's Durable Object failed and the tier fails open. */
	limiterBypassed: boolean | undefined;
	/** Set while a rotated key is in its grace period (Unix ms). */
	deprecation: { at: number; sunset: number } | undefined;
}

export type GatewayEnv = { Bindings: Bindings; Variables: Variables };
export type GatewayContext = Context<GatewayEnv>;

/** Ends the request with the documented error for `reason`, in this API's style. */
export function reject(c: GatewayContext, reason: Reason, details?: ErrorDetails): Response {
	return renderError(reason, c.var.errors, details);
}

/** The client's address as Cloudflare reports it; undefined when absent (never in production). */
export function clientIp(c: GatewayContext): string | undefined {
	return c.req.header("CF-Connecting-IP") || undefined;
}

/** Refuses a bad credential and counts it against the client's address (see brute-force.ts). */
export function rejectCredential(c: GatewayContext, reason: Reason): Response {
	const ip = clientIp(c);
	if (ip) failureThrottle.recordFailure(ip, Date.now(), c.var.api.bruteForce.windowSeconds);
	return reject(c, reason);
}
