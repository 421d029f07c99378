import type { Context } from "hono";
import type { CompiledApi, CompiledConfig } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import { addressKey, failureThrottle, type FailureThrottle } from "../credentials/brute-force";
import type { Classified } from "../credentials/classify";
import type { Principal } from "../credentials/principal";
import { clientAddress, type Bindings } from "../env";
import type { Reason } from "../errors/catalogue";
import { renderError, type ErrorDetails } from "../errors/render";
import type { RateInfo } from "../limits/window";

export type { Bindings };

/**
 * What each stage may rely on. The first five are set by selectApiStage for every
 * request that reaches the stages after it; the rest only on routes that need a key,
 * so they are optional and read through `principalOf`.
 */
export interface Variables {
	/** The valid config this request is served by (loaded once per isolate). */
	config: CompiledConfig;
	/** The request URL, parsed once, with the canonical path. */
	url: URL;
	api: CompiledApi;
	route: CompiledRoute | undefined;
	/** The method routes and policy decide on: the request's, or its override when the API honours overrides. */
	method: string;
	/** With an honoured override, the method the request was sent with and its route rule: policy must allow it as well. */
	sentAs: { method: string; route: CompiledRoute | undefined } | undefined;
	/**
	 * Rules of the path's twins that differ from `route`: its format-suffix twins
	 * (`/v1/admin.json` read as `/v1/admin`, as Rails' `(.:format)` and Spring's suffix
	 * matching read it) and its folded twins (`/v1/%E2%84%AAeys` read as `/v1/keys`,
	 * routes.ts). Policy must allow each as well. Unset when there are none, and for an
	 * exact public rule.
	 */
	twins: { method: string; route: CompiledRoute | undefined }[] | undefined;
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

/**
 * True when the request needs no key: its route rule is public, and so are the rule of the
 * method it was sent with when it carries an honoured override and the rules of its
 * format-suffix and folded twins.
 */
export function isPublic(c: GatewayContext): boolean {
	const sent = c.get("sentAs");
	return (
		c.get("route")?.public === true &&
		(sent === undefined || sent.route?.public === true) &&
		// `/docs/internal.json` under a public `/docs/**` is still `/docs/internal` to Rails: its rule decides.
		(c.get("twins")?.every((t) => t.route?.public === true) ?? true)
	);
}

/**
 * With `bruteForce.headers` ("Every response includes X-RateLimit-*"), an answer that
 * reports no key's limits reports this client address's failed-credential budget in
 * `throttle` instead (README "Rate limits"). `res` must have mutable headers.
 */
export function withAddressBudget(c: GatewayContext, res: Response, throttle: FailureThrottle = failureThrottle, prefix = ""): Response {
	const api = c.get("api");
	if (!api.bruteForce.headers || res.headers.has("X-RateLimit-Limit")) return res;
	const ip = clientIp(c);
	if (!ip) return res;
	const { maxFailures, windowSeconds } = api.bruteForce;
	const budget = throttle.budget(prefix + addressKey(api.name, ip), Date.now(), maxFailures, windowSeconds);
	res.headers.set("X-RateLimit-Limit", String(budget.limit));
	res.headers.set("X-RateLimit-Remaining", String(budget.remaining));
	res.headers.set("X-RateLimit-Reset", String(budget.reset));
	return res;
}

/** Ends the request with the documented error for `reason`, in this API's style. */
export function reject(c: GatewayContext, reason: Reason, details?: ErrorDetails): Response {
	const res = renderError(reason, c.get("api").errorContext, details);
	// A 401 has no key to report on, nor has a refusal made before the key was known (a 400 for the path, say).
	return res.status === 401 || c.get("principal") === undefined ? withAddressBudget(c, res) : res;
}

/**
 * The principal, for stages that only run after the verify stage. Reaching one without
 * it is a wiring bug: it throws, and the app's error handler fails closed (503).
 */
export function principalOf(c: GatewayContext): Principal {
	const principal = c.get("principal");
	if (!principal) throw new Error("a stage that needs a principal ran before the verify stage");
	return principal;
}

/** The client's address (env.ts `clientAddress`); undefined when unknown (never in production). */
export function clientIp(c: GatewayContext): string | undefined {
	return clientAddress(c.req.raw.headers, c.env);
}

/** Refuses a bad credential and counts it against the client's address (see credentials/brute-force.ts). */
export function rejectCredential(c: GatewayContext, reason: Reason): Response {
	const ip = clientIp(c);
	const api = c.get("api");
	if (ip) failureThrottle.recordFailure(addressKey(api.name, ip), Date.now(), api.bruteForce.windowSeconds);
	return reject(c, reason);
}
