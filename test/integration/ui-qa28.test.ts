/**
 * The console and portal findings of stop 28's checkers: the portal's page when storage
 * fails, a key's service, the new pair's labels, the console's tier choice and the
 * sample curl line's host and path.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import novu from "../../examples/novu/keygate.config.json";
import novapulse from "../../examples/novapulse/keygate.config.json";
import nuvion from "../../examples/nuvion/keygate.config.json";
import novala from "../../examples/novala/keygate.config.json";
import generic from "../../examples/generic-rest/keygate.config.json";
import { app } from "../../src/app";
import { parseConfig } from "../../src/config/load";
import { sampleCall } from "../../src/ui/sample";
import { FORM_TOKEN_FIELD, formToken } from "../../src/ui/security";
import { createExecutionContext } from "cloudflare:test";
import { fail, kvWith } from "../helpers/faults";
import { admin } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { portalCookie, shownKeys, signIn, ui, UI } from "../helpers/ui";

const PORTAL = "/_keygate/portal";

useFakeOrigin();
afterEach(() => {
	vi.restoreAllMocks();
});

const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

describe("the portal when storage fails", () => {
	const brokenAuthority = { idFromName: (n: string) => env.KEY_AUTHORITY.idFromName(n), get: () => ({ revoke: fail }) };
	it.each([
		["the key's Durable Object", { KEY_AUTHORITY: brokenAuthority }, null],
		// The object's revoke comes first, so the key is revoked; the page says the record's update failed and a retry is safe.
		["KV", { KEYS: kvWith("put", fail) }, expect.any(String)],
	])("a revoke whose step on %s fails is the 503 page that says nothing was changed, not a 400", async (_, broken, revokedAt) => {
		const owner = `qa28_${crypto.randomUUID().slice(0, 8)}`;
		const cookie = await portalCookie(owner);
		const made = await admin("/keys", post({ name: "mine", scopes: ["read"], owner }));
		const { id } = await made.json<{ id: string }>();
		expect(made.status).toBe(201);
		vi.spyOn(console, "error").mockImplementation(() => {});
		const res = await ui(`${PORTAL}/keys/${id}/revoke`, { cookie, bindings: broken, form: {} });
		const html = await res.text();
		expect(res.status, html).toBe(503);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(html).toContain("Nothing was changed");
		expect((await (await admin(`/keys/${id}`)).json<{ revokedAt: string | null }>()).revokedAt).toEqual(revokedAt);
	});
});

/** The message the admin API gives a refused field (after `field: `), as the form must show it. */
async function adminWording(body: Record<string, unknown>, field: string): Promise<string> {
	const res = await admin("/keys", post({ name: "wording", ...body }));
	const { message } = await res.json<{ message: string }>();
	expect(res.status, message).toBe(400);
	const at = message.indexOf(`${field}: `);
	expect(at, message).toBeGreaterThanOrEqual(0);
	return message.slice(at + field.length + 2);
}

const keyIdOf = (html: string) => /href="\/_keygate\/(?:ui|portal)\/keys\/([^"?]+)"/.exec(html)?.[1];

describe("a key's service or integration (Nuvion's per-service keys)", () => {
	it("the console's generate form takes it, refuses what the admin API refuses in its words, and the key's page and list show it", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		expect(form).toMatch(/<label>Service or integration \(optional\)<input name="service"/);
		const base = { name: "svc", environment: "live", type: "sk", expiry: "never", kind: "single", scopes: "read" };
		const wording = await adminWording({ service: " billing" }, "service");
		const refused = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, service: " billing" } });
		const refusedHtml = await refused.text();
		expect(refused.status, refusedHtml).toBe(400);
		expect(refusedHtml).toContain(`Service or integration: ${wording}`);
		expect(refusedHtml).toMatch(/<input name="service" maxlength="200" value=" billing" aria-invalid="true" aria-describedby="form-error"/);
		const service = `billing-sync ${crypto.randomUUID().slice(0, 6)}`;
		const made = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, service } });
		const madeHtml = await made.text();
		expect(made.status, madeHtml).toBe(200);
		expect(madeHtml).toContain(`; service ${service}`);
		const [key] = shownKeys(madeHtml);
		const id = (await (await admin("/keys?api=demo&limit=100")).json<{ data: { id: string; service: string | null }[] }>()).data.find(
			(k) => k.service === service,
		)?.id;
		expect(id, key).toBeDefined();
		const detail = await (await ui(`${UI}/keys/${id}`, { cookie })).text();
		expect(detail).toContain(`<dt>Service or integration</dt><dd>${service}</dd>`);
		const listed = await (await ui(`${UI}/apis/demo/keys?q=${id}`, { cookie })).text();
		expect(listed).toContain(`<span class="muted service">${service}</span>`);
	});

	it("the portal's generate form takes it, refuses what the admin API refuses in its words, and the key's page shows it", async () => {
		const cookie = await portalCookie(`svc_${crypto.randomUUID().slice(0, 8)}`);
		const home = await (await ui(`${PORTAL}/`, { cookie })).text();
		expect(home).toMatch(/<label>Service or integration \(optional\)<input name="service"/);
		const base = { name: "svc", environment: "live", type: "sk", expiry: "never", kind: "single", scopes: "read" };
		const long = "x".repeat(201);
		const wording = await adminWording({ service: long }, "service");
		const refused = await ui(`${PORTAL}/keys`, { cookie, form: { ...base, service: long } });
		const refusedHtml = await refused.text();
		expect(refused.status, refusedHtml).toBe(400);
		expect(refusedHtml).toContain("Service or integration: ");
		expect(refusedHtml).toMatch(/<input name="service" maxlength="200" value="x{201}" aria-invalid="true"/);
		expect(wording).toMatch(/200/);
		const made = await ui(`${PORTAL}/keys`, { cookie, form: { ...base, service: "zapier" } });
		const madeHtml = await made.text();
		expect(made.status, madeHtml).toBe(200);
		expect(madeHtml).toContain("; service zapier");
		const list = await (await ui(`${PORTAL}/`, { cookie })).text();
		const id = keyIdOf(list);
		expect(id, list).toBeDefined();
		expect(list).toContain('<span class="muted service">zapier</span>');
		const detail = await (await ui(`${PORTAL}/keys/${id}`, { cookie })).text();
		expect(detail).toContain("<dt>Service or integration</dt><dd>zapier</dd>");
	});
});

describe("a new pair's labels", () => {
	const bindings = { KEYGATE_CONFIG: JSON.stringify(novu) };
	const labels = (html: string) => [...html.matchAll(/<h2 id="secret-\d-h">([^<]+)<\/h2>/g)].map((m) => m[1]);

	it("the console names Novu's application identifier as one, not as a publishable key, and the demo's publishable key as one", async () => {
		const cookie = await signIn(undefined, bindings);
		const form = { name: "pair", environment: "development", expiry: "never", kind: "pair" };
		const res = await ui(`${UI}/apis/novu/keys`, { cookie, bindings, form });
		const html = await res.text();
		expect(res.status, html).toBe(200);
		expect(labels(html)).toEqual(["Your secret key", "Your application identifier"]);
		expect(html).not.toContain("publishable");
		const demoCookie = await signIn();
		const demoPair = await (
			await ui(`${UI}/apis/demo/keys`, { cookie: demoCookie, form: { ...form, environment: "live", scopes: "read" } })
		).text();
		expect(labels(demoPair)).toEqual(["Your secret key", "Your publishable key"]);
	});

	it("so does Novu's portal", async () => {
		const cookie = await portalCookie(`pair_${crypto.randomUUID().slice(0, 8)}`, novu);
		const res = await ui(`${PORTAL}/keys`, {
			cookie,
			bindings,
			form: { name: "pair", environment: "development", expiry: "never", kind: "pair" },
		});
		const html = await res.text();
		expect(res.status, html).toBe(200);
		expect(labels(html)).toEqual(["Your secret key", "Your application identifier"]);
		expect(html).not.toContain("publishable");
	});
});

describe("the console's tier choice", () => {
	it("offers the API's tiers with its default tier chosen, gives the key the tier chosen, and refuses an unknown one as the admin API does", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		expect(form).toMatch(/<select name="tier">/);
		expect(form).toContain('<option value="free" selected="">free (default)</option>');
		expect(form).toContain('<option value="pro">pro</option>');
		expect(form).toContain('<option value="enterprise">enterprise</option>');
		const base = { environment: "live", type: "sk", expiry: "never", kind: "single", scopes: "read" };
		const wording = await adminWording({ tier: "gold" }, "tier");
		const refused = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, name: "gold", tier: "gold" } });
		const refusedHtml = await refused.text();
		expect(refused.status, refusedHtml).toBe(400);
		expect(refusedHtml).toContain(`Tier: ${wording.replaceAll('"', "&quot;")}`);
		expect(refusedHtml).toMatch(/<select name="tier" aria-invalid="true" aria-describedby="form-error">/);
		const name = `tiered ${crypto.randomUUID().slice(0, 6)}`;
		const made = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, name, tier: "pro" } });
		expect(made.status, await made.text()).toBe(200);
		const listed = await (await admin("/keys?api=demo&limit=100")).json<{ data: { name: string; tier: string }[] }>();
		expect(listed.data.find((k) => k.name === name)?.tier).toBe("pro");
		// A pair takes the tier too.
		const pairName = `tiered pair ${crypto.randomUUID().slice(0, 6)}`;
		const pair = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, name: pairName, kind: "pair", tier: "enterprise" } });
		expect(pair.status, await pair.text()).toBe(200);
		const pairs = await (await admin("/keys?api=demo&limit=100")).json<{ data: { name: string; tier: string }[] }>();
		expect(pairs.data.filter((k) => k.name === pairName).map((k) => k.tier)).toEqual(["enterprise", "enterprise"]);
	});
});

/** The first API of an example config, compiled. */
const compiled = (config: unknown) => {
	const result = parseConfig(JSON.stringify(config));
	if (!result.ok) throw new Error("the example config is invalid");
	return result.value.apis[0]!;
};

describe("the curl line's host", () => {
	it.each(["http://localhost:8930", "http://127.0.0.1:8930", "http://[::1]:8930"])(
		"on a loopback page (%s) the API does not list, it calls the page's own origin with the API's host in a Host header",
		(origin) => {
			const sample = sampleCall(`${origin}/_keygate/portal/keys`, compiled(novapulse), "live");
			expect(sample.url).toBe(`${origin}/v1/jobs`);
			expect(sample.host).toBe("api.novapulse.io");
		},
	);

	it("on a loopback page the host is the key's environment's own (Nuvion's test keys go to api.nuvion.dev)", () => {
		const sample = sampleCall("http://localhost:8930/_keygate/ui/apis/nuvion/keys", compiled(nuvion), "test");
		expect(sample.host).toBe("api.nuvion.dev");
		expect(sample.url.startsWith("http://localhost:8930/")).toBe(true);
	});

	it("elsewhere it stays https://<the API's host>, with no Host header; on one of the API's hosts, that host", () => {
		const away = sampleCall("https://keys.novapulse.io/_keygate/ui/apis/novapulse/keys", compiled(novapulse), "live");
		expect(away.url).toBe("https://api.novapulse.io/v1/jobs");
		expect(away.host).toBeUndefined();
		// A public host whose name starts as a loopback name does is no loopback.
		expect(sampleCall("https://localhost.example.com/x", compiled(novapulse), "live").url).toBe("https://api.novapulse.io/v1/jobs");
		const on = sampleCall("https://api.novapulse.io/_keygate/ui/apis/novapulse/keys", compiled(novapulse), "live");
		expect(on.url).toBe("https://api.novapulse.io/v1/jobs");
		expect(on.host).toBeUndefined();
	});

	it("the portal served on localhost prints that line under a new key", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novapulse) };
		const cookie = await portalCookie(`local_${crypto.randomUUID().slice(0, 8)}`, novapulse);
		const session = cookie.slice(cookie.indexOf("=") + 1);
		const body = new URLSearchParams({
			[FORM_TOKEN_FIELD]: await formToken(env.ADMIN_TOKEN!, session),
			name: "local",
			environment: "live",
			type: "nvp",
			expiry: "never",
			kind: "single",
			scopes: "jobs:read",
		});
		const request = new Request("http://localhost:8930/_keygate/portal/keys", {
			method: "POST",
			headers: { Cookie: cookie, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/x-www-form-urlencoded" },
			body,
		});
		const res = await app.fetch(request, { ...env, ...bindings }, createExecutionContext());
		const html = await res.text();
		expect(res.status, html).toBe(200);
		const [key] = shownKeys(html);
		expect(html).toContain(
			`curl -H &quot;Host: api.novapulse.io&quot; -H &quot;Authorization: Bearer ${key}&quot; http://localhost:8930/v1/jobs`,
		);
	});
});

describe("the curl line's path (portal.samplePath)", () => {
	it("Novu's line calls GET /v1/subscribers, as its page's example does, in both regions", () => {
		const both = structuredClone(novu).apis.map((a) => compiled({ apis: [a] }));
		expect(both.map((a) => a.portal?.samplePath)).toEqual(["/v1/subscribers", "/v1/subscribers"]);
		expect(sampleCall("https://api.novu.co/_keygate/portal/keys", both[0]!, "development").url).toBe("https://api.novu.co/v1/subscribers");
		expect(sampleCall("https://eu.api.novu.co/_keygate/portal/keys", both[1]!, "production").url).toBe(
			"https://eu.api.novu.co/v1/subscribers",
		);
	});

	it("Novala's line calls GET /api/v1/leads, and the scopes it needs are those of the route that path takes", () => {
		const sample = sampleCall("https://app.novala.ai/_keygate/portal/keys", compiled(novala), "live");
		expect(sample.url).toBe("https://app.novala.ai/api/v1/leads");
		expect(sample.scopes).toEqual(["leads.lead.read"]);
	});

	it("the generic REST API's line calls its page's test call, GET /v1/users/me (found by a seed-page pass: it called /v1/hello)", () => {
		const sample = sampleCall("https://api.example.com/_keygate/portal/keys", compiled(generic), "live");
		expect(sample.url).toBe("https://api.example.com/v1/users/me");
		expect(sample.scopes).toEqual(["read"]);
	});

	it("Novala's portal form ticks the scope of that route, so a key made with the defaults works on the line shown", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novala) };
		const cookie = await portalCookie(`leads_${crypto.randomUUID().slice(0, 8)}`, novala);
		const home = await (await ui(`${PORTAL}/`, { cookie, bindings })).text();
		expect(home).toMatch(/value="leads.lead.read" checked=""/);
		expect(home).not.toMatch(/value="bookings.read" checked=""/);
	});

	it("a samplePath must start with a slash and with the API's pathPrefix; the config names the field", () => {
		const withPath = (samplePath: string) => {
			const c = structuredClone(novala) as any;
			c.apis[0].portal.samplePath = samplePath;
			return parseConfig(JSON.stringify(c));
		};
		expect(withPath("/api/v1/leads").ok).toBe(true);
		expect(withPath("/api/v1/leads/").ok).toBe(true);
		expect(withPath("/api/v1/leads/le-ads/x_y").ok).toBe(true);
		// The last four (a second review): a query the route table reads as a segment, shell characters, a prefix off a segment boundary.
		for (const bad of [
			"api/v1/leads",
			"/v1/leads",
			"/api/v1/leads x",
			"/api/v1/leads?status=open&limit=5",
			"/apix/$(id)",
			"/api/v1/`id`",
			"/apix/v1/leads",
			// A peer's suite: dot segments curl resolves away from the ticked route, and escapes the gateway refuses.
			"/api/v1/leads/../../v1/bookings",
			"/api/v1/./leads",
			"/api/v1/leads/..",
			"/api//v1/leads",
			"/api/%zz",
			"/api/v1/%2F",
			"/API/v1/leads",
			// A seed-page pass: no rule covers it (403 for every key), and segments ending in dots (another path to the gateway).
			"/api/v1/nosuchroute",
			"/api/v1/leads/...",
			"/api/v1/leads.",
			// A later probe: a format suffix is another rule's path to keygate, whose scopes the form did not tick.
			"/api/v1/leads.json",
			"/api/v1/leads/le.ads/x..y",
		]) {
			const r = withPath(bad);
			expect(r.ok, bad).toBe(false);
			if (!r.ok) expect(r.error, bad).toContain("portal.samplePath");
		}
	});
});

describe("the generate forms' key type (a peer's suite, stop 29)", () => {
	it("the console preselects Novala's secret type, as the admin API defaults to it, though the config lists pk first", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novala) };
		const cookie = await signIn(undefined, bindings);
		const form = await (await ui(`${UI}/apis/novala/keys/new`, { cookie, bindings })).text();
		expect(form).toMatch(/<option value="sk" selected="">/);
		expect(form).toMatch(/<option value="pk">/);
	});

	it("the portal preselects the first secret type it offers, whatever the order of portal.keyTypes", async () => {
		const config = structuredClone(novala) as any;
		config.apis[0].portal.keyTypes = ["pk", "sk"];
		config.apis[0].portal.singles = true; // Novala's own portal creates pairs only
		const bindings = { KEYGATE_CONFIG: JSON.stringify(config) };
		const cookie = await portalCookie(`types_${crypto.randomUUID().slice(0, 8)}`, config);
		const home = await (await ui(`${PORTAL}/`, { cookie, bindings })).text();
		expect(home).toMatch(/<option value="sk" selected="">/);
		expect(home).toMatch(/<option value="pk">/);
	});
});

describe("a generate form's one-value field sent twice (a probe, stop 29)", () => {
	it("the console refuses two tiers or two types by name and makes nothing, where it took the default", async () => {
		const cookie = await signIn();
		const name = `twice-${crypto.randomUUID().slice(0, 8)}`;
		const base = { name, environment: "live", type: "sk", expiry: "never", kind: "single", scopes: "read" };
		for (const [field, values, label] of [
			["tier", ["pro", "free"], "Tier"],
			["type", ["sk", "pk"], "Key type"],
		] as const) {
			const res = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...base, [field]: [...values] } });
			const html = await res.text();
			expect(res.status, html).toBe(400);
			expect(html).toContain(`${label}: sent more than once; send it once.`);
		}
		const listed = (await (await admin("/keys?api=demo")).json<{ data: { name: string }[] }>()).data;
		expect(listed.filter((k) => k.name === name)).toHaveLength(0);
	});

	it("the portal refuses two services by name and makes nothing", async () => {
		const owner = `twice_${crypto.randomUUID().slice(0, 8)}`;
		const cookie = await portalCookie(owner);
		const res = await ui(`${PORTAL}/keys`, {
			cookie,
			form: { name: "twice", environment: "live", type: "sk", expiry: "never", kind: "single", service: ["a", "b"] },
		});
		const html = await res.text();
		expect(res.status, html).toBe(400);
		expect(html).toContain("Service or integration: sent more than once; send it once.");
		const listed = (await (await admin("/keys?api=demo")).json<{ data: { owner: string | null }[] }>()).data;
		expect(listed.filter((k) => k.owner === owner)).toHaveLength(0);
	});
});
