/**
 * The console and portal findings of stop 26's browser QA pass that a page's HTML shows:
 * row headers and link names that tell keys of one name apart, the revoke dialog's
 * description, the current page in the navigation, a refused owner id marked on its field,
 * limits in hours and minutes, and the portal's wording (key types, no owner id).
 */
import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { limitsText, windowWords } from "../../src/ui/present";
import { TEST_ADMIN_TOKEN } from "../constants";
import { gatewayFor } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { signIn, ui, UI } from "../helpers/ui";

const PORTAL = "/_keygate/portal";

useFakeOrigin();

const owned = structuredClone(demo) as any;
owned.apis[0].owners = { roles: { admin: {}, viewer: { scopes: ["read"] } }, defaultRole: "viewer" };
const bindings = { KEYGATE_CONFIG: JSON.stringify(owned) };
const gw = gatewayFor(owned);

describe("the console", () => {
	it("names each key's row by it, and two keys of one name apart", async () => {
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const tag = `twin-${crypto.randomUUID().slice(0, 6)}`;
		const a = await gw.createKey({ name: tag, scopes: ["read"] });
		const b = await gw.createKey({ name: tag, scopes: ["read"] });
		const html = await (await ui(`${UI}/apis/demo/keys?q=${tag}`, { cookie, bindings })).text();
		for (const k of [a, b]) {
			const masked = `${k.key.slice(0, k.key.indexOf("_", k.key.indexOf("_") + 1) + 1)}…${k.key.slice(-4)}`;
			expect(html).toContain(
				`<th scope="row" class="name"><a href="${UI}/keys/${k.id}">${tag}<span class="sr-only"> (${masked})</span></a></th>`,
			);
		}
	});

	it("describes the revoke dialog by what revoking does, and marks the current page in the navigation", async () => {
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const k = await gw.createKey({ name: "dialog", scopes: ["read"] });
		const html = await (await ui(`${UI}/keys/${k.id}`, { cookie, bindings })).text();
		expect(html).toContain('aria-describedby="revoke-dialog-d"');
		expect(html).toMatch(/<p id="revoke-dialog-d">Requests with/);
		const audit = await (await ui(`${UI}/audit`, { cookie, bindings })).text();
		expect(audit).toMatch(/<a href="\/_keygate\/ui\/audit" aria-current="page">/);
		expect(audit).not.toMatch(/<a href="\/_keygate\/ui\/owners" aria-current/);
	});

	it("marks a refused owner id's field and points it at the message", async () => {
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const html = await (await ui(`${UI}/owners?api=demo&owner=${encodeURIComponent("bob smith")}`, { cookie, bindings })).text();
		expect(html).toMatch(/<input name="owner" value="bob smith" required(="")? aria-invalid="true" aria-describedby="form-error"/);
		expect(html).toContain('id="form-error"');
	});
});

describe("words", () => {
	it("limits read in hours and minutes where they are whole ones", () => {
		expect(windowWords(3600)).toBe("hour");
		expect(windowWords(86_400)).toBe("day");
		expect(windowWords(300)).toBe("5 minutes");
		expect(windowWords(7200)).toBe("2 hours");
		expect(windowWords(90)).toBe("90 s");
		expect(limitsText({ tier: "t", rateLimit: null, kind: "secret" }, { t: { limit: 1000, window: 3600, burst: 20 } })).toBe(
			"1,000 per hour, at most 20 per second (tier t)",
		);
	});
});

describe("the portal", () => {
	it("names key types as the console does, and never shows the owner id it files the customer under", async () => {
		const url = (
			await (await gw.admin("/portal-sessions", { method: "POST", body: JSON.stringify({ owner: "cust_words" }) })).json<{ url: string }>()
		).url;
		const token = new URL(url).searchParams.get("token")!;
		const entered = await ui(`${PORTAL}/enter`, { form: { token }, bindings, headers: { "Sec-Fetch-Site": "same-origin" } });
		const cookie = entered.headers.get("Set-Cookie")!.split(";")[0]!;
		const home = await (await ui(`${PORTAL}/`, { cookie, bindings })).text();
		expect(home).toMatch(/<option value="sk"[^>]*>sk \(secret\)<\/option>/);
		expect(home).toMatch(/<option value="pk"[^>]*>pk \(publishable, read-only\)<\/option>/);
		const made = await ui(`${PORTAL}/keys`, {
			cookie,
			bindings,
			form: { name: "mine", environment: "live", type: "sk", expiry: "never", kind: "single", scopes: "read" },
		});
		const html = await made.text();
		expect(made.status, html).toBe(200);
		expect(html).toContain("Settings: mine");
		expect(html).not.toContain("cust_words");
	});
});
