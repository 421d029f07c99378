/**
 * Issue 11 item 17: origins that close kept-alive connections. workerd reuses its
 * connections to the origin; when the origin closes one just as it is reused, the request
 * fails before any response byte. keygate sends such a bodiless request once more, and
 * never one with a body. The origin here closes every third reused connection the moment
 * a request arrives on it, which is that race made deterministic.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "./stack";

const REQUESTS = 120;
let stack: Stack | undefined;
let key = "";

beforeAll(async () => {
	stack = await startStack({ originKeepAliveMs: 1_000, originDropReusedEvery: 3 });
	const res = await fetch(`${stack.url}/_keygate/v1/keys`, {
		method: "POST",
		headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
		body: JSON.stringify({ name: "keep-alive", scopes: ["read", "write"], tier: "enterprise" }),
	});
	expect(res.status).toBe(201);
	key = ((await res.json()) as { key: string }).key;
});

afterAll(async () => {
	await stack?.stop();
});

async function tally(method: string, body?: string): Promise<Record<number, number>> {
	const statuses: Record<number, number> = {};
	for (let i = 0; i < REQUESTS; i++) {
		const res = await fetch(`${stack!.url}/v1/items/${i}`, { method, body, headers: { Authorization: `Bearer ${key}` } });
		await res.arrayBuffer();
		statuses[res.status] = (statuses[res.status] ?? 0) + 1;
	}
	return statuses;
}

describe("an origin that closes kept-alive connections (1 s keep-alive, every third reuse dropped)", () => {
	it(`${REQUESTS} GETs: every one answered 200, the dropped ones retried once`, async () => {
		expect(await tally("GET")).toEqual({ 200: REQUESTS });
		expect(stack!.output()).toMatch(/origin_retried/);
	});

	it(`${REQUESTS} POSTs with a body: never retried, so the dropped ones are 502`, async () => {
		const statuses = await tally("POST", "once");
		expect(statuses[502] ?? 0).toBeGreaterThan(0);
		expect((statuses[200] ?? 0) + (statuses[502] ?? 0)).toBe(REQUESTS);
	});
});
