/**
 * The error catalogue. Inside, the pipeline reports a precise `Reason`; outside, a
 * client only ever sees the documented public code it maps to. Unknown, deleted,
 * other-API and bad-checksum keys therefore answer identically, so the answers cannot
 * be used to enumerate keys.
 */

export type Reason =
	// 401 missing_api_key
	| "no_credential"
	// 401 invalid_api_key
	| "wrong_scheme"
	| "malformed_key"
	| "unknown_key_type"
	| "identifier_only"
	| "unknown_key"
	| "deleted_key"
	| "wrong_api"
	| "wrong_environment"
	// 401 expired_api_key
	| "revoked"
	| "expired"
	| "grace_ended"
	// 401 token_expired: a genuine keygate access token (its MAC holds) past its expiry
	| "token_expired"
	// 401 invalid_api_key: an access token whose MAC fails, or whose grant is unknown or revoked
	| "forged_token"
	| "grant_revoked"
	// 403 insufficient_permissions
	| "missing_scope"
	| "read_only_key"
	| "ip_not_allowed"
	| "route_denied"
	| "owner_not_permitted"
	| "tier_not_in_environment"
	// 429
	| "rate_limited"
	| "too_many_failures"
	// 502, 504
	| "origin_unreachable"
	| "origin_timed_out"
	// 503: fail closed
	| "config_invalid"
	| "secret_missing"
	| "kv_failed"
	| "limiter_failed"
	| "owner_lookup_failed"
	| "jwks_unavailable"
	| "internal_error"
	// 404: no configured API serves this host and path
	| "no_api"
	// 400: a path keygate will not route (encoded slashes or dot segments)
	| "ambiguous_path"
	// 401 missing_api_key: a key sent in the query string or the path
	| "key_in_query"
	| "key_in_path"
	// admin API
	| "admin_unauthorized"
	| "invalid_request"
	| "key_not_found"
	| "key_conflict"
	| "not_found";

/** Every reason, at run time (the check below fails to compile if one is missing). */
export const REASONS = [
	"no_credential",
	"wrong_scheme",
	"malformed_key",
	"unknown_key_type",
	"identifier_only",
	"unknown_key",
	"deleted_key",
	"wrong_api",
	"wrong_environment",
	"revoked",
	"expired",
	"grace_ended",
	"token_expired",
	"forged_token",
	"grant_revoked",
	"missing_scope",
	"read_only_key",
	"ip_not_allowed",
	"route_denied",
	"owner_not_permitted",
	"tier_not_in_environment",
	"rate_limited",
	"too_many_failures",
	"origin_unreachable",
	"origin_timed_out",
	"config_invalid",
	"secret_missing",
	"kv_failed",
	"limiter_failed",
	"owner_lookup_failed",
	"jwks_unavailable",
	"internal_error",
	"no_api",
	"ambiguous_path",
	"key_in_query",
	"key_in_path",
	"admin_unauthorized",
	"invalid_request",
	"key_not_found",
	"key_conflict",
	"not_found",
] as const satisfies readonly Reason[];
const everyReasonListed: [Exclude<Reason, (typeof REASONS)[number]>] extends [never] ? true : never = true;
void everyReasonListed;

export type PublicCode =
	| "missing_api_key"
	| "invalid_api_key"
	| "expired_api_key"
	| "token_expired"
	| "insufficient_permissions"
	| "rate_limit_exceeded"
	| "origin_unavailable"
	| "origin_timeout"
	| "gateway_unavailable"
	| "not_found"
	| "invalid_admin_token"
	| "invalid_request"
	| "key_not_found"
	| "conflict";

export interface CatalogueEntry {
	status: number;
	code: PublicCode;
	message: string;
}

const ENTRIES: Record<PublicCode, Omit<CatalogueEntry, "code">> = {
	missing_api_key: { status: 401, message: "No API key provided in the Authorization header." },
	invalid_api_key: { status: 401, message: "The API key provided is invalid." },
	expired_api_key: { status: 401, message: "The API key provided has expired or has been revoked." },
	// Seed 004's "Expired Token" body, word for word (RFC 6750 §3.1 invalid_token in the challenge).
	token_expired: { status: 401, message: "The access token has expired." },
	insufficient_permissions: { status: 403, message: "The API key does not have permission to perform this action." },
	rate_limit_exceeded: { status: 429, message: "Rate limit exceeded. Try again in {retryAfter} seconds." },
	origin_unavailable: { status: 502, message: "The upstream service could not be reached." },
	origin_timeout: { status: 504, message: "The upstream service did not answer in time." },
	gateway_unavailable: { status: 503, message: "The gateway cannot verify requests right now. Try again shortly." },
	not_found: { status: 404, message: "Not found." },
	invalid_admin_token: { status: 401, message: "A valid admin token is required." },
	invalid_request: { status: 400, message: "The request is invalid." },
	key_not_found: { status: 404, message: "No key with this id exists." },
	conflict: { status: 409, message: "The key is not in a state that allows this." },
};

/** The one exhaustive mapping from internal reason to public code. */
export function publicCode(reason: Reason): PublicCode {
	switch (reason) {
		case "no_credential":
		case "key_in_query": // a key only counts in the places the API accepts; the query string is never one
		case "key_in_path":
			return "missing_api_key";
		case "wrong_scheme":
		case "malformed_key":
		case "unknown_key_type":
		case "identifier_only":
		case "unknown_key":
		case "deleted_key":
		case "wrong_api":
		case "wrong_environment":
		case "forged_token": // a forged token, even one whose (unsigned) expiry is past, is invalid: never "expired"
		case "grant_revoked":
			return "invalid_api_key";
		case "token_expired":
			return "token_expired";
		case "revoked":
		case "expired":
		case "grace_ended":
			return "expired_api_key";
		case "missing_scope":
		case "read_only_key":
		case "ip_not_allowed":
		case "route_denied":
		case "owner_not_permitted":
		case "tier_not_in_environment":
			return "insufficient_permissions";
		case "rate_limited":
		case "too_many_failures":
			return "rate_limit_exceeded";
		case "origin_unreachable":
			return "origin_unavailable";
		case "origin_timed_out":
			return "origin_timeout";
		case "config_invalid":
		case "secret_missing":
		case "kv_failed":
		case "limiter_failed":
		case "owner_lookup_failed":
		case "jwks_unavailable":
		case "internal_error":
			return "gateway_unavailable";
		case "no_api":
		case "not_found":
			return "not_found";
		case "admin_unauthorized":
			return "invalid_admin_token";
		case "invalid_request":
		case "ambiguous_path":
			return "invalid_request";
		case "key_not_found":
			return "key_not_found";
		case "key_conflict":
			return "conflict";
		default: {
			const unreachable: never = reason;
			throw new Error(`unmapped reason ${String(unreachable)}`);
		}
	}
}

export function catalogueEntry(code: PublicCode): CatalogueEntry {
	return { code, ...ENTRIES[code] };
}

export const ALL_PUBLIC_CODES = Object.keys(ENTRIES) as PublicCode[];

/** Codes only the admin API answers (always in the default style, never overridden per API). */
export const ADMIN_ONLY_CODES: string[] = ["invalid_admin_token", "key_not_found", "conflict"];
