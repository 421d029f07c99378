import type { MiddlewareHandler } from "hono";
import { isPublic, type GatewayContext, type GatewayEnv } from "./context";
import { credentialHeaders } from "../credentials/extract";

/**
 * CORS for the key types the config names (typically publishable keys used from a
 * browser). A preflight carries no credential, so it is answered for any allowed
 * origin; the real response then carries Access-Control-Allow-Origin only when the
 * key's type is listed (`readableFor`). A browser calling with a secret key therefore gets a CORS
 * error, and the secret key never works from a page, whatever CORS fields the origin
 * sends (they are removed).
 */
/** The response fields that let a page read an answer: with `cors` configured, keygate alone decides them. */
const GRANTING_FIELDS = ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"];

export const cors: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const settings = c.get("api").cors;
	if (!settings) return next();
	const origin = c.req.header("Origin");
	// `Origin: null` (sandboxed iframes, file: pages, redirects) can be sent by any site, so
	// it is never allowed, not even by "*" (which keygate answers by reflecting the origin).
	const allowed =
		origin !== undefined && origin !== "null" && (settings.allowOrigins.includes("*") || settings.allowOrigins.includes(origin));
	if (origin !== undefined && c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method")) {
		if (!allowed) return new Response(null, { status: 204, headers: { Vary: "Origin" } });
		return new Response(null, {
			status: 204,
			headers: {
				"Access-Control-Allow-Origin": origin,
				"Access-Control-Allow-Methods": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS",
				"Access-Control-Allow-Headers": (settings.allowHeaders ?? ["Content-Type", ...credentialHeaders(c.get("api").credentials)]).join(
					", ",
				),
				"Access-Control-Max-Age": String(settings.maxAge),
				Vary: "Origin",
			},
		});
	}
	await next();
	// The origin's own CORS fields would let a page read a secret key's answer, or pair a
	// reflected "*" with credentials: with `cors` configured they never pass. keygate grants
	// no credentialed CORS.
	for (const name of GRANTING_FIELDS) c.res.headers.delete(name);
	if (allowed && (isPublic(c) || readableFor(c, settings.keyTypes))) {
		c.res.headers.set("Access-Control-Allow-Origin", origin!);
		c.res.headers.set(
			"Access-Control-Expose-Headers",
			"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After, Deprecation, Sunset",
		);
		c.res.headers.append("Vary", "Origin");
	}
};

/**
 * Whether a page may read this answer to a key-checked route: the caller's key type is
 * listed. Before keygate has the key's record (an unknown or deleted key), the type its
 * prefix names decides, so a page reads a deleted publishable key's 401 as it reads a
 * revoked one's (found by a seed-page pass: a browser app with a mistyped or deleted
 * publishable key met a CORS error instead of the page's 401). With no key to read at
 * all (none sent, or a malformed one) the answer is keygate's refusal and says only why:
 * readable too. An OAuth token or a JWT has no key type, valid or refused: never.
 */
function readableFor(c: GatewayContext, keyTypes: string[]): boolean {
	const principal = c.get("principal");
	const presented = c.get("presented");
	const keyType = principal ? principal.keyType : presented?.kind === "key" ? presented.key.type : presented ? null : undefined;
	return keyType === undefined || (keyType !== null && keyTypes.includes(keyType));
}
