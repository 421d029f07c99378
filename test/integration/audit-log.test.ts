/**
 * The audit log's filters (issue 14: "filter by action, key, actor type and date; cursor
 * pages and JSON export"), in the admin API and the console, on real KV. Filters are applied
 * to the whole log, not to one page of it: a page is never short because non-matching
 * events happened to sit in it, and following cursors gives every match once.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { listAudit, recordAudit } from "../../src/admin/audit";
import type { AuditEvent } from "../../src/admin/contract";
import { admin, createKey } from "../helpers/gateway";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";
import { signIn, ui, UI } from "../helpers/ui";

let origin: FakeOrigin;
beforeEach(async () => {
	origin = fakeOrigin();
	// Storage is shared by the tests of a file: each starts from an empty log.
	for (const prefix of ["audit:", "audit-key:"]) {
		const { keys } = await env.KEYS.list({ prefix });
		await Promise.all(keys.map((k) => env.KEYS.delete(k.name)));
	}
});
afterEach(() => {
	vi.useRealTimers();
});

type Page = { data: AuditEvent[]; cursor: string | null };

async function audit(query: string): Promise<Page> {
	const res = await admin(`/audit${query}`);
	const body = await res.json<Page>();
	expect(res.status, JSON.stringify(body)).toBe(200);
	return body;
}

/** Every event a query matches, following cursors to the end. */
async function everything(query: string): Promise<AuditEvent[]> {
	const all: AuditEvent[] = [];
	let cursor: string | null = null;
	do {
		const sep = query ? "&" : "?";
		const page: Page = await audit(cursor ? `${query}${sep}cursor=${encodeURIComponent(cursor)}` : query);
		expect(page.data.length).toBeLessThanOrEqual(50);
		all.push(...page.data);
		cursor = page.cursor;
	} while (cursor);
	return all;
}

/** An event recorded at a chosen time, the way the services record one. */
async function recordAt(iso: string, event: Partial<Omit<AuditEvent, "id" | "at">> = {}): Promise<AuditEvent> {
	vi.useFakeTimers({ toFake: ["Date"] });
	vi.setSystemTime(new Date(iso));
	try {
		return await recordAudit(env.KEYS, {
			actor: "admin",
			actorType: "token",
			action: "key.updated",
			api: "demo",
			keyId: null,
			owner: null,
			details: {},
			...event,
		});
	} finally {
		vi.useRealTimers();
	}
}

async function kvNames(): Promise<string[]> {
	return (await env.KEYS.list()).keys.map((k) => k.name).sort();
}

describe("audit filters in the admin API", () => {
	it("actorType tells the admin token, a console session and the system apart", async () => {
		const key = await createKey({ name: "by token" });
		const cookie = await signIn();
		const res = await ui(`${UI}/keys/${key.id}/revoke`, { cookie, form: {} });
		expect(res.status).toBeLessThan(400);
		await recordAt(new Date().toISOString(), {
			actor: "keygate",
			actorType: "system",
			action: "oauth.grants_revoked",
			details: { reason: "test" },
		});

		const byToken = (await audit("?actorType=token")).data;
		expect(byToken.map((e) => e.action)).toEqual(["key.created"]);
		expect(byToken[0]).toMatchObject({ actor: "admin", keyId: key.id });
		const byConsole = (await audit("?actorType=console")).data;
		expect(byConsole.map((e) => [e.action, e.actor])).toEqual([["key.revoked", "console"]]);
		expect((await audit("?actorType=system")).data.map((e) => e.action)).toEqual(["oauth.grants_revoked"]);
		expect((await audit("?actorType=portal")).data).toEqual([]);
		// Unfiltered, every event carries its type.
		expect((await audit("")).data.map((e) => e.actorType)).toEqual(["system", "console", "token"]);
		expect(origin.calls).toHaveLength(0);
	});

	it("a wrong admin token is audited as token from the API and as console from the sign-in form", async () => {
		expect((await admin("/keys", {}, "wrong-token-wrong-token")).status).toBe(401);
		expect(
			(
				await ui(`${UI}/login`, {
					form: { token: "wrong" },
					headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "198.51.100.7" },
				})
			).status,
		).toBe(401);
		const failed = (await audit("?action=admin.auth_failed")).data;
		expect(failed.map((e) => e.actorType)).toEqual(["console", "token"]);
		// The console's audit page names them as the failed attempts they were, not as a session (found by a browser QA pass).
		const html = await (await ui(`${UI}/audit?action=admin.auth_failed`, { cookie: await signIn() })).text();
		expect(html).toContain("(Failed console sign-in)");
		expect(html).toContain("(Failed admin token)");
		expect(html).not.toContain("(Console session)");
	});

	it("action and key filters are applied to the whole log: no page is short, and cursors give every match once", async () => {
		const target = await createKey({ name: "busy" });
		// 70 updates of one key, with 60 events of other kinds and keys interleaved.
		for (let i = 0; i < 70; i++) {
			await admin(`/keys/${target.id}`, { method: "PATCH", body: JSON.stringify({ name: `busy ${i}` }) });
			if (i % 7 === 0) await createKey({ name: `noise ${i}` });
		}
		const updates = await everything(`?action=key.updated`);
		expect(updates).toHaveLength(70);
		expect(new Set(updates.map((e) => e.id)).size).toBe(70);
		expect(updates.every((e) => e.action === "key.updated" && e.keyId === target.id)).toBe(true);
		// Newest first, across pages.
		const times = updates.map((e) => Date.parse(e.at));
		expect([...times].sort((a, b) => b - a)).toEqual(times);

		const first = await audit("?action=key.updated");
		expect(first.data).toHaveLength(50);
		expect(first.cursor).not.toBeNull();
		// Key and action together: this key's own index, filtered.
		expect(await everything(`?keyId=${target.id}&action=key.updated`)).toHaveLength(70);
		expect(await everything(`?keyId=${target.id}&action=key.created`)).toHaveLength(1);
		expect(await everything(`?action=key.created`)).toHaveLength(11);
	});

	it("from and to select by UTC day or by instant, both ends as documented", async () => {
		await recordAt("2026-11-30T23:59:59.999Z", { details: { n: 1 } });
		await recordAt("2026-12-01T00:00:00.000Z", { details: { n: 2 } });
		await recordAt("2026-12-02T12:00:00.000Z", { details: { n: 3 } });
		await recordAt("2026-12-03T00:00:00.000Z", { details: { n: 4 } });
		const ns = async (q: string) => (await everything(q)).map((e) => e.details.n);
		expect(await ns("?from=2026-12-01")).toEqual([4, 3, 2]);
		expect(await ns("?to=2026-12-02")).toEqual([3, 2, 1]);
		expect(await ns("?from=2026-12-01&to=2026-12-01")).toEqual([2]);
		expect(await ns("?from=2026-12-02T12:00:00Z&to=2026-12-03T00:00:00Z")).toEqual([3]);
		expect(await ns("?from=2026-12-02T12:00:00.001Z")).toEqual([4]);
		expect(await ns("?to=2026-11-30&action=key.updated")).toEqual([1]);
		expect(await ns("?from=2026-12-04")).toEqual([]);
		// Years 0-99 are years, not 1900-1999 (found by a probe: refused).
		expect(await ns("?from=0001-01-01&to=2026-11-30")).toEqual([1]);
		expect((await admin("/audit?to=0099-12-31")).status).toBe(200);
	});

	it.each([
		["action=key.exploded", /^action: one of key\.created/],
		["actorType=robot", /^actorType: one of token, console, portal, system/],
		["from=2026-02-31", /^from: a date/],
		["to=yesterday", /^to: a date/],
		["from=2026-12-05&to=2026-12-04", /^from must be before to/],
		["keyId=nope", /^keyId: not a key id/],
		["cursor=not-a-cursor!", /^cursor: not one this log gave/],
		// Found by a probe: each of these was answered 200 with no events.
		[`cursor=${btoa(JSON.stringify({ c: "garbage", a: null })).replace(/=+$/, "")}`, /^cursor: not one this log gave/],
		[`cursor=${btoa(JSON.stringify({ p: "audit:", c: null, a: "zzz", k: "0" })).replace(/=+$/, "")}`, /^cursor: not one this log gave/],
		["action=key.created&action=bogus", /^action: given more than once/],
		["actorType=system&actorType=token", /^actorType: given more than once/],
		["to=2026-02-31T00:00Z", /^to: a date/],
		["from=2026-12-05T24:00Z", /^from: a date/],
	])("?%s is refused with 400 invalid_request, its reason, and nothing recorded", async (query, message) => {
		await createKey({ name: "before" });
		const before = await kvNames();
		const res = await admin(`/audit?${query}`);
		const body = await res.json<{ error: string; message: string }>();
		expect(res.status).toBe(400);
		expect(body.error).toBe("invalid_request");
		expect(body.message).toMatch(message);
		expect(await kvNames()).toEqual(before);
		expect(origin.calls).toHaveLength(0);
	});

	it("events written before entries carried metadata and actorType are still listed and filtered", async () => {
		const old = {
			id: "evt_old",
			at: "2026-10-01T00:00:00.000Z",
			actor: "portal:cust_9",
			action: "key.revoked",
			api: "demo",
			keyId: null,
			owner: "cust_9",
			details: {},
		};
		const inverted = String(1e13 - Date.parse(old.at)).padStart(14, "0");
		await env.KEYS.put(`audit:${inverted}:${old.id}`, JSON.stringify(old));
		await recordAt("2026-12-01T00:00:00.000Z", { action: "key.revoked" });
		expect((await audit("?actorType=portal")).data).toEqual([{ ...old, actorType: "portal" }]);
		expect((await audit("?action=key.revoked")).data.map((e) => e.id)).toEqual([expect.stringMatching(/^evt_/), "evt_old"]);
		expect((await audit("")).data.map((e) => e.actorType)).toEqual(["token", "portal"]);
	});
});

describe("the address in audit events", () => {
	it("every event records the acting client's address (well-formed only), from the admin API, the console and the portal's services alike", async () => {
		const key = await createKey({ name: "addressed" });
		await admin(`/keys/${key.id}`, {
			method: "PATCH",
			body: JSON.stringify({ name: "x" }),
			headers: { "CF-Connecting-IP": "203.0.113.9" },
		});
		await admin(`/keys/${key.id}`, {
			method: "PATCH",
			body: JSON.stringify({ name: "y" }),
			headers: { "CF-Connecting-IP": "not an address" },
		});
		const cookie = await signIn();
		await ui(`${UI}/keys/${key.id}/revoke`, {
			cookie,
			form: {},
			headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "2001:db8::7" },
		});
		const events = (await audit(`?keyId=${key.id}`)).data;
		expect(events.map((e) => [e.action, e.details.ip])).toEqual([
			["key.revoked", "2001:db8::7"],
			["key.updated", null],
			["key.updated", "203.0.113.9"],
			["key.created", null],
		]);
		const html = await (await ui(`${UI}/audit?keyId=${key.id}`, { cookie })).text();
		expect(html).toContain("<td>2001:db8::7</td>");
		// The target is the whole id, the one the Key id filter takes (found by a browser QA pass: a short id was shown).
		expect(html).toContain(`>${key.id}</a>`);
	});
});

describe("listAudit's cursors", () => {
	it("a filtered page that stops inside a KV list page goes on from the entry after its last one", async () => {
		for (let i = 0; i < 20; i++)
			await recordAt(`2026-12-01T00:00:${String(i).padStart(2, "0")}.000Z`, {
				action: i % 2 ? "key.revoked" : "key.updated",
				details: { i },
			});
		const seen: unknown[] = [];
		let cursor: string | undefined;
		for (let pages = 0; pages < 10; pages++) {
			const page = await listAudit(env.KEYS, { action: "key.revoked", cursor }, 3);
			seen.push(...page.data.map((e) => e.details.i));
			if (!page.cursor) break;
			cursor = page.cursor;
		}
		expect(seen).toEqual([19, 17, 15, 13, 11, 9, 7, 5, 3, 1]);
	});

	it("a cursor from one key's listing is refused on another's, and on the whole log", async () => {
		const a = await createKey({ name: "a" });
		const b = await createKey({ name: "b" });
		for (let i = 0; i < 3; i++) await admin(`/keys/${a.id}`, { method: "PATCH", body: JSON.stringify({ name: `a${i}` }) });
		const page = await listAudit(env.KEYS, { keyId: a.id }, 2);
		expect(page.cursor).not.toBeNull();
		const cursor = encodeURIComponent(page.cursor!);
		expect((await admin(`/audit?keyId=${a.id}&cursor=${cursor}`)).status).toBe(200);
		for (const other of [`keyId=${b.id}&`, ""]) {
			const res = await admin(`/audit?${other}cursor=${cursor}`);
			expect(res.status).toBe(400);
			expect(((await res.json()) as { message: string }).message).toMatch(/^cursor: not one this log gave/);
		}
	});

	it("a cursor taken to other filters is refused, not reinterpreted (found by a peer's suite)", async () => {
		for (let i = 0; i < 3; i++) await recordAt(`2026-12-01T00:00:0${i}.000Z`);
		const page = await listAudit(env.KEYS, {}, 2);
		const res = await admin(`/audit?action=key.updated&cursor=${encodeURIComponent(page.cursor!)}`);
		expect(res.status).toBe(400);
		expect((await admin(`/audit?cursor=${encodeURIComponent(page.cursor!)}`)).status).toBe(200);
	});

	it("old entries without metadata are read to filter them within a budget per page; cursors still give every match once", async () => {
		// 100 entries as written before metadata existed, every third a revocation.
		for (let i = 0; i < 100; i++) {
			const at = Date.parse("2026-11-01T00:00:00.000Z") + i * 1000;
			const event = {
				id: `evt_old${i}`,
				at: new Date(at).toISOString(),
				actor: "admin",
				action: i % 3 ? "key.updated" : "key.revoked",
				api: "demo",
				keyId: null,
				owner: null,
				details: { i },
			};
			await env.KEYS.put(`audit:${String(1e13 - at).padStart(14, "0")}:${event.id}`, JSON.stringify(event));
		}
		const first = await listAudit(env.KEYS, { action: "key.revoked" });
		expect(first.data.length).toBeLessThan(34);
		expect(first.cursor).not.toBeNull();
		const all = await everything("?action=key.revoked");
		expect(all.map((e) => e.details.i)).toEqual(Array.from({ length: 34 }, (_, k) => 99 - (99 % 3) - 3 * k));
	});

	it("an event recorded while paging does not shift the pages after the first", async () => {
		for (let i = 0; i < 6; i++) await recordAt(`2026-12-01T00:00:0${i}.000Z`, { details: { i } });
		const first = await listAudit(env.KEYS, { action: "key.updated" }, 2);
		await recordAt("2026-12-02T00:00:00.000Z", { details: { i: "new" } });
		const second = await listAudit(env.KEYS, { action: "key.updated", cursor: first.cursor! }, 2);
		expect([...first.data, ...second.data].map((e) => e.details.i)).toEqual([5, 4, 3, 2]);
	});
});

describe("the console's audit page", () => {
	it("filters by actor type and date, keeps the chosen filters in the form, and exports the same events as JSON", async () => {
		const cookie = await signIn();
		await recordAt("2026-12-01T10:00:00.000Z", { actor: "portal:cust_1", actorType: "portal", action: "key.created", details: { n: 1 } });
		await recordAt("2026-12-02T10:00:00.000Z", { actor: "portal:cust_1", actorType: "portal", action: "key.revoked", details: { n: 2 } });
		await recordAt("2026-12-02T11:00:00.000Z", { actor: "admin", actorType: "token", action: "key.revoked", details: { n: 3 } });
		const query = "actorType=portal&from=2026-12-02&to=2026-12-02";
		const res = await ui(`${UI}/audit?${query}`, { cookie });
		const html = await res.text();
		expect(res.status).toBe(200);
		expect(html).toContain('<option value="portal" selected="">Portal owner</option>');
		expect(html).toContain('name="from" type="date" value="2026-12-02"');
		expect(html).toContain('portal:cust_1 <span class="muted">(Portal owner)</span>');
		expect(html).toContain("{&quot;n&quot;:2}");
		expect(html).not.toContain("{&quot;n&quot;:1}");
		expect(html).not.toContain("{&quot;n&quot;:3}");
		const json = await (await ui(`${UI}/audit.json?${query}`, { cookie })).json<Page>();
		expect(json.data.map((e) => e.details.n)).toEqual([2]);
	});

	it("exports every matching event with all=1 (following cursors), and one page without it", async () => {
		const cookie = await signIn();
		for (let i = 0; i < 60; i++) await recordAt(`2026-12-01T00:${String(i).padStart(2, "0")}:00.000Z`, { details: { i } });
		await recordAt("2026-12-01T02:00:00.000Z", { action: "key.revoked" });
		const one = await (await ui(`${UI}/audit.json?action=key.updated`, { cookie })).json<Page>();
		expect(one.data).toHaveLength(50);
		expect(one.cursor).not.toBeNull();
		const all = await ui(`${UI}/audit.json?action=key.updated&all=1`, { cookie });
		expect(all.headers.get("Content-Disposition")).toBe('attachment; filename="keygate-audit.json"');
		const body = await all.json<Page>();
		expect(body.data.map((e) => e.details.i)).toEqual(Array.from({ length: 60 }, (_, k) => 59 - k));
		expect(body.cursor).toBeNull();
		const html = await (await ui(`${UI}/audit?action=key.updated`, { cookie })).text();
		expect(html).toContain(`href="${UI}/audit.json?action=key.updated&amp;all=1"`);
	});

	it("a time in the address is shown (as text) and kept, not hidden in an empty date picker", async () => {
		const cookie = await signIn();
		const html = await (await ui(`${UI}/audit?from=2026-12-05T19:02:29.565Z&to=2026-12-06`, { cookie })).text();
		expect(html).toContain('<input name="from" type="text" value="2026-12-05T19:02:29.565Z"/>');
		expect(html).toContain('<input name="to" type="date" value="2026-12-06"/>');
	});

	it("a filter that names nothing is a 400 page saying why, listing nothing", async () => {
		const cookie = await signIn();
		await recordAt("2026-12-02T10:00:00.000Z");
		const res = await ui(`${UI}/audit?from=2026-13-01`, { cookie });
		const html = await res.text();
		expect(res.status).toBe(400);
		// In the form's words: the filter's label, not the query parameter (the JSON export keeps the admin API's message).
		expect(html).toContain("From: a date");
		expect(html).not.toContain("key.updated</td>");
		// No export of a listing that was refused.
		expect(html).toMatch(/<p hidden="">\s*<a href="[^"]*audit\.json/);
		expect((await ui(`${UI}/audit.json?actorType=robot`, { cookie })).status).toBe(400);
	});
});

describe("revoking a revoked key (found by a README walkthrough: it wrote a second key.revoked)", () => {
	it("answers as before and leaves one key.revoked event", async () => {
		const key = await createKey({ name: "twice revoked" });
		for (let i = 0; i < 3; i++) expect((await admin(`/keys/${key.id}/revoke`, { method: "POST" })).status).toBe(200);
		const events = await audit(`?keyId=${key.id}&action=key.revoked`);
		expect(events.data).toHaveLength(1);
	});
});
