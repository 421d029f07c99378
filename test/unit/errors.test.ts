import { describe, expect, it } from "vitest";
import { publicCode, REASONS } from "../../src/errors/catalogue";
import { DEFAULT_ERROR_CONTEXT, renderError, type ErrorContext } from "../../src/errors/render";

const ctx = (style: ErrorContext["style"], overrides?: ErrorContext["overrides"]): ErrorContext => ({
	style,
	realm: "keygate",
	scheme: "Bearer",
	overrides,
});

describe("error rendering", () => {
	it("renders the default style exactly as the documentation prints it", async () => {
		const res = renderError("unknown_key", ctx("default"));
		expect(await res.text()).toBe('{\n  "error": "invalid_api_key",\n  "message": "The API key provided is invalid."\n}');
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate", error="invalid_token"');
	});

	it("omits the error attribute from the challenge when no credential was sent (RFC 6750 §3.1)", () => {
		expect(renderError("no_credential", ctx("default")).headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate"');
	});

	it("renders an expired access token as seed 004 documents it, with an RFC 6750 challenge", async () => {
		const res = renderError("token_expired", ctx("default"));
		expect(res.status).toBe(401);
		expect(await res.text()).toBe('{\n  "error": "token_expired",\n  "message": "The access token has expired."\n}');
		expect(res.headers.get("WWW-Authenticate")).toBe(
			'Bearer realm="keygate", error="invalid_token", error_description="The access token has expired."',
		);
	});

	it("fills the real wait into the 429 message and Retry-After", async () => {
		const res = renderError("rate_limited", ctx("default"), { retryAfter: 3600 });
		expect(res.status).toBe(429);
		expect(res.headers.get("Retry-After")).toBe("3600");
		expect(await res.json()).toEqual({ error: "rate_limit_exceeded", message: "Rate limit exceeded. Try again in 3600 seconds." });
	});

	it("renders the nested, minimal and problem styles", async () => {
		expect(await renderError("missing_scope", ctx("nested")).json()).toEqual({
			error: { code: "insufficient_permissions", message: "The API key does not have permission to perform this action." },
		});
		expect(await renderError("unknown_key", ctx("minimal")).text()).toBe('{\n  "error": "Unauthorized"\n}');
		expect(await renderError("missing_scope", ctx("minimal")).json()).toEqual({ error: "Forbidden" });
		const problem = renderError("kv_failed", ctx("problem"));
		expect(problem.headers.get("Content-Type")).toBe("application/problem+json");
		expect(await problem.json()).toMatchObject({ status: 503, title: "Service Unavailable", code: "gateway_unavailable" });
	});

	it("applies per-API overrides of code and message", async () => {
		const res = renderError(
			"unknown_key",
			ctx("nested", { invalid_api_key: { code: "unauthorized", message: "No valid API key provided." } }),
		);
		expect(await res.json()).toEqual({ error: { code: "unauthorized", message: "No valid API key provided." } });
	});

	// The documented mapping, written out independently of the code: every reason the
	// catalogue lists must appear here, with its public code and status.
	const DOCUMENTED: Record<string, [string, number]> = {
		no_credential: ["missing_api_key", 401],
		key_in_query: ["missing_api_key", 401],
		key_in_path: ["missing_api_key", 401],
		wrong_scheme: ["invalid_api_key", 401],
		malformed_key: ["invalid_api_key", 401],
		unknown_key_type: ["invalid_api_key", 401],
		identifier_only: ["invalid_api_key", 401],
		unknown_key: ["invalid_api_key", 401],
		deleted_key: ["invalid_api_key", 401],
		wrong_api: ["invalid_api_key", 401],
		wrong_environment: ["invalid_api_key", 401],
		revoked: ["expired_api_key", 401],
		expired: ["expired_api_key", 401],
		grace_ended: ["expired_api_key", 401],
		token_expired: ["token_expired", 401],
		forged_token: ["invalid_api_key", 401],
		grant_revoked: ["invalid_api_key", 401],
		missing_scope: ["insufficient_permissions", 403],
		read_only_key: ["insufficient_permissions", 403],
		ip_not_allowed: ["insufficient_permissions", 403],
		route_denied: ["insufficient_permissions", 403],
		owner_not_permitted: ["insufficient_permissions", 403],
		tier_not_in_environment: ["insufficient_permissions", 403],
		rate_limited: ["rate_limit_exceeded", 429],
		too_many_failures: ["rate_limit_exceeded", 429],
		origin_unreachable: ["origin_unavailable", 502],
		origin_timed_out: ["origin_timeout", 504],
		config_invalid: ["gateway_unavailable", 503],
		secret_missing: ["gateway_unavailable", 503],
		kv_failed: ["gateway_unavailable", 503],
		limiter_failed: ["gateway_unavailable", 503],
		owner_lookup_failed: ["gateway_unavailable", 503],
		jwks_unavailable: ["gateway_unavailable", 503],
		internal_error: ["gateway_unavailable", 503],
		no_api: ["not_found", 404],
		not_found: ["not_found", 404],
		ambiguous_path: ["invalid_request", 400],
		invalid_request: ["invalid_request", 400],
		admin_unauthorized: ["invalid_admin_token", 401],
		key_not_found: ["key_not_found", 404],
		key_conflict: ["conflict", 409],
	};

	it("the documented table covers exactly the catalogue's reasons", () => {
		expect(Object.keys(DOCUMENTED).sort()).toEqual([...REASONS].sort());
	});

	it.each([...REASONS])("maps %s to its documented public code and status", async (reason) => {
		const [code, status] = DOCUMENTED[reason]!;
		expect(publicCode(reason)).toBe(code);
		const res = renderError(reason, DEFAULT_ERROR_CONTEXT, { retryAfter: 1 });
		expect(res.status).toBe(status);
		expect(((await res.json()) as { error: string }).error).toBe(code);
	});
});
