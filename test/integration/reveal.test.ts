/**
 * A publishable key or an identifier can be shown again (POST /keys/{id}/reveal): it is
 * derived from its id under SIGNING_SECRET, so keygate still stores only its hash. A
 * secret key never is. Issue 14 asked for Novala's publishable key "always visible".
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import novu from "../../examples/novu/keygate.config.json";
import { admin, call, createKey, expectError, gatewayFor } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";

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

	it("never shows a secret key: 400 invalid_request, nothing audited, and the origin is never called", async () => {
		const made = await pair();
		const plain = await createKey({ name: "plain" });
		const before = (await env.KEYS.list({ prefix: "audit:" })).keys.length;
		const res = await reveal(made.secret.id);
		const text = await res.text();
		expect(text).not.toContain(made.secret.key.slice(8));
		expect((await expectError(new Response(text, res), 400, "invalid_request")).message).toContain("A secret key is shown once");
		await expectError(await reveal(plain.id), 400, "invalid_request");
		expect((await env.KEYS.list({ prefix: "audit:" })).keys.length).toBe(before);
		expect(origin.calls).toHaveLength(0);
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

	it("a key made under another SIGNING_SECRET is not shown (409), and still works", async () => {
		const other = gatewayFor(demo, undefined, { SIGNING_SECRET: "another-signing-secret-0123456789abcdef" });
		const made = (await (
			await other.admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "x", scopes: ["read"] }) })
		).json()) as {
			publishable: Shown;
		};
		expect(((await (await other.admin(`/keys/${made.publishable.id}/reveal`, { method: "POST" })).json()) as Shown).key).toBe(
			made.publishable.key,
		);
		expect((await expectError(await reveal(made.publishable.id), 409, "conflict")).message).toContain("under another SIGNING_SECRET");
		expect((await call("/v1/a", { key: made.publishable.key })).status).toBe(200);
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
