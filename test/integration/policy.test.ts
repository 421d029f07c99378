import { describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { admin, call, callWithConfig, createKey, expectError } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("scopes from the route rules", () => {
	it("GET and HEAD on /v1/** need read; other methods need write", async () => {
		const reader = await createKey({ scopes: ["read"] });
		const writer = await createKey({ scopes: ["write"] });
		expect((await call("/v1/a", { key: reader.key })).status).toBe(200);
		expect((await call("/v1/a", { key: reader.key, method: "HEAD" })).status).toBe(200);
		for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
			await expectError(await call("/v1/a", { key: reader.key, method }), 403, "insufficient_permissions");
			expect((await call("/v1/a", { key: writer.key, method })).status).toBe(200);
		}
		await expectError(await call("/v1/a", { key: writer.key }), 403, "insufficient_permissions");
		expect(origin.calls.map((c) => c.method)).toEqual(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
	});

	it("GET /health is public: no key needed, and a bad key is not even looked at", async () => {
		expect((await call("/health")).status).toBe(200);
		expect((await call("/health", { headers: { Authorization: "Bearer junk" } })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
		expect(origin.calls.every((c) => !c.headers.has("authorization"))).toBe(true);
	});

	it("a request no rule matches needs only a valid key with unmatchedRoutes: authenticate (the default), and is refused with deny (the demo's)", async () => {
		const { key } = await createKey({ scopes: [] });
		const authenticate = structuredClone(bundled) as any;
		delete authenticate.apis[0].unmatchedRoutes;
		expect((await callWithConfig(authenticate, "/elsewhere", { key })).status).toBe(200);
		expect(bundled.apis[0]!.unmatchedRoutes).toBe("deny");
		await expectError(await call("/elsewhere", { key }), 403, "insufficient_permissions");
		expect(origin.calls).toHaveLength(1);
	});
});

describe("publishable keys", () => {
	it("are read-only: GET and HEAD pass, writes are 403 even with the write scope", async () => {
		const { key } = await createKey({ type: "pk", scopes: ["read", "write"] });
		expect(key.startsWith("pk_")).toBe(true);
		expect((await call("/v1/a", { key })).status).toBe(200);
		expect((await call("/v1/a", { key, method: "HEAD" })).status).toBe(200);
		for (const method of ["POST", "PUT", "DELETE"]) {
			await expectError(await call("/v1/a", { key, method }), 403, "insufficient_permissions");
		}
		expect(origin.calls).toHaveLength(2);
	});

	it("get CORS headers for an allowed origin; secret keys do not", async () => {
		const pair = await (await admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "web", scopes: ["read"] }) })).json<any>();
		const fromBrowser = { Origin: "https://app.example.com" };
		const pk = await call("/v1/a", { key: pair.publishable.key, headers: fromBrowser });
		expect(pk.status).toBe(200);
		expect(pk.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
		expect(pk.headers.get("Access-Control-Expose-Headers")).toContain("X-RateLimit-Remaining");
		const sk = await call("/v1/a", { key: pair.secret.key, headers: fromBrowser });
		expect(sk.status).toBe(200);
		expect(sk.headers.get("Access-Control-Allow-Origin")).toBeNull();
	});

	it("a preflight is answered by keygate without a key and never reaches the origin", async () => {
		const res = await call("/v1/a", {
			method: "OPTIONS",
			headers: {
				Origin: "https://app.example.com",
				"Access-Control-Request-Method": "GET",
				"Access-Control-Request-Headers": "authorization",
			},
		});
		expect(res.status).toBe(204);
		expect(res.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
		expect(res.headers.get("Access-Control-Allow-Headers")).toContain("Authorization");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("IP allowlist (CF-Connecting-IP)", () => {
	it("passes listed addresses and ranges, refuses others and requests without an address", async () => {
		const { key } = await createKey({ ipAllowlist: ["203.0.113.0/24", "2001:db8::/32"] });
		expect((await call("/v1/a", { key, headers: { "CF-Connecting-IP": "203.0.113.9" } })).status).toBe(200);
		expect((await call("/v1/a", { key, headers: { "CF-Connecting-IP": "2001:db8::7" } })).status).toBe(200);
		await expectError(await call("/v1/a", { key, headers: { "CF-Connecting-IP": "198.51.100.1" } }), 403, "insufficient_permissions");
		await expectError(await call("/v1/a", { key }), 403, "insufficient_permissions");
		expect(origin.calls).toHaveLength(2);
	});
});

describe("environments", () => {
	it("a key reaches only its own environment's origin", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].environments.live.origin = "https://live.origin.test";
		config.apis[0].environments.test.origin = "https://sandbox.origin.test/base";
		const live = await createKey({ environment: "live" });
		const test = await createKey({ environment: "test" });
		expect(live.key.startsWith("sk_live_")).toBe(true);
		expect(test.key.startsWith("sk_test_")).toBe(true);
		expect((await callWithConfig(config, "/v1/a?x=1", { key: live.key })).status).toBe(200);
		expect((await callWithConfig(config, "/v1/a?x=1", { key: test.key })).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["https://live.origin.test/v1/a?x=1", "https://sandbox.origin.test/base/v1/a?x=1"]);
	});

	it("an environment restricted to some hosts refuses its keys elsewhere", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].environments.test.hosts = ["sandbox.example.com"];
		const test = await createKey({ environment: "test" });
		await expectError(await callWithConfig(config, "/v1/a", { key: test.key }), 401, "invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});
});
