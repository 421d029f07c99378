import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin, call, createKey, expectError } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("admin authentication", () => {
	it.each([
		["no token", undefined, 0],
		["a wrong token", "Bearer wrong", 1],
		["the right token with the wrong scheme", "Basic test-admin-token-0123456789abcdef", 1],
		["an API key instead of the token", "Bearer sk_live_x", 1],
	] as const)(
		"refuses %s with 401 invalid_admin_token, changes no key, and audits a presented token without its value",
		async (_name, authorization, audited) => {
			const headers: Record<string, string> = { "Content-Type": "application/json" };
			if (authorization) headers.Authorization = authorization;
			const names = async () => (await env.KEYS.list()).keys.map((k) => k.name);
			const before = await names();
			const res = await call("/_keygate/v1/keys", { method: "POST", headers, body: JSON.stringify({ name: "x" }) });
			const text = await res.text();
			expect(res.status, text).toBe(401);
			expect(JSON.parse(text)).toEqual({ error: "invalid_admin_token", message: "A valid admin token is required." });
			expect(res.headers.get("Cache-Control")).toBe("no-store");
			const added = (await names()).filter((n) => !before.includes(n));
			expect(added.filter((n) => !n.startsWith("audit:"))).toEqual([]);
			expect(added).toHaveLength(audited);
			for (const name of added) {
				const event = await env.KEYS.get<Record<string, unknown>>(name, "json");
				expect(event).toMatchObject({ action: "admin.auth_failed", actor: "unauthenticated", api: null, keyId: null });
				expect(JSON.stringify(event)).not.toContain(authorization!.split(" ")[1]);
			}
			expect(origin.calls).toHaveLength(0);
		},
	);

	it("fails closed (503) when no ADMIN_TOKEN is configured", async () => {
		const { callWithEnv } = await import("../helpers/gateway");
		const res = await callWithEnv({ ADMIN_TOKEN: "" }, "/_keygate/v1/keys", { headers: { Authorization: "Bearer " } });
		await expectError(res, 503, "gateway_unavailable");
	});

	it("never passes the admin namespace to the origin, even unknown paths", async () => {
		await expectError(await admin("/nope"), 404, "not_found");
		await expectError(await call("/_keygate/v2/keys"), 404, "not_found");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("creating keys", () => {
	it("returns the record and the plaintext once, with defaults filled in", async () => {
		const res = await admin("/keys", {
			method: "POST",
			body: JSON.stringify({ name: "billing", scopes: ["read"], owner: "u1", metadata: { team: "a" } }),
		});
		expect(res.status).toBe(201);
		const created = await res.json<Record<string, any>>();
		expect(created).toMatchObject({
			api: "demo",
			name: "billing",
			type: "sk",
			kind: "secret",
			environment: "live",
			scopes: ["read"],
			tier: "free",
			rateLimit: null,
			owner: "u1",
			metadata: { team: "a" },
			revokedAt: null,
			expiresAt: null,
		});
		expect(created.key).toMatch(/^sk_live_/);
		expect(created.start).toBe(created.key.slice(0, 12));
		expect(created).not.toHaveProperty("hash");

		const shown = await (await admin(`/keys/${created.id}`)).json<Record<string, unknown>>();
		expect(shown).not.toHaveProperty("key");
		expect(shown).not.toHaveProperty("hash");
		expect(JSON.stringify(shown)).not.toContain(created.key);
		const { key: _key, ...record } = created;
		expect(shown).toEqual(record);
	});

	it.each<[string, Record<string, unknown>, RegExp]>([
		["no name", {}, /^name: /],
		["an unknown type", { name: "x", type: "zz" }, /^type: "zz" is not one of sk, pk$/],
		["an unknown environment", { name: "x", environment: "prod" }, /^environment: "prod" is not one of live, test$/],
		["an unknown tier", { name: "x", tier: "gold" }, /^tier: "gold" is not one of free, pro, enterprise$/],
		["an unknown API", { name: "x", api: "nope" }, /^api: "nope" is not a configured API$/],
		["scopes that are not strings", { name: "x", scopes: [1] }, /^scopes\[0\]: /],
		["a past expiry", { name: "x", expiresAt: "2001-01-01T00:00:00Z" }, /^expiresAt: must be in the future$/],
		["a bad IP range", { name: "x", ipAllowlist: ["300.1.1.1/8"] }, /^ipAllowlist\[0\]: /],
		["a bad rate limit", { name: "x", rateLimit: { limit: 0, burst: 1 } }, /^rateLimit\.limit: /],
		["an unknown field", { name: "x", colour: "red" }, /colour/],
		// Each would break X-Keygate-Scopes on every request (a NUL is no header value; UTF-8 bytes are not what the origin verifies).
		["a scope with a control character", { name: "x", scopes: ["read", "a\u0000b"] }, /^scopes\[1\]: a scope is printable ASCII/],
		["a scope that is not ASCII", { name: "x", scopes: ["\u00fc"] }, /^scopes\[0\]: a scope is printable ASCII/],
		["a scope with a quote", { name: "x", scopes: ['a"b'] }, /^scopes\[0\]: a scope is printable ASCII/],
	])("refuses %s with 400 naming the field, and writes nothing", async (_name, body, message) => {
		const before = (await env.KEYS.list()).keys.length;
		const res = await admin("/keys", { method: "POST", body: JSON.stringify(body) });
		const error = await expectError(res, 400, "invalid_request");
		expect(error.message).toMatch(message);
		expect((await env.KEYS.list()).keys.length).toBe(before);
	});

	it("every admin answer, above all one showing a plaintext key once, carries Cache-Control: no-store", async () => {
		const made = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "cached?" }) });
		expect(made.status).toBe(201);
		expect(made.headers.get("Cache-Control")).toBe("no-store");
		expect((await admin("/keys")).headers.get("Cache-Control")).toBe("no-store");
		expect((await admin("/keys/key_nope")).headers.get("Cache-Control")).toBe("no-store");
	});

	it("refuses a body that is not JSON", async () => {
		const res = await admin("/keys", { method: "POST", body: "name=x" });
		const error = await expectError(res, 400, "invalid_request");
		expect(error.message).toBe("body: expected a JSON object");
	});

	it("creates a publishable and a secret key together as a pair", async () => {
		const res = await admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "storefront", scopes: ["read"] }) });
		expect(res.status).toBe(201);
		const pair = await res.json<{ publishable: Record<string, any>; secret: Record<string, any> }>();
		expect(pair.publishable.key).toMatch(/^pk_live_/);
		expect(pair.secret.key).toMatch(/^sk_live_/);
		expect(pair.publishable.kind).toBe("publishable");
		expect(pair.publishable.pairId).toBe(pair.secret.pairId);
		expect(pair.publishable.name).toBe("storefront");
		expect((await call("/v1/a", { key: pair.publishable.key })).status).toBe(200);
		expect((await call("/v1/a", { key: pair.secret.key })).status).toBe(200);
	});
});

describe("listing and usage", () => {
	it("lists keys page by page, without plaintexts or hashes", async () => {
		const mine = await Promise.all([1, 2, 3].map((i) => createKey({ name: `list-${i}` })));
		const seen = new Map<string, Record<string, unknown>>();
		let cursor: string | null = null;
		do {
			const res = await admin(`/keys?api=demo${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
			expect(res.status).toBe(200);
			const page = await res.json<{ data: Record<string, unknown>[]; cursor: string | null }>();
			for (const k of page.data) seen.set(k.id as string, k);
			cursor = page.cursor;
		} while (cursor);
		for (const k of mine) {
			const listed = seen.get(k.id)!;
			expect(listed.name).toBe(k.name);
			expect(listed).not.toHaveProperty("key");
			expect(listed).not.toHaveProperty("hash");
		}
		const text = JSON.stringify([...seen.values()]);
		for (const k of mine) expect(text).not.toContain(k.key);
	});

	it("refuses a cursor it did not give, one edited, or one taken to another listing with 400, rather than listing nothing", async () => {
		await Promise.all(Array.from({ length: 52 }, (_, i) => createKey({ name: `page-${i}` })));
		const first = await admin("/keys?api=demo");
		const page = await first.json<{ data: unknown[]; cursor: string | null }>();
		expect(page.data).toHaveLength(50);
		expect(page.cursor).toMatch(/^[A-Za-z0-9_-]+$/);
		const next = await admin(`/keys?api=demo&cursor=${page.cursor}`);
		expect(next.status).toBe(200);
		expect((await next.json<{ data: unknown[] }>()).data.length).toBeGreaterThan(0);
		const edited = `${page.cursor!.slice(0, -2)}${page.cursor!.endsWith("AA") ? "BB" : "AA"}`;
		for (const bad of ["bogus", edited]) await expectError(await admin(`/keys?api=demo&cursor=${bad}`), 400, "invalid_request");
		await expectError(await admin(`/keys?cursor=${page.cursor}`), 400, "invalid_request");
		// A parameter given twice, as /audit refuses it, not read as its first value (a probe).
		await expectError(await admin("/keys?api=demo&api=demo"), 400, "invalid_request", "api: given more than once; give it once.");
		await expectError(
			await admin(`/keys?api=demo&cursor=${page.cursor}&cursor=${page.cursor}`),
			400,
			"invalid_request",
			"cursor: given more than once; give it once.",
		);
		for (const path of [
			"/owners/user_1?api=demo&api=demo",
			"/oauth/clients?api=demo&api=demo",
			"/oauth/grants?api=demo&subject=a&subject=b",
			// Any parameter, read or not (a later probe: these passed where the listing reads no such field).
			"/oauth/clients?cursor=a&cursor=b",
			"/audit?api=demo&api=x",
			"/keys?api=demo&x=1&x=2",
		])
			await expectError(await admin(path), 400, "invalid_request");
	});

	it("counts passed and rejected requests by reason, and the last use", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 2, window: 3600, burst: 10 } });
		for (let i = 0; i < 3; i++) await call("/v1/a", { key });
		const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number; rejected: Record<string, number>; lastUsedAt: string }>();
		expect(usage).toMatchObject({ id, passed: 2, rejected: { rate_limited: 1 } });
		expect(Date.parse(usage.lastUsedAt)).toBeGreaterThan(Date.now() - 60_000);
		// The limits the gateway counts with: the key's own, not its tier's.
		expect(usage).toMatchObject({ limits: { limit: 2, window: 3600, burst: 10, shards: 1 } });
		const plain = await createKey({ tier: "pro" });
		const tier = await (await admin(`/keys/${plain.id}/usage`)).json();
		expect(tier).toMatchObject({ limits: { limit: 10000, window: 3600, burst: 200, shards: 1 } });
	});

	it("serves an OpenAPI document", async () => {
		const res = await admin("/openapi.json");
		expect(res.status).toBe(200);
		const doc = await res.json<{ openapi: string; paths: Record<string, unknown> }>();
		expect(doc.openapi).toBe("3.1.0");
		expect(Object.keys(doc.paths)).toEqual(
			expect.arrayContaining([
				"/keys",
				"/key-pairs",
				"/keys/{id}",
				"/keys/{id}/revoke",
				"/keys/{id}/rotate",
				"/keys/{id}/usage",
				"/audit",
				"/owners/{owner}",
			]),
		);
	});

	it("documents every admin route it serves", async () => {
		const { adminApp } = await import("../../src/admin/routes");
		const doc = await (await admin("/openapi.json")).json<{ paths: Record<string, Record<string, unknown>> }>();
		const served = adminApp.routes.filter((r) => r.method !== "ALL" && r.path !== "/openapi.json");
		expect(served.length).toBeGreaterThan(10);
		for (const route of served) {
			const path = route.path.replace(/:(\w+)/g, "{$1}");
			expect(doc.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
		}
	});

	it("answers 404 key_not_found for unknown ids", async () => {
		for (const [path, method] of [
			["/keys/key_nope", "GET"],
			["/keys/key_nope/revoke", "POST"],
			["/keys/key_nope/rotate", "POST"],
			["/keys/key_nope", "DELETE"],
		] as const) {
			await expectError(await admin(path, { method }), 404, "key_not_found");
		}
	});
});

describe("storage", () => {
	it("no KV key or value ever contains a plaintext key", async () => {
		const keys = [await createKey(), await createKey({ type: "pk" })];
		const pair = await (await admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "p" }) })).json<any>();
		const rotated = await (await admin(`/keys/${keys[0]!.id}/rotate`, { method: "POST" })).json<any>();
		const plaintexts = [...keys.map((k) => k.key), pair.publishable.key, pair.secret.key, rotated.key];
		for (const key of plaintexts) await call("/v1/a", { key });
		const bodies = (i: string) => i.slice(i.lastIndexOf("_") + 1);
		const all = (await env.KEYS.list()).keys;
		expect(all.length).toBeGreaterThan(0);
		for (const { name } of all) {
			const value = (await env.KEYS.get(name)) ?? "";
			for (const key of plaintexts) {
				expect(name).not.toContain(bodies(key));
				expect(value).not.toContain(bodies(key));
			}
		}
	});
});

describe("rotating a key deleted meanwhile (found by a probe: rotate raced with delete answered 409 'already rotated')", () => {
	it("is 404 key_not_found, as for any key that does not exist, and mints nothing", async () => {
		const key = await createKey({ name: "deleted under the rotation" });
		// Its object says deleted; KV still holds the record, as between delete's two writes.
		await env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(key.id)).markDeleted(Date.now());
		const before = (await env.KEYS.list({ prefix: "hash:" })).keys.length;
		const res = await admin(`/keys/${key.id}/rotate`, { method: "POST" });
		await expectError(res, 404, "key_not_found");
		expect((await env.KEYS.list({ prefix: "hash:" })).keys.length).toBe(before);
	});
});
