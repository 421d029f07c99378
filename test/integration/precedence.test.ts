import { describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { crc32 } from "../../src/keys/format";
import { admin, call, callWithConfig, callWithEnv, createKey, expectError, gatewayFor } from "../helpers/gateway";
import { countingBindings } from "../helpers/counting";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("the authority's verdict comes before the policy's", () => {
	it("a deleted key that an isolate still has cached is invalid_api_key, not 403, on a route it lacks the scope for", async () => {
		const { id, key } = await createKey({ scopes: ["read"] });
		expect((await call("/v1/a", { key })).status).toBe(200); // cached in this isolate
		await admin(`/keys/${id}`, { method: "DELETE" });
		const res = await call("/v1/a", { key, method: "DELETE" });
		await expectError(res, 401, "invalid_api_key");
		expect(res.headers.get("X-RateLimit-Limit")).toBeNull();
		expect(origin.calls).toHaveLength(1);
	});

	it("a revoked key is expired_api_key on a route it lacks the scope for", async () => {
		const { id, key } = await createKey({ scopes: ["read"] });
		await call("/v1/a", { key });
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		await expectError(await call("/v1/a", { key, method: "POST" }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(1);
	});
});

describe("names that exist on every JavaScript object are no names", () => {
	/** A key of type "constructor" with a valid checksum: anyone can compute one. */
	function forged(type: string, environment: string): string {
		const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
		const head = `${type}_${environment}_${"a".repeat(43)}`;
		let n = crc32(head);
		let check = "";
		for (let i = 0; i < 6; i++) {
			check = alphabet[n % 62] + check;
			n = Math.floor(n / 62);
		}
		return head + check;
	}

	it.each([
		["constructor", "live"],
		["sk", "constructor"],
		["tostring", "live"],
	])("a key of type %s, environment %s is refused without a KV read", async (type, environment) => {
		const counted = countingBindings();
		await expectError(await callWithEnv(counted.bindings, "/v1/a", { key: forged(type, environment) }), 401, "invalid_api_key");
		expect(counted.counts.kvReads).toBe(0);
		expect(origin.calls).toHaveLength(0);
	});

	it("the admin API refuses a tier, type or environment named constructor", async () => {
		for (const body of [{ tier: "constructor" }, { type: "constructor" }, { environment: "constructor" }]) {
			await expectError(await admin("/keys", { method: "POST", body: JSON.stringify({ name: "x", ...body }) }), 400, "invalid_request");
		}
	});

	it("a config naming constructor as the default tier or role is invalid", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].defaultTier = "constructor";
		await expectError(await callWithConfig(config, "/health"), 503, "gateway_unavailable");
		const roles = structuredClone(bundled) as any;
		roles.apis[0].owners = { roles: { admin: {} }, defaultRole: "constructor" };
		await expectError(await callWithConfig(roles, "/health"), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
	});

	it("an owner cannot be given the role constructor", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].owners = { roles: { readonly: { methods: ["GET"] } }, defaultRole: "readonly" };
		const res = await callWithConfig(config, "/_keygate/v1/owners/user_1", {
			method: "PUT",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef" },
			body: JSON.stringify({ role: "constructor" }),
		});
		await expectError(res, 400, "invalid_request");
	});
});

describe("values that travel as headers", () => {
	it.each([
		["service", "billing\r\nX-Evil: 1"],
		["service", "bílling"],
		["owner", "user 1"],
		["owner", "üser"],
	])("a %s of %j is refused at creation, so it can never break a request", async (field, value) => {
		await expectError(
			await admin("/keys", { method: "POST", body: JSON.stringify({ name: "x", [field]: value }) }),
			400,
			"invalid_request",
		);
	});
});

describe("public routes and environments bound to hosts", () => {
	it("a public route goes to the origin of the environment that claims the host", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].environments = {
			live: { origin: "https://live.origin.test", hosts: ["api.example.com"] },
			test: { origin: "https://sandbox.origin.test", hosts: ["sandbox.example.com"] },
		};
		expect((await gatewayFor(config, "https://sandbox.example.com").call("/health")).status).toBe(200);
		expect(origin.calls.at(-1)!.url.origin).toBe("https://sandbox.origin.test");
		expect((await gatewayFor(config, "https://api.example.com").call("/health")).status).toBe(200);
		expect(origin.calls.at(-1)!.url.origin).toBe("https://live.origin.test");
	});
});
