/**
 * Conformance: keygate running examples/novapulse/keygate.config.json behaves as the
 * NovaPulse authentication page (../shared/seeds/000_*.txt) promises. One describe per
 * bullet of that page's section in ../shared/seeds/README.md.
 *
 * The page names the error codes but prints no bodies, so the messages are the
 * example's own (the config's `errors.overrides`, worded after the page's table); the
 * bodies are still compared byte for byte with what the example promises.
 */
import { describe, expect, it } from "vitest";
import config from "../../examples/novapulse/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { generateKey } from "../../src/keys/format";
import { gatewayFor, sleep, expectBody as expectExact } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const BASE = "https://api.novapulse.io";
const novapulse = gatewayFor(config, BASE);

const PRODUCTION_ORIGIN = "http://127.0.0.1:8788/production";
const SANDBOX_ORIGIN = "http://127.0.0.1:8788/sandbox";

const MISSING = `{
  "error": "invalid_api_key",
  "message": "No API key provided. Send it as a Bearer token in the Authorization header."
}`;
const INVALID = `{
  "error": "invalid_api_key",
  "message": "The API key provided is invalid."
}`;
const EXPIRED = `{
  "error": "expired_api_key",
  "message": "The API key has been revoked or has expired."
}`;
const FORBIDDEN = `{
  "error": "insufficient_permissions",
  "message": "The API key doesn't have access to this resource."
}`;

const origin = useFakeOrigin();

const expectBody = (res: Response, status: number, body: string) => expectExact(res, status, body, /^Bearer realm="novapulse"/);

const liveKey = (scopes = ["jobs:read", "jobs:write"]) => novapulse.createKey({ name: "billing sync", scopes });

describe("the example config", () => {
	it("is a valid keygate config", () => {
		expect(parseConfig(config)).toMatchObject({ ok: true });
	});
});

describe("Authorization: Bearer nvp_live_…; JSON API", () => {
	it("passes a live key sent as a Bearer token to the API, without the key", async () => {
		const { key } = await liveKey();
		expect(key).toMatch(/^nvp_live_/);
		const res = await novapulse.call("/v1/jobs", { key, headers: { "Content-Type": "application/json" } });
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.headers.get("Authorization")).toBeNull();
		expect(origin.calls[0]!.headers.get("Content-Type")).toBe("application/json");
	});

	it("does not accept the key anywhere but the Authorization header's Bearer scheme", async () => {
		const { key } = await liveKey();
		await expectBody(await novapulse.call("/v1/jobs", { headers: { "X-API-Key": key } }), 401, MISSING);
		await expectBody(await novapulse.call(`/v1/jobs?api_key=${key}`), 401, MISSING);
		await expectBody(await novapulse.call("/v1/jobs", { key, scheme: "Token" }), 401, INVALID);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("prefixes: nvp_live_ production, nvp_test_ sandbox", () => {
	it("sends nvp_live_ keys to the production origin and nvp_test_ keys to the sandbox origin", async () => {
		const live = await liveKey();
		const sandbox = await novapulse.createKey({ name: "ci", environment: "test", scopes: ["jobs:read", "jobs:write"] });
		expect(sandbox.key).toMatch(/^nvp_test_/);
		expect(sandbox.environment).toBe("test");

		expect((await novapulse.call("/v1/jobs?status=done", { key: live.key })).status).toBe(200);
		expect((await novapulse.call("/v1/jobs?status=done", { key: sandbox.key })).status).toBe(200);
		expect((await novapulse.call("/v1/jobs", { key: sandbox.key, method: "POST", body: "{}" })).status).toBe(200);
		expect(origin.calls.map((c) => `${c.method} ${c.url.href}`)).toEqual([
			`GET ${PRODUCTION_ORIGIN}/v1/jobs?status=done`,
			`GET ${SANDBOX_ORIGIN}/v1/jobs?status=done`,
			`POST ${SANDBOX_ORIGIN}/v1/jobs`,
		]);
		expect(origin.calls.map((c) => c.headers.get("X-Keygate-Environment"))).toEqual(["live", "test", "test"]);
	});

	it("refuses keys of any other prefix or environment as invalid_api_key", async () => {
		await expectBody(await novapulse.call("/v1/jobs", { key: generateKey("nvp", "staging") }), 401, INVALID);
		await expectBody(await novapulse.call("/v1/jobs", { key: generateKey("sk", "live") }), 401, INVALID);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("errors: 401 invalid_api_key, 401 expired_api_key, 403 insufficient_permissions", () => {
	it("answers a missing key with 401 invalid_api_key", async () => {
		const res = await novapulse.call("/v1/jobs");
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="novapulse"');
		await expectBody(res, 401, MISSING);
		await expectBody(await novapulse.call("/v1/jobs", { headers: { Authorization: "Bearer " } }), 401, INVALID);
		expect(origin.calls).toHaveLength(0);
	});

	it("answers a malformed, mistyped or unknown key with 401 invalid_api_key", async () => {
		const { key } = await liveKey();
		const mistyped = key.slice(0, -1) + (key.endsWith("a") ? "b" : "a");
		for (const candidate of ["nvp_live_abc123...", "nvp_live_YOUR_API_KEY_HERE", mistyped, generateKey("nvp", "live")]) {
			const res = await novapulse.call("/v1/jobs", { key: candidate });
			expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="novapulse", error="invalid_token"');
			await expectBody(res, 401, INVALID);
		}
		expect(origin.calls).toHaveLength(0);
	});

	it("answers a revoked key with 401 expired_api_key from the very next request", async () => {
		const { id, key } = await liveKey();
		expect((await novapulse.call("/v1/jobs", { key })).status).toBe(200);
		expect((await novapulse.admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		await expectBody(await novapulse.call("/v1/jobs", { key }), 401, EXPIRED);
		expect(origin.calls).toHaveLength(1);
	});

	it("answers an expired key with 401 expired_api_key", async () => {
		const expiresAt = Date.now() + 1000;
		const { key } = await novapulse.createKey({ name: "short-lived", scopes: ["jobs:read"], expiresAt: new Date(expiresAt).toISOString() });
		expect((await novapulse.call("/v1/jobs", { key })).status).toBe(200);
		await sleep(expiresAt - Date.now() + 50);
		await expectBody(await novapulse.call("/v1/jobs", { key }), 401, EXPIRED);
		expect(origin.calls).toHaveLength(1);
	});

	it("answers a key without access to the resource with 403 insufficient_permissions", async () => {
		const readOnly = await liveKey(["jobs:read"]);
		const none = await liveKey([]);
		await expectBody(await novapulse.call("/v1/jobs", { key: readOnly.key, method: "POST", body: "{}" }), 403, FORBIDDEN);
		await expectBody(await novapulse.call("/v1/jobs/job_1", { key: readOnly.key, method: "DELETE" }), 403, FORBIDDEN);
		await expectBody(await novapulse.call("/v1/jobs", { key: none.key }), 403, FORBIDDEN);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("key shown only once at creation", () => {
	it("returns the plaintext when the key is created, and never again: not by id, not in the listing", async () => {
		const created = await liveKey();
		expect(created.key).toMatch(/^nvp_live_[0-9A-Za-z]{49}$/);
		expect(created.start).toBe(created.key.slice(0, "nvp_live_".length + 4));

		const shown = await novapulse.admin(`/keys/${created.id}`);
		expect(shown.status).toBe(200);
		const text = await shown.text();
		expect(JSON.parse(text)).not.toHaveProperty("key");
		expect(text).not.toContain(created.key.slice("nvp_live_".length));

		let listed: Record<string, unknown> | undefined;
		let cursor: string | null = null;
		do {
			const page = await novapulse.admin(`/keys?api=novapulse${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
			const pageText = await page.text();
			expect(pageText).not.toContain(created.key.slice("nvp_live_".length));
			const body = JSON.parse(pageText) as { data: Record<string, unknown>[]; cursor: string | null };
			listed ??= body.data.find((k) => k.id === created.id);
			cursor = body.cursor;
		} while (cursor && !listed);
		expect(listed).toMatchObject({ id: created.id, start: created.start });
		expect(listed).not.toHaveProperty("key");
	});
});
