import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { keyCache } from "../../src/keys/cache";
import { generateKey } from "../../src/keys/format";
import { admin, call, callWithConfig, callWithEnv, createKey, expectError, badChecksum } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

const INVALID = "The API key provided is invalid.";

describe("401 missing_api_key", () => {
	it.each([
		["no header at all", {}],
		["an unrelated header", { "X-Other": "sk_live_x" }],
	])("answers when there is %s", async (_name, headers) => {
		const res = await call("/v1/things", { headers });
		await expectError(res, 401, "missing_api_key", "No API key provided in the Authorization header.");
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate"');
		expect(origin.calls).toHaveLength(0);
	});
});

describe("401 invalid_api_key", () => {
	it.each([
		["a wrong scheme", "Basic dXNlcjpwYXNz"],
		["a scheme with no key", "Bearer"],
		["garbage", "Bearer hello"],
		["a bad checksum", () => "Bearer " + badChecksum(generateKey("sk", "live"))],
		["a key type this API does not have", () => "Bearer " + generateKey("nvp", "live")],
		["an environment this API does not have", () => "Bearer " + generateKey("sk", "staging")],
		["a well-formed key that does not exist", () => "Bearer " + generateKey("sk", "live")],
		["two keys in one header", () => `Bearer ${generateKey("sk", "live")}, Bearer ${generateKey("sk", "live")}`],
		["a 16 KB credential", "Bearer " + "a".repeat(16_384)],
	])("answers for %s, identically", async (_name, value) => {
		const authorization = typeof value === "function" ? value() : value;
		const res = await call("/v1/things", { headers: { Authorization: authorization } });
		await expectError(res, 401, "invalid_api_key", INVALID);
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate", error="invalid_token"');
		expect(origin.calls).toHaveLength(0);
	});

	it("answers for a deleted key, like an unknown one", async () => {
		const { id, key } = await createKey();
		expect((await call("/v1/things", { key })).status).toBe(200);
		expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(204);
		const before = origin.calls.length;
		await expectError(await call("/v1/things", { key }), 401, "invalid_api_key", INVALID);
		// And again after the isolate forgets it: KV no longer has it either.
		keyCache.clear();
		await expectError(await call("/v1/things", { key }), 401, "invalid_api_key", INVALID);
		expect(origin.calls).toHaveLength(before);
	});

	it("answers for a key of another API on the same deployment", async () => {
		const two = structuredClone(bundled) as any;
		two.apis.push({ ...structuredClone(bundled.apis[0]), name: "other", match: { pathPrefix: "/other" } });
		// The key is made for the demo API, then used on /other.
		const { key } = await createKey();
		const res = await callWithConfig(two, "/other/things", { key });
		await expectError(res, 401, "invalid_api_key", INVALID);
		expect(origin.calls).toHaveLength(0);
	});

	it("accepts the key in the X-API-Key header too", async () => {
		const { key } = await createKey();
		expect((await call("/v1/things", { headers: { "X-API-Key": key } })).status).toBe(200);
		await expectError(await call("/v1/things", { headers: { "X-API-Key": "nope" } }), 401, "invalid_api_key", INVALID);
		expect(origin.calls).toHaveLength(1);
	});

	it("accepts the scheme in any case (RFC 9110 §11.1)", async () => {
		const { key } = await createKey();
		expect((await call("/v1/things", { headers: { Authorization: `bearer ${key}` } })).status).toBe(200);
		expect((await call("/v1/things", { headers: { Authorization: `BEARER ${key}` } })).status).toBe(200);
	});
});

describe("401 expired_api_key", () => {
	it("answers for a revoked key", async () => {
		const { id, key } = await createKey();
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		await expectError(await call("/v1/things", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("403 insufficient_permissions", () => {
	it("answers for a missing scope", async () => {
		const { key } = await createKey({ scopes: ["read"] });
		await expectError(await call("/v1/things", { key, method: "POST", body: "{}" }), 403, "insufficient_permissions");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("429 rate_limit_exceeded", () => {
	it("answers with the real wait in the message and Retry-After", async () => {
		const { key } = await createKey({ rateLimit: { limit: 1, window: 3600, burst: 10 } });
		expect((await call("/v1/things", { key })).status).toBe(200);
		const res = await call("/v1/things", { key });
		const body = await expectError(res, 429, "rate_limit_exceeded");
		const wait = Number(res.headers.get("Retry-After"));
		expect(wait).toBeGreaterThan(0);
		expect(wait).toBeLessThanOrEqual(3600);
		expect(body.message).toBe(`Rate limit exceeded. Try again in ${wait} seconds.`);
		expect(Number(res.headers.get("X-RateLimit-Reset")) - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(wait);
		expect(origin.calls).toHaveLength(1);
	});
});

describe("502 origin_unavailable", () => {
	it("answers when the origin cannot be reached, after counting the request once", async () => {
		const { key } = await createKey();
		origin.failing = true;
		const res = await call("/v1/things", { key });
		await expectError(res, 502, "origin_unavailable");
		// Counted, so it reports the limits it spent, as a pass would ("every response includes").
		expect(res.headers.get("X-RateLimit-Limit")).toBe("1000");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("999");
		expect(res.headers.get("X-RateLimit-Reset")).toMatch(/^\d+$/);
	});
});

describe("503 gateway_unavailable: keygate fails closed", () => {
	const broken = () => {
		throw new Error("injected failure");
	};

	it("when KV fails", async () => {
		const { key } = await createKey();
		keyCache.clear();
		const failingKv = { get: broken, put: broken, list: broken, delete: broken };
		await expectError(await callWithEnv({ KEYS: failingKv }, "/v1/things", { key }), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
	});

	it("when the key's Durable Object fails", async () => {
		const { key } = await createKey();
		const failingNamespace = {
			idFromName: (n: string) => env.KEY_AUTHORITY.idFromName(n),
			get: () => ({ check: () => Promise.reject(new Error("injected: object overloaded")) }),
		};
		await expectError(await callWithEnv({ KEY_AUTHORITY: failingNamespace }, "/v1/things", { key }), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
	});

	it("when the config is invalid, for every request including public ones", async () => {
		const bad = structuredClone(bundled) as any;
		bad.apis[0].tiers.free.burst = "fifty";
		for (const path of ["/health", "/v1/things"]) {
			await expectError(await callWithConfig(bad, path), 503, "gateway_unavailable");
		}
		expect(origin.calls).toHaveLength(0);
	});

	it("when the signing secret is missing", async () => {
		const { key } = await createKey();
		await expectError(await callWithEnv({ SIGNING_SECRET: "" }, "/v1/things", { key }), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
	});

	it("when a secret is shorter than 32 characters, as if it were unset (found by a probe: a one-character ADMIN_TOKEN opened the admin API)", async () => {
		const { key } = await createKey();
		const short = "s".repeat(31);
		await expectError(await callWithEnv({ SIGNING_SECRET: short }, "/v1/things", { key }), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
		// 32 characters are enough.
		expect((await callWithEnv({ SIGNING_SECRET: "s".repeat(32) }, "/v1/things", { key })).status).toBe(200);
		for (const token of ["a", short]) {
			const res = await callWithEnv({ ADMIN_TOKEN: token }, "/_keygate/v1/keys", { headers: { Authorization: `Bearer ${token}` } });
			await expectError(res, 503, "gateway_unavailable");
			const console = await callWithEnv({ ADMIN_TOKEN: token }, "/_keygate/ui/login");
			expect(console.status).toBe(404);
		}
		expect(origin.calls).toHaveLength(1);
	});
});

describe("other error styles", () => {
	it.each([
		["nested", { error: { code: "invalid_api_key", message: INVALID } }],
		["minimal", { error: "Unauthorized" }],
		[
			"problem",
			{ type: "urn:keygate:error:invalid_api_key", title: "Unauthorized", status: 401, detail: INVALID, code: "invalid_api_key" },
		],
	])("renders %s bodies when the API chooses it", async (style, expected) => {
		const config = structuredClone(bundled) as any;
		config.apis[0].errors.style = style;
		const res = await callWithConfig(config, "/v1/things", { headers: { Authorization: "Bearer nope" } });
		expect(res.status).toBe(401);
		expect(await res.json()).toEqual(expected);
		expect(origin.calls).toHaveLength(0);
	});
});
