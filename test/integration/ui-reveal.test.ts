/**
 * The console and the portal show a working publishable key (or an identifier) again, from
 * its page's "Show" button: a POST, so no GET ever holds a key. A secret key has no button,
 * and a POST for one shows nothing. Issue 14 asked for Novala's publishable key "always visible".
 */
import { describe, expect, it } from "vitest";
import { admin } from "../helpers/gateway";
import { portalCookie, shownKeys, signIn, UI, ui } from "../helpers/ui";

const PORTAL = "/_keygate/portal";

interface Shown {
	id: string;
	key: string;
}

async function pair(owner?: string): Promise<{ publishable: Shown; secret: Shown }> {
	const res = await admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "storefront", scopes: ["read"], owner }) });
	expect(res.status).toBe(201);
	return res.json();
}

/** The part of a key that is its own: its body, past the type and environment. */
const body = (key: string) => key.slice(key.lastIndexOf("_") + 1);

describe("the console shows a publishable key again", () => {
	it("its page has a Show button and no key; the POST shows the same key, uncached; a secret key's page has no button", async () => {
		const cookie = await signIn();
		const made = await pair();
		const page = await ui(`${UI}/keys/${made.publishable.id}`, { cookie });
		const html = await page.text();
		expect(page.status).toBe(200);
		expect(html).toContain(`action="${UI}/keys/${made.publishable.id}/reveal"`);
		expect(html).toContain("Show the publishable key");
		expect(html).not.toContain(body(made.publishable.key));

		const shown = await ui(`${UI}/keys/${made.publishable.id}/reveal`, { cookie, form: {} });
		const text = await shown.text();
		expect(shown.status, text).toBe(200);
		expect(shown.headers.get("Cache-Control")).toContain("no-store");
		expect(shownKeys(text)).toEqual([made.publishable.key]);
		expect(text).toContain("Publishable key: storefront");
		expect(text).toContain("its page can show it again while it works");
		expect(text).not.toContain(body(made.secret.key));

		const secretPage = await (await ui(`${UI}/keys/${made.secret.id}`, { cookie })).text();
		expect(secretPage).not.toContain("/reveal");
	});

	it("a POST for a secret key shows nothing (400), for a revoked key nothing (409), and its address as a GET is the key's page", async () => {
		const cookie = await signIn();
		const made = await pair();
		const secret = await ui(`${UI}/keys/${made.secret.id}/reveal`, { cookie, form: {} });
		const secretText = await secret.text();
		expect(secret.status).toBe(400);
		expect(secretText).toContain("A secret key is shown once");
		expect(shownKeys(secretText)).toEqual([]);
		expect(secretText).not.toContain(body(made.secret.key));

		expect((await admin(`/keys/${made.publishable.id}/revoke`, { method: "POST" })).status).toBe(200);
		const page = await (await ui(`${UI}/keys/${made.publishable.id}`, { cookie })).text();
		expect(page).not.toContain("Show the publishable key");
		const revoked = await ui(`${UI}/keys/${made.publishable.id}/reveal`, { cookie, form: {} });
		const revokedText = await revoked.text();
		expect(revoked.status).toBe(409);
		expect(revokedText).toContain("The key is revoked");
		expect(revokedText).not.toContain(body(made.publishable.key));

		const get = await ui(`${UI}/keys/${made.publishable.id}/reveal`, { cookie });
		expect(get.status).toBe(303);
		expect(get.headers.get("Location")).toBe(`${UI}/keys/${made.publishable.id}`);
	});

	it("a cross-site POST shows nothing", async () => {
		const cookie = await signIn();
		const made = await pair();
		const res = await ui(`${UI}/keys/${made.publishable.id}/reveal`, { cookie, form: {}, headers: { "Sec-Fetch-Site": "cross-site" } });
		expect(res.status).toBe(403);
		expect(await res.text()).not.toContain(body(made.publishable.key));
	});

	it("the page that creates a pair says the publishable key can be shown again, and the secret key cannot", async () => {
		const cookie = await signIn();
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "both", environment: "live", type: "sk", kind: "pair", expiry: "never", tier: "free", scopes: "read" },
		});
		const html = await res.text();
		expect(res.status, html).toBe(200);
		expect(shownKeys(html)).toHaveLength(2);
		expect(html).toContain("Copy it now: keygate keeps only its hash, so it cannot be shown again.");
		expect(html).toContain("This publishable key is public by design, so its page can show it again");
	});
});

describe("the portal shows its owner's publishable key again", () => {
	it("the owner's own key: shown; another owner's: 404, nothing shown", async () => {
		const owner = `cust_${crypto.randomUUID().slice(0, 8)}`;
		const mine = await pair(owner);
		const theirs = await pair(`cust_${crypto.randomUUID().slice(0, 8)}`);
		const cookie = await portalCookie(owner);
		const page = await (await ui(`${PORTAL}/keys/${mine.publishable.id}`, { cookie })).text();
		expect(page).toContain("Show the publishable key");
		expect(page).not.toContain(body(mine.publishable.key));
		const shown = await ui(`${PORTAL}/keys/${mine.publishable.id}/reveal`, { cookie, form: {} });
		const text = await shown.text();
		expect(shown.status).toBe(200);
		expect(shownKeys(text)).toEqual([mine.publishable.key]);

		const other = await ui(`${PORTAL}/keys/${theirs.publishable.id}/reveal`, { cookie, form: {} });
		expect(other.status).toBe(404);
		expect(await other.text()).not.toContain(body(theirs.publishable.key));
		const secret = await ui(`${PORTAL}/keys/${mine.secret.id}/reveal`, { cookie, form: {} });
		expect(secret.status).toBe(400);
		expect(await secret.text()).not.toContain(body(mine.secret.key));
	});
});
