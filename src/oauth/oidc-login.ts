import { grants, oidcPendingSubject } from "../authority/client";
import { sha256Hex } from "../keys/crypto";
import type { GatewayContext } from "../pipeline/context";
import { logEvent } from "../util/log";
import { s256 } from "./codes";
import { endpointsOf, exchangeCode, randomToken, verifyIdToken, type OidcLogin } from "./oidc";
import {
	clearCookie,
	consentPage,
	cookieValue,
	errorPage,
	NO_PENDING_SIGN_IN,
	issuerUrl,
	oidcCallbackPath,
	pendingRedirect,
	redirectTo,
	unseal,
	type Pending,
} from "./pending";

/** `login.mode: "oidc"`: keygate's side of the OpenID Connect code flow (the provider's side is oidc.ts). */

/**
 * oidc, step 1: the PKCE verifier and the nonce go to a pending-login Durable Object under
 * the hash of a fresh `state` (taken once, 10 minutes); the state's hash also goes into the
 * sealed `__Host-` cookie, so the callback counts only in the browser that started it.
 * The provider sees the nonce and the S256 challenge, never the verifier.
 */
export async function oidcStart(
	c: GatewayContext,
	login: OidcLogin,
	pending: Pending,
	secret: string,
	back: (error: string, description: string) => Response,
): Promise<Response> {
	const api = c.var.api;
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
		redirect_uri: issuerUrl(api, oidcCallbackPath(api)),
		scope: scopes.join(" "),
		state,
		nonce: pending.n,
		code_challenge: await s256(verifier),
		code_challenge_method: "S256",
	};
	for (const [k, v] of Object.entries(params)) target.searchParams.set(k, v);
	return pendingRedirect(secret, { ...pending, os: stateHash }, target.toString());
}

/** The authorization error codes of RFC 6749 §4.1.2.1 and OpenID Connect Core §3.1.2.6. */
const PROVIDER_ERRORS = new Set([
	"invalid_request",
	"unauthorized_client",
	"access_denied",
	"unsupported_response_type",
	"invalid_scope",
	"server_error",
	"temporarily_unavailable",
	"interaction_required",
	"login_required",
	"account_selection_required",
	"consent_required",
	"invalid_request_uri",
	"invalid_request_object",
	"request_not_supported",
	"request_uri_not_supported",
	"registration_not_supported",
]);

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
	if (!pending || pending.os === undefined) return errorPage(NO_PENDING_SIGN_IN);
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
		// Only an error code the specs define reaches the log: the value is the sender's text, and could hold a key (found by a probe).
		logEvent("oidc_login_refused", { issuer: login.issuer, error: PROVIDER_ERRORS.has(providerError) ? providerError : "(another value)" });
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
				redirectUri: issuerUrl(api, oidcCallbackPath(api)),
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
