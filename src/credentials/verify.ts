import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import type { Reason } from "../errors/catalogue";
import type { Classified } from "./classify";
import { verifyJwt } from "./jwt";
import { verifyKey } from "./key";
import type { Principal } from "./principal";
import { verifyToken } from "./token";

/** What a verifier knows about the request besides the credential. */
export interface VerifyContext {
	api: CompiledApi;
	host: string;
	/** The client's address, for the failed-credential throttle. */
	ip: string | undefined;
	now: number;
}

/**
 * A verifier's answer: the Principal, or the documented reason to refuse.
 * `countsAsFailure` marks a bad credential (counted against the client's address by the
 * failed-credential throttle), as opposed to a good one that may not be used now.
 */
export type Verdict = { ok: true; principal: Principal } | { ok: false; reason: Reason; countsAsFailure: boolean; retryAfter?: number };

/** Turns a classified credential into a Principal, with the verifier of its kind. */
export function verify(credential: Classified, ctx: VerifyContext, env: Bindings): Promise<Verdict> {
	switch (credential.kind) {
		case "key":
			return verifyKey(credential.key, ctx, env);
		case "token":
			return verifyToken(credential.token, ctx, env);
		case "jwt":
			return verifyJwt(credential.jwt, credential.alg, ctx);
		case "garbage":
			return Promise.resolve({ ok: false, reason: "malformed_key", countsAsFailure: true });
	}
}
