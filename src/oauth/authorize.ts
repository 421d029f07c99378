import { jwtVerify, SignJWT } from "jose";
import { randomId } from "../keys/crypto";
import { OWNER_ID } from "../keys/record";
import type { GatewayContext } from "../pipeline/context";
import { readCapped } from "../util/body";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { getClient, type StoredClient } from "./clients";
import { issueAuthorizationCode } from "./codes";
import { oidcStart } from "./oidc-login";
import {
	callbackPath,
	clearCookie,
	consentPage,
	cookieValue,
	errorPage,
	issuerUrl,
	NO_PENDING_SIGN_IN,
	pendingFits,
	pendingRedirect,
	PENDING_TTL_S,
	redirectTo,
	unseal,
	type Pending,
} from "./pending";

export { callbackPath, consentPath, oidcCallbackPath } from "./pending";
export { oidcCallbackEndpoint } from "./oidc-login";

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
 * oidc-login.ts); consent and code issuance are the same.
 *
 * The shared secret is SIGNING_SECRET, which the origin already holds to verify identity
 * headers; the JWTs' `aud`/`iss` keep the two uses apart.
 */

const REQUEST_TTL_S = 300;
const ASSERTION_MAX_S = 120;
const encoder = new TextEncoder();

/** RFC 6749 §3.3 scope: space-delimited; `read+write` arrives as "read write" after form decoding. */
const scopesOf = (scope: string | null) => (scope ?? "").split(" ").filter((s) => s !== "");

/** The longest `state` kept through sign-in: the pending cookie must stay well under a browser's 4 KB. */
export const MAX_STATE_LENGTH = 1024;

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
	// The state rides through sign-in in a cookie, which browsers drop past 4 KB: refused here,
	// not after the user has typed a password (a probe: 3,500 characters did that).
	if (state !== null && state.length > MAX_STATE_LENGTH)
		return back("invalid_request", `state is longer than ${MAX_STATE_LENGTH} characters.`);
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
	// A state under the cap can still make too big a cookie (multi-byte or escaped characters, a long redirect URI): a second review.
	if (!(await pendingFits(secret, pending)))
		return back(
			"invalid_request",
			"The authorization request is too long to carry through sign-in: shorten state (or register a shorter redirect_uri).",
		);
	if (oauth.login.mode === "oidc") return oidcStart(c, oauth.login, pending, secret, back);
	const loginUrl = new URL(oauth.login.loginUrl);
	const request = await new SignJWT({ nonce, return_to: issuerUrl(api, callbackPath(api)) })
		.setProtectedHeader({ alg: "HS256", typ: "keygate-login-request+jwt" })
		.setIssuer(oauth.issuer)
		.setAudience(loginUrl.origin)
		.setIssuedAt(Math.floor(now / 1000))
		.setExpirationTime(Math.floor(now / 1000) + REQUEST_TTL_S)
		.sign(encoder.encode(secret));
	loginUrl.searchParams.set("request", request);
	return pendingRedirect(secret, pending, loginUrl.toString());
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
	if (!pending) return errorPage(NO_PENDING_SIGN_IN);
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
		if (typeof payload.sub !== "string" || !OWNER_ID.test(payload.sub)) throw new Error("bad subject");
		if (payload.exp! - payload.iat! > ASSERTION_MAX_S) throw new Error("assertion lives too long");
		sub = payload.sub;
	} catch (e) {
		logEvent("oauth_login_assertion_refused", { error: String(e).slice(0, 200) });
		return errorPage("The sign-in could not be verified. Start again from the application.");
	}
	return consentPage(c, pending, sub);
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
	// Chunked, it has no Content-Length: read up to the same cap, never whole (found by a review: 40 MiB read into memory).
	const text = await readCapped(c.req.raw.body, 16 * 1024);
	if (text === undefined || text === null) return errorPage("Unexpected form.");
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
	const unavailable = () => redirectTo(ticket.ru, { error: "temporarily_unavailable", state: ticket.st, iss: oauth.issuer });
	// Bounded as the authorization endpoint's own read is (a review: a hung KV held the form's answer for ever).
	let client: StoredClient | null;
	try {
		client = await withTimeout(getClient(c.env.KEYS, ticket.cid), 2_000, "KV read");
	} catch (e) {
		logEvent("oauth_client_lookup_failed", { error: String(e) });
		return unavailable();
	}
	if (!client) return errorPage("The application is no longer registered.");
	let issued: Awaited<ReturnType<typeof issueAuthorizationCode>>;
	try {
		issued = await withTimeout(
			issueAuthorizationCode(c.env, {
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
			}),
			5_000,
			"grant store",
		);
	} catch (e) {
		logEvent("oauth_grant_store_failed", { error: String(e) });
		return unavailable();
	}
	if (!issued) return errorPage("This sign-in was already used. Start again from the application.");
	return redirectTo(ticket.ru, { code: issued.code, state: ticket.st, iss: oauth.issuer }, { "Set-Cookie": clearCookie });
}
