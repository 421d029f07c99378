/**
 * A browser QA pass in stop 33: a rotation's cut-off when the key expires first, a custom
 * expiry that is no date, the portal's key cap said up front, and the revoke page of a key
 * replaced past its grace.
 */
import { describe, expect, it } from "vitest";
import { admin, call, createKey } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { portalCookie, signIn, ui, UI } from "../helpers/ui";

const PORTAL = "/_keygate/portal";
const origin = useFakeOrigin();

/** The console's time format (present.ts formatTime): to the minute, UTC. */
const minute = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

describe("a rotation's cut-off when the key expires first (a browser QA pass)", () => {
	it("the rotate form, the rotated notice and the status say the expiry, not a grace end the key never reaches", async () => {
		const cookie = await signIn();
		const expiresAt = new Date(Date.now() + 3 * 60_000).toISOString();
		const { id, key } = await createKey({ name: "expiring", scopes: ["read"], expiresAt });
		const form = await (await ui(`${UI}/keys/${id}/rotate`, { cookie })).text();
		expect(form).toContain(`24 hours (until ${minute(expiresAt)}, when the key expires)`);
		expect(form).not.toContain("(until " + minute(new Date(Date.now() + 86_400_000).toISOString()));

		const rotated = await (await ui(`${UI}/keys/${id}/rotate`, { cookie, form: { grace: "3600" } })).text();
		expect(rotated).toContain(`keeps working until it expires, ${minute(expiresAt)}, before its grace period would end.`);
		const page = await (await ui(`${UI}/keys/${id}`, { cookie })).text();
		expect(page).toContain(`Rotating until ${minute(expiresAt)}`);
		// As stated: the old key works now, and its record says it expires then.
		expect((await call("/v1/a", { key })).status).toBe(200);
		expect((await (await admin(`/keys/${id}`)).json<{ expiresAt: string }>()).expiresAt).toBe(expiresAt);
	});

	it("a key that outlives its grace still states the grace's end", async () => {
		const cookie = await signIn();
		const { id } = await createKey({
			name: "long-lived",
			scopes: ["read"],
			expiresAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
		});
		const rotated = await (await ui(`${UI}/keys/${id}/rotate`, { cookie, form: { grace: "3600" } })).text();
		const { graceEndsAt } = await (await admin(`/keys/${id}`)).json<{ graceEndsAt: string }>();
		expect(rotated).toContain(`keeps working until ${minute(graceEndsAt)}.`);
	});
});

describe("a custom expiry that is no date (a browser QA pass)", () => {
	it.each(["2027-02-30", "2027-06-31", "31/12/2027"])("%s is refused as no date, and no key is made", async (date) => {
		const cookie = await signIn();
		const name = `dated-${crypto.randomUUID().slice(0, 8)}`;
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name, environment: "live", type: "sk", kind: "single", expiry: "custom", expiresOn: date, tier: "free", scopes: "read" },
		});
		expect(res.status).toBe(400);
		expect(await res.text()).toContain("Expiry: the custom date is no date: enter it as YYYY-MM-DD, e.g. 2027-06-30.");
		const listed = await (await admin("/keys?api=demo")).json<{ data: { name: string }[] }>();
		expect(listed.data.some((k) => k.name === name)).toBe(false);
	});
});

describe("the portal's key cap, said up front (a browser QA pass)", () => {
	it("in the words the statuses use: working keys, an old key in its grace counted", async () => {
		const owner = `cust_${crypto.randomUUID().slice(0, 8)}`;
		const cookie = await portalCookie(owner);
		const { id } = await createKey({ name: "one", owner, scopes: ["read"] });
		expect((await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 3600 }) })).status).toBe(201);
		const home = await (await ui(`${PORTAL}/`, { cookie })).text();
		expect(home).toContain("You hold 2 of the 10 working keys allowed here: active ones, and an old key in its rotation grace.");
	});
});

describe("the revoke page of a key replaced past its grace (a browser QA pass)", () => {
	it("says it already gets 401, and links the key that replaced it", async () => {
		const cookie = await signIn();
		const { id, key } = await createKey({ name: "replaced", scopes: ["read"] });
		const rotated = await (
			await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 0 }) })
		).json<{ id: string }>();
		const page = await (await ui(`${UI}/keys/${id}/revoke`, { cookie })).text();
		expect(page).toContain("Nothing to do: this key was replaced and its grace period has ended: requests with it already get 401.");
		expect(page).toContain(`href="${UI}/keys/${rotated.id}"`);
		expect((await call("/v1/a", { key })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("the revoke page of a key that expired during its rotation's grace (a review)", () => {
	it("gives its expiry as the reason, not a grace that had time left", async () => {
		const cookie = await signIn();
		const expiresAt = new Date(Date.now() + 1_500).toISOString();
		const { id } = await createKey({ name: "short-lived", scopes: ["read"], expiresAt });
		expect((await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 3600 }) })).status).toBe(201);
		await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 200));
		const page = await (await ui(`${UI}/keys/${id}/revoke`, { cookie })).text();
		expect(page).toContain(`Nothing to do: this key expired <time datetime="${expiresAt}"`);
		expect(page).not.toContain("grace period has ended");
	});
});
