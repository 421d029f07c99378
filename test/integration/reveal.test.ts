/**
 * A publishable key or an identifier can be shown again (POST /keys/{id}/reveal): it is
 * derived from its id under a random root keygate keeps, so keygate still stores only its hash. A
 * secret key never is. Issue 14 asked for Novala's publishable key "always visible".
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import novu from "../../examples/novu/keygate.config.json";
import { admin, call, createKey, expectError, gatewayFor } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { PUBLIC_KEY_ROOT } from "../../src/authority/client";
import { randomId, sha256Hex } from "../../src/keys/crypto";
import { generateKey, keyStart, parseKey } from "../../src/keys/format";
import { derivePublicKey } from "../../src/keys/public-key";
import type { StoredKey } from "../../src/keys/record";
import { putKey } from "../../src/keys/store";

const origin = useFakeOrigin();

interface Shown {
	id: string;
	key: string;
	kind: string;
	pairId: string | null;
}

async function pair(name = "storefront"): Promise<{ publishable: Shown; secret: Shown }> {
	const res = await admin("/key-pairs", { method: "POST", body: JSON.stringify({ name, scopes: ["read"] }) });
	expect(res.status).toBe(201);
	return res.json();
}

const reveal = (id: string, init: RequestInit = {}) => admin(`/keys/${id}/reveal`, { method: "POST", ...init });

/** Every KV entry, names and values, as one text. */
async function kvText(): Promise<string> {
	const parts: string[] = [];
	for (const { name } of (await env.KEYS.list()).keys) parts.push(name, (await env.KEYS.get(name)) ?? "");
	return parts.join("\n");
}

describe("POST /keys/{id}/reveal", () => {
	it("shows a pair's publishable key again, the same key, which still works; KV holds only its hash", async () => {
		const made = await pair();
		const res = await reveal(made.publishable.id);
		const text = await res.text();
		expect(res.status, text).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const shown = JSON.parse(text) as Shown;
		expect(shown).toMatchObject({ id: made.publishable.id, kind: "publishable", key: made.publishable.key, pairId: made.secret.pairId });
		// Shown twice, the same each time.
		expect(((await (await reveal(made.publishable.id)).json()) as Shown).key).toBe(made.publishable.key);
		expect((await call("/v1/a", { key: shown.key })).status).toBe(200);
		const body = made.publishable.key.slice(made.publishable.key.lastIndexOf("_") + 1);
		expect(await kvText()).not.toContain(body);
	});

	it("never shows a secret key: 400 invalid_request, nothing audited", async () => {
		const made = await pair();
		const plain = await createKey({ name: "plain" });
		const before = (await env.KEYS.list({ prefix: "audit:" })).keys.length;
		const res = await reveal(made.secret.id);
		const text = await res.text();
		expect(text).not.toContain(made.secret.key.slice(8));
		expect((await expectError(new Response(text, res), 400, "invalid_request")).message).toContain("A secret key is shown once");
		await expectError(await reveal(plain.id), 400, "invalid_request");
		expect((await env.KEYS.list({ prefix: "audit:" })).keys.length).toBe(before);
	});

	it("refuses a key that works no longer (revoked, or past its rotation's grace) with 409 conflict", async () => {
		const revoked = await pair();
		expect((await admin(`/keys/${revoked.publishable.id}/revoke`, { method: "POST" })).status).toBe(200);
		expect((await expectError(await reveal(revoked.publishable.id), 409, "conflict")).message).toContain("revoked");

		const rotated = await pair();
		const res = await admin(`/keys/${rotated.publishable.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 0 }) });
		const next = (await res.json()) as Shown;
		expect(res.status).toBe(201);
		expect((await expectError(await reveal(rotated.publishable.id), 409, "conflict")).message).toContain("grace period has ended");
		// Its replacement is derived too.
		expect(((await (await reveal(next.id)).json()) as Shown).key).toBe(next.key);
	});

	it("a public key made before keygate derived them (random bits) is not shown (409), and still works", async () => {
		// As keygate made every key before: random bits, the record and its hash written as mint writes them.
		const plaintext = generateKey("pk", "live");
		const record: StoredKey = {
			...(await createKey({ name: "template", type: "pk", scopes: ["read"] })),
		} as unknown as StoredKey;
		const old: StoredKey = {
			...record,
			id: randomId("key"),
			start: keyStart(plaintext),
			last4: plaintext.slice(-4),
			hash: await sha256Hex(plaintext),
		};
		delete (old as { key?: string }).key;
		await putKey(env.KEYS, old);
		expect((await call("/v1/a", { key: plaintext })).status).toBe(200);
		expect((await expectError(await reveal(old.id), 409, "conflict")).message).toContain(
			"made before keygate could show public keys again",
		);
		expect((await call("/v1/a", { key: plaintext })).status).toBe(200);
	});

	it("derives from a root of keygate's own, not from SIGNING_SECRET: another SIGNING_SECRET shows the same key (a review)", async () => {
		const made = await pair();
		const other = gatewayFor(demo, undefined, { SIGNING_SECRET: "another-signing-secret-0123456789abcdef" });
		const shown = (await (await other.admin(`/keys/${made.publishable.id}/reveal`, { method: "POST" })).json()) as Shown;
		expect(shown.key).toBe(made.publishable.key);
		// The root lives in its Durable Object only: no KV entry holds it.
		const root = await env.OWNER_ROLES.get(env.OWNER_ROLES.idFromName(PUBLIC_KEY_ROOT)).publicKeyRoot();
		expect(root).toMatch(/^[0-9a-f]{64}$/);
		expect(await kvText()).not.toContain(root);
	});

	it("one root, kept: 20 concurrent first asks of an object that holds none get the same 256 bits, and later asks too", async () => {
		// An object of its own, so these are first asks (the file's other tests made the real one's root already).
		const id = env.OWNER_ROLES.idFromName(` root test ${crypto.randomUUID()}`);
		const stub = () => env.OWNER_ROLES.get(id);
		expect(await runInDurableObject(stub(), (_o, state) => state.storage.kv.get("public-key-root"))).toBeUndefined();
		const roots = await Promise.all(Array.from({ length: 20 }, () => stub().publicKeyRoot()));
		expect(new Set(roots).size).toBe(1);
		expect(roots[0]).toMatch(/^[0-9a-f]{64}$/);
		expect(await stub().publicKeyRoot()).toBe(roots[0]);
	});

	it("a derived key depends on every input: the key's id, type and environment, and the root", async () => {
		const key = (bytes: number) =>
			crypto.subtle.importKey("raw", new Uint8Array(32).fill(bytes), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
		const [a, b] = [await key(1), await key(2)];
		const base = await derivePublicKey(a, "key_A", "pk", "live");
		expect(await derivePublicKey(a, "key_A", "pk", "live")).toBe(base);
		expect(parseKey(base)).toMatchObject({ type: "pk", environment: "live" });
		for (const other of [
			await derivePublicKey(b, "key_A", "pk", "live"),
			await derivePublicKey(a, "key_B", "pk", "live"),
			await derivePublicKey(a, "key_A", "app", "live"),
			await derivePublicKey(a, "key_A", "pk", "test"),
		])
			expect(other.slice(other.lastIndexOf("_") + 1)).not.toBe(base.slice(base.lastIndexOf("_") + 1));
	});

	it("takes no body, like revoke: a field is 400 and shows nothing", async () => {
		const made = await pair();
		const res = await reveal(made.publishable.id, {
			body: JSON.stringify({ please: true }),
			headers: { "Content-Type": "application/json" },
		});
		const text = await res.text();
		expect(res.status).toBe(400);
		expect(text).not.toContain(made.publishable.key);
	});

	it("an unknown id is 404 key_not_found", async () => {
		await expectError(await reveal("key_0000000000000000000000"), 404, "key_not_found");
	});

	it("is audited as key.revealed, with the key's id and never the key", async () => {
		const made = await pair();
		expect((await reveal(made.publishable.id)).status).toBe(200);
		const page = (await (await admin(`/audit?keyId=${made.publishable.id}&action=key.revealed`)).json()) as {
			data: { action: string; keyId: string; details: Record<string, unknown> }[];
		};
		expect(page.data).toHaveLength(1);
		expect(page.data[0]).toMatchObject({ action: "key.revealed", keyId: made.publishable.id, actorType: "token" });
		expect(JSON.stringify(page)).not.toContain(made.publishable.key.slice(8));
	});

	it("shows a Novu application identifier again", async () => {
		const gw = gatewayFor(novu, "https://api.novu.co");
		const res = await gw.admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "app", environment: "development" }) });
		const made = (await res.json()) as { identifier: Shown; secret: Shown };
		expect(res.status, JSON.stringify(made)).toBe(201);
		const shown = (await (await gw.admin(`/keys/${made.identifier.id}/reveal`, { method: "POST" })).json()) as Shown;
		expect(shown).toMatchObject({ kind: "identifier", key: made.identifier.key });
	});
});
