/**
 * The OAuth endpoints' one error renderer (RFC 6749 §5.2, RFC 7009 §2.2.1). These
 * endpoints speak OAuth, not the API's error style: a client library parses `error` and
 * `error_description`. Every answer is `Cache-Control: no-store` (§5.1).
 */
export type OAuthErrorCode =
	| "invalid_request"
	| "invalid_client"
	| "invalid_grant"
	| "unauthorized_client"
	| "unsupported_grant_type"
	| "invalid_scope"
	| "unsupported_token_type"
	| "slow_down"
	| "temporarily_unavailable";

const STATUS: Record<OAuthErrorCode, number> = {
	invalid_request: 400,
	invalid_client: 401,
	invalid_grant: 400,
	unauthorized_client: 400,
	unsupported_grant_type: 400,
	invalid_scope: 400,
	unsupported_token_type: 400,
	// Not in RFC 6749 §5.2; the throttle answers 429 with Retry-After, which clients understand.
	slow_down: 429,
	temporarily_unavailable: 503,
};

export const NO_STORE = { "Cache-Control": "no-store", Pragma: "no-cache" } as const;

export function oauthError(code: OAuthErrorCode, description: string, extra: { realm?: string; retryAfter?: number } = {}): Response {
	const headers = new Headers({ "Content-Type": "application/json", ...NO_STORE });
	// RFC 6749 §5.2: a 401 invalid_client carries a challenge for the scheme the client may use.
	if (code === "invalid_client") headers.set("WWW-Authenticate", `Basic realm="${extra.realm ?? "keygate"}"`);
	if (extra.retryAfter !== undefined) headers.set("Retry-After", String(extra.retryAfter));
	return new Response(JSON.stringify({ error: code, error_description: description }, null, 2), { status: STATUS[code], headers });
}

export function oauthJson(body: unknown, status = 200): Response {
	return new Response(JSON.stringify(body, null, 2), { status, headers: { "Content-Type": "application/json", ...NO_STORE } });
}
