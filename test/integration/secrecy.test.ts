/**
 * Secrecy: one broad scenario (create, pair, rotate, revoke, delete, pass, 401s of every
 * kind, 403s, 429s, 502, 503 faults, admin 400s with a key pasted into a body field, the
 * brute-force throttle) with ALL console output captured, then four checks:
 *
 *   - no log line holds a plaintext key (or its 49-character body) or the admin token;
 *   - no response holds one either, except a key the response itself minted (creation,
 *     pairing, rotation) or one the client put in the body of that same request; and
 *     no response holds a key's SHA-256;
 *   - no KV key name or value holds one (every entry is listed and read);
 *   - no request keygate sent to the origin holds one (headers, URL, body), except in
 *     the body, where its client put it.
 */
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi, type MockInstance } from "vitest";
import bundled from "../../keygate.config.json";
import { keyCache } from "../../src/keys/cache";
import { sha256Hex } from "../../src/keys/crypto";
import { generateKey } from "../../src/keys/format";
import { failureThrottle } from "../../src/credentials/brute-force";
import { TEST_ADMIN_TOKEN } from "../constants";
import { admin, call, callWithEnv, gatewayFor } from "../helpers/gateway";
import { fail, kvWith } from "../helpers/faults";

// ---------------------------------------------------------------------------------
// What is captured.

const logs: string[] = [];
interface Exchange {
	what: string;
	/** What the client itself put in its request (its body): a secret in it may come back in this response. */
	sentBody: string;
	/** Keys this response was meant to hand out (creation, pairing, rotation). */
	minted: string[];
	status: number;
	headers: string;
	body: string;
}
const exchanges: Exchange[] = [];
interface OriginRequest {
	what: string;
	sentBody: string;
	method: string;
	url: string;
	headers: string;
	body: string;
}
const originRequests: OriginRequest[] = [];

/** Every plaintext key the scenario made or presented. */
const keys = new Set<string>();
const remember = (key: string) => {
	keys.add(key);
	return key;
};

// ---------------------------------------------------------------------------------
// The origin: records what keygate sent; can fail or hang on demand.

let originMode: "echo" | "fail" | "hang" = "echo";
let current = { what: "", sentBody: "" };

const spies: MockInstance[] = [];
beforeAll(() => {
	for (const level of ["log", "info", "warn", "error", "debug"] as const) {
		spies.push(
			vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
				logs.push(`${level}: ${args.map((a) => (typeof a === "string" ? a : safeStringify(a))).join(" ")}`);
			}),
		);
	}
	spies.push(
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init);
			const body = request.body ? await request.text() : "";
			originRequests.push({ ...current, method: request.method, url: request.url, headers: JSON.stringify([...request.headers]), body });
			if (originMode === "fail") throw new TypeError("Network connection lost.");
			if (originMode === "hang") {
				return new Promise<Response>((_, reject) =>
					init?.signal?.addEventListener("abort", () => reject(new DOMException("The operation was aborted.", "AbortError"))),
				);
			}
			return Response.json(
				{ method: request.method, url: request.url, headers: Object.fromEntries(request.headers), body },
				{ headers: { "X-Origin": "fake" } },
			);
		}) as unknown as MockInstance,
	);
});
afterAll(() => {
	for (const spy of spies) spy.mockRestore();
});

function safeStringify(v: unknown): string {
	try {
		return typeof v === "object" ? JSON.stringify(v) : String(v);
	} catch {
		return String(v);
	}
}

/** Sends one request, recording it and its full answer. Returns the parsed JSON body (if any). */
async function drive(
	what: string,
	send: () => Promise<Response>,
	sentBody = "",
	mintedFrom?: (json: any) => string[],
): Promise<{ status: number; json: any }> {
	current = { what, sentBody };
	const res = await send();
	const body = await res.text();
	let json: any;
	try {
		json = JSON.parse(body);
	} catch {
		json = undefined;
	}
	const minted = mintedFrom && json ? mintedFrom(json).map(remember) : [];
	exchanges.push({ what, sentBody, minted, status: res.status, headers: JSON.stringify([...res.headers]), body });
	return { status: res.status, json };
}

const jsonBody = (v: unknown) => JSON.stringify(v);
const post = (body?: unknown): RequestInit => (body === undefined ? { method: "POST" } : { method: "POST", body: jsonBody(body) });
const ADMIN_HEADERS = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}`, "Content-Type": "application/json" };

/** Bindings that fail, for the 503s. */
const brokenKeyState = {
	idFromName: (n: string) => env.KEY_AUTHORITY.idFromName(n),
	get: () => ({ check: fail, recordRejection: fail, revoke: fail }),
};
const brokenOwnerState = { idFromName: (n: string) => env.OWNER_ROLES.idFromName(n), get: () => ({ getRole: fail, setRole: fail }) };

// ---------------------------------------------------------------------------------
describe("secrecy", () => {
	// Every check below reads what this scenario produced, so it runs before them even when one check is run alone.
	beforeAll(async () => {
		const UNLIMITED = { limit: null, window: 3600, burst: 1_000_000 };
		const created = (j: any) => [j.key];
		const make = async (what: string, body: Record<string, unknown>) => {
			const r = await drive(what, () => admin("/keys", post(body)), jsonBody(body), created);
			expect(r.status, what).toBe(201);
			return r.json as { id: string; key: string };
		};

		// Lifecycle: create, pair, rotate, revoke, delete.
		const a = await make("create A", { name: "A", scopes: ["read", "write"], owner: "user_a", service: "billing", rateLimit: UNLIMITED });
		const b = await make("create B (read only)", { name: "B", scopes: ["read"], rateLimit: UNLIMITED });
		const limited = await make("create limited", { name: "limited", scopes: ["read"], rateLimit: { limit: 1, window: 3600, burst: 10 } });
		const pinned = await make("create pinned", { name: "pinned", scopes: ["read"], ipAllowlist: ["203.0.113.7"] });
		const doomed = await make("create doomed", { name: "doomed", scopes: ["read"] });
		const revoked = await make("create revoked", { name: "revoked", scopes: ["read"] });
		const rotated = await make("create rotated", { name: "rotated", scopes: ["read"] });
		const cutOff = await make("create cut off", { name: "cut off", scopes: ["read"] });
		const pair = await drive(
			"create pair",
			() => admin("/key-pairs", post({ name: "storefront", scopes: ["read"] })),
			"",
			(j) => [j.publishable.key, j.secret.key],
		);
		expect(pair.status).toBe(201);
		const publishable = pair.json.publishable as { id: string; key: string };

		const rotation = await drive(
			"rotate (grace 3600)",
			() => admin(`/keys/${rotated.id}/rotate`, post({ gracePeriodSeconds: 3600 })),
			"",
			(j) => [j.key],
		);
		expect(rotation.status).toBe(201);
		const rotatedNew = rotation.json as { id: string; key: string };
		const cutOffRotation = await drive(
			"rotate (grace 0)",
			() => admin(`/keys/${cutOff.id}/rotate`, post({ gracePeriodSeconds: 0 })),
			"",
			(j) => [j.key],
		);
		expect(cutOffRotation.status).toBe(201);
		expect((await drive("use doomed once", () => call("/v1/x", { key: doomed.key }))).status).toBe(200);
		expect((await drive("revoke", () => admin(`/keys/${revoked.id}/revoke`, post()))).status).toBe(200);
		expect((await drive("delete", () => admin(`/keys/${doomed.id}`, { method: "DELETE" }))).status).toBe(204);
		expect(
			(
				await drive("patch", () =>
					admin(`/keys/${a.id}`, { method: "PATCH", body: jsonBody({ name: "A renamed", metadata: { team: "x" } }) }),
				)
			).status,
		).toBe(200);

		// Passes.
		expect((await drive("pass GET", () => call("/v1/things?x=1", { key: a.key }))).status).toBe(200);
		expect((await drive("pass X-API-Key", () => call("/v1/things", { headers: { "X-API-Key": a.key } }))).status).toBe(200);
		const ownBody = jsonBody({ note: "my own key, pasted by me", key: a.key });
		expect(
			(
				await drive(
					"pass POST with the client's own key in its body",
					() => call("/v1/things", { key: a.key, method: "POST", body: ownBody }),
					ownBody,
				)
			).status,
		).toBe(200);
		expect((await drive("pass B", () => call("/v1/things", { key: b.key }))).status).toBe(200);
		expect(
			(await drive("pass publishable", () => call("/v1/things", { key: publishable.key, headers: { Origin: "https://shop.example" } })))
				.status,
		).toBe(200);
		expect((await drive("pass rotated (old key, in grace)", () => call("/v1/things", { key: rotated.key }))).status).toBe(200);
		expect((await drive("pass rotated (new key)", () => call("/v1/things", { key: rotatedNew.key }))).status).toBe(200);
		expect((await drive("pass public", () => call("/health"))).status).toBe(200);
		expect((await drive("pass limited", () => call("/v1/things", { key: limited.key }))).status).toBe(200);

		// 401s of every kind.
		const two = structuredClone(bundled) as any;
		two.apis.push({ ...structuredClone(bundled.apis[0]), name: "other", match: { pathPrefix: "/other" } });
		const twoApis = gatewayFor(two);
		const unknown = remember(generateKey("sk", "live"));
		const refusals: [string, () => Promise<Response>, number][] = [
			["401 missing", () => call("/v1/things"), 401],
			["401 garbage", () => call("/v1/things", { key: "garbage" }), 401],
			["401 bad checksum", () => call("/v1/things", { key: a.key.slice(0, -1) + (a.key.endsWith("0") ? "1" : "0") }), 401],
			["401 unknown type", () => call("/v1/things", { key: remember(generateKey("nvp", "live")) }), 401],
			["401 unknown environment", () => call("/v1/things", { key: remember(generateKey("sk", "staging")) }), 401],
			["401 unknown", () => call("/v1/things", { key: unknown }), 401],
			["401 deleted", () => call("/v1/things", { key: doomed.key }), 401],
			["401 other API", () => twoApis.call("/other/things", { key: a.key }), 401],
			["401 wrong scheme", () => call("/v1/things", { headers: { Authorization: `Basic ${btoa(`user:${a.key}`)}` } }), 401],
			["401 revoked", () => call("/v1/things", { key: revoked.key }), 401],
			["401 grace ended", () => call("/v1/things", { key: cutOff.key }), 401],
			["401 admin token used as an API key", () => call("/v1/things", { key: TEST_ADMIN_TOKEN }), 401],
			["401 API key used as the admin token", () => admin("/keys", {}, a.key), 401],
			// 403s
			["403 missing scope", () => call("/v1/things", { key: b.key, method: "POST", body: "{}" }), 403],
			["403 read-only key type", () => call("/v1/things", { key: publishable.key, method: "DELETE" }), 403],
			["403 IP not allowed", () => call("/v1/things", { key: pinned.key, headers: { "CF-Connecting-IP": "198.51.100.1" } }), 403],
			// 429
			["429 over its limit", () => call("/v1/things", { key: limited.key }), 429],
		];
		for (const [what, send, status] of refusals) expect((await drive(what, send)).status, what).toBe(status);

		// 429 from the brute-force throttle; A, known to this isolate, still passes from that address.
		failureThrottle.clear();
		const from = { "CF-Connecting-IP": "198.51.100.99" };
		for (let i = 0; i < 20; i++)
			expect(
				(await drive(`guess ${i}`, () => call("/v1/things", { key: remember(generateKey("sk", "live")), headers: from }))).status,
			).toBe(401);
		expect(
			(await drive("429 brute force", () => call("/v1/things", { key: remember(generateKey("sk", "live")), headers: from }))).status,
		).toBe(429);
		expect((await drive("known key from the throttled address", () => call("/v1/things", { key: a.key, headers: from }))).status).toBe(200);
		failureThrottle.clear();

		// 502 and 504 from the origin.
		originMode = "fail";
		expect((await drive("502 origin down", () => call("/v1/things", { key: a.key }))).status).toBe(502);
		originMode = "hang";
		const slow = structuredClone(bundled) as any;
		slow.apis[0].originTimeoutMs = 100;
		expect(
			(await drive("504 origin slow", () => callWithEnv({ KEYGATE_CONFIG: JSON.stringify(slow) }, "/v1/things", { key: a.key }))).status,
		).toBe(504);
		originMode = "echo";

		// 503 faults: KV, the key's Durable Object, the owner's, the signing secret, the config, the admin token, an admin step.
		keyCache.clear();
		expect((await drive("503 KV down", () => callWithEnv({ KEYS: kvWith("get", fail) }, "/v1/things", { key: a.key }))).status).toBe(503);
		expect(
			(await drive("503 KV down, unknown key", () => callWithEnv({ KEYS: kvWith("get", fail) }, "/v1/things", { key: unknown }))).status,
		).toBe(503);
		expect(
			(await drive("503 Durable Object down", () => callWithEnv({ KEY_AUTHORITY: brokenKeyState }, "/v1/things", { key: a.key }))).status,
		).toBe(503);
		const owners = structuredClone(bundled) as any;
		owners.apis[0].owners = { roles: { admin: { scopes: ["*"] } }, defaultRole: "admin" };
		expect(
			(
				await drive("503 owner object down", () =>
					callWithEnv({ KEYGATE_CONFIG: JSON.stringify(owners), OWNER_ROLES: brokenOwnerState }, "/v1/things", { key: a.key }),
				)
			).status,
		).toBe(503);
		expect(
			(await drive("503 signing secret missing", () => callWithEnv({ SIGNING_SECRET: "" }, "/v1/things", { key: a.key }))).status,
		).toBe(503);
		const broken = structuredClone(bundled) as any;
		broken.apis[0].tiers.free.burst = a.key; // a key pasted into the config, of all places
		expect(
			(await drive("503 config invalid", () => callWithEnv({ KEYGATE_CONFIG: JSON.stringify(broken) }, "/v1/things", { key: a.key })))
				.status,
		).toBe(503);
		expect(
			(
				await drive("503 admin token not configured", () =>
					callWithEnv({ ADMIN_TOKEN: "" }, "/_keygate/v1/keys", { headers: ADMIN_HEADERS }),
				)
			).status,
		).toBe(503);
		expect(
			(
				await drive("503 admin revoke, KV write fails", () =>
					callWithEnv({ KEYS: kvWith("put", fail) }, `/_keygate/v1/keys/${b.id}/revoke`, { method: "POST", headers: ADMIN_HEADERS }),
				)
			).status,
		).toBe(503);
		expect(
			(
				await drive("503 admin revoke, Durable Object fails", () =>
					callWithEnv({ KEY_AUTHORITY: brokenKeyState }, `/_keygate/v1/keys/${a.id}/revoke`, { method: "POST", headers: ADMIN_HEADERS }),
				)
			).status,
		).toBe(503);

		// Admin 400s with a key (or the token) pasted into a body field: refused, nothing written.
		const pasted: [string, string, RequestInit][] = [
			["400 key as tier", "/keys", post({ name: "x", tier: a.key })],
			["400 key as environment", "/keys", post({ name: "x", environment: b.key })],
			["400 key as api", "/keys", post({ name: "x", api: a.key })],
			["400 key as name, bad scopes", "/keys", post({ name: a.key, scopes: "read" })],
			["400 key in metadata, bad expiry", "/keys", post({ name: "x", metadata: { key: a.key }, expiresAt: "yesterday" })],
			["400 key as scope", `/keys/${a.id}`, { method: "PATCH", body: jsonBody({ scopes: [`${a.key} x`] }) }],
			["400 key as owner", `/keys/${a.id}`, { method: "PATCH", body: jsonBody({ owner: `a:${a.key}` }) }],
			["400 key as IP", `/keys/${a.id}`, { method: "PATCH", body: jsonBody({ ipAllowlist: [a.key] }) }],
			["400 key as grace period", `/keys/${b.id}/rotate`, post({ gracePeriodSeconds: a.key })],
			["400 token as tier", "/keys", post({ name: "x", tier: TEST_ADMIN_TOKEN })],
			["400 not JSON, with a key", "/keys", { method: "POST", body: `{"name": "${a.key}"` }],
		];
		for (const [what, path, init] of pasted)
			expect((await drive(what, () => admin(path, init), String(init.body ?? ""))).status, what).toBe(400);
		const ownerAdmin = gatewayFor(owners);
		expect(
			(
				await drive(
					"400 key as role",
					() => ownerAdmin.admin("/owners/user_a", { method: "PUT", body: jsonBody({ role: a.key }) }),
					jsonBody({ role: a.key }),
				)
			).status,
		).toBe(400);
		// The admin pasted a key where an id goes: the 404 names what it was sent (its own input, so it counts as sent).
		expect((await drive("404 key as id", () => admin(`/keys/${encodeURIComponent(a.key)}`), a.key)).status).toBe(404);

		// Reads.
		for (const [what, path] of [
			["list", "/keys"],
			["list demo", "/keys?api=demo"],
			["show", `/keys/${a.id}`],
			["usage", `/keys/${a.id}/usage`],
			["audit", "/audit"],
			["audit of A", `/audit?keyId=${a.id}`],
			["openapi", "/openapi.json"],
		] as const) {
			expect((await drive(what, () => admin(path))).status, what).toBe(200);
		}
		expect(keys.size).toBeGreaterThan(30);
		expect(exchanges.length).toBeGreaterThan(80);
		expect(originRequests.length).toBeGreaterThan(10);
	}, 30_000);

	/** The forms of a secret to look for: the whole key and its 49-character body; the token. */
	function needles(): { label: string; value: string; key?: string }[] {
		const out: { label: string; value: string; key?: string }[] = [{ label: "the admin token", value: TEST_ADMIN_TOKEN }];
		for (const key of keys) {
			out.push({ label: `key ${key.slice(0, 12)}…`, value: key, key });
			out.push({ label: `body of key ${key.slice(0, 12)}…`, value: key.slice(key.lastIndexOf("_") + 1), key });
		}
		return out;
	}
	/** A secret appears in the client's own body when the key or the token itself does. */
	const sentIn = (body: string, needle: { value: string; key?: string }) => body.includes(needle.key ?? needle.value);

	it("no log line holds a plaintext key or the admin token", () => {
		expect(logs.length).toBeGreaterThan(5); // the faults above did log
		const found: string[] = [];
		for (const line of logs) for (const n of needles()) if (line.includes(n.value)) found.push(`${n.label} in log: ${line.slice(0, 200)}`);
		expect(found).toEqual([]);
	});

	it("no response holds a key it did not mint or its client did not send in its body, a key's hash, or the admin token", async () => {
		expect(exchanges.length).toBeGreaterThan(80);
		const hashes = await Promise.all([...keys].map(async (k) => ({ key: k, hash: await sha256Hex(k) })));
		const found: string[] = [];
		for (const x of exchanges) {
			const text = `${x.headers}\n${x.body}`;
			for (const n of needles()) {
				if (!text.includes(n.value)) continue;
				if (n.key && x.minted.includes(n.key)) continue;
				if (sentIn(x.sentBody, n)) continue;
				found.push(`${n.label} in the response to "${x.what}" (${x.status})`);
			}
			for (const { key, hash } of hashes)
				if (text.includes(hash)) found.push(`hash of ${key.slice(0, 12)}… in the response to "${x.what}"`);
		}
		expect(found).toEqual([]);
	});

	it("no KV key name or value holds a plaintext key or the admin token", async () => {
		const found: string[] = [];
		let cursor: string | undefined;
		let entries = 0;
		do {
			const page = await env.KEYS.list({ cursor });
			for (const { name } of page.keys) {
				entries++;
				const value = (await env.KEYS.get(name)) ?? "";
				for (const n of needles()) {
					if (name.includes(n.value)) found.push(`${n.label} in KV key name ${name.slice(0, 80)}`);
					if (value.includes(n.value)) found.push(`${n.label} in KV value of ${name}`);
				}
			}
			cursor = page.list_complete ? undefined : page.cursor;
		} while (cursor);
		expect(entries).toBeGreaterThan(20);
		expect(found).toEqual([]);
	});

	it("no origin request holds a key or the admin token, except in the body its client sent", () => {
		expect(originRequests.length).toBeGreaterThan(10);
		const found: string[] = [];
		for (const r of originRequests) {
			for (const n of needles()) {
				if (r.url.includes(n.value) || decodeURIComponent(r.url).includes(n.value))
					found.push(`${n.label} in the URL sent for "${r.what}"`);
				if (r.headers.includes(n.value)) found.push(`${n.label} in a header sent for "${r.what}"`);
				if (r.body.includes(n.value) && !sentIn(r.sentBody, n)) found.push(`${n.label} in the body sent for "${r.what}"`);
			}
		}
		expect(found).toEqual([]);
	});
});
