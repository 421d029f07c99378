/**
 * The portal finds an owner's keys wherever they sort in the API's listing (found by a
 * probe: behind 2,000 other keys, an owner's keys past the API's first 1,000 were neither
 * listed nor counted, so generate went past `maxKeysPerOwner`). The owner index
 * (`owner:<api>:<owner>:<key id>` in KV) is written with the key and removed with it.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import type { StoredKey } from "../../src/keys/record";
import { kvKey } from "../../src/keys/store";
import { admin, callWithEnv } from "../helpers/gateway";
import { kvPutFailing } from "../helpers/faults";
import { portalCookie, ui } from "../helpers/ui";

const PORTAL = "/_keygate/portal";
const config = structuredClone(bundled) as any;
config.apis[0].portal = { ...config.apis[0].portal, maxKeysPerOwner: 2 };
const bindings = { KEYGATE_CONFIG: JSON.stringify(config) };

afterEach(() => {
	vi.useRealTimers();
});

/**
 * `n` keys of another owner whose ids sort before any key keygate makes (`key_0…`): the two entries a listing reads
 * (`api:` and `id:`), as putKey writes them; they are never called with, so no `hash:` entry.
 */
async function fillers(n: number): Promise<void> {
	const made = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "model", owner: "filler" }) });
	expect(made.status).toBe(201);
	const model = await env.KEYS.get<StoredKey>(`id:${(await made.json<{ id: string }>()).id}`, "json");
	for (let i = 0; i < n; i += 100)
		await Promise.all(
			Array.from({ length: Math.min(100, n - i) }, (_, j) => {
				const id = `key_0${String(i + j).padStart(21, "0")}`;
				const record: StoredKey = { ...model!, id, name: `filler ${i + j}`, hash: `${"0".repeat(40)}${String(i + j).padStart(24, "0")}` };
				return Promise.all([env.KEYS.put(kvKey.byId(id), JSON.stringify(record)), env.KEYS.put(kvKey.index("demo", id), "")]);
			}),
		);
}

const generate = (cookie: string, name: string) =>
	ui(`${PORTAL}/keys`, {
		cookie,
		bindings,
		form: { name, environment: "test", type: "sk", scopes: "read", expiry: "never", kind: "single" },
	});

describe("the portal and an owner's keys past the API's first 1,000", () => {
	// 1,001 keys written first: given 30 s, as the whole suite runs beside it on 2 cores.
	it("lists and counts them: maxKeysPerOwner holds after the slots that held new keys have lapsed", { timeout: 30_000 }, async () => {
		await fillers(1001);
		expect((await env.KEYS.list({ prefix: "api:demo:key_0" })).keys.length).toBe(1000); // a listing page: the fillers fill it
		vi.useFakeTimers({ toFake: ["Date"] });
		const cookie = await portalCookie("zed", config);
		const names = ["zed one", "zed two"];
		for (const name of names) expect((await generate(cookie, name)).status).toBe(200);
		// Past the 120 s a new key's slot counts it (until KV lists it): from now on only the listing counts.
		vi.setSystemTime(Date.now() + 5 * 60_000);
		const home = await (await ui(`${PORTAL}/`, { cookie, bindings })).text();
		for (const name of names) expect(home).toContain(name);
		expect(home).toContain("You hold 2 working keys, the most allowed here");
		const third = await generate(cookie, "zed three");
		expect(third.status).toBe(400);
		expect(await third.text()).toContain("at most 2 working keys");
		const zeds = (await env.KEYS.list({ prefix: "owner:demo:zed:" })).keys;
		expect(zeds).toHaveLength(2);
	});

	it("the index follows the key: an owner change moves its entry, a delete removes it", async () => {
		const made = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "moving", owner: "amy" }) });
		const { id } = await made.json<{ id: string }>();
		expect((await env.KEYS.list({ prefix: "owner:demo:amy:" })).keys.map((k) => k.name)).toEqual([`owner:demo:amy:${id}`]);
		expect((await admin(`/keys/${id}`, { method: "PATCH", body: JSON.stringify({ owner: "bea" }) })).status).toBe(200);
		expect((await env.KEYS.list({ prefix: "owner:demo:amy:" })).keys).toHaveLength(0);
		expect((await env.KEYS.list({ prefix: "owner:demo:bea:" })).keys.map((k) => k.name)).toEqual([`owner:demo:bea:${id}`]);
		const bea = await (await ui(`${PORTAL}/`, { cookie: await portalCookie("bea", config), bindings })).text();
		expect(bea).toContain("moving");
		const amy = await (await ui(`${PORTAL}/`, { cookie: await portalCookie("amy", config), bindings })).text();
		expect(amy).not.toContain("moving");
		expect((await admin(`/keys/${id}`, { method: "DELETE" })).status).toBe(204);
		expect((await env.KEYS.list({ prefix: "owner:demo:bea:" })).keys).toHaveLength(0);
	});

	it("an owner change that fails to save leaves the old owner's entry in place: the index never lacks the owner the record names", async () => {
		const made = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "stays", owner: "cid" }) });
		const { id } = await made.json<{ id: string }>();
		// Every write of the record fails (its id entry first): the PATCH answers 503 and the record still names cid.
		const res = await callWithEnv({ KEYS: kvPutFailing((key) => key === `id:${id}`) }, `/_keygate/v1/keys/${id}`, {
			method: "PATCH",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef" },
			body: JSON.stringify({ owner: "dee" }),
		});
		expect(res.status).toBe(503);
		expect(((await (await admin(`/keys/${id}`)).json()) as { owner: string }).owner).toBe("cid");
		expect((await env.KEYS.list({ prefix: "owner:demo:cid:" })).keys.map((k) => k.name)).toEqual([`owner:demo:cid:${id}`]);
	});
});
