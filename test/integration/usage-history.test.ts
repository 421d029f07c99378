/**
 * Hourly usage (issue 14): counted by the key's Durable Object into UTC hours, added up
 * over shards, reported by GET /keys/{id}/usage as `history`, and drawn by the console
 * and the portal (a 36-hour sparkline in the keys lists, 24 h / 7 d / 30 d by outcome on
 * the key page), on real KV and Durable Objects.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { UsageSchema, type UsageView } from "../../src/admin/contract";
import { authority } from "../../src/authority/client";
import { HOUR_MS } from "../../src/authority/usage-history";
import { admin, call, createKey } from "../helpers/gateway";
import { fail } from "../helpers/faults";
import { useFakeOrigin } from "../helpers/origin";
import { signIn, ui, UI } from "../helpers/ui";

useFakeOrigin();

const PORTAL = "/_keygate/portal";

async function usageOf(id: string): Promise<UsageView> {
	const res = await admin(`/keys/${id}/usage`);
	expect(res.status).toBe(200);
	return UsageSchema.parse(await res.json());
}

const thisHour = () => new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS).toISOString();

/** The history as one bucket of the hour the requests were made in (were the hour to turn during the test, both hours are added up). */
function inOneHour(history: UsageView["history"], before: string) {
	expect(history.every((b) => b.hourStart >= before && b.hourStart <= thisHour())).toBe(true);
	const rejected: Record<string, number> = {};
	for (const b of history) for (const [r, n] of Object.entries(b.rejected)) rejected[r] = (rejected[r] ?? 0) + n;
	return { hourStart: before, passed: history.reduce((t, b) => t + b.passed, 0), rejected };
}

/** The sparkline's accessible name and the hidden table's rows, as the page renders them. */
const sparkTotals = (html: string) =>
	[...html.matchAll(/aria-label="([\d,]+) requests in the last 36 hours(?:, [\d,]+ refused)?"/g)].map((m) => m[1]);
const hiddenRow = (html: string, outcome: string) =>
	new RegExp(`<th scope="row">${outcome}</th><td>(\\d+)</td><td>(\\d+)</td><td>(\\d+)</td>`).exec(html)?.slice(1).map(Number);

describe("hourly usage in the key's Durable Object", () => {
	it("counts requests made now into the current UTC hour, refusals by reason; the answer validates against the contract", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 3, window: 3600, burst: 10 } });
		const before = thisHour();
		for (let i = 0; i < 5; i++) await call("/v1/a", { key });
		const usage = await usageOf(id);
		if (thisHour() === before) expect(usage.history).toEqual([{ hourStart: before, passed: 3, rejected: { rate_limited: 2 } }]);
		else expect(inOneHour(usage.history, before)).toEqual({ hourStart: before, passed: 3, rejected: { rate_limited: 2 } });
		expect(await admin(`/keys/${id}/revoke`, { method: "POST" }).then((r) => r.status)).toBe(200);
		await call("/v1/a", { key });
		const after = await usageOf(id);
		const last = inOneHour(after.history, before);
		expect(last.passed).toBe(3);
		expect(last.rejected.rate_limited).toBe(2);
		expect(last.rejected.revoked).toBe(1);
		expect(after.passed + Object.values(after.rejected).reduce((a, b) => a + b, 0)).toBe(
			after.history.reduce((t, b) => t + b.passed + Object.values(b.rejected).reduce((a, c) => a + c, 0), 0),
		);
	});

	it("a key never used has an empty history", async () => {
		const { id } = await createKey();
		expect((await usageOf(id)).history).toEqual([]);
	});

	it("adds the hours of every shard up", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 1000, shards: 4 } });
		const before = thisHour();
		await Promise.all(Array.from({ length: 30 }, () => call("/v1/a", { key })));
		const usage = await usageOf(id);
		expect(usage.history.length).toBeGreaterThan(0);
		expect(inOneHour(usage.history, before)).toEqual({ hourStart: before, passed: 30, rejected: {} });
	});

	it("counts lease grants as passes and takes returned tokens back", async () => {
		const { id } = await createKey();
		const a = authority(env);
		const buckets = [{ name: "key", spec: { limit: 1000, window: 3600, burst: 100, cost: 1 } }];
		const g = await a.lease(id, buckets, 10);
		expect(g.ok).toBe(true);
		if (!g.ok) return;
		const hourlyPassed = async () => (await a.usage(id)).hourly.reduce((t, b) => t + b.passed, 0);
		expect(await hourlyPassed()).toBe(g.granted);
		await a.lease(id, buckets, 1, { units: 4, second: g.second });
		const u = await a.usage(id);
		expect(await hourlyPassed()).toBe(u.passed);
		expect(u.passed).toBe(g.granted - 4 + 1);
	});
});

describe("usage in the console and the portal", () => {
	it("the console's keys list draws a sparkline with the key's total, and the key page the hidden table by outcome", async () => {
		const name = `spark-${crypto.randomUUID().slice(0, 8)}`;
		const { id, key } = await createKey({ name, rateLimit: { limit: 4, window: 3600, burst: 10 } });
		for (let i = 0; i < 7; i++) await call("/v1/a", { key });
		const cookie = await signIn();
		const list = await ui(`${UI}/apis/demo/keys?q=${name}`, { cookie });
		const html = await list.text();
		expect(list.status, html).toBe(200);
		expect(sparkTotals(html)).toEqual(["7"]);
		// The refusals by number too, not by colour alone (a browser QA pass: forced colours lost the red).
		expect(html).toContain("<title>7 requests in the last 36 hours, 3 refused</title>");
		expect(html).toMatch(/<rect [^>]*fill="#a40e26" class="bad"/);
		expect(html).toMatch(/<rect [^>]*fill="#116329" class="pass"/);
		const detail = await ui(`${UI}/keys/${id}`, { cookie });
		const page = await detail.text();
		expect(detail.status, page).toBe(200);
		expect(page).toContain('<div class="sr-only"><table><caption>Requests by outcome over the last 24 hours, 7 days and 30 days</caption>');
		expect(hiddenRow(page, "Passed")).toEqual([4, 4, 4]);
		// Outcomes in words, not reason codes (stop 24's browser QA pass: customers saw `ip_not_allowed`).
		expect(hiddenRow(page, "Rate limited \\(429\\)")).toEqual([3, 3, 3]);
		expect(page).not.toMatch(/ style=/);
	});

	it("the portal's keys list and key page show the same numbers", async () => {
		const owner = `cust_${crypto.randomUUID().slice(0, 8)}`;
		const { id, key } = await createKey({ owner, rateLimit: { limit: 1000, window: 3600, burst: 1000 } });
		for (let i = 0; i < 12; i++) await call("/v1/a", { key });
		const res = await admin("/portal-sessions", { method: "POST", body: JSON.stringify({ api: "demo", owner }) });
		const url = new URL((await res.json<{ url: string }>()).url);
		const landing = await (await ui(url.pathname + url.search, { headers: { "Sec-Fetch-Site": "cross-site" } })).text();
		const token = /name="token" value="([^"]+)"/.exec(landing)![1]!;
		const entered = await ui(`${PORTAL}/enter`, { form: { token }, headers: { "Sec-Fetch-Site": "same-origin" } });
		const cookie = entered.headers.get("Set-Cookie")!.split(";")[0]!;
		const home = await (await ui(`${PORTAL}/`, { cookie })).text();
		expect(sparkTotals(home)).toEqual(["12"]);
		const page = await (await ui(`${PORTAL}/keys/${id}`, { cookie })).text();
		expect(hiddenRow(page, "Passed")).toEqual([12, 12, 12]);
	});

	it("a failed usage read renders 'usage unavailable' in the list, not a 500", async () => {
		const name = `unavail-${crypto.randomUUID().slice(0, 8)}`;
		await createKey({ name });
		const broken = { idFromName: (n: string) => n, get: () => ({ getUsage: fail, getStatus: fail }) };
		const cookie = await signIn(undefined, { KEY_AUTHORITY: broken });
		const res = await ui(`${UI}/apis/demo/keys?q=${name}`, { cookie, bindings: { KEY_AUTHORITY: broken } });
		const html = await res.text();
		expect(res.status, html).toBe(200);
		expect(html).toContain(name);
		expect(html).toContain("usage unavailable");
		expect(sparkTotals(html)).toEqual([]);
	});
});
