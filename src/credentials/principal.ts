import type { RateLimit } from "../config/schema";

/**
 * The caller, as every stage after the credential sees it, however it was proven. Policy,
 * rate limiting, CORS and the identity headers read this, never a stored record: a new
 * credential kind only needs a verifier that yields one.
 */
export interface Principal {
	/** How the caller proved who it is. */
	kind: "key" | "oauth" | "jwt";
	/** Stable id of the credential (a key id). Sent to the origin as X-Keygate-Key-Id. */
	id: string;
	api: string;
	environment: string;
	scopes: readonly string[];
	tier: string;
	/** Limits of its own that replace the tier's, or null. */
	rateLimit: RateLimit | null;
	owner: string | null;
	service: string | null;
	ipAllowlist: readonly string[] | null;
	/** The key type prefix (`sk`, `pk`): read-only types and CORS are per key type. Null for other kinds. */
	keyType: string | null;
	/** The OAuth subject (the user the grant is for); null for keys. */
	subject: string | null;
	/** The OAuth client the token was issued to; null for keys. */
	clientId: string | null;
	/** Name of the key authority (Durable Object) that decides this caller's state and counts its limits. */
	authority: string;
	/**
	 * Set for a keygate access token whose grant has NOT been checked yet, because the
	 * call that counts its limits checks it (the subject's OAuthGrants object, counter
	 * `scope` there): the rate-limit stage and a policy refusal ask that object instead of
	 * `authority`, and refuse a revoked grant. Absent for every other caller.
	 */
	grantCounter?: {
		subject: string;
		scope: string;
		/** Set when `subject` is a client's mirror: the grant's own subject, whose object decides a grant the mirror has not heard of. */
		home?: string;
	};
}
