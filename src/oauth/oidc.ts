import { errors, jwtVerify } from "jose";
import type { CompiledApi } from "../config/load";
import { jwksFor } from "../credentials/jwt";
import { OWNER_ID } from "../keys/record";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { base64url } from "./access-token";

/**
 * The OpenID provider side of `login.mode: "oidc"` (OpenID Connect Core 1.0 §3.1, the
 * authorization code flow, with PKCE, RFC 7636): discovery, the code exchange and the
 * id_token check. Pure of keygate's own state: authorize.ts keeps the pending login.
 * Every expected failure is a value; `unavailable` means the provider could not be
 * asked (network, timeout, 5xx), which the caller answers `temporarily_unavailable`.
 */
export type OidcLogin = Extract<NonNullable<NonNullable<CompiledApi["oauth"]>["login"]>, { mode: "oidc" }>;

export interface Endpoints {
	authorization: string;
	token: string;
	jwks: string;
}

export type OidcResult<T> = { ok: true; value: T } | { ok: false; reason: "unavailable" | "refused"; detail: string };

const PROVIDER_TIMEOUT_MS = 3_000;

/** Discovery documents, per issuer per isolate; only successes are cached, for an hour. */
const discovered = new Map<string, { at: number; endpoints: Endpoints }>();
const DISCOVERY_TTL_MS = 3_600_000;

/** Only for tests: forget every discovered provider. */
export function clearDiscoveryCache(): void {
	discovered.clear();
}

export async function endpointsOf(login: OidcLogin, now: number): Promise<OidcResult<Endpoints>> {
	if (login.authorizationEndpoint && login.tokenEndpoint && login.jwksUri)
		return { ok: true, value: { authorization: login.authorizationEndpoint, token: login.tokenEndpoint, jwks: login.jwksUri } };
	const cached = discovered.get(login.issuer);
	let doc: Endpoints | undefined = cached && now - cached.at < DISCOVERY_TTL_MS ? cached.endpoints : undefined;
	if (!doc) {
		const url = `${login.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
		let body: Record<string, unknown>;
		try {
			const res = await withTimeout(fetch(url, { headers: { Accept: "application/json" } }), PROVIDER_TIMEOUT_MS, "OIDC discovery");
			if (!res.ok) return { ok: false, reason: "unavailable", detail: `discovery answered ${res.status}` };
			body = (await res.json()) as Record<string, unknown>;
		} catch (e) {
			return { ok: false, reason: "unavailable", detail: `discovery failed: ${String(e).slice(0, 200)}` };
		}
		// OpenID Connect Discovery §4.3: the document's issuer must be exactly the configured one.
		const str = (k: string) => (typeof body[k] === "string" && /^https?:\/\//.test(body[k] as string) ? (body[k] as string) : undefined);
		const authorization = str("authorization_endpoint");
		const token = str("token_endpoint");
		const jwks = str("jwks_uri");
		if (body.issuer !== login.issuer || !authorization || !token || !jwks)
			return { ok: false, reason: "unavailable", detail: "discovery document is not this issuer's, or lacks an endpoint" };
		doc = { authorization, token, jwks };
		if (discovered.size >= 100) discovered.delete(discovered.keys().next().value!);
		discovered.set(login.issuer, { at: now, endpoints: doc });
	}
	return {
		ok: true,
		value: {
			authorization: login.authorizationEndpoint ?? doc.authorization,
			token: login.tokenEndpoint ?? doc.token,
			jwks: login.jwksUri ?? doc.jwks,
		},
	};
}

/** A fresh PKCE verifier (RFC 7636 §4.1: 43 characters of 256 random bits) or state. */
export const randomToken = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

/** OIDC Core §3.1.3.1: the code for tokens, form-encoded, with the client secret from the environment. */
export async function exchangeCode(
	login: OidcLogin,
	tokenEndpoint: string,
	input: { code: string; redirectUri: string; verifier: string; clientSecret: string | undefined },
): Promise<OidcResult<string>> {
	const form = new URLSearchParams({
		grant_type: "authorization_code",
		code: input.code,
		redirect_uri: input.redirectUri,
		code_verifier: input.verifier,
	});
	const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded", Accept: "application/json" };
	if (input.clientSecret !== undefined && login.tokenEndpointAuthMethod === "client_secret_basic") {
		// RFC 6749 §2.3.1: both parts form-urlencoded before base64.
		const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, "+");
		headers.Authorization = `Basic ${btoa(`${enc(login.clientId)}:${enc(input.clientSecret)}`)}`;
	} else {
		form.set("client_id", login.clientId);
		if (input.clientSecret !== undefined) form.set("client_secret", input.clientSecret);
	}
	let res: Response;
	let body: unknown;
	try {
		res = await withTimeout(fetch(tokenEndpoint, { method: "POST", headers, body: form.toString() }), PROVIDER_TIMEOUT_MS, "OIDC token");
		body = await res.json().catch(() => undefined);
	} catch (e) {
		return { ok: false, reason: "unavailable", detail: `token endpoint failed: ${String(e).slice(0, 200)}` };
	}
	if (res.status >= 500) return { ok: false, reason: "unavailable", detail: `token endpoint answered ${res.status}` };
	const idToken = (body as { id_token?: unknown } | undefined)?.id_token;
	if (!res.ok || typeof idToken !== "string") {
		const error = (body as { error?: unknown } | undefined)?.error;
		return {
			ok: false,
			reason: "refused",
			detail: `token endpoint answered ${res.status} ${typeof error === "string" ? error.slice(0, 100) : ""}`,
		};
	}
	return { ok: true, value: idToken };
}

/**
 * OIDC Core §3.1.3.7: signature by the provider's JWKS (only the allowed algorithms),
 * `iss` exactly, `aud` holding our client id (and `azp` equal to it when there are
 * several audiences), `exp`/`iat` within the skew, and `nonce` equal to the login's.
 */
export async function verifyIdToken(
	login: OidcLogin,
	jwksUri: string,
	idToken: string,
	nonce: string,
	now: number,
): Promise<OidcResult<string>> {
	const set = jwksFor(jwksUri);
	try {
		const { payload } = await jwtVerify(idToken, set, {
			issuer: login.issuer,
			audience: login.clientId,
			algorithms: login.algorithms,
			clockTolerance: login.clockTolerance,
			// Fresh from the token endpoint: an id_token older than a pending login cannot be this login's.
			maxTokenAge: 600,
			requiredClaims: ["exp", "iat", "nonce"],
			currentDate: new Date(now),
		});
		if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== login.clientId)
			return { ok: false, reason: "refused", detail: "azp is not this client" };
		if (payload.iat! > now / 1000 + login.clockTolerance) return { ok: false, reason: "refused", detail: "iat in the future" };
		if (payload.nonce !== nonce) return { ok: false, reason: "refused", detail: "nonce mismatch" };
		const sub = payload[login.subjectClaim];
		if (typeof sub !== "string" || !OWNER_ID.test(sub)) return { ok: false, reason: "refused", detail: "bad subject claim" };
		return { ok: true, value: sub };
	} catch (e) {
		const jose = e instanceof errors.JOSEError;
		if ((!jose || e instanceof errors.JWKSTimeout || e.code === "ERR_JOSE_GENERIC") && set.jwks() === undefined) {
			logEvent("jwks_unavailable", { jwksUri, error: String(e).slice(0, 200) });
			return { ok: false, reason: "unavailable", detail: "JWKS unavailable" };
		}
		return { ok: false, reason: "refused", detail: String(e).slice(0, 200) };
	}
}
