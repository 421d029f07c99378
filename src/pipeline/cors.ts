import type { MiddlewareHandler } from "hono";
import { isPublic, type GatewayEnv } from "./context";
import { credentialHeaders } from "../credentials/extract";

/**
 * CORS for the key types the config names (typically publishable keys used from a
 * browser). A preflight carries no credential, so it is answered for any allowed
 * origin; the real response then carries Access-Control-Allow-Origin only when the
 * key's type is listed. A browser calling with a secret key therefore gets a CORS
 * error, and the secret key never works from a page.
 */
export const cors: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const settings = c.get("api").cors;
	const origin = c.req.header("Origin");
	if (!settings || !origin) return next();
	// `Origin: null` (sandboxed iframes, file: pages, redirects) can be sent by any site, so
	// it is never allowed, not even by "*" (which keygate answers by reflecting the origin).
	const allowed = origin !== "null" && (settings.allowOrigins.includes("*") || settings.allowOrigins.includes(origin));
	if (c.req.method === "OPTIONS" && c.req.header("Access-Control-Request-Method")) {
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
	const keyType = c.get("principal")?.keyType;
	const publicRoute = isPublic(c);
	if (allowed && (publicRoute || (keyType != null && settings.keyTypes.includes(keyType)))) {
		c.res.headers.set("Access-Control-Allow-Origin", origin);
		c.res.headers.set(
			"Access-Control-Expose-Headers",
			"X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, RateLimit, RateLimit-Policy, Retry-After, Deprecation, Sunset",
		);
		c.res.headers.append("Vary", "Origin");
	}
};
