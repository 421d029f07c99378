/**
 * The admin API against its served OpenAPI document: every documented operation is sent
 * through the real Worker, and every documented status of it is provoked at least once.
 * The checking itself happens in test/helpers/gateway.ts, on every admin response any
 * helper returns: status documented, required headers present, content type documented,
 * body valid against the response schema.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { adminFailures } from "../../src/admin/auth";
import { ADMIN_MAX_FAILURES } from "../../src/admin/contract";
import { generateKey } from "../../src/keys/format";
import { admin, adminDocument, call, callWithEnv, createKey, gatewayFor, seenAdminAnswers } from "../helpers/gateway";
import { operationsOf } from "../helpers/openapi-check";
import { fakeOrigin } from "../helpers/origin";

beforeEach(() => {
	fakeOrigin();
});
afterEach(() => {
	adminFailures.clear();
	vi.restoreAllMocks();
});

/** The demo config with owners (for /owners) and with an identifier as the public type (for the other pair shape). */
const withOwners = structuredClone(bundled) as any;
withOwners.apis[0].owners = { roles: { admin: {}, readonly: { scopes: ["read"] } }, defaultRole: "readonly" };
const withIdentifier = structuredClone(bundled) as any;
withIdentifier.apis[0].keyTypes = { sk: { kind: "secret" }, app: { kind: "identifier" } };
delete withIdentifier.apis[0].cors;
const owners = gatewayFor(withOwners);
/** The demo config with oauth on, for /oauth/*. */
const withOAuth = structuredClone(bundled) as any;
withOAuth.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"] };
const oauthGw = gatewayFor(withOAuth);
const NO_SUCH_CLIENT = "client_0000000000000000000000";
const newClient = async () =>
	(await want(oauthGw.admin("/oauth/clients", json("POST", { name: "app", redirectUris: ["https://app.example/cb"] })), 201)) as {
		id: string;
		secret: string;
	};
const identifiers = gatewayFor(withIdentifier);

const json = (method: string, body: unknown): RequestInit => ({ method, body: JSON.stringify(body) });
/** Asserts the status (the body is checked against the document by the helper that sent it). */
async function want(res: Promise<Response>, status: number): Promise<any> {
	const r = await res;
	const text = await r.text();
	expect(r.status, text).toBe(status);
	return text ? JSON.parse(text) : undefined;
}
const NO_SUCH_KEY = "key_0000000000000000000000";

/**
 * Per operation: requests that make it answer its success status and each error status
 * particular to it. The errors every operation shares (400, 401, 429, 503) are provoked
 * for all of them alike below.
 */
const CASES: Record<string, () => Promise<unknown>> = {
	"POST /keys": async () => {
		await want(admin("/keys", json("POST", { name: "contract", metadata: { team: "a" }, rateLimit: { limit: 10, burst: 2 } })), 201);
		await want(admin("/keys", json("POST", { name: "x", tier: "gold" })), 400);
	},
	"GET /keys": async () => {
		await createKey();
		expect((await want(admin("/keys?api=demo"), 200)).data.length).toBeGreaterThan(0);
		await want(admin("/keys?api=nope"), 400);
	},
	"POST /key-pairs": async () => {
		expect(await want(admin("/key-pairs", json("POST", { name: "storefront", scopes: ["read"] })), 201)).toHaveProperty("publishable");
		expect(await want(identifiers.admin("/key-pairs", json("POST", { name: "application" })), 201)).toHaveProperty("identifier");
		await want(admin("/key-pairs", json("POST", {})), 400);
	},
	"GET /keys/{id}": async () => {
		await want(admin(`/keys/${(await createKey()).id}`), 200);
		await want(admin(`/keys/${NO_SUCH_KEY}`), 404);
	},
	"PATCH /keys/{id}": async () => {
		const { id } = await createKey();
		await want(admin(`/keys/${id}`, json("PATCH", { name: "renamed", metadata: null, owner: "user_1" })), 200);
		await want(admin(`/keys/${id}`, json("PATCH", {})), 400);
		await want(admin(`/keys/${NO_SUCH_KEY}`, json("PATCH", { name: "x" })), 404);
	},
	"DELETE /keys/{id}": async () => {
		await want(admin(`/keys/${(await createKey()).id}`, { method: "DELETE" }), 204);
		await want(admin(`/keys/${NO_SUCH_KEY}`, { method: "DELETE" }), 404);
	},
	"POST /keys/{id}/revoke": async () => {
		await want(admin(`/keys/${(await createKey()).id}/revoke`, { method: "POST" }), 200);
		await want(admin(`/keys/${NO_SUCH_KEY}/revoke`, { method: "POST" }), 404);
	},
	"POST /keys/{id}/reveal": async () => {
		const pair = await want(admin("/key-pairs", json("POST", { name: "p" })), 201);
		expect(await want(admin(`/keys/${pair.publishable.id}/reveal`, { method: "POST" }), 200)).toMatchObject({ key: pair.publishable.key });
		await want(admin(`/keys/${pair.secret.id}/reveal`, { method: "POST" }), 400);
		await want(admin(`/keys/${pair.publishable.id}/revoke`, { method: "POST" }), 200);
		await want(admin(`/keys/${pair.publishable.id}/reveal`, { method: "POST" }), 409);
		await want(admin(`/keys/${NO_SUCH_KEY}/reveal`, { method: "POST" }), 404);
	},
	"POST /keys/{id}/rotate": async () => {
		const { id } = await createKey();
		await want(admin(`/keys/${id}/rotate`, json("POST", { gracePeriodSeconds: 30 * 86_400 + 1 })), 400);
		const rotated = await want(admin(`/keys/${id}/rotate`, json("POST", { gracePeriodSeconds: 60 })), 201);
		expect(rotated.previous).toMatchObject({ id, replacedBy: rotated.id });
		await want(admin(`/keys/${id}/rotate`, { method: "POST" }), 409); // already rotated
		await want(admin(`/keys/${NO_SUCH_KEY}/rotate`, { method: "POST" }), 404);
	},
	"GET /keys/{id}/usage": async () => {
		const { id, key } = await createKey();
		await want(call("/v1/a", { key }), 200);
		expect(await want(admin(`/keys/${id}/usage`), 200)).toMatchObject({ passed: 1 });
		await want(admin(`/keys/${NO_SUCH_KEY}/usage`), 404);
	},
	"GET /audit": async () => {
		const { id } = await createKey();
		expect((await want(admin(`/audit?keyId=${id}`), 200)).data).toHaveLength(1);
		await want(admin("/audit"), 200);
		await want(admin("/audit?keyId=nope"), 400);
	},
	"POST /oauth/clients": async () => {
		expect((await newClient()).secret).toMatch(/^kgcs_/);
		expect(
			await want(
				oauthGw.admin("/oauth/clients", json("POST", { name: "spa", type: "public", redirectUris: ["http://127.0.0.1:9/cb"] })),
				201,
			),
		).toMatchObject({ secret: null });
		await want(oauthGw.admin("/oauth/clients", json("POST", { name: "x", redirectUris: ["https://a.example/cb#frag"] })), 400);
		// Compared character for character: forms a browser never sends back as written are refused (found by a probe).
		for (const uri of [
			"https://a.example/c b",
			"https://a.example/cb\n",
			" https://a.example/cb",
			"https://u:p@a.example/cb",
			"https:/a.example/cb",
			"https://a.example\\cb",
		])
			await want(oauthGw.admin("/oauth/clients", json("POST", { name: "x", redirectUris: [uri] })), 400);
		for (const uri of ["https://a.example", "https://a.example/cb?x=1", "http://127.0.0.1:9999/cb", "http://[::1]/cb"])
			await want(oauthGw.admin("/oauth/clients", json("POST", { name: "x", redirectUris: [uri] })), 201);
	},
	"GET /oauth/clients": async () => {
		const { id } = await newClient();
		expect((await want(oauthGw.admin("/oauth/clients"), 200)).data.map((c: { id: string }) => c.id)).toContain(id);
		await want(owners.admin("/oauth/clients?api=nope"), 400); // not a configured API
	},
	"GET /oauth/clients/{clientId}": async () => {
		const { id } = await newClient();
		expect(await want(oauthGw.admin(`/oauth/clients/${id}`), 200)).not.toHaveProperty("secretHash");
		await want(oauthGw.admin(`/oauth/clients/${NO_SUCH_CLIENT}`), 404);
	},
	"DELETE /oauth/clients/{clientId}": async () => {
		await want(oauthGw.admin(`/oauth/clients/${(await newClient()).id}`, { method: "DELETE" }), 204);
		await want(oauthGw.admin(`/oauth/clients/${NO_SUCH_CLIENT}`, { method: "DELETE" }), 404);
	},
	"POST /oauth/clients/{clientId}/rotate-secret": async () => {
		const { id, secret } = await newClient();
		expect((await want(oauthGw.admin(`/oauth/clients/${id}/rotate-secret`, { method: "POST" }), 200)).secret).not.toBe(secret);
		await want(oauthGw.admin(`/oauth/clients/${NO_SUCH_CLIENT}/rotate-secret`, { method: "POST" }), 404);
	},
	"GET /oauth/grants": async () => {
		expect((await want(oauthGw.admin("/oauth/grants?subject=user_1"), 200)).data).toBeInstanceOf(Array);
		await want(oauthGw.admin("/oauth/grants"), 400);
		// A subject with a space could name a client's mirror object (found by a probe): refused as the revocation refuses it.
		const { id } = await newClient();
		for (const subject of [` client ${id}`, "a b", "a:b", "x".repeat(201)]) {
			const listed = await want(oauthGw.admin(`/oauth/grants?subject=${encodeURIComponent(subject)}`), 400);
			// In the revocation body's words, so a client sees one refusal for one rule.
			const revoked = await want(oauthGw.admin("/oauth/grants/revoke", json("POST", { subject })), 400);
			expect(listed).toEqual(revoked);
		}
	},
	"POST /oauth/grants/revoke": async () => {
		expect(await want(oauthGw.admin("/oauth/grants/revoke", json("POST", { subject: "user_1" })), 200)).toMatchObject({ revoked: 0 });
		await want(oauthGw.admin("/oauth/grants/revoke", json("POST", {})), 400);
	},
	"PUT /owners/{owner}": async () => {
		await want(owners.admin("/owners/user_1", json("PUT", { role: "admin" })), 200);
		await want(owners.admin("/owners/user_1", json("PUT", { role: "root" })), 400);
	},
	"POST /portal-sessions": async () => {
		const opened = await want(
			admin("/portal-sessions", json("POST", { api: "demo", owner: "user_1", returnUrl: "https://app.example.com/settings" })),
			201,
		);
		expect(opened.url).toMatch(/^https:\/\/api\.example\.com\/_keygate\/portal\/enter\?token=kgpe_[0-9A-Za-z]{44}$/);
		await want(admin("/portal-sessions", json("POST", { owner: "user_1", returnUrl: "http://evil.example/" })), 400);
		await want(admin("/portal-sessions", json("POST", { owner: "user_1", api: "nope" })), 400);
	},
	"GET /owners/{owner}": async () => {
		await want(owners.admin("/owners/user_1"), 200);
		expect(await want(owners.admin("/owners/nobody"), 200)).toMatchObject({ assigned: false, role: "readonly" });
		await want(admin("/owners/user_1"), 400); // the demo API has no owners
	},
};

let ipCounter = 0;

/** The answers every operation can give: 401 (no token), 503 (no ADMIN_TOKEN), 400 (a key as the actor), 429 (throttled). */
async function sharedErrors(method: string, path: string): Promise<void> {
	const url = `/_keygate/v1${path}`;
	await want(call(url, { method }), 401);
	await want(callWithEnv({ ADMIN_TOKEN: "" }, url, { method, headers: { Authorization: "Bearer anything" } }), 503);
	await want(admin(path, { method, headers: { "X-Keygate-Actor": `ops ${generateKey("sk", "live")}` } }), 400);
	const ip = `203.0.113.${++ipCounter}`;
	for (let i = 0; i < ADMIN_MAX_FAILURES; i++)
		await want(call(url, { method, headers: { Authorization: "Bearer wrong", "CF-Connecting-IP": ip } }), 401);
	await want(admin(path, { method, headers: { "CF-Connecting-IP": ip } }), 429);
}

describe("the served OpenAPI document", () => {
	it("is the generated src/admin/openapi.json", async () => {
		const res = await admin("/openapi.json");
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(await res.json()).toEqual(adminDocument);
	});

	it("has a case here for every operation it documents, and documents every case here", () => {
		expect(Object.keys(CASES).sort()).toEqual(operationsOf(adminDocument).sort());
	});
});

describe("every documented operation, through the real Worker, answers every documented status as documented", () => {
	it.each(operationsOf(adminDocument))("%s", async (op) => {
		const [method, template] = op.split(" ") as [string, string];
		seenAdminAnswers.clear();
		await CASES[op]!();
		await sharedErrors(method, template.replace("{id}", NO_SUCH_KEY).replace("{owner}", "user_1").replace("{clientId}", NO_SUCH_CLIENT));
		const documented = Object.keys(adminDocument.paths[template]![method.toLowerCase()]!.responses).map((s) => `${op} ${s}`);
		const seen = [...seenAdminAnswers].filter((a) => a.startsWith(`${op} `));
		expect(seen.sort(), "each answer was checked against the document").toEqual(documented.sort());
	});
});
