import { describe, expect, it } from "vitest";
import { publicCode, type Reason } from "../../src/errors/catalogue";
import { renderError, type ErrorContext } from "../../src/errors/render";

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

	it("maps every internal reason to a public code", () => {
		const reasons: Reason[] = [
			"no_credential",
			"wrong_scheme",
			"deleted_key",
			"wrong_api",
			"grace_ended",
			"ip_not_allowed",
			"limiter_failed",
			"origin_unreachable",
		];
		expect(reasons.map(publicCode)).toEqual([
			"missing_api_key",
			"invalid_api_key",
			"invalid_api_key",
			"invalid_api_key",
			"expired_api_key",
			"insufficient_permissions",
			"gateway_unavailable",
			"origin_unavailable",
		]);
	});
});
