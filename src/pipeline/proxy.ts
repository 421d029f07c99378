import type { MiddlewareHandler } from "hono";
import { holdsCredential } from "../credentials/classify";
import type { Principal } from "../credentials/principal";
import { discardRest } from "../util/body";
import { logEvent } from "../util/log";
import { isPublic, reject, type GatewayContext, type GatewayEnv } from "./context";
import { IDENTITY_PREFIX, prepareBody, signIdentity, type PreparedBody } from "./identity";
import { rateLimitHeaders } from "./rate-limit";
import { bodyHasMethodOverride, formType, isJsonType, METHOD_OVERRIDE_HEADERS, normalizedFieldName } from "./request-shape";

/** True when the console signs operators in with Cloudflare Access (`admin.access`): their Access JWT is a console credential. */
const consoleUsesAccess = (c: GatewayContext): boolean => c.get("config").config.admin?.access !== undefined;

/** Every cookie keygate sets (`__Host-kg_session`, `__Host-kg_portal`, `__Host-kg_oauth`) starts so. */
export const KEYGATE_COOKIE_PREFIX = "__Host-kg_";

/** RFC 9110 §7.6.1: connection-specific fields a proxy must not forward. */
const HOP_BY_HOP = [
	"connection",
	"keep-alive",
	"proxy-authenticate",
	"proxy-authorization",
	"proxy-connection",
	"te",
	"trailer",
	"transfer-encoding",
	"upgrade",
];

/** RFC 9110 §5.1: a field name is a token. */
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Removes hop-by-hop fields, including any the Connection header names (a name that is no field name names nothing). */
export function stripHopByHop(headers: Headers): void {
	const listed = headers.get("Connection");
	if (listed) {
		for (const raw of listed.split(",")) {
			const name = raw.trim();
			if (FIELD_NAME.test(name)) headers.delete(name);
		}
	}
	for (const name of HOP_BY_HOP) headers.delete(name);
}

function publicEnvironment(environments: Record<string, { hosts?: string[] }>, host: string): string {
	const names = Object.keys(environments);
	return names.find((n) => environments[n]!.hosts?.includes(host)) ?? names[0]!;
}

function originUrl(base: string, incoming: URL): URL {
	const target = new URL(base);
	const basePath = target.pathname.endsWith("/") ? target.pathname.slice(0, -1) : target.pathname;
	target.pathname = basePath + incoming.pathname;
	target.search = incoming.search;
	return target;
}

/**
 * Builds the request the origin sees: method, path, query and body unchanged (the body
 * is streamed, never buffered); the credential, hop-by-hop fields and every client-sent
 * X-Keygate-* field removed; then, for a key-authenticated request, keygate's own
 * identity fields and their signature.
 */
async function originRequest(
	c: GatewayContext,
	origin: string,
	principal: Principal | undefined,
): Promise<{ url: URL; init: RequestInit } | { refused: Response }> {
	const incoming = c.req.raw;
	const url = originUrl(origin, c.get("url"));
	const headers = new Headers(incoming.headers);
	stripHopByHop(headers);
	headers.delete("host");
	// keygate answers `Expect: 100-continue` itself (by reading on); forwarded, an origin's
	// interim 100 would come back as if it were the response.
	headers.delete("expect");
	// A digest the client made is never forwarded: only keygate's, which its signature covers.
	headers.delete("content-digest");
	// keygate's own console and portal cookies ride on every same-site request (Path=/): never the origin's.
	// So, when the console signs in with Cloudflare Access, does the operator's Access JWT
	// (the CF_Authorization cookie, the Cf-Access-Jwt-Assertion header): it would sign the origin in as the operator.
	const cookie = headers.get("cookie");
	const accessSeen = headers.has("cf-access-jwt-assertion") || cookie?.includes("CF_Authorization") === true;
	const consoleAccess = accessSeen && consoleUsesAccess(c);
	if (consoleAccess) headers.delete("cf-access-jwt-assertion");
	if (cookie && (cookie.includes(KEYGATE_COOKIE_PREFIX) || consoleAccess)) {
		// Two Cookie lines reach here joined by ", " (Headers.get): a comma before a keygate cookie
		// parts pairs too, or the second line's rode through in the first's last pair (a regression
		// pass); a comma inside another cookie's value (`prefs=a,b`) stays (a review).
		const kept = cookie
			.split(/;|,(?=\s*(?:__Host-kg_|CF_Authorization=))/)
			.filter((pair) => {
				const p = pair.trim();
				return !p.startsWith(KEYGATE_COOKIE_PREFIX) && !(consoleAccess && p.startsWith("CF_Authorization="));
			})
			.join(";")
			.trim();
		if (kept) headers.set("cookie", kept);
		else headers.delete("cookie");
	}
	// Names as CGI, WSGI and PHP read them (any case, `_` the same as `-`), so
	// `X_Keygate_Key_Id` or `X_API_Key` cannot slip past as a different field.
	const credentialNames = c.get("api").credentialFieldNames;
	const stripOverrides = c.get("api").methodOverride === "strip";
	for (const [name, value] of [...headers]) {
		const normal = normalizedFieldName(name);
		if (
			normal.startsWith(IDENTITY_PREFIX) ||
			credentialNames.has(normal) ||
			(stripOverrides && METHOD_OVERRIDE_HEADERS.includes(normal)) ||
			// A credential in any other header (say `Authorization` on an API that takes X-API-Key) is never forwarded either.
			holdsCredential(value, c.get("api"))
		)
			headers.delete(name);
	}
	const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
	let body: PreparedBody["body"] = hasBody ? incoming.body : null;
	// Rails, Laravel and Symfony take a POST form's `_method` field as the method: keygate
	// authorised a POST, so a form POST is read whole (up to signing.maxBodyBytes) and one
	// carrying an override, or too large to read, is refused, never forwarded.
	const contentType = incoming.headers.get("content-type");
	const post = incoming.method === "POST" && body !== null;
	const form = post ? formType(contentType) : undefined;
	// Laravel also reads a JSON body's top-level `_method`; one too large to read streams through unchecked (README).
	const json = post && isJsonType(contentType);
	let contentDigest: string | undefined;
	if (form) {
		// A compressed body's fields cannot be read here, and some origins (Express's body-parser) inflate it: refused before it is read.
		const encoding = (incoming.headers.get("content-encoding") ?? "").trim().toLowerCase();
		if (encoding !== "" && encoding !== "identity")
			return refusal(c, "A form POST with a Content-Encoding cannot be checked for a _method field, so it is not forwarded.");
	}
	if (principal || form || json) {
		// The signature covers the body's digest when keygate could read it whole (up to
		// signing.maxBodyBytes); a larger body streams through with no Content-Digest.
		const prepared = await prepareBody(body, incoming.headers.get("content-length"), c.get("api").signing.maxBodyBytes);
		body = prepared.body;
		contentDigest = prepared.contentDigest;
		if (form) {
			if (!(body instanceof Uint8Array)) {
				// Its start was read: the rest is read and dropped, or the connection is left broken (util/body.ts).
				// One its Content-Length refused is still untouched, and stays so.
				if (body && body !== incoming.body) await discardRest(body);
				return refusal(
					c,
					`A form POST over ${c.get("api").signing.maxBodyBytes} bytes (signing.maxBodyBytes) cannot be checked for a _method field, so it is not forwarded.`,
				);
			}
			if (bodyHasMethodOverride(form, body))
				return refusal(
					c,
					"A _method field in a form body is a method override keygate does not forward: send the request with the method it means.",
				);
		}
		if (json && body instanceof Uint8Array && bodyHasMethodOverride("json", body))
			return refusal(
				c,
				"A _method field in a JSON body is a method override keygate does not forward: send the request with the method it means.",
			);
	}
	if (principal) {
		if (contentDigest) headers.set("Content-Digest", contentDigest);
		const signed = await signIdentity(c.env.SIGNING_SECRET, principal, incoming.method, url.pathname + url.search, contentDigest);
		for (const [name, value] of Object.entries(signed)) headers.set(name, value);
	}
	return { url, init: { method: incoming.method, headers, body, redirect: "manual" } };
}

/**
 * Would a service worker registered from this script (`Service-Worker: script`, sent by
 * the browser when it fetches one) control the console or the portal? Its scope is at most
 * the script's folder, or the origin's `Service-Worker-Allowed`; a scope is a prefix of the
 * URLs it controls. Such a worker, installed by a page the origin serves, would sit between
 * the operator and the console and read every page, a new key's plaintext included.
 */
export function coversDashboard(scriptUrl: string, allowed: string | null): boolean {
	let scope: string;
	try {
		scope = new URL(allowed ?? "./", scriptUrl).pathname;
	} catch {
		return false; // an unreadable Service-Worker-Allowed: the browser refuses the registration itself
	}
	return "/_keygate/".startsWith(scope) || scope.startsWith("/_keygate/");
}

/**
 * Stage, right after the API is chosen: a service worker script (the browser says so) whose
 * folder takes in the console and the portal is never fetched, with or without a key, so
 * the answer is the same 400 whatever the route asks (found by a peer's suite: a root
 * `/sw.js` got the route's 401 first, where the README promised 400).
 */
export const serviceWorkerGuard: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	if (c.req.raw.headers.get("service-worker") !== "script" || !coversDashboard(c.req.url, null)) return next();
	logEvent("service_worker_refused", { path: c.get("url").pathname });
	return reject(c, "invalid_request", {
		message: "A service worker whose scope would take in keygate's console and portal is not served through keygate.",
	});
};

/**
 * The origin's fields that would open the console to its pages (README "Pages the origin
 * serves"), made harmless on every proxied answer:
 * - a `Service-Worker-Allowed` that would widen a worker over `/_keygate/` is dropped, on
 *   any answer (a script first fetched plainly may be cached with it and only revalidated
 *   when registered), so the browser keeps the worker to its script's folder;
 * - `Cross-Origin-Opener-Policy: same-origin` becomes `same-origin-allow-popups`: a page
 *   with the console's own policy would share a browsing context group with the console
 *   window it opens, and could reach into it. Under `same-origin-allow-popups` it keeps
 *   its own isolation from other sites (found by a review).
 */
function guardDashboard(headers: Headers, url: string): void {
	const allowed = headers.get("service-worker-allowed");
	if (allowed !== null && coversDashboard(url, allowed)) headers.delete("service-worker-allowed");
	const coop = headers.get("cross-origin-opener-policy");
	// Each of several fields (joined with commas) counts: a browser may read any one of them.
	if (coop !== null && coop.split(",").some((field) => field.split(";")[0]!.trim().toLowerCase() === "same-origin"))
		headers.set("cross-origin-opener-policy", "same-origin-allow-popups");
	// `Clear-Site-Data: "cookies"` (or `"*"`) would clear the console's and the portal's session cookies too (found by a
	// probe): the origin's other kinds of data stay its to clear.
	const clear = headers.get("clear-site-data");
	if (clear !== null) {
		const kinds = clear.split(",").map((k) => k.trim());
		const is = (k: string, kind: string) => k.toLowerCase() === kind;
		if (kinds.some((k) => is(k, '"cookies"') || is(k, '"*"'))) {
			const kept = kinds.flatMap((k) => (is(k, '"*"') ? ['"cache"', '"storage"', '"executionContexts"'] : is(k, '"cookies"') ? [] : [k]));
			if (kept.length > 0) headers.set("clear-site-data", [...new Set(kept)].join(", "));
			else headers.delete("clear-site-data");
		}
	}
}

/** Idempotent methods keygate forwards without a body (RFC 9110 §9.2.2). */
const RETRYABLE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
/** Retries after a connection failure, in this isolate (each is also logged as origin_retried). */
let originRetries = 0;
export const originRetryCount = () => originRetries;

/** Final stage: forward to the origin for the caller's environment and stream the answer back. */
export const proxy: MiddlewareHandler<GatewayEnv> = async (c) => {
	const principal = isPublic(c) ? undefined : c.get("principal");
	// A public route goes to the environment that claims this host, else to the first one.
	const environment = principal?.environment ?? publicEnvironment(c.get("api").environments, c.get("url").hostname);
	const origin = c.get("api").environments[environment]!.origin;
	if (principal && !c.env.SIGNING_SECRET) {
		logEvent("secret_missing", { name: "SIGNING_SECRET" });
		return refuse(c, "secret_missing");
	}
	// The timeout covers the wait for the origin's response headers only; once they are
	// here the body streams through. If the origin breaks off mid-body the stream errors
	// and the client's transfer fails: a partial body is never passed off as complete.
	const prepared = await originRequest(c, origin, principal);
	if ("refused" in prepared) return prepared.refused;
	const { url, init } = prepared;
	const abort = new AbortController();
	let timedOut = false;
	const timer = setTimeout(() => {
		timedOut = true;
		abort.abort();
	}, c.get("api").originTimeoutMs);
	init.signal = abort.signal;
	let upstream: Response;
	// A request without a body may go twice: an origin that closes an idle keep-alive
	// connection as keygate reuses it fails the first try before any response byte,
	// and the origin never acted on it. Never a request with a body (the origin may have
	// read it), never after the timeout, never more than once.
	const retryable = RETRYABLE_METHODS.has(c.req.method) && init.body === null;
	try {
		try {
			upstream = await fetch(url, init);
		} catch (e) {
			if (!retryable || timedOut) throw e;
			originRetries++;
			logEvent("origin_retried", { origin, error: String(e), retries: originRetries });
			// Bodiless, so the same init makes the same request (nothing was consumed).
			upstream = await fetch(url, init);
		}
	} catch (e) {
		logEvent(timedOut ? "origin_timeout" : "origin_unreachable", { origin, error: String(e) });
		return refuse(c, timedOut ? "origin_timed_out" : "origin_unreachable");
	} finally {
		clearTimeout(timer);
	}
	if (upstream.status < 200 || upstream.status > 599) {
		// An interim (1xx) or impossible status is no answer to pass on.
		logEvent("origin_bad_status", { origin, status: upstream.status });
		return refuse(c, "origin_unreachable");
	}
	const response = new Response(upstream.body, upstream);
	stripHopByHop(response.headers);
	guardDashboard(response.headers, c.req.url);
	// An origin does not set (or clear) keygate's own cookies: they are the console's and the portal's sessions.
	if (response.headers.has("set-cookie")) {
		const all = response.headers.getSetCookie();
		if (all.some((line) => line.trim().startsWith(KEYGATE_COOKIE_PREFIX))) {
			response.headers.delete("set-cookie");
			for (const line of all) if (!line.trim().startsWith(KEYGATE_COOKIE_PREFIX)) response.headers.append("set-cookie", line);
		}
	}
	return withAnswerFields(c, response);
};

/** A refusal made after the request was counted (the origin failed): it reports the limits it spent, as a pass does. */
const refuse = (c: GatewayContext, reason: Parameters<typeof reject>[1]) => withAnswerFields(c, reject(c, reason));

/** A counted request refused before it was forwarded (a body keygate will not pass on), in originRequest's answer. */
const refusal = (c: GatewayContext, message: string) => ({ refused: withAnswerFields(c, reject(c, "invalid_request", { message })) });

/** The fields every answer to a counted request carries: its rate limits, a bypassed limiter, a rotated key's deprecation. */
function withAnswerFields(c: GatewayContext, response: Response): Response {
	const rate = c.get("rate");
	if (rate)
		for (const [name, value] of Object.entries(rateLimitHeaders(rate, Math.floor(Date.now() / 1000)))) response.headers.set(name, value);
	if (c.get("limiterBypassed")) response.headers.set("X-Keygate-Limiter", "bypassed");
	const deprecation = c.get("deprecation");
	if (deprecation) {
		// RFC 9745 (Deprecation, a structured date) and RFC 8594 (Sunset, an HTTP-date).
		response.headers.set("Deprecation", `@${Math.floor(deprecation.at / 1000)}`);
		response.headers.set("Sunset", new Date(deprecation.sunset).toUTCString());
	}
	return response;
}
