import { grants, type GrantBindings } from "../authority/client";
import type { Principal } from "../credentials/principal";
import type { LimitDecision, Limiter } from "./limiter";

/**
 * The limiter of a keygate access token counted by its subject's OAuthGrants object
 * (Principal `grantCounter`): one call checks the grant and counts, so a warm token
 * costs what a warm key costs, and a revoked grant is refused by the very next request
 * from any isolate. Per client the counting object is the client's mirror; a grant it
 * has not heard of (its send still on the way, or older than mirrors) is decided by the
 * grant's subject's object, which sends it (two more calls, once per grant). Always strict, whatever the tier's `consistency` says: a lease held
 * by an isolate would let a revoked grant's tokens pass without asking, and the grants
 * object never hands out more than one request at a time (README "Consistency").
 */
export function grantsLimiter(env: GrantBindings, counter: NonNullable<Principal["grantCounter"]>): Limiter<LimitDecision> {
	return {
		async check(principal, limits) {
			const counting = grants(env, principal.api, counter.subject);
			let answer = await counting.spend(principal.id, counter.scope, limits.buckets);
			if (!answer.ok && answer.reason === "grant_unknown" && counter.home !== undefined) {
				// A client's mirror that has not heard of the grant yet: the subject's object decides, and sends it.
				const sent = await grants(env, principal.api, counter.home).resend(principal.id);
				if (sent.state !== "ok") return { ok: false, reason: "grant_revoked" };
				if (!sent.mirrored) throw new Error("the client's mirror did not take the grant");
				answer = await counting.spend(principal.id, counter.scope, limits.buckets);
			}
			if (answer.ok) return { ok: true, rate: answer.rate, deprecatedAt: null, graceEndsAt: null };
			return answer.reason === "grant_unknown" ? { ok: false, reason: "grant_revoked" } : answer;
		},
	};
}
