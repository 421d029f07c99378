/**
 * The console and portal findings of stop 24's browser QA pass, each a test that failed on
 * the code before its fix: the owners page and a pasted key, the sparkline's passed bars,
 * the key page's rate limit, action pages for keys they no longer apply to, the delete
 * confirmation keeping what was typed, a session that ends on a POST, and the generate
 * form's history restore.
 */
import { vi, afterEach, describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { Sparkline } from "../../src/ui/charts";
import { SESSION_IDLE_MS } from "../../src/ui/session";
import { TEST_ADMIN_TOKEN } from "../constants";
import { BASE, createKey, gatewayFor } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { JS_PATH } from "../../src/ui/static";
import { signIn, ui, UI } from "../helpers/ui";

useFakeOrigin();
afterEach(() => vi.useRealTimers());

const owned = structuredClone(demo) as any;
owned.apis[0].owners = { roles: { admin: {}, viewer: { scopes: ["read"] } }, defaultRole: "viewer" };
/** A key with its last character changed: key-shaped, and no key has it. */
const typo = (key: string) => key.slice(0, -1) + (key.endsWith("x") ? "y" : "x");

const bindings = { KEYGATE_CONFIG: JSON.stringify(owned) };
const withOwners = gatewayFor(owned);

describe("the owners page", () => {
	it("never puts a pasted whole key into the address or the page: its key's page, or a notice at an address without it", async () => {
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const k = await withOwners.createKey({ name: "owned", scopes: ["read"], owner: "cust_7" });
		const found = await ui(`${UI}/owners?api=demo&owner=${encodeURIComponent(k.key)}`, { cookie, bindings });
		expect(found.status).toBe(303);
		expect(found.headers.get("Location")).toBe(`${UI}/keys/${k.id}`);
		const unknown = typo((await createKey()).key); // a typo: no key has it
		const away = await ui(`${UI}/owners?api=demo&owner=${encodeURIComponent(unknown)}`, { cookie, bindings });
		expect(away.status).toBe(303);
		const location = away.headers.get("Location")!;
		expect(location).toBe(`${UI}/owners?api=demo&pasted=1`);
		const html = await (await ui(location, { cookie, bindings })).text();
		expect(html).toContain("That was a whole API key");
		expect(html).not.toContain(unknown);
		// With the script, the form goes by POST to find-key, which knows the owner field too.
		const page = await (await ui(`${UI}/owners`, { cookie, bindings })).text();
		expect(page).toContain(`data-find="${UI}/find-key?back=${encodeURIComponent(`${UI}/owners`)}"`);
		const posted = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/owners`)}`, { cookie, bindings, form: { owner: k.key } });
		expect(posted.headers.get("Location")).toBe(`${UI}/keys/${k.id}`);
	});

	it("says a refused owner id beside the form, which keeps it, and confirms a role it set", async () => {
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const refused = await ui(`${UI}/owners?api=demo&owner=${encodeURIComponent("bob smith")}`, { cookie, bindings });
		expect(refused.status).toBe(200);
		const html = await refused.text();
		expect(html).toContain('<input name="owner" value="bob smith" required');
		expect(html).toMatch(/role="alert"[\s\S]*owner/);
		const set = await ui(`${UI}/owners`, { cookie, bindings, form: { api: "demo", owner: "cust_9", role: "admin" } });
		expect(set.status).toBe(303);
		const done = await (await ui(set.headers.get("Location")!, { cookie, bindings })).text();
		expect(done).toContain("The role was set");
		expect(done).toContain("<strong>admin</strong>");
	});
});

describe("the keys list's sparkline", () => {
	it("draws refusals in red on top of passes, both down to the baseline (the red bar covered the green one)", () => {
		const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
		const history = [{ hourStart: new Date(hour).toISOString(), passed: 5, rejected: { rate_limited: 7 } }] as any;
		const svg = String(Sparkline({ history, now: hour + 60_000 }));
		const rects = [...svg.matchAll(/<rect x="(\d+)" y="([\d.]+)" width="2" height="([\d.]+)" fill="(#\w+)"/g)].map((m) => ({
			y: Number(m[2]),
			h: Number(m[3]),
			fill: m[4],
		}));
		const green = rects.find((r) => r.fill === "#116329")!;
		const red = rects.find((r) => r.fill === "#a40e26")!;
		expect(red.y + red.h).toBe(green.y); // red sits on green
		expect(green.y + green.h).toBe(20); // green stands on the baseline
		expect(red.y).toBe(1); // the busiest hour fills the height
	});
});

describe("a key's page", () => {
	it("shows the rate limit the key is held to: its own when it has one, else its tier's", async () => {
		const cookie = await signIn();
		const own = await createKey({ name: "own-limit", rateLimit: { limit: 5, window: 60, burst: 5 } });
		const tiered = await createKey({ name: "tier-limit" });
		const ownHtml = await (await ui(`${UI}/keys/${own.id}`, { cookie })).text();
		expect(ownHtml.match(/<dt>Rate limit<\/dt>\s*<dd>[^<]*/)?.[0]).toContain(
			"5 per minute, at most 5 per second (this key&#39;s own, instead of tier free&#39;s)",
		);
		const tierHtml = await (await ui(`${UI}/keys/${tiered.id}`, { cookie })).text();
		const free = (demo as any).apis[0].tiers.free;
		expect(tierHtml).toContain(`at most ${free.burst.toLocaleString("en-US")} per second (tier free)`);
	});
});

describe("action pages for a key they no longer apply to", () => {
	it("revoke on a revoked key, and rotate on a revoked or replaced one, say why and offer no form", async () => {
		const cookie = await signIn();
		const revoked = await createKey({ name: "gone" });
		expect((await ui(`${UI}/keys/${revoked.id}/revoke`, { cookie, form: {} })).status).toBe(303);
		for (const action of ["revoke", "rotate"]) {
			const html = await (await ui(`${UI}/keys/${revoked.id}/${action}`, { cookie })).text();
			expect(html, action).toContain("Nothing to do: this key was revoked");
			expect(html, action).not.toContain(`action="${UI}/keys/${revoked.id}/${action}"`);
		}
		const old = await createKey({ name: "old" });
		const rotated = await ui(`${UI}/keys/${old.id}/rotate`, { cookie, form: { grace: "3600" } });
		expect(rotated.status).toBe(200);
		const html = await (await ui(`${UI}/keys/${old.id}/rotate`, { cookie })).text();
		expect(html).toContain("Nothing to do: this key was already replaced.");
		expect(html).toMatch(new RegExp(`href="${UI}/keys/key_\\w+">the key that replaced it`));
	});

	it("the delete confirmation keeps a mistyped name, but never a key typed there", async () => {
		const cookie = await signIn();
		const k = await createKey({ name: "keep-me" });
		const wrong = await ui(`${UI}/keys/${k.id}/delete`, { cookie, form: { confirm: "keep-mee" } });
		expect(wrong.status).toBe(400);
		expect(await wrong.text()).toContain('value="keep-mee"');
		const key = await ui(`${UI}/keys/${k.id}/delete`, { cookie, form: { confirm: k.key } });
		expect(await key.text()).not.toContain(k.key);
	});
});

describe("a session that ends", () => {
	it("on a form's POST goes back to the form's page (its Referer) and says the form was not sent; on a GET it says only that it ended", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const cookie = await signIn();
		vi.setSystemTime(Date.now() + SESSION_IDLE_MS + 1);
		const form = `${UI}/apis/demo/keys/new`;
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "x" },
			headers: { "Sec-Fetch-Site": "same-origin", Referer: `${BASE}${form}` },
		});
		expect(res.status).toBe(303);
		const location = res.headers.get("Location")!;
		expect(location).toBe(`${UI}/login?ended=1&sent=1&next=${encodeURIComponent(form)}`);
		expect(await (await ui(location)).text()).toContain("a form you were sending was not sent");
		// Another site's Referer is not followed.
		const elsewhere = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "x" },
			headers: { "Sec-Fetch-Site": "same-origin", Referer: "https://evil.example/_keygate/ui/x" },
		});
		expect(elsewhere.headers.get("Location")).toBe(`${UI}/login?ended=1&sent=1&next=${encodeURIComponent(`${UI}/apis/demo/keys`)}`);
		const get = await ui(`${UI}/audit`, { cookie });
		const text = await (await ui(get.headers.get("Location")!)).text();
		expect(text).toContain("Your session ended.");
		expect(text).not.toContain("was not sent");
	});

	it("signed out in another tab: a POST from the first still says its form was not sent, and comes back to its page", async () => {
		const form = `${UI}/apis/demo/keys/new`;
		const res = await ui(`${UI}/apis/demo/keys`, {
			form: { name: "x" },
			headers: { "Sec-Fetch-Site": "same-origin", Referer: `${BASE}${form}` },
		});
		expect(res.headers.get("Location")).toBe(`${UI}/login?ended=1&sent=1&next=${encodeURIComponent(form)}`);
	});
});

describe("the generate forms", () => {
	it("ask the browser not to restore them from history (Back after a key was made, then Generate, made a second key)", async () => {
		const cookie = await signIn();
		const html = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		expect(html).toContain(`<form method="post" action="${UI}/apis/demo/keys" autocomplete="off">`);
	});
});

describe("small things of the same pass", () => {
	it("a pasted key that opens nothing goes back to the list with its filters and sort kept (the script's POST dropped them)", async () => {
		const cookie = await signIn();
		const unknown = typo((await createKey()).key);
		const back = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/apis/demo/keys`)}`, {
			cookie,
			form: { q: unknown, status: "active", sort: "name", environment: `live ${unknown}` },
		});
		// The key's field, and any value holding a key, are left out.
		expect(back.headers.get("Location")).toBe(`${UI}/apis/demo/keys?status=active&sort=name&pasted=1`);
	});

	it("a copy button has a live region that says what happened, and the script selects the key when copying fails", async () => {
		const cookie = await signIn();
		const made = await ui(`${UI}/apis/demo/keys`, { cookie, form: { name: "live", scopes: ["read"], expiry: "never", kind: "single" } });
		const html = await made.text();
		expect(html).toMatch(
			/<button type="button" data-copy="secret-0" hidden="">[\s\S]*?<\/button><span id="secret-0-said" class="sr-only" role="status" aria-live="polite"><\/span>/,
		);
		const js = await (await ui(JS_PATH)).text();
		expect(js).toContain("selectAllChildren(t)");
	});
});
