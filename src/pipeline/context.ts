import type { Context } from "hono";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import { failureThrottle } from "../credentials/brute-force";
import type { Classified } from "../credentials/classify";
import type { Principal } from "../credentials/principal";
import type { Bindings } from "../env";
import type { Reason } from "../errors/catalogue";
import { renderError, type ErrorContext, type ErrorDetails } from "../errors/render";
import type { RateInfo } from "../limits/window";

export type { Bindings };

/**
 * What each stage may rely on. The first four are set by selectApiStage for every
 * request that reaches the stages after it; the rest only on routes that need a key,
 * so they are optional and read through `principalOf`.
 */
export interface Variables {
	/** The request URL, parsed once, with the canonical path. */
	url: URL;
	api: CompiledApi;
	errors: ErrorContext;
	route: CompiledRoute | undefined;
	/** The credential as the classifier saw it (credential stage). */
	presented: Classified | undefined;
	/** Who is calling (verify stage). Unset on public routes. */
	principal: Principal | undefined;
	/** The caller's limits as the authority counted them (rate-limit stage). */
	rate: RateInfo | undefined;
	/** Set when the key's authority failed and the tier fails open. */
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

/**
 * The principal, for stages that only run after the verify stage. Reaching one without
 * it is a wiring bug: it throws, and the app's error handler fails closed (503).
 */
export function principalOf(c: GatewayContext): Principal {
	const principal = c.var.principal;
	if (!principal) throw new Error("a stage that needs a principal ran before the verify stage");
	return principal;
}

/** The client's address as Cloudflare reports it; undefined when absent (never in production). */
export function clientIp(c: GatewayContext): string | undefined {
	return c.req.header("CF-Connecting-IP") || undefined;
}

/** Refuses a bad credential and counts it against the client's address (see credentials/brute-force.ts). */
export function rejectCredential(c: GatewayContext, reason: Reason): Response {
	const ip = clientIp(c);
	if (ip) failureThrottle.recordFailure(ip, Date.now(), c.var.api.bruteForce.windowSeconds);
	return reject(c, reason);
}
