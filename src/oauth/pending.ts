import type { CompiledApi } from "../config/load";
import { prefixKey } from "../config/schema";
import type { GatewayContext } from "../pipeline/context";
import { base64url, fromBase64url } from "./access-token";
import { getClient } from "./clients";
import { derivedKey } from "../keys/crypto";

/**
 * What both login modes share: the pending authorization request sealed (HMAC) into the
 * `__Host-` cookie for 10 minutes, the pages and redirects of the authorization endpoint,
 * its paths, and the consent page shown once a user signed in.
 */

/** Under keygate's cookie prefix (KEYGATE_COOKIE_PREFIX), so it never reaches the origin and an origin cannot set it (found by a probe). */
export const COOKIE = "__Host-kg_oauth";
export const PENDING_TTL_S = 600;
const encoder = new TextEncoder();

export interface Pending {
	/** client id, redirect uri, scopes, state, code challenge, nonce, expiry (Unix s) */
	cid: string;
	ru: string;
	sc: string[];
	st: string | null;
	cc: string | null;
	n: string;
	exp: number;
	/** oidc mode: SHA-256 of the `state` sent to the provider, binding it to this cookie. */
	os?: string;
	/** Set once the user signed in (the consent ticket). */
	sub?: string;
}

const macKey = (secret: string, purpose: string): Promise<CryptoKey> => derivedKey(secret, `keygate oauth ${purpose} v1`);

/**
 * A value readable by anyone and made only with the secret: `<base64url JSON>.<base64url MAC>` under a key derived for
 * `purpose`; `unseal` gives it back while its `exp` (Unix seconds) is ahead. The pending sign-in, the consent ticket,
 * and the portal's way back (ui/portal-session.ts) each have their own purpose.
 */
export async function seal<T extends { exp: number }>(secret: string, purpose: string, value: T): Promise<string> {
	const body = base64url(encoder.encode(JSON.stringify(value)));
	const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret, purpose), encoder.encode(body)));
	return `${body}.${base64url(mac)}`;
}

export async function unseal<T extends { exp: number } = Pending>(
	secret: string,
	purpose: string,
	sealed: string | undefined,
	now: number,
): Promise<T | undefined> {
	if (!sealed || sealed.length > 8192) return undefined;
	const [body, mac] = sealed.split(".");
	const macBytes = mac ? fromBase64url(mac) : undefined;
	if (!body || !macBytes) return undefined;
	if (!(await crypto.subtle.verify("HMAC", await macKey(secret, purpose), macBytes, encoder.encode(body)))) return undefined;
	try {
		const value = JSON.parse(new TextDecoder().decode(fromBase64url(body))) as T;
		return value.exp * 1000 > now ? value : undefined;
	} catch {
		return undefined;
	}
}

const escapeHtml = (s: string) =>
	s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);

const PAGE_HEADERS = {
	"Content-Type": "text/html; charset=utf-8",
	"Cache-Control": "no-store",
	// The consent page must not be framed (clickjacking, RFC 6749 §10.13), nor run anything.
	"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
	"X-Frame-Options": "DENY",
	// `same-origin`, not `no-referrer`: under no-referrer the consent form's POST carries `Origin: null`, which a browser
	// without Sec-Fetch-Site could never match (found by a review). No other site is ever sent a Referer.
	"Referrer-Policy": "same-origin",
	// A window that a page the origin serves opens on these pages (by window.open, through another site) gets no handle
	// on it: without this it could read the consent page's ticket or click Allow (found by a review). The price: a client
	// whose sign-in runs in a popup cannot use window.opener from its redirect page (README "OAuth 2.0").
	"Cross-Origin-Opener-Policy": "same-origin",
};

/**
 * The consent page's policy: its form may also lead to the client's redirect URI.
 * Chromium holds a form to `form-action` through the redirects that follow it, so under
 * `'self'` alone the answer's 302 back to the client is blocked and Allow does nothing.
 * Only an origin of plain characters is named (registered redirect URIs are https, or
 * http on loopback: they always have one), so nothing in a URI can add a directive.
 */
export function consentPolicy(redirectUri: string): string {
	const source = new URL(redirectUri).origin;
	const safe = /^https?:\/\/(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i.test(source);
	return PAGE_HEADERS["Content-Security-Policy"].replace("form-action 'self'", `form-action 'self'${safe ? ` ${source}` : ""}`);
}

/** Readable on a phone, with buttons a finger can hit (found by a browser QA pass: laid out 980 px wide, shrunk to 0.38×). */
const PAGE_STYLE =
	"body{font:1rem/1.5 system-ui,sans-serif;margin:0 auto;max-width:40rem;padding:1rem}button{font:inherit;min-height:2.75rem;min-width:6rem;margin:.25rem .5rem .25rem 0}";

function page(status: number, title: string, inner: string, extra: Record<string, string> = {}): Response {
	const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head><body><main>${inner}</main></body></html>`;
	return new Response(html, { status, headers: { ...PAGE_HEADERS, ...extra } });
}

/** A sign-in or consent page asked for by a script or a frame, not loaded by the browser as a page: it shows nothing. */
export const notAPage = () =>
	page(
		403,
		"Authorization error",
		"<h1>Authorization error</h1><p>This page opens only as a page of its own in the browser, not from a script or inside a frame.</p>",
	);

/**
 * No pending sign-in in this browser: it was finished (Allow or Deny clear it; Back after
 * Allow lands here, found by a browser QA pass), it took over 10 minutes, or it was started
 * in another browser.
 */
export const NO_PENDING_SIGN_IN =
	"This sign-in is no longer open: it was already finished, took too long, or was started in another browser. Start again from the application.";

/** The local error page: for errors that must never redirect (unknown client, unregistered redirect URI). */
export const errorPage = (message: string) => page(400, "Authorization error", `<h1>Authorization error</h1><p>${escapeHtml(message)}</p>`);

export function redirectTo(uri: string, params: Record<string, string | null>, extra: Record<string, string> = {}): Response {
	const url = new URL(uri);
	for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
	return new Response(null, { status: 302, headers: { Location: url.toString(), "Cache-Control": "no-store", ...extra } });
}

export const clearCookie = `${COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;

export function cookieValue(header: string | undefined): string | undefined {
	for (const part of (header ?? "").split(";")) {
		const [k, ...v] = part.trim().split("=");
		if (k === COOKIE) return v.join("=");
	}
	return undefined;
}

/** An absolute URL under the API's OAuth issuer (what redirects and metadata name). */
export const issuerUrl = (api: CompiledApi, path: string) => `${api.oauth!.issuer.replace(/\/+$/, "")}${path}`;

/** Sends the browser to a sign-in at `location`, holding the sealed pending request in the `__Host-` cookie for PENDING_TTL_S. */
/**
 * Room for the pending cookie's name and value: browsers drop a cookie past 4,096 bytes,
 * and the OIDC login adds its state's hash (about 60 bytes) to what is measured here.
 */
export const MAX_PENDING_COOKIE_BYTES = 3_900;

/** Would this pending request's cookie be kept by a browser? (`state` is counted in UTF-8 and escapes, as sealed.) */
export async function pendingFits(secret: string, pending: Pending): Promise<boolean> {
	return COOKIE.length + 1 + (await seal(secret, "pending", pending)).length <= MAX_PENDING_COOKIE_BYTES;
}

export async function pendingRedirect(secret: string, pending: Pending, location: string): Promise<Response> {
	const cookie = `${COOKIE}=${await seal(secret, "pending", pending)}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${PENDING_TTL_S}`;
	return new Response(null, { status: 302, headers: { Location: location, "Set-Cookie": cookie, "Cache-Control": "no-store" } });
}

export const callbackPath = (api: CompiledApi) => `${rootOf(api)}/oauth/callback`;
export const oidcCallbackPath = (api: CompiledApi) => `${rootOf(api)}/oauth/oidc/callback`;
export const consentPath = (api: CompiledApi) => `${rootOf(api)}/oauth/consent`;
/** Where an API's OAuth paths start: its path prefix, without a trailing slash ("" for "/"). */
export function rootOf(api: CompiledApi): string {
	const p = prefixKey(api.match.pathPrefix);
	return p === "/" ? "" : p;
}

/** The consent page, once a user signed in (either login mode). */
export async function consentPage(c: GatewayContext, pending: Pending, sub: string): Promise<Response> {
	const api = c.var.api;
	const secret = c.env.SIGNING_SECRET!;
	const client = await getClient(c.env.KEYS, pending.cid);
	if (!client) return errorPage("The application is no longer registered.");
	const ticket = await seal(secret, "consent", { ...pending, sub });
	const host = new URL(pending.ru).host;
	const inner = `<h1>Allow ${escapeHtml(client.name)} to access your account?</h1>
<p>Signed in as <b>${escapeHtml(sub)}</b>.</p>
<p>${escapeHtml(client.name)} will be sent back to <b>${escapeHtml(host)}</b> and may:</p>
<ul>${pending.sc.map((s) => `<li>${escapeHtml(s)}</li>`).join("")}</ul>
<form method="post" action="${escapeHtml(consentPath(api))}">
<input type="hidden" name="ticket" value="${escapeHtml(ticket)}">
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>`;
	return page(200, "Authorize application", inner, { "Content-Security-Policy": consentPolicy(pending.ru) });
}
