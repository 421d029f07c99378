import { describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { admin, call, callWithConfig, createKey, expectError } from "../helpers/gateway";
import { MODES, tiersIn } from "../helpers/modes";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";
import { verifyIdentity } from "../helpers/identity";

const origin = useFakeOrigin();

/** The demo config with changes, as KEYGATE_CONFIG. */
function demo(change: (api: any) => void): unknown {
	const config = structuredClone(bundled) as any;
	change(config.apis[0]);
	expect(parseConfig(config)).toMatchObject({ ok: true });
	return config;
}

describe.each(MODES)("route cost and per-route limits (%s)", (consistency) => {
	it("an expensive route spends `cost` units of the key's budget", async () => {
		const config = demo((api) => {
			tiersIn(api, consistency);
			api.routes.unshift({ methods: ["POST"], path: "/v1/reports", scopes: ["write"], cost: 5 });
		});
		const { key } = await createKey({ rateLimit: { limit: 12, window: 3600, burst: 100, consistency } });
		const first = await callWithConfig(config, "/v1/reports", { key, method: "POST" });
		expect(first.headers.get("X-RateLimit-Remaining")).toBe("7");
		expect((await callWithConfig(config, "/v1/reports", { key, method: "POST" })).headers.get("X-RateLimit-Remaining")).toBe("2");
		await expectError(await callWithConfig(config, "/v1/reports", { key, method: "POST" }), 429, "rate_limit_exceeded");
		// A cheap request still fits in what is left.
		expect((await callWithConfig(config, "/v1/other", { key })).headers.get("X-RateLimit-Remaining")).toBe("1");
		expect(origin.calls).toHaveLength(3);
	});

	it("a route with a limit of its own is counted per key on top of the key's limit", async () => {
		const config = demo((api) => {
			tiersIn(api, consistency);
			api.routes.unshift({ methods: ["POST"], path: "/v1/bulk/**", scopes: ["write"], rateLimit: { limit: 2, window: 60, burst: 10 } });
		});
		const { key } = await createKey();
		for (let i = 0; i < 2; i++) expect((await callWithConfig(config, "/v1/bulk/send", { key, method: "POST" })).status).toBe(200);
		const refused = await callWithConfig(config, "/v1/bulk/send", { key, method: "POST" });
		await expectError(refused, 429, "rate_limit_exceeded");
		expect(refused.headers.get("X-RateLimit-Limit")).toBe("2");
		// Other routes are unaffected, and the refused request did not spend the key's budget.
		const other = await callWithConfig(config, "/v1/things", { key });
		expect(other.status).toBe(200);
		expect(other.headers.get("X-RateLimit-Remaining")).toBe("997");
		expect(origin.calls).toHaveLength(3); // the refused request never reached the origin
	});
});

describe("identifier keys", () => {
	it("are issued with a secret key as a pair, and authorize nothing on their own", async () => {
		const config = demo((api) => {
			api.keyTypes = { sk: { kind: "secret" }, app: { kind: "identifier" } };
			delete api.cors;
		});
		// Admin requests read the bundled config; issue the pair through a config that has identifiers.
		const res = await callWithConfig(config, "/_keygate/v1/key-pairs", {
			method: "POST",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef", "Content-Type": "application/json" },
			body: JSON.stringify({ name: "novu-app", scopes: ["read"] }),
		});
		expect(res.status).toBe(201);
		const pair = await res.json<any>();
		expect(pair.identifier.key).toMatch(/^app_live_/);
		expect(pair.identifier.kind).toBe("identifier");
		expect(pair.publishable).toBeUndefined();
		expect((await callWithConfig(config, "/v1/a", { key: pair.secret.key })).status).toBe(200);
		await expectError(await callWithConfig(config, "/v1/a", { key: pair.identifier.key }), 401, "invalid_api_key");
		expect(origin.calls).toHaveLength(1);
	});
});

describe("owners: keys inherit their owner's rights", () => {
	const withOwners = () =>
		demo((api) => {
			api.owners = {
				roles: { admin: { scopes: ["*"] }, readonly: { methods: ["GET", "HEAD"] }, none: { scopes: [], methods: ["GET"] } },
				defaultRole: "readonly",
			};
		});
	const adminHeaders = { Authorization: "Bearer test-admin-token-0123456789abcdef", "Content-Type": "application/json" };
	const setRole = (config: unknown, owner: string, role: string) =>
		callWithConfig(config, `/_keygate/v1/owners/${owner}`, { method: "PUT", headers: adminHeaders, body: JSON.stringify({ role }) });

	it("a read-only owner's key can only GET, whatever its scopes; an admin's can do everything", async () => {
		const config = withOwners();
		const owner = `user_${crypto.randomUUID().slice(0, 8)}`;
		const { key } = await createKey({ owner, scopes: ["read", "write"] });
		// No role yet: the default (readonly) applies.
		expect((await callWithConfig(config, "/v1/a", { key })).status).toBe(200);
		await expectError(await callWithConfig(config, "/v1/a", { key, method: "POST" }), 403, "insufficient_permissions");
		expect((await setRole(config, owner, "admin")).status).toBe(200);
		expect((await callWithConfig(config, "/v1/a", { key, method: "POST" })).status).toBe(200);
		// Demotion applies on the very next request of every key of that owner.
		const second = await createKey({ owner, scopes: ["read", "write"] });
		expect((await setRole(config, owner, "readonly")).status).toBe(200);
		await expectError(await callWithConfig(config, "/v1/a", { key, method: "DELETE" }), 403, "insufficient_permissions");
		await expectError(await callWithConfig(config, "/v1/a", { key: second.key, method: "PUT" }), 403, "insufficient_permissions");
		expect(origin.calls.map((c) => c.method)).toEqual(["GET", "POST"]);
	});

	it("the key's own scopes still limit it under an admin owner", async () => {
		const config = withOwners();
		const owner = `user_${crypto.randomUUID().slice(0, 8)}`;
		await setRole(config, owner, "admin");
		const { key } = await createKey({ owner, scopes: ["read"] });
		await expectError(await callWithConfig(config, "/v1/a", { key, method: "POST" }), 403, "insufficient_permissions");
		expect(origin.calls).toHaveLength(0);
	});

	it("the origin is told the scopes the owner's role allows today, signed, not all the key's (found by a peer's suite)", async () => {
		const config = demo((api) => {
			api.owners = { roles: { admin: { scopes: ["*"] }, reader: { scopes: ["read"], methods: ["GET"] } }, defaultRole: "reader" };
		});
		const owner = `user_${crypto.randomUUID().slice(0, 8)}`;
		const { key } = await createKey({ owner, scopes: ["read", "write"] });
		expect((await callWithConfig(config, "/v1/a", { key })).status).toBe(200);
		expect((await setRole(config, owner, "admin")).status).toBe(200);
		expect((await callWithConfig(config, "/v1/a", { key })).status).toBe(200);
		expect(origin.calls.map((c) => c.headers.get("X-Keygate-Scopes"))).toEqual(["read", "read,write"]);
		for (const received of origin.calls) expect(await verifyIdentity(received)).toBe(true);
	});

	it("refuses an unknown role and shows the owner's role", async () => {
		const config = withOwners();
		const res = await setRole(config, "user_x", "superuser");
		await expectError(res, 400, "invalid_request");
		const shown = await callWithConfig(config, "/_keygate/v1/owners/user_x", { headers: adminHeaders });
		expect(await shown.json()).toEqual({ owner: "user_x", api: "demo", role: "readonly", assigned: false });
	});
});

describe("updating keys", () => {
	it("changes name, tier and metadata; null clears a field", async () => {
		const { id } = await createKey({ metadata: { a: 1 } });
		const res = await admin(`/keys/${id}`, {
			method: "PATCH",
			body: JSON.stringify({ name: "renamed", tier: "pro", metadata: null, service: "billing-worker" }),
		});
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({ id, name: "renamed", tier: "pro", metadata: null, service: "billing-worker" });
	});

	it("refuses scope changes when the API makes scopes immutable, and changes nothing", async () => {
		const config = demo((api) => (api.keys = { immutableScopes: true }));
		const { id } = await createKey({ scopes: ["read"] });
		const res = await callWithConfig(config, `/_keygate/v1/keys/${id}`, {
			method: "PATCH",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef" },
			body: JSON.stringify({ scopes: ["read", "write"] }),
		});
		const error = await expectError(res, 400, "invalid_request");
		expect(error.message).toMatch(/^scopes: cannot be changed after creation/);
		expect((await (await admin(`/keys/${id}`)).json<{ scopes: string[] }>()).scopes).toEqual(["read"]);
	});

	it("refuses an empty or invalid patch", async () => {
		const { id } = await createKey();
		await expectError(await admin(`/keys/${id}`, { method: "PATCH", body: "{}" }), 400, "invalid_request");
		await expectError(await admin(`/keys/${id}`, { method: "PATCH", body: JSON.stringify({ tier: "gold" }) }), 400, "invalid_request");
	});
});

describe("audit log and usage", () => {
	it("records who created, rotated, revoked and deleted what, and when, without any plaintext", async () => {
		const actor = { "X-Keygate-Actor": "alice@example.com" };
		const res = await admin("/keys", { method: "POST", headers: actor, body: JSON.stringify({ name: "audited", service: "payments" }) });
		const { id, key } = await res.json<{ id: string; key: string }>();
		const rotated = await (await admin(`/keys/${id}/rotate`, { method: "POST", headers: actor })).json<{ id: string; key: string }>();
		await admin(`/keys/${rotated.id}/revoke`, { method: "POST", headers: { "X-Keygate-Actor": "bob" } });
		await admin(`/keys/${id}`, { method: "DELETE" });

		const history = await (await admin(`/audit?keyId=${id}`)).json<{ data: any[] }>();
		expect(history.data.map((e) => e.action)).toEqual(["key.deleted", "key.rotated", "key.created"]);
		expect(history.data[2]).toMatchObject({
			actor: "alice@example.com",
			api: "demo",
			keyId: id,
			details: { name: "audited", service: "payments" },
		});
		expect(history.data[0].actor).toBe("admin");
		const all = await (await admin("/audit")).json<{ data: any[] }>();
		expect(all.data.some((e) => e.action === "key.revoked" && e.keyId === rotated.id && e.actor === "bob")).toBe(true);
		const text = JSON.stringify(all);
		expect(text).not.toContain(key.slice(8));
		expect(text).not.toContain(rotated.key.slice(8));
	});

	it("counts refusals decided before the Durable Object (403) in the key's usage", async () => {
		const { id, key } = await createKey({ scopes: ["read"] });
		await call("/v1/a", { key });
		await call("/v1/a", { key, method: "POST" });
		await new Promise((r) => setTimeout(r, 50)); // the count is written after the response
		const usage = await (await admin(`/keys/${id}/usage`)).json<any>();
		expect(usage).toMatchObject({ passed: 1, rejected: { missing_scope: 1 } });
	});
});

describe.each(MODES)("per-plan, per-endpoint-category limits (%s)", (consistency) => {
	it("rules of one category share a per-key bucket whose limit depends on the key's tier", async () => {
		const config = demo((api) => {
			tiersIn(api, consistency);
			api.tiers.free.categories = { bulk: { limit: 2, window: 60, burst: 10 } };
			api.tiers.pro.categories = { bulk: { limit: 5, window: 60, burst: 10 } };
			api.routes.unshift(
				{ methods: ["POST"], path: "/v1/bulk/emails", scopes: ["write"], category: "bulk" },
				{ methods: ["POST"], path: "/v1/bulk/sms", scopes: ["write"], category: "bulk" },
			);
		});
		const free = await createKey();
		const pro = await createKey({ tier: "pro" });
		expect((await callWithConfig(config, "/v1/bulk/emails", { key: free.key, method: "POST" })).status).toBe(200);
		expect((await callWithConfig(config, "/v1/bulk/sms", { key: free.key, method: "POST" })).status).toBe(200);
		const refused = await callWithConfig(config, "/v1/bulk/emails", { key: free.key, method: "POST" });
		await expectError(refused, 429, "rate_limit_exceeded");
		expect(refused.headers.get("X-RateLimit-Limit")).toBe("2");
		for (let i = 0; i < 5; i++) expect((await callWithConfig(config, "/v1/bulk/sms", { key: pro.key, method: "POST" })).status).toBe(200);
		await expectError(await callWithConfig(config, "/v1/bulk/emails", { key: pro.key, method: "POST" }), 429, "rate_limit_exceeded");
		// Other routes are not in the category.
		expect((await callWithConfig(config, "/v1/things", { key: free.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(8);
	});
});
