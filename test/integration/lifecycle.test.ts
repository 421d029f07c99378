import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { keyCache } from "../../src/keys/cache";
import { sha256Hex } from "../../src/keys/crypto";
import { kvKey } from "../../src/keys/store";
import { admin, call, createKey, expectError, sleep } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("revocation", () => {
	it("is seen by the very next request, despite a warm isolate cache", async () => {
		const { id, key } = await createKey();
		for (let i = 0; i < 3; i++) expect((await call("/v1/things", { key })).status).toBe(200);
		const res = await admin(`/keys/${id}/revoke`, { method: "POST" });
		expect(res.status).toBe(200);
		expect((await res.json<{ revokedAt: string }>()).revokedAt).toEqual(expect.any(String));
		await expectError(await call("/v1/things", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(3);
	});

	it("holds in an isolate whose KV replica is still stale (the Durable Object is the authority)", async () => {
		const { id, key } = await createKey();
		const hashEntry = kvKey.byHash(await sha256Hex(key));
		const staleRecord = await env.KEYS.get(hashEntry);
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		// Another location: its KV still serves the pre-revocation record and its isolate cache is cold.
		await env.KEYS.put(hashEntry, staleRecord!);
		keyCache.clear();
		await expectError(await call("/v1/things", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("is idempotent and keeps the first revocation time", async () => {
		const { id } = await createKey();
		const first = await (await admin(`/keys/${id}/revoke`, { method: "POST" })).json<{ revokedAt: string }>();
		await sleep(5);
		const second = await (await admin(`/keys/${id}/revoke`, { method: "POST" })).json<{ revokedAt: string }>();
		expect(second.revokedAt).toBe(first.revokedAt);
	});
});

describe("rotation", () => {
	it("issues a new key; the old one works with Deprecation and Sunset until the grace ends, then is expired", async () => {
		const { id, key: oldKey } = await createKey({ scopes: ["read"], owner: "user_1" });
		const res = await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 2 }) });
		expect(res.status).toBe(201);
		const rotated = await res.json<{
			id: string;
			key: string;
			scopes: string[];
			owner: string;
			previous: { replacedBy: string; graceEndsAt: string };
		}>();
		expect(rotated.key).not.toBe(oldKey);
		expect(rotated.scopes).toEqual(["read"]);
		expect(rotated.owner).toBe("user_1");
		expect(rotated.previous.replacedBy).toBe(rotated.id);
		const sunset = Date.parse(rotated.previous.graceEndsAt);

		// Before the end of the grace period: both keys work; the old one says it is going away.
		const during = await call("/v1/things", { key: oldKey });
		expect(during.status).toBe(200);
		expect(during.headers.get("Deprecation")).toMatch(/^@\d+$/);
		expect(during.headers.get("Sunset")).toBe(new Date(sunset).toUTCString());
		const fresh = await call("/v1/things", { key: rotated.key });
		expect(fresh.status).toBe(200);
		expect(fresh.headers.get("Deprecation")).toBeNull();

		// After it: the old key is expired, the new one carries on.
		await sleep(sunset - Date.now() + 50);
		await expectError(await call("/v1/things", { key: oldKey }), 401, "expired_api_key");
		expect((await call("/v1/things", { key: rotated.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(3);
	});

	it("defaults to a 24-hour grace period", async () => {
		const { id } = await createKey();
		const before = Date.now();
		const rotated = await (await admin(`/keys/${id}/rotate`, { method: "POST" })).json<{ previous: { graceEndsAt: string } }>();
		const grace = Date.parse(rotated.previous.graceEndsAt) - before;
		expect(grace).toBeGreaterThanOrEqual(86_400_000 - 1000);
		expect(grace).toBeLessThanOrEqual(86_400_000 + 1000);
	});

	it("refuses to rotate a revoked or already-rotated key (409)", async () => {
		const a = await createKey();
		await admin(`/keys/${a.id}/revoke`, { method: "POST" });
		await expectError(await admin(`/keys/${a.id}/rotate`, { method: "POST" }), 409, "conflict");
		const b = await createKey();
		expect((await admin(`/keys/${b.id}/rotate`, { method: "POST" })).status).toBe(201);
		await expectError(await admin(`/keys/${b.id}/rotate`, { method: "POST" }), 409, "conflict");
	});
});

describe("expiry", () => {
	it("a key works until expiresAt and is expired_api_key after it", async () => {
		const expiresAt = new Date(Date.now() + 1500).toISOString();
		const { key } = await createKey({ expiresAt });
		expect((await call("/v1/things", { key })).status).toBe(200);
		await sleep(Date.parse(expiresAt) - Date.now() + 50);
		await expectError(await call("/v1/things", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(1);
	});
});

describe("deletion", () => {
	it("removes every KV entry of the key and makes it invalid_api_key", async () => {
		const { id, key } = await createKey();
		expect((await call("/v1/things", { key })).status).toBe(200);
		expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(204);
		const names = (await env.KEYS.list()).keys.map((k) => k.name);
		// Only the audit log remembers the key (by id, never by key or hash).
		expect(names.filter((n) => n.includes(id) && !n.startsWith("audit"))).toEqual([]);
		expect(await env.KEYS.get(kvKey.byHash(await sha256Hex(key)))).toBeNull();
		await expectError(await call("/v1/things", { key }), 401, "invalid_api_key");
		await expectError(await admin(`/keys/${id}`), 404, "key_not_found");
		expect(origin.calls).toHaveLength(1);
	});

	it("a key revoked first, then deleted, is invalid_api_key at once where it was deleted (found by a probe: expired_api_key for 60 s)", async () => {
		const { id, key } = await createKey();
		expect((await call("/v1/things", { key })).status).toBe(200);
		expect((await admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		await expectError(await call("/v1/things", { key }), 401, "expired_api_key");
		expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(204);
		await expectError(await call("/v1/things", { key }), 401, "invalid_api_key");
		expect(origin.calls).toHaveLength(1);
	});
});
