import { clientMirrorSubject, countingGrants } from "../authority/client";
import type { GrantCheck } from "../authority/oauth-grants";
import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import { verifyAccessToken, type AccessTokenClaims, type ParsedAccessToken } from "../oauth/access-token";
import { logEvent } from "../util/log";
import type { Principal } from "./principal";
import type { Verdict, VerifyContext } from "./verify";

/**
 * Names the counter object (a KeyAuthority, the same class that counts keys) a bearer
 * token spends from, per the API's `oauth.rateLimitBy`, under `base` (`oauth:<api>` for
 * keygate's tokens, `jwt:<api>:<issuer>` for external JWTs). The prefixes keep these names
 * apart from key ids (`key_…`). "\n" cannot occur in a client id or subject that reached a
 * token, so the pair is unambiguous. A JWT with no client id counts per subject.
 */
export function counterName(base: string, by: RateLimitBy, subject: string, clientId: string | null): string {
	if (by === "client" && clientId !== null) return `${base}:client:${part(clientId)}`;
	if (by === "subject+client") return `${base}:pair:${part(subject)}\n${part(clientId ?? "")}`;
	return `${base}:subject:${part(subject)}`;
}

/**
 * A subject or client id as part of an object's name, with `%` and `#` escaped: a shard's
 * object is `<name>#<i>` (shardName), so subject `V#1` must not name subject V's shard 1
 * (found by a probe: three such subjects spent 15 of V's 20 on a sharded tier).
 */
const part = (s: string) => s.replace(/[%#]/g, (c) => (c === "%" ? "%25" : "%23"));

export const oauthAuthority = (api: CompiledApi, claims: AccessTokenClaims): string =>
	counterName(`oauth:${claims.api}`, rateLimitBy(api), claims.sub, claims.cid);

/** `oauth.rateLimitBy` (the schema defaults it to "subject"; an API without oauth counts per subject too). */
export const rateLimitBy = (api: CompiledApi): RateLimitBy => api.oauth?.rateLimitBy ?? "subject";
type RateLimitBy = NonNullable<CompiledApi["oauth"]>["rateLimitBy"];

/**
 * Where a token's grant check happens: in the object that counts it, so a warm token
 * costs one call, as a key does (README "OAuth 2.0": Cost). Per subject, or per subject
 * and client, that is the subject's OAuthGrants object (counter scope `subject` or
 * `client:<cid>`); per client it is the client's mirror object, which holds a replica of
 * every grant of the client (src/authority/oauth-grants.ts). A sharded tier keeps the
 * two-call path (the grant checked first, its limits split over KeyAuthority shards), and
 * so does a tier missing from the config (the revoked grant's 401 comes first).
 */
export function grantCounter(api: CompiledApi, claims: AccessTokenClaims): Principal["grantCounter"] {
	const tier = api.tiers[claims.tier];
	if (!tier || tier.shards !== 1) return undefined;
	switch (rateLimitBy(api)) {
		case "subject":
			return { subject: claims.sub, scope: "subject" };
		case "subject+client":
			return { subject: claims.sub, scope: `client:${claims.cid}` };
		case "client":
			return { subject: clientMirrorSubject(claims.cid), scope: "client", home: claims.sub };
	}
}

/** The caller an access token proves: the same Principal a key yields, so no later stage branches on the kind. */
export function tokenPrincipal(api: CompiledApi, claims: AccessTokenClaims): Principal {
	return {
		kind: "oauth",
		id: claims.gid,
		api: claims.api,
		environment: claims.environment,
		scopes: claims.scopes,
		tier: claims.tier,
		rateLimit: null,
		owner: null,
		service: null,
		ipAllowlist: null,
		keyType: null,
		subject: claims.sub,
		clientId: claims.cid,
		authority: oauthAuthority(api, claims),
		grantCounter: grantCounter(api, claims),
	};
}

/**
 * The grant's state, for a token whose counting call does not check it (a sharded tier).
 * Per client the client's mirror is asked, as on the one-call path (it alone knows a
 * deleted client's grants are all dead); a grant it has not heard of is decided by its
 * subject's object, which sends it. Otherwise the subject's object.
 */
async function grantState(env: Bindings, api: CompiledApi, claims: AccessTokenClaims): Promise<GrantCheck> {
	const counter = rateLimitBy(api) === "client" ? { subject: clientMirrorSubject(claims.cid), home: claims.sub } : { subject: claims.sub };
	return countingGrants(env, claims.api, counter).check(claims.gid);
}

/**
 * The access-token verifier. The MAC and the expiry are decided with no I/O (a forged
 * token is invalid_api_key whatever expiry it claims; only a genuine one can be
 * token_expired). The grant is then asked of the subject's grants object on every
 * request, so a revoked grant, client or subject is seen by the very next request from
 * any isolate (no cache, on purpose): by the rate-limit stage's one call when that
 * object also counts the token (`grantCounter`), else here.
 */
export async function verifyToken(token: ParsedAccessToken, ctx: VerifyContext, env: Bindings): Promise<Verdict> {
	if (!ctx.api.oauth) return { ok: false, reason: "forged_token", countsAsFailure: true };
	if (!env.SIGNING_SECRET) return { ok: false, reason: "secret_missing", countsAsFailure: false };
	const checked = await verifyAccessToken(env.SIGNING_SECRET, token, ctx.now);
	if (!checked.ok) {
		// Another API's expired token is still only another API's token: invalid here.
		if (checked.reason === "expired" && checked.claims?.api === ctx.api.name)
			return { ok: false, reason: "token_expired", countsAsFailure: false };
		return { ok: false, reason: "forged_token", countsAsFailure: true };
	}
	const claims = checked.claims;
	if (claims.api !== ctx.api.name) return { ok: false, reason: "forged_token", countsAsFailure: true };
	const environment = ctx.api.environments[claims.environment];
	if (!environment || (environment.hosts && !environment.hosts.includes(ctx.host)))
		return { ok: false, reason: "wrong_environment", countsAsFailure: true };
	const principal = tokenPrincipal(ctx.api, claims);
	if (principal.grantCounter) return { ok: true, principal };
	let state: GrantCheck;
	try {
		state = await grantState(env, ctx.api, claims);
	} catch (e) {
		logEvent("grant_check_failed", { grantId: claims.gid, error: String(e) });
		return { ok: false, reason: "limiter_failed", countsAsFailure: false };
	}
	if (state !== "ok") return { ok: false, reason: "grant_revoked", countsAsFailure: false };
	return { ok: true, principal };
}
