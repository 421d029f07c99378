/**
 * The console and portal findings of stop 28's checkers: the portal's page when storage
 * fails, a key's service, the new pair's labels, the console's tier choice and the
 * sample curl line's host and path.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import { fail, kvWith } from "../helpers/faults";
import { admin } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";
import { ui } from "../helpers/ui";

const PORTAL = "/_keygate/portal";

useFakeOrigin();
afterEach(() => {
	vi.restoreAllMocks();
});

const post = (body: unknown): RequestInit => ({ method: "POST", body: JSON.stringify(body) });

/** A portal session for `owner` of the bundled API: its cookie. */
async function portalCookie(owner: string, bindings?: Record<string, unknown>): Promise<string> {
	const res = await admin("/portal-sessions", post({ api: "demo", owner }));
	const { url } = await res.json<{ url: string }>();
	expect(res.status).toBe(201);
	const token = new URL(url).searchParams.get("token")!;
	const entered = await ui(`${PORTAL}/enter`, { form: { token }, bindings, headers: { "Sec-Fetch-Site": "same-origin" } });
	expect(entered.status, await entered.clone().text()).toBe(303);
	return entered.headers.get("Set-Cookie")!.split(";")[0]!;
}

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
