import type { Context, MiddlewareHandler } from "hono";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { secretsEqual, sha256Hex } from "../keys/crypto";

/**
 * The headers every console and portal response carries, errors and redirects included.
 * The CSP allows only this Worker's own hashed CSS and JS: no inline script or style, so
 * an injected tag could neither run nor restyle the page even if escaping failed.
 */
export const UI_HEADERS: Record<string, string> = {
	"Content-Security-Policy":
		"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"Referrer-Policy": "same-origin",
	"X-Content-Type-Options": "nosniff",
	"Cache-Control": "no-store",
	// A page of the API's own origin that opens the console in a window gets no handle on it
	// (a browsing context group of its own): see pageNavigation.
	"Cross-Origin-Opener-Policy": "same-origin",
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

/**
 * Pure: is this request the browser loading a page, not a script fetching one? The
 * console and the portal share their origin with every path keygate forwards, so a page
 * the origin serves through keygate (a docs page, an uploaded file, an XSS) is "this
 * origin": its `fetch()` would carry the session cookie and `Sec-Fetch-Site: same-origin`,
 * and it could read what it asked for, a new key's plaintext included. Its script cannot
 * make a navigation, nor forge `Sec-Fetch-Mode` and `Sec-Fetch-Dest`: so a request that
 * carries them must be a top-level navigation (`navigate`, `document`). A client that sends
 * no Sec-Fetch-Dest (curl, Node's fetch, a browser too old for it) is let through: it holds
 * no session the origin's page could lend it. (A window that page opens gets no handle, COOP above.)
 */
export function pageNavigation(headers: Headers): boolean {
	const dest = headers.get("Sec-Fetch-Dest");
	// A browser sends Sec-Fetch-Dest with every request (a script's fetch says "empty"); Node's
	// fetch sends Sec-Fetch-Mode: cors alone, and is a client like curl, not a page (found by
	// this repo's own end-to-end test: every Node client's OAuth sign-in was refused).
	if (dest === null) return true;
	const mode = headers.get("Sec-Fetch-Mode");
	return dest === "document" && (mode === null || mode === "navigate");
}

/**
 * A form that cannot be read (a multipart body without its boundary, say) is a 400 that
 * changes nothing, never a 503. It is parsed once here; the handlers' `parseBody` reuses
 * the FormData Hono keeps for the request. Mounted after the session check, and on the
 * sign-in and portal-entry routes, whose forms are what they check.
 */
export const readableForm: MiddlewareHandler = async (c, next) => {
	if (!SAFE.has(c.req.method)) {
		try {
			await c.req.parseBody();
		} catch {
			return renderError("invalid_request", DEFAULT_ERROR_CONTEXT, { message: "The form's body could not be read." });
		}
	}
	await next();
};

/** The form field every console and portal form that changes something carries (formToken). */
export const FORM_TOKEN_FIELD = "kg_form";

/**
 * The session's form token: a hash of the admin token and what the session is (its cookie's
 * token, or the Access identity). The origin's pages share keygate's origin, so a form
 * they submit is a same-origin navigation with the session's cookie; it passes the
 * navigation and same-origin rules. It does not have this token: the origin's script can
 * read no console page (pageNavigation, COOP), and the cookie is HttpOnly.
 */
export const formToken = (adminToken: string, session: string) => sha256Hex(`keygate form\n${adminToken}\n${session}`);

/** Every form of a page that changes something (`<form … method="post" …>`), to carry the token. */
const POST_FORM = /<form\b[^>]*\bmethod="post"[^>]*>/gi;

/**
 * Requires the session's form token on every unsafe request (403 and nothing done
 * without it), and writes it into every POST form of the HTML pages it answers, and into
 * a `<meta name="kg-form">` for the script, which turns a search holding a key into a POST.
 * Mounted after the session check and readableForm. Found by a review: an origin's page
 * could submit the console's forms.
 */
export function formTokens<E extends { Bindings: { ADMIN_TOKEN?: string } }>(
	session: (c: Context<E>) => string,
	refused: (c: Context<E>) => Response | Promise<Response>,
): MiddlewareHandler<E> {
	return async (c, next) => {
		const expected = await formToken(c.env.ADMIN_TOKEN ?? "", session(c));
		if (!SAFE.has(c.req.method)) {
			const sent = (await c.req.parseBody())[FORM_TOKEN_FIELD];
			if (typeof sent !== "string" || !(await secretsEqual(sent, expected))) return refused(c);
		}
		await next();
		if (!(c.res.headers.get("Content-Type") ?? "").startsWith("text/html")) return;
		const html = await c.res.text();
		const field = `<input type="hidden" name="${FORM_TOKEN_FIELD}" value="${expected}"/>`;
		const marked = html.replace(POST_FORM, (tag) => tag + field).replace("</head>", `<meta name="kg-form" content="${expected}"/></head>`);
		const res = new Response(marked, c.res);
		res.headers.delete("Content-Length");
		c.res = undefined;
		c.res = res;
	};
}
