import { jwtVerify, SignJWT } from "jose";
import type { CompiledApi } from "../config/load";
import type { GatewayContext } from "../pipeline/context";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { base64url, fromBase64url } from "./access-token";
import { grants, oidcPendingSubject } from "../authority/client";
import { randomId, sha256Hex } from "../keys/crypto";
import { getClient, type StoredClient } from "./clients";
import { issueAuthorizationCode, s256 } from "./codes";
import { endpointsOf, exchangeCode, randomToken, verifyIdToken, type OidcLogin } from "./oidc";

/**
 * The authorization endpoint (RFC 6749 §4.1.1) with the `origin` login mode:
 *
 *   1. GET  /oauth/authorize  checks the client and redirect URI (an unknown client or a
 *      redirect URI that is not an exact registered match gets a local 400 page, never a
 *      redirect: §4.1.2.1), then the rest (errors from here on go back to the client, with
 *      `state` and `iss`, RFC 9207). The pending request is sealed (HMAC) into a
 *      `__Host-` cookie for 10 minutes, and the browser goes to the API's `loginUrl` with a
 *      signed 5-minute `request` JWT carrying a fresh nonce.
 *   2. The API signs its user in and sends the browser to /oauth/callback with an
 *      `assertion`: an HS256 JWT (iss = the API's loginUrl origin, aud = keygate's issuer,
 *      sub, nonce, exp at most 2 minutes after iat), verified with jose.
 *   3. The consent page (escaped; `frame-ancestors 'none'`; its form carries a ticket that
 *      only counts with the same browser's cookie: CSRF).
 *   4. POST /oauth/consent: Deny redirects `access_denied`; Allow issues the code, spending
 *      the nonce in the subject's Durable Object, so a replayed login or consent gets none.
 *
 * With `login.mode: "oidc"`, steps 1 and 2 are OpenID Connect's code flow instead (see
 * oidcStart and oidcCallbackEndpoint below); consent and code issuance are the same.
 *
 * The shared secret is SIGNING_SECRET, which the origin already holds to verify identity
 * headers; the JWTs' `aud`/`iss` keep the two uses apart.
 */

const COOKIE = "__Host-keygate_oauth";
const PENDING_TTL_S = 600;
const REQUEST_TTL_S = 300;
const ASSERTION_MAX_S = 120;
const encoder = new TextEncoder();

interface Pending {
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

async function macKey(secret: string, purpose: string): Promise<CryptoKey> {
	const root = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	const derived = await crypto.subtle.sign("HMAC", root, encoder.encode(`keygate oauth ${purpose} v1`));
	return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

async function seal(secret: string, purpose: string, value: Pending): Promise<string> {
	const body = base64url(encoder.encode(JSON.stringify(value)));
	const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret, purpose), encoder.encode(body)));
	return `${body}.${base64url(mac)}`;
}

async function unseal(secret: string, purpose: string, sealed: string | undefined, now: number): Promise<Pending | undefined> {
	if (!sealed || sealed.length > 8192) return undefined;
	const [body, mac] = sealed.split(".");
	const macBytes = mac ? fromBase64url(mac) : undefined;
	if (!body || !macBytes) return undefined;
	if (!(await crypto.subtle.verify("HMAC", await macKey(secret, purpose), macBytes, encoder.encode(body)))) return undefined;
	try {
		const value = JSON.parse(new TextDecoder().decode(fromBase64url(body))) as Pending;
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
	"Referrer-Policy": "no-referrer",
};

function page(status: number, title: string, inner: string, extra: Record<string, string> = {}): Response {
	const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${inner}</body></html>`;
	return new Response(html, { status, headers: { ...PAGE_HEADERS, ...extra } });
}

/** The local error page: for errors that must never redirect (unknown client, unregistered redirect URI). */
const errorPage = (message: string) => page(400, "Authorization error", `<h1>Authorization error</h1><p>${escapeHtml(message)}</p>`);

function redirectTo(uri: string, params: Record<string, string | null>, extra: Record<string, string> = {}): Response {
	const url = new URL(uri);
	for (const [k, v] of Object.entries(params)) if (v !== null) url.searchParams.set(k, v);
	return new Response(null, { status: 302, headers: { Location: url.toString(), "Cache-Control": "no-store", ...extra } });
}

const clearCookie = `${COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;

function cookieValue(header: string | undefined): string | undefined {
	for (const part of (header ?? "").split(";")) {
		const [k, ...v] = part.trim().split("=");
		if (k === COOKIE) return v.join("=");
	}
	return undefined;
}

/** RFC 6749 §3.3 scope: space-delimited; `read+write` arrives as "read write" after form decoding. */
const scopesOf = (scope: string | null) => (scope ?? "").split(" ").filter((s) => s !== "");

export async function authorizeEndpoint(c: GatewayContext): Promise<Response> {
	const api = c.var.api;
	const oauth = api.oauth!;
	const q = c.var.url.searchParams;
	const secret = c.env.SIGNING_SECRET;
	if (!secret) return errorPage("The authorization server cannot answer right now.");
	for (const name of ["client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge", "code_challenge_method"])
		if (q.getAll(name).length > 1) return errorPage(`The parameter ${name} is repeated.`);
	const clientId = q.get("client_id");
	const redirectUri = q.get("redirect_uri");
	if (!clientId || !redirectUri) return errorPage("client_id and redirect_uri are required.");
	let client: StoredClient | null;
	try {
		client = await withTimeout(getClient(c.env.KEYS, clientId), 2_000, "KV read");
	} catch (e) {
		logEvent("oauth_client_lookup_failed", { error: String(e) });
		return errorPage("The authorization server cannot answer right now.");
	}
	// Exact string match (Security BCP §4.1.3): no prefix, pattern or normalisation.
	if (!client || client.api !== api.name || !client.redirectUris.includes(redirectUri))
		return errorPage("Unknown client, or a redirect URI that is not registered for it.");
	const state = q.get("state");
	const back = (error: string, description: string) =>
		redirectTo(redirectUri, { error, error_description: description, state, iss: oauth.issuer });
	if (q.get("response_type") !== "code") return back("unsupported_response_type", "Only response_type=code is supported.");
	const requested = scopesOf(q.get("scope"));
	const scopes = requested.length > 0 ? requested : client.scopes;
	if (scopes.some((s) => !client.scopes.includes(s))) return back("invalid_scope", "A requested scope is not allowed for this client.");
	const challenge = q.get("code_challenge");
	const method = q.get("code_challenge_method");
	if (challenge !== null && (method ?? "plain") !== "S256") return back("invalid_request", "code_challenge_method must be S256.");
	if (challenge !== null && !/^[A-Za-z0-9_-]{43}$/.test(challenge)) return back("invalid_request", "code_challenge is malformed.");
	if (client.type === "public" && challenge === null) return back("invalid_request", "PKCE (code_challenge, S256) is required.");
	if (!oauth.login) return back("server_error", "No login is configured for this API.");

	const now = Date.now();
	const nonce = randomId("nonce");
	const pending: Pending = {
		cid: client.id,
		ru: redirectUri,
		sc: scopes,
		st: state,
		cc: challenge,
		n: nonce,
		exp: Math.floor(now / 1000) + PENDING_TTL_S,
	};
	if (oauth.login.mode === "oidc") return oidcStart(c, oauth.login, pending, secret, back);
	const loginUrl = new URL(oauth.login.loginUrl);
	const request = await new SignJWT({ nonce, return_to: `${oauth.issuer.replace(/\/+$/, "")}${callbackPath(api)}` })
		.setProtectedHeader({ alg: "HS256", typ: "keygate-login-request+jwt" })
		.setIssuer(oauth.issuer)
		.setAudience(loginUrl.origin)
		.setIssuedAt(Math.floor(now / 1000))
		.setExpirationTime(Math.floor(now / 1000) + REQUEST_TTL_S)
		.sign(encoder.encode(secret));
	loginUrl.searchParams.set("request", request);
	const cookie = `${COOKIE}=${await seal(secret, "pending", pending)}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${PENDING_TTL_S}`;
	return new Response(null, { status: 302, headers: { Location: loginUrl.toString(), "Set-Cookie": cookie, "Cache-Control": "no-store" } });
}

export const callbackPath = (api: CompiledApi) => `${rootOf(api)}/oauth/callback`;
export const oidcCallbackPath = (api: CompiledApi) => `${rootOf(api)}/oauth/oidc/callback`;
export const consentPath = (api: CompiledApi) => `${rootOf(api)}/oauth/consent`;
function rootOf(api: CompiledApi): string {
	const p = api.match.pathPrefix.replace(/\/+$/, "");
	return p === "" ? "" : p;
}

/** GET /oauth/callback?assertion=…: the API's signed word that a user signed in; answers the consent page. */
export async function callbackEndpoint(c: GatewayContext): Promise<Response> {
	const api = c.var.api;
	const oauth = api.oauth!;
	const secret = c.env.SIGNING_SECRET;
	const now = Date.now();
	if (!secret || !oauth.login) return errorPage("The authorization server cannot answer right now.");
	// An API that signs in with OIDC takes no origin assertion: the login mode is the only way in.
	if (oauth.login.mode !== "origin") return errorPage("The sign-in did not complete.");
	const pending = await unseal(secret, "pending", cookieValue(c.req.header("Cookie")), now);
	if (!pending) return errorPage("The sign-in took too long or was started in another browser. Start again from the application.");
	const assertion = c.var.url.searchParams.get("assertion");
	if (!assertion) return errorPage("The sign-in did not complete.");
	const loginUrl = oauth.login.loginUrl;
	let sub: string;
	try {
		const { payload } = await jwtVerify(assertion, encoder.encode(secret), {
			algorithms: ["HS256"],
			issuer: new URL(loginUrl).origin,
			audience: oauth.issuer,
			requiredClaims: ["sub", "nonce", "exp", "iat"],
			maxTokenAge: ASSERTION_MAX_S,
			clockTolerance: 5,
		});
		if (payload.nonce !== pending.n) throw new Error("nonce mismatch");
		// The subject becomes a header value, a Durable Object name and an admin path/query value:
		// printable ASCII without spaces or colons, as the admin API's subjects are.
		if (typeof payload.sub !== "string" || !/^[\x21-\x39\x3b-\x7e]{1,200}$/.test(payload.sub)) throw new Error("bad subject");
		if (payload.exp! - payload.iat! > ASSERTION_MAX_S) throw new Error("assertion lives too long");
		sub = payload.sub;
	} catch (e) {
		logEvent("oauth_login_assertion_refused", { error: String(e).slice(0, 200) });
		return errorPage("The sign-in could not be verified. Start again from the application.");
	}
	return consentPage(c, pending, sub);
}

/** The consent page, once a user signed in (either login mode). */
async function consentPage(c: GatewayContext, pending: Pending, sub: string): Promise<Response> {
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
	return page(200, "Authorize application", inner);
}

/** POST /oauth/consent: the user's decision. The ticket counts only with the cookie of the browser it was shown to. */
export async function consentEndpoint(c: GatewayContext): Promise<Response> {
	const api = c.var.api;
	const oauth = api.oauth!;
	const secret = c.env.SIGNING_SECRET;
	const now = Date.now();
	if (!secret) return errorPage("The authorization server cannot answer right now.");
	const type = (c.req.header("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
	if (type !== "application/x-www-form-urlencoded") return errorPage("Unexpected form.");
	if (Number(c.req.header("Content-Length") ?? "0") > 16 * 1024) return errorPage("Unexpected form.");
	const text = await c.req.text();
	if (text.length > 16 * 1024) return errorPage("Unexpected form.");
	const form = new URLSearchParams(text);
	const pending = await unseal(secret, "pending", cookieValue(c.req.header("Cookie")), now);
	const ticket = await unseal(secret, "consent", form.get("ticket") ?? undefined, now);
	// CSRF: the ticket must belong to this browser's pending request (same nonce), and a
	// cross-site form post carries no SameSite=Lax cookie at all.
	if (!pending || !ticket || ticket.n !== pending.n || ticket.sub === undefined)
		return errorPage("This consent form has expired or was not shown to you. Start again from the application.");
	const decision = form.get("decision");
	if (decision === "deny")
		return redirectTo(
			ticket.ru,
			{ error: "access_denied", error_description: "The user denied the request.", state: ticket.st, iss: oauth.issuer },
			{ "Set-Cookie": clearCookie },
		);
	if (decision !== "allow") return errorPage("Unexpected form.");
	const client = await getClient(c.env.KEYS, ticket.cid);
	if (!client) return errorPage("The application is no longer registered.");
	let issued: Awaited<ReturnType<typeof issueAuthorizationCode>>;
	try {
		issued = await issueAuthorizationCode(c.env, {
			api: api.name,
			subject: ticket.sub,
			clientId: client.id,
			redirectUri: ticket.ru,
			scopes: ticket.sc,
			environment: client.environment,
			tier: client.tier,
			challenge: ticket.cc,
			codeTtl: oauth.codeTtl,
			nonce: ticket.n,
		});
	} catch (e) {
		logEvent("oauth_grant_store_failed", { error: String(e) });
		return redirectTo(ticket.ru, { error: "temporarily_unavailable", state: ticket.st, iss: oauth.issuer });
	}
	if (!issued) return errorPage("This sign-in was already used. Start again from the application.");
	return redirectTo(ticket.ru, { code: issued.code, state: ticket.st, iss: oauth.issuer }, { "Set-Cookie": clearCookie });
}

/**
 * oidc, step 1: the PKCE verifier and the nonce go to a pending-login Durable Object under
 * the hash of a fresh `state` (taken once, 10 minutes); the state's hash also goes into the
 * sealed `__Host-` cookie, so the callback counts only in the browser that started it.
 * The provider sees the nonce and the S256 challenge, never the verifier.
 */
async function oidcStart(
	c: GatewayContext,
	login: OidcLogin,
	pending: Pending,
	secret: string,
	back: (error: string, description: string) => Response,
): Promise<Response> {
	const api = c.var.api;
	const oauth = api.oauth!;
	const now = Date.now();
	const endpoints = await endpointsOf(login, now);
	if (!endpoints.ok) {
		logEvent("oidc_provider_unavailable", { issuer: login.issuer, detail: endpoints.detail });
		return back("temporarily_unavailable", "The identity provider cannot be reached. Try again later.");
	}
	const state = randomToken();
	const verifier = randomToken();
	const stateHash = await sha256Hex(state);
	try {
		await grants(c.env, api.name, oidcPendingSubject(stateHash)).putOidcPending({
			stateHash,
			verifier,
			nonce: pending.n,
			expiresAt: pending.exp * 1000,
			now,
		});
	} catch (e) {
		logEvent("oauth_grant_store_failed", { error: String(e) });
		return back("temporarily_unavailable", "The authorization server cannot answer right now.");
	}
	const target = new URL(endpoints.value.authorization);
	const scopes = login.scopes.includes("openid") ? login.scopes : ["openid", ...login.scopes];
	const params: Record<string, string> = {
		response_type: "code",
		client_id: login.clientId,
		redirect_uri: `${oauth.issuer.replace(/\/+$/, "")}${oidcCallbackPath(api)}`,
		scope: scopes.join(" "),
		state,
		nonce: pending.n,
		code_challenge: await s256(verifier),
		code_challenge_method: "S256",
	};
	for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
	const cookie = `${COOKIE}=${await seal(secret, "pending", { ...pending, os: stateHash })}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${PENDING_TTL_S}`;
	return new Response(null, { status: 302, headers: { Location: target.toString(), "Set-Cookie": cookie, "Cache-Control": "no-store" } });
}

/**
 * oidc, step 2: GET /oauth/oidc/callback?code=…&state=… from the provider. The state must
 * be this browser's (cookie) and still pending (taken once from the Durable Object); the
 * code is exchanged with the kept verifier; the id_token is checked (oidc.ts). Anything
 * wrong before the state is known good is a local page (nobody to tell safely); after it,
 * a provider that cannot be reached is `temporarily_unavailable` back to the client, and a
 * refused or unverifiable sign-in is a local page, as with the origin login. Never a code.
 */
export async function oidcCallbackEndpoint(c: GatewayContext): Promise<Response> {
	const api = c.var.api;
	const oauth = api.oauth!;
	const secret = c.env.SIGNING_SECRET;
	const now = Date.now();
	const login = oauth.login;
	if (!secret || !login) return errorPage("The authorization server cannot answer right now.");
	if (login.mode !== "oidc") return errorPage("The sign-in did not complete.");
	const q = c.var.url.searchParams;
	for (const name of ["state", "code", "error"]) if (q.getAll(name).length > 1) return errorPage(`The parameter ${name} is repeated.`);
	const pending = await unseal(secret, "pending", cookieValue(c.req.header("Cookie")), now);
	if (!pending || pending.os === undefined)
		return errorPage("The sign-in took too long or was started in another browser. Start again from the application.");
	const state = q.get("state");
	if (!state || state.length > 200 || (await sha256Hex(state)) !== pending.os)
		return errorPage("The sign-in was started in another browser. Start again from the application.");
	const back = (error: string, description: string) =>
		redirectTo(pending.ru, { error, error_description: description, state: pending.st, iss: oauth.issuer }, { "Set-Cookie": clearCookie });
	let taken: { verifier: string; nonce: string } | null;
	try {
		taken = await grants(c.env, api.name, oidcPendingSubject(pending.os)).takeOidcPending(pending.os, now);
	} catch (e) {
		logEvent("oauth_grant_store_failed", { error: String(e) });
		return back("temporarily_unavailable", "The authorization server cannot answer right now.");
	}
	if (!taken || taken.nonce !== pending.n)
		return errorPage("This sign-in was already used or has expired. Start again from the application.");
	const providerError = q.get("error");
	if (providerError !== null) {
		logEvent("oidc_login_refused", { issuer: login.issuer, error: providerError.slice(0, 100) });
		return providerError === "temporarily_unavailable"
			? back("temporarily_unavailable", "The identity provider cannot sign you in right now.")
			: back("access_denied", "The identity provider did not sign the user in.");
	}
	const code = q.get("code");
	if (!code || code.length > 4096) return errorPage("The sign-in did not complete.");
	const endpoints = await endpointsOf(login, now);
	const env = c.env as unknown as Record<string, unknown>;
	const clientSecret = login.clientSecretVar === undefined ? undefined : env[login.clientSecretVar];
	if (login.clientSecretVar !== undefined && (typeof clientSecret !== "string" || clientSecret === "")) {
		logEvent("oidc_client_secret_missing", { variable: login.clientSecretVar });
		return back("temporarily_unavailable", "The authorization server cannot answer right now.");
	}
	const idToken = !endpoints.ok
		? endpoints
		: await exchangeCode(login, endpoints.value.token, {
				code,
				redirectUri: `${oauth.issuer.replace(/\/+$/, "")}${oidcCallbackPath(api)}`,
				verifier: taken.verifier,
				clientSecret: clientSecret as string | undefined,
			});
	const subject = !idToken.ok || !endpoints.ok ? idToken : await verifyIdToken(login, endpoints.value.jwks, idToken.value, pending.n, now);
	if (!subject.ok) {
		logEvent("oidc_login_refused", { issuer: login.issuer, reason: subject.reason, detail: subject.detail });
		if (subject.reason === "unavailable")
			return back("temporarily_unavailable", "The identity provider cannot be reached. Try again later.");
		return errorPage("The sign-in could not be verified. Start again from the application.");
	}
	return consentPage(c, pending, subject.value as string);
}
