import { grants } from "../authority/client";
import type { GrantCheck } from "../authority/oauth-grants";
import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import { verifyAccessToken, type AccessTokenClaims, type ParsedAccessToken } from "../oauth/access-token";
import { logEvent } from "../util/log";
import type { Principal } from "./principal";
import type { Verdict, VerifyContext } from "./verify";

/**
 * Names the counter object (a KeyAuthority, the same class that counts keys) an access
 * token spends from, per the API's `oauth.rateLimitBy`. The `oauth:` prefix keeps these
 * names apart from key ids (`key_…`). "\n" cannot occur in a client id or subject that
 * reached a token, so the pair is unambiguous.
 */
export function oauthAuthority(api: CompiledApi, claims: AccessTokenClaims): string {
	switch (api.oauth?.rateLimitBy ?? "subject") {
		case "subject":
			return `oauth:${claims.api}:subject:${claims.sub}`;
		case "client":
			return `oauth:${claims.api}:client:${claims.cid}`;
		case "subject+client":
			return `oauth:${claims.api}:pair:${claims.sub}\n${claims.cid}`;
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
	};
}

/**
 * The access-token verifier. The MAC and the expiry are decided with no I/O (a forged
 * token is invalid_api_key whatever expiry it claims; only a genuine one can be
 * token_expired). Then one call to the subject's grants object, so a revoked grant,
 * client or subject is seen by the very next request from any isolate: no cache here,
 * on purpose.
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
	let state: GrantCheck;
	try {
		state = await grants(env, claims.api, claims.sub).check(claims.gid);
	} catch (e) {
		logEvent("grant_check_failed", { grantId: claims.gid, error: String(e) });
		return { ok: false, reason: "limiter_failed", countsAsFailure: false };
	}
	if (state !== "ok") return { ok: false, reason: "grant_revoked", countsAsFailure: false };
	return { ok: true, principal: tokenPrincipal(ctx.api, claims) };
}
