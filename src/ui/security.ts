import type { MiddlewareHandler } from "hono";

/**
 * The headers every console and portal response carries, errors and redirects included.
 * The CSP allows only this Worker's own hashed CSS and JS: no inline script or style, so
 * an injected tag could neither run nor restyle the page even if escaping failed.
 */
export const UI_HEADERS: Record<string, string> = {
	"Content-Security-Policy":
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"Referrer-Policy": "no-referrer",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control": "no-store",
};

export const uiHeaders: MiddlewareHandler = async (c, next) => {
	await next();
	for (const [name, value] of Object.entries(UI_HEADERS)) {
		// The static assets set their own long cache lifetime.
		if (name === "Cache-Control" && c.res.headers.has("Cache-Control")) continue;
		c.res.headers.set(name, value);
	}
};

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Pure: may this request change anything? The session cookie is SameSite=Strict, and on
 * top of that every unsafe method must say it came from this origin: `Sec-Fetch-Site:
 * same-origin` (every current browser sends it), or failing that an `Origin` equal to
 * ours. A request with neither is refused: a form post from another site, or a client
 * that hides where it comes from.
 */
export function sameOrigin(method: string, url: string, headers: Headers): boolean {
	if (SAFE.has(method.toUpperCase())) return true;
	const site = headers.get("Sec-Fetch-Site");
	if (site !== null) return site === "same-origin";
	const origin = headers.get("Origin");
	return origin !== null && origin === new URL(url).origin;
}
