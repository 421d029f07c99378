/**
 * The admin API's own defences (issue 11 items 6 and 7): wrong admin tokens are
 * throttled per client address and audited without their value, and admin input that
 * holds an API key is refused before anything is stored.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import nuvionConfig from "../../examples/nuvion/keygate.config.json";
import { adminFailures } from "../../src/admin/auth";
import { MAX_ADMIN_BODY_BYTES } from "../../src/admin/input";
import { ADMIN_FAILURE_WINDOW_SECONDS, ADMIN_MAX_FAILURES } from "../../src/admin/contract";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_SECRET } from "../constants";
import { signIn, ui } from "../helpers/ui";
import { admin, badChecksum, call, createKey, expectError, gatewayFor, type CreatedKey } from "../helpers/gateway";
import { createClient } from "../helpers/oauth";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

let origin: FakeOrigin;
beforeEach(() => {
	origin = fakeOrigin();
});
afterEach(() => {
	adminFailures.clear();
	vi.useRealTimers();
	vi.restoreAllMocks();
});

const kvNames = async () => (await env.KEYS.list()).keys.map((k) => k.name).sort();
const randomToken = () => `guess-${crypto.randomUUID()}`;
/** The admin API's 401: its own challenge, and no key-related realm. */
async function expectAdminUnauthorized(res: Response): Promise<void> {
	const text = await res.text();
	expect(res.status, text).toBe(401);
	expect(JSON.parse(text)).toEqual({ error: "invalid_admin_token", message: "A valid admin token is required." });
	expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate-admin"');
}
const wrong = (ip: string, token = randomToken()) =>
	call("/_keygate/v1/keys", { headers: { Authorization: `Bearer ${token}`, "CF-Connecting-IP": ip } });

describe("wrong admin tokens", () => {
	it(`after ${ADMIN_MAX_FAILURES} from one address, that address gets 429 with Retry-After, even with the right token; another address does not`, async () => {
		const ip = "198.51.100.21";
		const tokens = Array.from({ length: ADMIN_MAX_FAILURES }, randomToken);
		for (const token of tokens) await expectAdminUnauthorized(await wrong(ip, token));

		const refused = await admin("/keys", { headers: { "CF-Connecting-IP": ip } });
		const body = await expectError(refused, 429, "rate_limit_exceeded");
		const retryAfter = Number(refused.headers.get("Retry-After"));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(ADMIN_FAILURE_WINDOW_SECONDS);
		expect(body.message).toBe(`Rate limit exceeded. Try again in ${retryAfter} seconds.`);
		// Creating is refused too, and writes nothing.
		const before = await kvNames();
		await expectError(
			await admin("/keys", { method: "POST", headers: { "CF-Connecting-IP": ip }, body: "{}" }),
			429,
			"rate_limit_exceeded",
		);
		expect(await kvNames()).toEqual(before);

		const other = await admin("/keys", { headers: { "CF-Connecting-IP": "198.51.100.22" } });
		expect(other.status, await other.clone().text()).toBe(200);
		expect(origin.calls).toHaveLength(0);
	});

	it("the audit log shows each failure with the address, and never the token text", async () => {
		const ip = "2001:db8::77";
		const tokens = Array.from({ length: ADMIN_MAX_FAILURES }, randomToken);
		for (const token of tokens) await wrong(ip, token);
		await wrong(ip); // throttled: refused before the comparison, not audited again

		const page = await (await admin("/audit")).json<{ data: any[] }>();
		const mine = page.data.filter((e) => e.action === "admin.auth_failed" && e.details.ip === ip);
		expect(mine).toHaveLength(ADMIN_MAX_FAILURES);
		for (const event of mine) expect(event).toMatchObject({ actor: "unauthenticated", api: null, keyId: null, owner: null });
		// Newest first: the last failure is the one that started the throttle.
		expect(mine.map((e) => e.details.throttled)).toEqual([true, ...Array(ADMIN_MAX_FAILURES - 1).fill(false)]);

		const stored = await Promise.all((await kvNames()).map((name) => env.KEYS.get(name)));
		const everything = JSON.stringify(page) + stored.join("\n");
		for (const token of tokens) expect(everything).not.toContain(token);
		expect(everything).not.toContain(TEST_ADMIN_TOKEN);
	});

	it("a missing token is refused but neither counted nor audited; a malformed header is", async () => {
		const ip = "198.51.100.23";
		const before = await kvNames();
		for (let i = 0; i < ADMIN_MAX_FAILURES + 2; i++)
			await expectAdminUnauthorized(await call("/_keygate/v1/keys", { headers: { "CF-Connecting-IP": ip } }));
		expect(await kvNames()).toEqual(before);
		expect((await admin("/keys", { headers: { "CF-Connecting-IP": ip } })).status).toBe(200);

		await call("/_keygate/v1/keys", { headers: { Authorization: "Basic Zm9vOmJhcg==", "CF-Connecting-IP": ip } });
		const added = (await kvNames()).filter((n) => !before.includes(n));
		expect(added).toHaveLength(1);
		expect(await env.KEYS.get(added[0]!)).not.toContain("Zm9vOmJhcg");
	});

	it("lets the address try again once the window has passed", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const ip = "198.51.100.24";
		for (let i = 0; i < ADMIN_MAX_FAILURES; i++) await wrong(ip);
		expect((await admin("/keys", { headers: { "CF-Connecting-IP": ip } })).status).toBe(429);
		vi.setSystemTime(Date.now() + ADMIN_FAILURE_WINDOW_SECONDS * 1000 + 1);
		expect((await admin("/keys", { headers: { "CF-Connecting-IP": ip } })).status).toBe(200);
	});
});

describe("admin input holding an API key", () => {
	/** Refused with 400 naming the field, the key not echoed, and nothing in KV changed. */
	async function refused(res: Promise<Response>, field: string, key: string): Promise<void> {
		const before = await kvNames();
		const response = await res;
		const text = await response.clone().text();
		const body = await expectError(response, 400, "invalid_request");
		expect(body.message, text).toMatch(new RegExp(`^${field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: (a property name )?holds an API key`));
		expect(text).not.toContain(key);
		expect(await kvNames()).toEqual(before);
	}
	const post = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
		method: "POST",
		headers,
		body: JSON.stringify(body),
	});

	let live: CreatedKey;
	beforeEach(async () => {
		live = await createKey({ name: "a live key" });
	});

	it("in a label the origin gets (name, owner, service), a key without its prefix, cut short, or mistyped is a key too (a second probe)", async () => {
		const body = live.key.slice("sk_live_".length);
		const typo = `${live.key.slice(0, -1)}${live.key.endsWith("a") ? "b" : "a"}`;
		for (const [field, value] of [
			["service", body],
			["owner", typo],
			["name", live.key.slice(0, -6)],
			["service", `billing ${body.slice(0, 40)}`],
		] as const)
			await refused(admin("/keys", post({ name: "x", [field]: value })), field, value);
		await refused(admin("/keys", post({ name: "x" }, { "X-Keygate-Actor": body })), "X-Keygate-Actor", body);
		// A whole key in one case (a seed-page pass rebuilt one from its CRC-32 in 0.13 s).
		await refused(admin("/keys", post({ name: "x", service: live.key.toLowerCase() })), "service", live.key.toLowerCase());
		await refused(admin("/keys", post({ name: "x", owner: body.toUpperCase() })), "owner", body.toUpperCase());
		// With one letter of the other case glued on (a later probe: the run was two-case, and passed).
		await refused(admin("/keys", post({ name: "x", service: `${body.toLowerCase()}X` })), "service", `${body.toLowerCase()}X`);
		// A scope too: keys list it and the origin gets it in X-Keygate-Scopes (found by a peer).
		await refused(admin("/keys", post({ name: "x", scopes: ["read", body] })), "scopes[1]", body);
		await refused(admin(`/keys/${live.id}`, { method: "PATCH", body: JSON.stringify({ scopes: ["read", body] }) }), "scopes[1]", body);
		// Metadata keeps long runs (a base64 blob, a token of another system): only a key keygate would accept is refused there.
		const blob = "QmFzZTY0QmxvYkZyb21Tb21lT3RoZXJTeXN0ZW1UaGF0SXNOb3RBS2V5";
		const made = await admin("/keys", post({ name: "x", metadata: { blob, cut: body } }));
		expect(made.status).toBe(201);
		// One-case runs are no keys anywhere: a UUID without dashes as the owner.
		expect((await admin("/keys", post({ name: "x", owner: "0123456789abcdef0123456789abcdef" }))).status).toBe(201);
	});

	it("a URL keygate stores and sends back in Location (a redirect URI, a portal session's returnUrl) refuses a key body in one case (a probe), not random-looking ids (a review)", async () => {
		const body = live.key.slice("sk_live_".length);
		const withOAuth = structuredClone(bundled) as any;
		withOAuth.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read"] };
		const gw = gatewayFor(withOAuth);
		const clients = async () => (await (await gw.admin("/oauth/clients")).json<{ data: unknown[] }>()).data.length;
		const before = await clients();
		for (const uri of [
			`https://app.example.com/cb?k=${body.toLowerCase()}`,
			`https://${body.toLowerCase()}.example.com/cb`,
			`https://app.example.com/cb?k=${live.key}`,
		]) {
			const res = await gw.admin("/oauth/clients", post({ name: "app", redirectUris: ["https://app.example.com/cb", uri] }));
			const text = await res.clone().text();
			await expectError(res, 400, "invalid_request", "redirectUris[1]: holds an API key; keygate never stores keys");
			// In the case it was sent (a review: a lowercase search could not find the mixed-case whole key).
			for (const part of [body.slice(0, 32), body.slice(0, 32).toLowerCase()]) expect(text).not.toContain(part);
		}
		expect(await clients()).toBe(before);
		await refused(
			admin(
				"/portal-sessions",
				post({ api: "demo", owner: "user_1", returnUrl: `https://app.example.com/settings?k=${body.toUpperCase()}` }),
			),
			"returnUrl",
			body.toUpperCase(),
		);
		// Real callback URLs with random-looking ids still go through: Google Apps Script's 57-character script id, a
		// 32-byte base64url state, a UUID (the "looks random" rule of labels refused most of them).
		const scriptId = "1Ab2Cd3Ef4Gh5Ij6Kl7Mn8Op9Qr0St1Uv2Wx3Yz4aB5cD6eF7gH8iJ9kL";
		for (const uri of [`https://script.google.com/macros/d/${scriptId}/usercallback`, `https://app.example.com/cb/${crypto.randomUUID()}`])
			await createClient(gw, { name: "app", redirectUris: [uri] });
		const state = "dGhpcyBpcyBhIDMyIGJ5dGUgc3RhdGUgdmFsdWUhIQ9xYzBkZWZnaGlqa2xtbm9w".slice(0, 43);
		const session = await admin(
			"/portal-sessions",
			post({ api: "demo", owner: "user_1", returnUrl: `https://app.example.com/s?state=${state}` }),
		);
		expect(session.status, await session.clone().text()).toBe(201);
	});

	it("a refusal that quotes what it refuses never quotes a key's body (found by a peer: tier, api, an id)", async () => {
		const body = live.key.slice("sk_live_".length);
		for (const [res, code] of [
			[admin("/keys", post({ name: "x", tier: body })), 400],
			[admin("/keys", post({ name: "x", api: body })), 400],
			[admin("/keys", post({ name: "x", environment: body })), 400],
			[admin(`/keys/key_${body}`), 404],
			[admin(`/keys?api=demo&${body.slice(0, 40)}=1&${body.slice(0, 40)}=2`), 400],
		] as const) {
			const response = await res;
			const text = await response.text();
			expect(response.status, text).toBe(code);
			expect(text).not.toContain(body.slice(0, 32));
			expect(text).toContain("[redacted]");
		}
	});

	it.each<[string, (key: string) => Record<string, unknown>]>([
		["name", (key) => ({ name: key })],
		["name", (key) => ({ name: `billing, key ${key} (do not share)` })],
		["service", (key) => ({ name: "x", service: key })],
		["owner", (key) => ({ name: "x", owner: key })],
		["scopes[1]", (key) => ({ name: "x", scopes: ["read", key] })],
		["tier", (key) => ({ name: "x", tier: key })],
		["environment", (key) => ({ name: "x", environment: key })],
		["ipAllowlist[0]", (key) => ({ name: "x", ipAllowlist: [key] })],
		["metadata.note", (key) => ({ name: "x", metadata: { note: key } })],
		["metadata.a.b[2].c", (key) => ({ name: "x", metadata: { a: { b: [1, "two", { c: `see ${key}` }] } } })],
		["metadata.a", (key) => ({ name: "x", metadata: { a: { [key]: true } } })],
		["metadata", (key) => ({ name: "x", metadata: { [key]: "the key as a property name" } })],
		["(root)", (key) => ({ name: "x", [key]: 1 })],
	])("POST /keys refuses a key in %s", async (field, body) => {
		await refused(admin("/keys", post(body(live.key))), field, live.key);
	});

	it("POST /keys refuses a key written with JSON escapes, as keygate reads the body, not its bytes", async () => {
		const escaped = live.key.replace(/_/g, "\\u005f");
		const res = admin("/keys", { method: "POST", body: `{"name": "x", "metadata": {"k": "${escaped}"}}` });
		await refused(res, "metadata.k", live.key);
	});

	it("POST /key-pairs refuses a key in metadata", async () => {
		await refused(admin("/key-pairs", post({ name: "x", metadata: { deep: [live.key] } })), "metadata.deep[0]", live.key);
	});

	it("PATCH /keys/{id} refuses a key in any field and leaves the record as it was", async () => {
		const shown = async () => (await admin(`/keys/${live.id}`)).json();
		const before = await shown();
		for (const [field, patch] of [
			["name", { name: live.key }],
			["service", { service: live.key }],
			["owner", { owner: live.key }],
			["metadata.nested.deeper", { metadata: { nested: { deeper: live.key } } }],
		] as const) {
			await refused(admin(`/keys/${live.id}`, { method: "PATCH", body: JSON.stringify(patch) }), field, live.key);
		}
		expect(await shown()).toEqual(before);
	});

	it.each([
		["POST /keys", "/keys", post({ name: "x" })],
		["GET /keys", "/keys", {}],
		["PATCH /keys/{id}", "", { method: "PATCH", body: JSON.stringify({ name: "y" }) }],
		["DELETE /keys/{id}", "", { method: "DELETE" }],
	])("%s refuses a key in X-Keygate-Actor", async (_op, path, init: RequestInit) => {
		const target = path || `/keys/${live.id}`;
		const before = await (await admin(`/keys/${live.id}`)).json();
		await refused(admin(target, { ...init, headers: { "X-Keygate-Actor": `alice (${live.key})` } }), "X-Keygate-Actor", live.key);
		expect(await (await admin(`/keys/${live.id}`)).json()).toEqual(before);
	});

	it("refuses a key in X-Keygate-Actor that only becomes one once the actor is cleaned of unprintable characters", async () => {
		const split = live.key.slice(0, 20) + "\t" + live.key.slice(20); // a tab: allowed in a header value, dropped from the actor
		await refused(admin("/keys", post({ name: "x" }, { "X-Keygate-Actor": split })), "X-Keygate-Actor", live.key);
	});

	it("refuses a key as an owner in the path, and in a query parameter", async () => {
		const withOwners = structuredClone(bundled) as any;
		withOwners.apis[0].owners = { roles: { admin: {} }, defaultRole: "admin" };
		const owners = gatewayFor(withOwners);
		await refused(owners.admin(`/owners/${live.key}`, { method: "PUT", body: JSON.stringify({ role: "admin" }) }), "owner", live.key);
		await refused(owners.admin(`/owners/${live.key}`), "owner", live.key);
		await refused(admin(`/keys?api=${live.key}`), "api", live.key);
		await refused(admin(`/audit?cursor=${live.key}`), "cursor", live.key);
	});

	it("in metadata, accepts what only looks like a key (a wrong checksum): there the refusal is about keys keygate would accept, not their shape", async () => {
		const lookalike = badChecksum(live.key);
		const res = await admin("/keys", post({ name: "x", metadata: { note: lookalike } }));
		expect(res.status, await res.clone().text()).toBe(201);
		expect((await res.json<any>()).metadata).toEqual({ note: lookalike });
		// In a label (here X-Keygate-Actor) its random part, whole, makes it a key (a second probe).
		await refused(admin("/keys", post({ name: "x" }, { "X-Keygate-Actor": lookalike })), "X-Keygate-Actor", lookalike);
	});
});

describe("admin input holding this deployment's ADMIN_TOKEN or SIGNING_SECRET (found by a probe: an admin token as a key's service reached the origin and the customer's portal)", () => {
	const SECRET_MESSAGE = "input holds this deployment's ADMIN_TOKEN or SIGNING_SECRET; keygate never stores them";
	it.each([
		["name", { name: TEST_ADMIN_TOKEN }],
		["service, after Bearer", { name: "x", service: `Bearer ${TEST_ADMIN_TOKEN}` }],
		["a scope", { name: "x", scopes: ["read", TEST_SIGNING_SECRET] }],
		["metadata, as token=…", { name: "x", metadata: { note: `token=${TEST_SIGNING_SECRET}` } }],
		["a metadata property name", { name: "x", metadata: { [TEST_ADMIN_TOKEN]: "1" } }],
		["owner", { name: "x", owner: TEST_ADMIN_TOKEN }],
	])("POST /keys with it in %s: 400, nothing stored, the value never echoed", async (_where, body) => {
		const before = await kvNames();
		const res = await admin("/keys", { method: "POST", body: JSON.stringify(body) });
		const text = await res.clone().text();
		await expectError(res, 400, "invalid_request", SECRET_MESSAGE);
		expect(text).not.toContain(TEST_ADMIN_TOKEN);
		expect(text).not.toContain(TEST_SIGNING_SECRET);
		expect(await kvNames()).toEqual(before);
	});

	it("PATCH and X-Keygate-Actor: refused too; a value of the same length that is not a secret is taken", async () => {
		const key = await createKey({ name: "kept" });
		const patched = await admin(`/keys/${key.id}`, { method: "PATCH", body: JSON.stringify({ service: TEST_ADMIN_TOKEN }) });
		await expectError(patched, 400, "invalid_request", SECRET_MESSAGE);
		expect(((await (await admin(`/keys/${key.id}`)).json()) as { service: string | null }).service).toBeNull();
		const before = await kvNames();
		const asActor = await admin("/keys", {
			method: "POST",
			body: JSON.stringify({ name: "y" }),
			headers: { "X-Keygate-Actor": TEST_ADMIN_TOKEN },
		});
		await expectError(asActor, 400, "invalid_request", SECRET_MESSAGE);
		expect(await kvNames()).toEqual(before);
		const lookalike = TEST_ADMIN_TOKEN.slice(0, -1) + (TEST_ADMIN_TOKEN.endsWith("x") ? "y" : "x");
		const fine = await admin("/keys", { method: "POST", body: JSON.stringify({ name: lookalike, service: `Bearer ${lookalike}` }) });
		expect(fine.status).toBe(201);
	});

	it("an OAuth client is not made in an environment its tier is not open to: every token it got would be refused (a review)", async () => {
		const closed = structuredClone(bundled) as any;
		closed.apis[0].environments.live.tiers = ["pro", "enterprise"];
		const gw = gatewayFor(closed);
		const res = await gw.admin("/oauth/clients", {
			method: "POST",
			body: JSON.stringify({ name: "App", redirectUris: ["https://app.example.com/cb"], environment: "live" }),
		});
		await expectError(
			res,
			400,
			"invalid_request",
			'tier: "free" keys may not be made in environment "live", which is open to pro, enterprise',
		);
		const pro = await gw.admin("/oauth/clients", {
			method: "POST",
			body: JSON.stringify({ name: "App", redirectUris: ["https://app.example.com/cb"], environment: "live", tier: "pro" }),
		});
		expect(pro.status).toBe(201);
	});

	it("a base64 secret with / and = is found inside other text too, and in a path (a review: a search by words missed both)", async () => {
		const secret = "q1Zr/8w+Xv3Lk0T/eYb5Ha2PfN7cUm4Dj6Gs9RtIoE0=";
		const gw = gatewayFor(bundled, undefined, { SIGNING_SECRET: secret });
		const before = await kvNames();
		for (const text of [
			`token=${secret}`,
			`admin:${secret}`,
			`https://x.example/?t=${secret}`,
			`(${secret})`,
			`[${secret}].`,
			`x${secret}y`,
		]) {
			const res = await gw.admin("/keys", { method: "POST", body: JSON.stringify({ name: "x", metadata: { note: text } }) });
			await expectError(res, 400, "invalid_request", SECRET_MESSAGE);
		}
		expect(await kvNames()).toEqual(before);
		// The same text with one character changed is taken.
		const near = secret.replace("q1Zr", "q1Zs");
		expect(
			(await gw.admin("/keys", { method: "POST", body: JSON.stringify({ name: "x", metadata: { note: `token=${near}` } }) })).status,
		).toBe(201);
		// An owner id in the path is stored by PUT /owners/{owner}: refused there too, escaped or not.
		const nuvion = gatewayFor(nuvionConfig, undefined, { SIGNING_SECRET: secret });
		for (const path of [`/owners/${TEST_ADMIN_TOKEN}`, `/owners/${encodeURIComponent(TEST_ADMIN_TOKEN)}`]) {
			const res = await nuvion.admin(path, { method: "PUT", body: JSON.stringify({ role: "admin" }) });
			await expectError(res, 400, "invalid_request", SECRET_MESSAGE);
		}
	});

	it("the console's generate form refuses it in the form's words and makes nothing", async () => {
		const cookie = await signIn();
		const page = await (await ui("/_keygate/ui/apis/demo/keys/new", { cookie })).text();
		const form = Object.fromEntries([...page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
		const before = await kvNames();
		const res = await ui("/_keygate/ui/apis/demo/keys", {
			cookie,
			form: { ...form, name: "svc", service: TEST_SIGNING_SECRET, environment: "test", type: "sk", expiry: "never" },
		});
		const html = await res.text();
		expect(res.status).toBe(400);
		expect(html).toContain("ADMIN_TOKEN or SIGNING_SECRET");
		expect(html).not.toContain(TEST_SIGNING_SECRET);
		expect(await kvNames()).toEqual(before);
		// As an extra scope (a review: it reached the origin in X-Keygate-Scopes), and beside a refusal that puts the form back.
		for (const extra of [
			{ extraScopes: TEST_ADMIN_TOKEN } as Record<string, string | string[]>,
			{ service: TEST_SIGNING_SECRET, expiry: "date", expiresOn: "2001-01-01" },
			{ service: TEST_SIGNING_SECRET, name: ["a", "b"] },
		]) {
			const refused = await ui("/_keygate/ui/apis/demo/keys", {
				cookie,
				form: { ...form, name: "svc", environment: "test", type: "sk", expiry: "never", scopes: "read", ...extra },
			});
			const page = await refused.text();
			expect(refused.status, JSON.stringify(extra)).toBe(400);
			expect(page).toContain("ADMIN_TOKEN or SIGNING_SECRET");
			expect(page).not.toContain(TEST_ADMIN_TOKEN);
			expect(page).not.toContain(TEST_SIGNING_SECRET);
		}
		expect(await kvNames()).toEqual(before);
	});
});

describe("bodies that would be changed without a word (found by probes)", () => {
	const kvNames = async () => (await env.KEYS.list()).keys.map((k) => k.name).join("\n");

	it.each([
		["a blank name", { name: "   " }, "name: must not be blank"],
		["a tab-only name", { name: "\t" }, "name: must not be blank"],
		["a __proto__ field in metadata", { name: "m", metadata: { __proto__: { a: 1 } } }, "a field named __proto__ is not allowed"],
		["an invisible name (U+200B)", { name: "\u200b" }, "name: must not be blank"],
		["a blank-looking name (U+3164)", { name: "\u3164 \u2800" }, "name: must not be blank"],
		// The origin would get it trimmed (HTTP drops a value's outer spaces) under a signature of the spaces (found by a probe).
		["a blank service", { name: "s", service: "  " }, "service: printable ASCII, not starting or ending with a space"],
		["a service ending in a space", { name: "s", service: "billing " }, "service: printable ASCII, not starting or ending with a space"],
	])("%s is 400 invalid_request and stores nothing", async (_what, body, message) => {
		const origin = fakeOrigin();
		const before = await kvNames();
		// JSON.stringify of an object literal's `__proto__` key would drop it: send the text.
		const text = JSON.stringify(body).replace('"metadata":{}', '"metadata":{"__proto__":{"a":1}}');
		const res = await admin("/keys", { method: "POST", body: text });
		const json = await expectError(res, 400, "invalid_request");
		expect(json.message).toContain(message);
		expect(await kvNames()).toBe(before);
		expect(origin.calls).toHaveLength(0);
	});

	it("an empty name is refused with one reason, not also 'must not be blank' (a browser QA pass)", async () => {
		const before = await kvNames();
		const json = await expectError(await admin("/keys", { method: "POST", body: JSON.stringify({ name: "" }) }), 400, "invalid_request");
		expect(json.message).toMatch(/^name: [^;]+$/);
		expect(json.message).not.toContain("blank");
		expect(await kvNames()).toBe(before);
	});

	it("revoke and delete take no body: a field, invalid JSON, a key in it, or 300 KB is 400 and the key stays live; empty or {} acts (found by a probe)", async () => {
		const origin = fakeOrigin();
		const { id, key } = await createKey({ name: "bodiless" });
		const other = await createKey({ name: "pasted" });
		const bad: [string, string][] = [
			[JSON.stringify({ note: other.key }), "holds an API key"],
			["{bad", "body: expected a JSON object"],
			[JSON.stringify({ reason: "leaked" }), "reason"],
			[`{"x":"${"a".repeat(300_000)}"}`, `body: at most ${MAX_ADMIN_BODY_BYTES} bytes`],
		];
		for (const [body, message] of bad) {
			for (const [method, path] of [
				["POST", `/keys/${id}/revoke`],
				["DELETE", `/keys/${id}`],
			] as const) {
				const json = await expectError(await admin(path, { method, body }), 400, "invalid_request");
				expect(json.message, `${method} ${path} ${body.slice(0, 20)}`).toContain(message);
			}
		}
		const shown = await (await admin(`/keys/${id}`)).json<{ revokedAt: string | null }>();
		expect(shown.revokedAt).toBeNull();
		expect((await call("/v1/a", { key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect((await admin(`/keys/${id}/revoke`, { method: "POST", body: "{}" })).status).toBe(200);
		expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(204);
	});

	it("rotate-secret and an OAuth client's delete take no body either: 400, and the client keeps its secret (a review)", async () => {
		const withOAuth = structuredClone(bundled) as any;
		withOAuth.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read"] };
		const gw = gatewayFor(withOAuth);
		const made = await gw.admin("/oauth/clients", {
			method: "POST",
			body: JSON.stringify({ name: "bodiless", redirectUris: ["https://app.example/cb"] }),
		});
		expect(made.status).toBe(201);
		const client = await made.json<{ id: string; secretRotatedAt: string | null }>();
		for (const body of [JSON.stringify({ reason: "x" }), "{bad"]) {
			await expectError(await gw.admin(`/oauth/clients/${client.id}/rotate-secret`, { method: "POST", body }), 400, "invalid_request");
			await expectError(await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE", body }), 400, "invalid_request");
		}
		const shown = await gw.admin(`/oauth/clients/${client.id}`);
		expect(shown.status).toBe(200);
		expect((await shown.json<{ secretRotatedAt: string | null }>()).secretRotatedAt).toBe(client.secretRotatedAt);
		expect((await gw.admin(`/oauth/clients/${client.id}/rotate-secret`, { method: "POST", body: "{}" })).status).toBe(200);
		expect((await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" })).status).toBe(204);
	});

	it("a body that is not UTF-8 is 400 in those words, not the size message (a probe), and nothing is stored", async () => {
		const before = await kvNames();
		const bytes = new Uint8Array([...new TextEncoder().encode('{"name":"'), 0xff, 0xfe, ...new TextEncoder().encode('"}')]);
		await expectError(
			await admin("/keys", { method: "POST", body: bytes }),
			400,
			"invalid_request",
			"body: not UTF-8 text; send the JSON as UTF-8",
		);
		expect(await kvNames()).toEqual(before);
	});

	it("a body over 256 KiB is 400 before it is parsed, declared or streamed; 10 MB was a 503 (found by a probe)", async () => {
		const before = await kvNames();
		const huge = `{"name":"x","metadata":{"x":"${"a".repeat(10_000_000)}"}}`;
		const declared = await admin("/keys", { method: "POST", body: huge });
		await expectError(declared, 400, "invalid_request", `body: at most ${MAX_ADMIN_BODY_BYTES} bytes of UTF-8 JSON`);
		// Without a Content-Length (chunked), the read stops at the cap.
		const bytes = new TextEncoder().encode(huge);
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				for (let at = 0; at < bytes.length; at += 1 << 20) controller.enqueue(bytes.subarray(at, at + (1 << 20)));
				controller.close();
			},
		});
		await expectError(await admin("/keys", { method: "POST", body: stream }), 400, "invalid_request");
		// Just under the cap is read and judged on its content.
		const near = await admin("/keys", { method: "POST", body: `{"name":"x","metadata":{"x":"${"a".repeat(250_000)}"}}` });
		expect((await expectError(near, 400, "invalid_request")).message).toContain("metadata");
		expect(await kvNames()).toBe(before);
	});

	it("the largest valid body, an OAuth client with 20 redirect URIs of 2,000 characters in 3-byte UTF-8, is read (64 KiB refused it: a review)", async () => {
		const withOAuth = structuredClone(bundled) as any;
		withOAuth.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read"] };
		const gw = gatewayFor(withOAuth);
		const redirectUris = Array.from({ length: 20 }, (_, i) => `https://app.example/${i}/${"中".repeat(1_970)}`);
		const body = JSON.stringify({ name: "wide", redirectUris });
		expect(new TextEncoder().encode(body).length).toBeGreaterThan(100_000);
		const res = await gw.admin("/oauth/clients", { method: "POST", body });
		expect(res.status, await res.clone().text()).toBe(201);
	});

	it("an escaped __proto__ (\\u005f_proto__), or one 40 levels deep, is refused too", async () => {
		const res = await admin("/keys", { method: "POST", body: '{"name":"m","metadata":{"\\u005f_proto__":{"a":1}}}' });
		await expectError(res, 400, "invalid_request");
		const deep = `{"name":"m","metadata":${'{"a":'.repeat(40)}{"__proto__":{"x":1}}${"}".repeat(40)}}`;
		await expectError(await admin("/keys", { method: "POST", body: deep }), 400, "invalid_request");
	});
});
