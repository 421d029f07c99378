/**
 * Conformance: keygate running examples/novala/keygate.config.json behaves as the Novala
 * authentication page (../shared/seeds/001_*.txt) promises. One describe per bullet of
 * that page's section in ../shared/seeds/README.md.
 *
 * The page names Novala's scopes but not the endpoints behind them; the example maps
 * them to plausible routes under https://app.novala.ai/api/v1 (the page's base URL).
 */
import { describe, expect, it } from "vitest";
import config from "../../examples/novala/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { generateKey } from "../../src/keys/format";
import { gatewayFor, sleep, type CreatedKey, expectBody as expectExact } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";
import { portalCookie, ui } from "../helpers/ui";

const BASE = "https://app.novala.ai";
const novala = gatewayFor(config, BASE);

// The page's bodies, byte for byte.
const UNAUTHORIZED = `{
  "error": "Unauthorized"
}`;
const FORBIDDEN = `{
  "error": "Forbidden"
}`;

const SCOPES = ["leads.lead.read", "leads.lead.write", "pipeline", "bookings.read", "bookings.manage", "bookings.resources.manage"];

const origin = useFakeOrigin();

const expectBody = (res: Response, status: number, body: string) => expectExact(res, status, body, /^Bearer realm="keygate"/);

interface Pair {
	publishable: CreatedKey;
	secret: CreatedKey;
}

async function createPair(name: string, scopes: string[], owner?: string): Promise<Pair> {
	const res = await novala.admin("/key-pairs", { method: "POST", body: JSON.stringify({ name, scopes, owner }) });
	const text = await res.text();
	expect(res.status, text).toBe(201);
	return JSON.parse(text) as Pair;
}

describe("the example config", () => {
	it("is a valid keygate config", () => {
		expect(parseConfig(config)).toMatchObject({ ok: true });
	});

	it("its portal creates pairs only (portal.singles false), and a portal with neither singles nor pairs is refused", () => {
		expect(config.apis[0]!.portal).toMatchObject({ pairs: true, singles: false });
		const neither = structuredClone(config);
		neither.apis[0]!.portal.pairs = false;
		const parsed = parseConfig(neither);
		expect(parsed.ok).toBe(false);
		expect(JSON.stringify(parsed)).toContain("false with pairs false leaves the portal nothing to create");
	});
});

describe("dual keys created as a named pair: pk_live_ publishable (read-only, client-side), sk_live_ secret (writes)", () => {
	it("issues a publishable pk_live_ key and a secret sk_live_ key together, under one name, with the same scopes", async () => {
		const pair = await createPair("Acumatica Integration", ["leads.lead.read", "leads.lead.write"]);
		expect(pair.publishable).toMatchObject({ name: "Acumatica Integration", type: "pk", kind: "publishable", environment: "live" });
		expect(pair.secret).toMatchObject({ name: "Acumatica Integration", type: "sk", kind: "secret", environment: "live" });
		expect(pair.publishable.key).toMatch(/^pk_live_/);
		expect(pair.secret.key).toMatch(/^sk_live_/);
		expect(pair.publishable.pairId).toEqual(expect.any(String));
		expect(pair.secret.pairId).toBe(pair.publishable.pairId);
		expect(pair.publishable.scopes).toEqual(["leads.lead.read", "leads.lead.write"]);
		expect(pair.secret.scopes).toEqual(["leads.lead.read", "leads.lead.write"]);
	});

	it("shows the secret key once, in the creation answer only", async () => {
		const { secret } = await createPair("shown once", ["leads.lead.read"]);
		const text = await (await novala.admin(`/keys/${secret.id}`)).text();
		expect(JSON.parse(text)).toMatchObject({ id: secret.id, start: secret.key.slice(0, "sk_live_".length + 4) });
		expect(JSON.parse(text)).not.toHaveProperty("key");
		expect(text).not.toContain(secret.key.slice("sk_live_".length));
		const listing = await (await novala.admin("/keys?api=novala")).text();
		expect(listing).not.toContain(secret.key.slice("sk_live_".length));
	});

	it("lets the publishable key read, and refuses its writes with 403 Forbidden, whatever its scopes", async () => {
		const { publishable } = await createPair("storefront", ["leads.lead.read", "leads.lead.write"]);
		expect((await novala.call("/api/v1/leads", { key: publishable.key })).status).toBe(200);
		await expectBody(await novala.call("/api/v1/leads", { key: publishable.key, method: "POST", body: "{}" }), 403, FORBIDDEN);
		await expectBody(await novala.call("/api/v1/leads/lead_1", { key: publishable.key, method: "DELETE" }), 403, FORBIDDEN);
		expect(origin.calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual(["GET /api/v1/leads"]);
	});

	it("lets the secret key write", async () => {
		const { secret } = await createPair("server", ["leads.lead.write"]);
		const res = await novala.call("/api/v1/leads", { key: secret.key, method: "POST", body: '{"name":"Ada"}' });
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.url.href).toBe("http://127.0.0.1:8788/api/v1/leads");
		expect(origin.calls[0]!.body).toBe('{"name":"Ada"}');
		expect(origin.calls[0]!.headers.get("Authorization")).toBeNull();
	});

	it("lets a browser use the publishable key (CORS), but gives a secret key's answers no CORS headers", async () => {
		const { publishable, secret } = await createPair("browser", ["leads.lead.read"]);
		const site = "https://shop.example.com";
		const preflight = await novala.call("/api/v1/leads", {
			method: "OPTIONS",
			headers: { Origin: site, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization" },
		});
		expect(preflight.status).toBe(204);
		expect(preflight.headers.get("Access-Control-Allow-Origin")).toBe(site);
		expect(preflight.headers.get("Access-Control-Allow-Headers")).toMatch(/\bAuthorization\b/);

		const fromPage = await novala.call("/api/v1/leads", { key: publishable.key, headers: { Origin: site } });
		expect(fromPage.status).toBe(200);
		expect(fromPage.headers.get("Access-Control-Allow-Origin")).toBe(site);

		const withSecret = await novala.call("/api/v1/leads", { key: secret.key, headers: { Origin: site } });
		expect(withSecret.headers.get("Access-Control-Allow-Origin")).toBeNull();
		// The preflight was answered by keygate; only the two real requests reached the API.
		expect(origin.calls).toHaveLength(2);
	});

	it("a page can read the 401 for a publishable key that is deleted, unknown or malformed, or for no key; never for a secret key (found by a seed-page pass)", async () => {
		const site = "https://shop.example.com";
		const { publishable, secret } = await createPair("deleted from a page", ["leads.lead.read"]);
		expect((await novala.admin(`/keys/${publishable.id}`, { method: "DELETE" })).status).toBe(204);
		expect((await novala.admin(`/keys/${secret.id}`, { method: "DELETE" })).status).toBe(204);
		const fromPage = (key?: string) => novala.call("/api/v1/leads", { key, headers: { Origin: site } });
		for (const key of [publishable.key, generateKey("pk", "live"), "pk_live_abc", undefined]) {
			const res = await fromPage(key);
			await expectBody(res, 401, UNAUTHORIZED);
			expect(res.headers.get("Access-Control-Allow-Origin"), String(key)).toBe(site);
			expect(res.headers.get("Vary")).toMatch(/\bOrigin\b/);
		}
		for (const key of [secret.key, generateKey("sk", "live")]) {
			const res = await fromPage(key);
			await expectBody(res, 401, UNAUTHORIZED);
			expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		}
		expect(origin.calls).toHaveLength(0);
	});
});

describe("copy both keys at creation; the secret key cannot be retrieved afterwards", () => {
	it("the publishable key can be shown again (it is public by design), the secret key never", async () => {
		const pair = await createPair("Acumatica Integration", ["leads.lead.read"]);
		const shown = await novala.admin(`/keys/${pair.publishable.id}/reveal`, { method: "POST" });
		expect(shown.status).toBe(200);
		expect((await shown.json<CreatedKey>()).key).toBe(pair.publishable.key);
		const secret = await novala.admin(`/keys/${pair.secret.id}/reveal`, { method: "POST" });
		const text = await secret.text();
		expect(secret.status).toBe(400);
		expect(text).not.toContain(pair.secret.key.slice("sk_live_".length));
	});
});

describe("scopes attached at creation, immutable afterwards; a missing scope is 403 Forbidden", () => {
	// [method, path, the one scope it needs]; the most specific rule is listed first in the config.
	const table: [string, string, string][] = [
		["GET", "/api/v1/leads", "leads.lead.read"],
		["GET", "/api/v1/leads/lead_1", "leads.lead.read"],
		["POST", "/api/v1/leads", "leads.lead.write"],
		["PATCH", "/api/v1/leads/lead_1", "leads.lead.write"],
		["GET", "/api/v1/pipeline/deals", "pipeline"],
		["POST", "/api/v1/pipeline/deals", "pipeline"],
		["GET", "/api/v1/bookings", "bookings.read"],
		["GET", "/api/v1/bookings/resources", "bookings.read"],
		["GET", "/api/v1/bookings/availability", "bookings.read"],
		["POST", "/api/v1/bookings", "bookings.manage"],
		["DELETE", "/api/v1/bookings/bkg_1", "bookings.manage"],
		["POST", "/api/v1/bookings/resources", "bookings.resources.manage"],
		["PUT", "/api/v1/bookings/resources/res_1", "bookings.resources.manage"],
	];

	it("passes each request with a key holding just its scope, and refuses it (403 Forbidden) to a key holding every other scope", async () => {
		const only: Record<string, string> = {};
		const allBut: Record<string, string> = {};
		for (const scope of SCOPES) {
			only[scope] = (await novala.createKey({ name: `only ${scope}`, scopes: [scope] })).key;
			allBut[scope] = (await novala.createKey({ name: `all but ${scope}`, scopes: SCOPES.filter((s) => s !== scope) })).key;
		}
		for (const [method, path, scope] of table) {
			const passed = await novala.call(path, { key: only[scope], method });
			expect(passed.status, `${method} ${path} with ${scope}`).toBe(200);
			const before = origin.calls.length;
			await expectBody(await novala.call(path, { key: allBut[scope], method }), 403, FORBIDDEN);
			expect(origin.calls.length, `${method} ${path} without ${scope}`).toBe(before);
		}
		expect(origin.calls).toHaveLength(table.length);
	});

	it("refuses endpoints no scope covers, even to a key holding every scope", async () => {
		const { key } = await novala.createKey({ name: "everything", scopes: SCOPES });
		await expectBody(await novala.call("/api/v1/settings/api-keys", { key }), 403, FORBIDDEN);
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses to change a key's scopes after creation (400), and the key keeps its scopes", async () => {
		const { id, key } = await novala.createKey({ name: "reader", scopes: ["leads.lead.read"] });
		const res = await novala.admin(`/keys/${id}`, {
			method: "PATCH",
			body: JSON.stringify({ scopes: ["leads.lead.read", "leads.lead.write"] }),
		});
		expect(res.status).toBe(400);
		const error = await res.json<{ error: string; message: string }>();
		expect(error.error).toBe("invalid_request");
		expect(error.message).toMatch(/^scopes: cannot be changed after creation/);
		expect((await (await novala.admin(`/keys/${id}`)).json<{ scopes: string[] }>()).scopes).toEqual(["leads.lead.read"]);
		// Other fields may still change.
		expect((await novala.admin(`/keys/${id}`, { method: "PATCH", body: JSON.stringify({ name: "renamed" }) })).status).toBe(200);
		await expectBody(await novala.call("/api/v1/leads", { key, method: "POST", body: "{}" }), 403, FORBIDDEN);
		expect(origin.calls).toHaveLength(0);
	});
});

describe('missing or invalid key: 401 {"error": "Unauthorized"}', () => {
	it("answers a request without a key with 401 Unauthorized", async () => {
		await expectBody(await novala.call("/api/v1/leads"), 401, UNAUTHORIZED);
		expect(origin.calls).toHaveLength(0);
	});

	it("answers a malformed, unknown, mistyped or wrongly sent key with 401 Unauthorized", async () => {
		const { secret } = await createPair("typo", ["leads.lead.read"]);
		const mistyped = secret.key.slice(0, -1) + (secret.key.endsWith("a") ? "b" : "a");
		for (const key of ["sk_live_YOUR_KEY", generateKey("sk", "live"), generateKey("sk", "test"), mistyped]) {
			await expectBody(await novala.call("/api/v1/leads", { key }), 401, UNAUTHORIZED);
		}
		await expectBody(await novala.call("/api/v1/leads", { key: secret.key, scheme: "Basic" }), 401, UNAUTHORIZED);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("rotation: replace then revoke (immediate 401), or rotate with a 24-hour grace period", () => {
	it("revokes the old key at once: its next request is 401 Unauthorized while the replacement works", async () => {
		const old = await createPair("Acumatica Integration", ["leads.lead.read"]);
		const replacement = await createPair("Acumatica Integration (new)", ["leads.lead.read"]);
		expect((await novala.call("/api/v1/leads", { key: old.secret.key })).status).toBe(200);
		expect((await novala.call("/api/v1/leads", { key: replacement.secret.key })).status).toBe(200);

		expect((await novala.admin(`/keys/${old.secret.id}/revoke`, { method: "POST" })).status).toBe(200);
		await expectBody(await novala.call("/api/v1/leads", { key: old.secret.key }), 401, UNAUTHORIZED);
		expect((await novala.call("/api/v1/leads", { key: replacement.secret.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(3);
	});

	// Known gap in the core (src/limits/limiter.ts, ExhaustionMemory): once a key has run out of
	// its rate limit, the isolate answers 429 without asking the key's Durable Object until the
	// window resets, so a key revoked meanwhile reads 429 {"error": "Too Many Requests"} there, not 401.
	it("refuses a revoked key with 401 Unauthorized even if it had run out of its rate limit before", async () => {
		const { id, key } = await novala.createKey({
			name: "limited",
			scopes: ["leads.lead.read"],
			rateLimit: { limit: 1, window: 3600, burst: 10 },
		});
		expect((await novala.call("/api/v1/leads", { key })).status).toBe(200);
		expect((await novala.call("/api/v1/leads", { key })).status).toBe(429);
		expect((await novala.admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		await expectBody(await novala.call("/api/v1/leads", { key }), 401, UNAUTHORIZED);
		expect(origin.calls).toHaveLength(1);
	});

	it("deleting the old key outright also refuses it at once", async () => {
		const old = await createPair("to delete", ["leads.lead.read"]);
		expect((await novala.call("/api/v1/leads", { key: old.secret.key })).status).toBe(200);
		expect((await novala.admin(`/keys/${old.secret.id}`, { method: "DELETE" })).status).toBe(204);
		await expectBody(await novala.call("/api/v1/leads", { key: old.secret.key }), 401, UNAUTHORIZED);
		expect(origin.calls).toHaveLength(1);
	});

	it("the rotate action issues a replacement and keeps the old key working for 24 hours, announcing its sunset", async () => {
		const { secret } = await createPair("rotated", ["leads.lead.read"]);
		const before = Date.now();
		const res = await novala.admin(`/keys/${secret.id}/rotate`, { method: "POST" });
		expect(res.status).toBe(201);
		const rotated = await res.json<CreatedKey & { scopes: string[]; previous: { replacedBy: string; graceEndsAt: string } }>();
		expect(rotated.key).toMatch(/^sk_live_/);
		expect(rotated.scopes).toEqual(["leads.lead.read"]);
		expect(rotated.previous.replacedBy).toBe(rotated.id);
		const graceEndsAt = Date.parse(rotated.previous.graceEndsAt);
		expect(graceEndsAt).toBeGreaterThanOrEqual(before + 86_400_000);
		expect(graceEndsAt).toBeLessThanOrEqual(Date.now() + 86_400_000);

		const old = await novala.call("/api/v1/leads", { key: secret.key });
		expect(old.status).toBe(200);
		expect(old.headers.get("Deprecation")).toMatch(/^@\d+$/);
		expect(old.headers.get("Sunset")).toBe(new Date(graceEndsAt).toUTCString());
		const fresh = await novala.call("/api/v1/leads", { key: rotated.key });
		expect(fresh.status).toBe(200);
		expect(fresh.headers.get("Deprecation")).toBeNull();
		expect(origin.calls).toHaveLength(2);
	});

	it("a grace longer than the page's 24 hours is refused (400), nothing changed; the portal offers only 24 hours or Immediately (a seed-page pass)", async () => {
		const { secret } = await createPair("capped", ["leads.lead.read"]);
		const res = await novala.admin(`/keys/${secret.id}/rotate`, {
			method: "POST",
			body: JSON.stringify({ gracePeriodSeconds: 7 * 86_400 }),
		});
		const text = await res.text();
		expect(res.status, text).toBe(400);
		expect(JSON.parse(text).message).toBe("gracePeriodSeconds: at most 86400 for this API (keys.maxRotationGraceSeconds)");
		const after = await (await novala.admin(`/keys/${secret.id}`)).json<{ replacedBy: string | null }>();
		expect(after.replacedBy).toBeNull();
		expect((await novala.call("/api/v1/leads", { key: secret.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		// The portal's rotate form, as a customer sees it: 24 hours (preselected) or Immediately, nothing else.
		const owner = `cust_${crypto.randomUUID().slice(0, 8)}`;
		const bindings = { KEYGATE_CONFIG: JSON.stringify(config) };
		const mine = await createPair("portal", ["leads.lead.read"], owner);
		const cookie = await portalCookie(owner, config);
		const form = await (await ui(`/_keygate/portal/keys/${mine.secret.id}/rotate`, { cookie, bindings })).text();
		expect([...form.matchAll(/name="grace" value="(\d+)"/g)].map((m) => m[1])).toEqual(["0", "86400"]);
		expect(form).toMatch(/value="86400" checked=""/);
	});

	it("refuses the old key with 401 Unauthorized once the grace period is over", async () => {
		const { secret } = await createPair("short grace", ["leads.lead.read"]);
		const res = await novala.admin(`/keys/${secret.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 1 }) });
		expect(res.status).toBe(201);
		const rotated = await res.json<CreatedKey & { previous: { graceEndsAt: string } }>();
		expect((await novala.call("/api/v1/leads", { key: secret.key })).status).toBe(200);
		await sleep(Date.parse(rotated.previous.graceEndsAt) - Date.now() + 100);
		await expectBody(await novala.call("/api/v1/leads", { key: secret.key }), 401, UNAUTHORIZED);
		expect((await novala.call("/api/v1/leads", { key: rotated.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
	});
});
