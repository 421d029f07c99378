import { countingGrants, type GrantBindings } from "../authority/client";
import type { Principal } from "../credentials/principal";
import type { LimitDecision, Limiter } from "./limiter";

/**
 * The limiter of a keygate access token counted by its subject's OAuthGrants object
 * (Principal `grantCounter`): one call checks the grant and counts, so a warm token
 * costs what a warm key costs, and a revoked grant is refused by the very next request
 * from any isolate. Per client the counting object is the client's mirror (a grant it has
 * not heard of costs two more calls, once: see countingGrants). Always strict, whatever the tier's `consistency` says: a lease held
 * by an isolate would let a revoked grant's tokens pass without asking, and the grants
 * object never hands out more than one request at a time (README "Consistency").
 */
export function grantsLimiter(env: GrantBindings, counter: NonNullable<Principal["grantCounter"]>): Limiter<LimitDecision> {
	return {
		async check(principal, limits) {
			const answer = await countingGrants(env, principal.api, counter).spend(principal.id, counter.scope, limits.buckets);
			if (answer.ok) return { ok: true, rate: answer.rate, deprecatedAt: null, graceEndsAt: null };
			return answer.reason === "grant_unknown" ? { ok: false, reason: "grant_revoked" } : answer;
		},
	};
}
