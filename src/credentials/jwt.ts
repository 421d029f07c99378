import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from "jose";
import type { CompiledApi } from "../config/load";
import { SCOPE_TOKEN } from "../keys/record";
import { logEvent } from "../util/log";
import { jwtIssuer } from "./classify";
import { counterName, rateLimitBy } from "./token";
import type { Principal } from "./principal";
import type { Verdict, VerifyContext } from "./verify";

/**
 * The external-JWT verifier: access tokens from the identity providers listed in
 * `oauth.externalIssuers`. Signature first (jose picks the key by `kid` from the
 * provider's JWKS, only among the configured algorithms), then `iss`, `aud` (required),
 * `typ` when the issuer names one, and `exp`/`nbf` with the configured skew. A genuine token past `exp` is token_expired;
 * every other failure is invalid_api_key, so a forger learns nothing. With the JWKS
 * unreachable and nothing cached, the answer is 503: keygate cannot tell.
 */
type Issuer = NonNullable<CompiledApi["oauth"]>["externalIssuers"][number];

/**
 * One JWKS per URL per isolate. jose caches the keys (10 minutes). A token whose `kid`
 * the cached set lacks (the provider rotated) makes one forced refetch, then the token
 * is tried once more; forced refetches are at most one per RELOAD_GAP_MS per set, so a
 * stream of made-up `kid`s cannot turn into a stream of requests to the provider.
 */
const RELOAD_GAP_MS = 5_000;
const lastReload = new Map<string, number>();
/**
 * A JWKS that could not be fetched with nothing cached: until when its failure is the
 * answer, with no fetch (RELOAD_GAP_MS). Otherwise every request naming that issuer, valid
 * or not, would make one request to the provider and wait up to the 3 s timeout.
 */
const downUntil = new Map<string, number>();
const jwksSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();
const MAX_SETS = 100;
export function jwksFor(uri: string): ReturnType<typeof createRemoteJWKSet> {
	let set = jwksSets.get(uri);
	if (!set) {
		if (jwksSets.size >= MAX_SETS) jwksSets.delete(jwksSets.keys().next().value!);
		set = createRemoteJWKSet(new URL(uri), { timeoutDuration: 3_000, cooldownDuration: 30_000, cacheMaxAge: 600_000 });
		jwksSets.set(uri, set);
	}
	return set;
}

/** Only for tests: forget every cached JWKS. */
export function clearJwksCache(): void {
	jwksSets.clear();
	lastReload.clear();
	downUntil.clear();
}

/**
 * Printable ASCII only, not starting or ending with a space: these values become identity
 * headers and Durable Object names, and HTTP drops a value's outer spaces, so `" alice"`
 * would reach the origin as `alice`, another user (found by a review).
 */
const HEADER_SAFE = /^[\x21-\x7e](?:[\x20-\x7e]{0,198}[\x21-\x7e])?$/;

/**
 * The claim's scopes that are scope tokens (keys/record.ts); any other value is dropped, never
 * granted: `"write,admin"` would read as two scopes in X-Keygate-Scopes, and a control
 * character cannot be a header value at all.
 */
function scopesOf(value: unknown): string[] {
	const values = typeof value === "string" ? value.split(" ") : Array.isArray(value) ? value : [];
	return values.filter((s): s is string => typeof s === "string" && SCOPE_TOKEN.test(s));
}

export function jwtPrincipal(api: CompiledApi, index: number, issuer: Issuer, payload: JWTPayload): Principal | undefined {
	const subject = payload[issuer.subjectClaim];
	if (typeof subject !== "string" || !HEADER_SAFE.test(subject)) return undefined;
	const client = typeof payload.azp === "string" ? payload.azp : typeof payload.client_id === "string" ? payload.client_id : null;
	const clientId = client !== null && HEADER_SAFE.test(client) ? client : null;
	const claimedTier = issuer.tierClaim ? payload[issuer.tierClaim] : undefined;
	const tier = typeof claimedTier === "string" && Object.hasOwn(api.tiers, claimedTier) ? claimedTier : api.defaultTier;
	const authority = counterName(`jwt:${api.name}:${index}`, rateLimitBy(api), subject, clientId);
	// A `sub` is unique within its issuer only: with several issuers, the same `sub` from two is two users (found by a
	// probe: the origin saw them as one). Then the issuer, percent-encoded so it holds no `:`, goes first.
	const who = (api.oauth?.externalIssuers.length ?? 0) > 1 ? `${encodeURIComponent(issuer.issuer)}:${subject}` : subject;
	return {
		kind: "jwt",
		// Never a key's or a grant's id (found by a probe: a `sub` of `key_…` reached the origin as that key's X-Keygate-Key-Id).
		id: `jwt:${who}`,
		api: api.name,
		environment: Object.keys(api.environments)[0]!,
		scopes: scopesOf(payload[issuer.scopeClaim]),
		tier,
		rateLimit: null,
		owner: null,
		service: null,
		ipAllowlist: null,
		keyType: null,
		subject: who,
		clientId,
		authority,
	};
}

export async function verifyJwt(jwt: string, alg: string, ctx: VerifyContext): Promise<Verdict> {
	const invalid: Verdict = { ok: false, reason: "forged_token", countsAsFailure: true };
	const issuers = ctx.api.oauth?.externalIssuers ?? [];
	// Which provider's keys to try is read from the unverified `iss`; it is verified below, with the signature.
	const claimed = jwtIssuer(jwt);
	const index = issuers.findIndex((i) => i.issuer === claimed);
	const issuer = issuers[index];
	if (!issuer || !(issuer.algorithms as string[]).includes(alg)) return invalid;
	const set = jwksFor(issuer.jwksUri);
	const unavailable: Verdict = { ok: false, reason: "jwks_unavailable", countsAsFailure: false };
	if (set.jwks() === undefined && ctx.now < (downUntil.get(issuer.jwksUri) ?? -Infinity)) return unavailable;
	const verifyOnce = () =>
		jwtVerify(jwt, set, {
			issuer: issuer.issuer,
			audience: issuer.audience,
			algorithms: issuer.algorithms,
			clockTolerance: issuer.clockTolerance,
			// jose compares `typ` without case and with or without `application/` (RFC 7515 §4.1.9).
			typ: issuer.typ,
			requiredClaims: ["exp"],
			currentDate: new Date(ctx.now),
		});
	try {
		let verified: Awaited<ReturnType<typeof verifyOnce>>;
		try {
			verified = await verifyOnce();
		} catch (e) {
			const last = lastReload.get(issuer.jwksUri) ?? -Infinity;
			if (!(e instanceof errors.JWKSNoMatchingKey) || ctx.now - last < RELOAD_GAP_MS) throw e;
			lastReload.set(issuer.jwksUri, ctx.now);
			await set.reload();
			verified = await verifyOnce();
		}
		const { payload } = verified;
		const principal = jwtPrincipal(ctx.api, index, issuer, payload);
		return principal ? { ok: true, principal } : invalid;
	} catch (e) {
		// jose checks claims only after the signature verified: JWTExpired means a genuine token.
		if (e instanceof errors.JWTExpired) return { ok: false, reason: "token_expired", countsAsFailure: false };
		const jose = e instanceof errors.JOSEError;
		// With nothing cached, a provider that cannot be reached is 503, not an invalid token.
		if (set.jwks() === undefined && (!jose || e instanceof errors.JWKSTimeout || e.code === "ERR_JOSE_GENERIC")) {
			logEvent("jwks_unavailable", { jwksUri: issuer.jwksUri, error: String(e).slice(0, 200) });
			if (downUntil.size >= MAX_SETS) downUntil.delete(downUntil.keys().next().value!);
			downUntil.set(issuer.jwksUri, ctx.now + RELOAD_GAP_MS);
			return unavailable;
		}
		return invalid;
	}
}
