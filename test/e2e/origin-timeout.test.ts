/**
 * `originTimeoutMs` over real HTTP, against a real slow origin: it bounds the wait for the
 * origin's response headers, and nothing after them. A body that streams on for longer
 * than the timeout arrives whole (it would not if keygate bounded the whole transfer); an
 * origin whose headers come too late is answered with the documented 504. Under `wrangler
 * dev` an abort after the headers does not cut the body either, so that the timer is
 * cleared with the headers is checked in the workers pool (faults.test.ts), where it can fail.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { useStack } from "./stack";

const TIMEOUT_MS = 400;
const stack = useStack({
	originTimeoutMs: TIMEOUT_MS,
	originPace: (request) =>
		request.path === "/v1/items/slow-body"
			? { bodyMs: TIMEOUT_MS * 3 }
			: request.path === "/v1/items/slow-headers"
				? { headersMs: TIMEOUT_MS * 4 }
				: undefined,
});
let key = "";

beforeAll(async () => {
	const res = await fetch(`${stack().url}/_keygate/v1/keys`, {
		method: "POST",
		headers: { Authorization: `Bearer ${stack().adminToken}`, "Content-Type": "application/json" },
		body: JSON.stringify({ name: "origin-timeout", scopes: ["read"] }),
	});
	expect(res.status).toBe(201);
	key = ((await res.json()) as { key: string }).key;
});

describe(`originTimeoutMs ${TIMEOUT_MS} against a slow origin`, () => {
	it("a body that streams on past the timeout, after prompt headers, arrives whole", async () => {
		const started = Date.now();
		const res = await fetch(`${stack().url}/v1/items/slow-body`, { headers: { Authorization: `Bearer ${key}` } });
		expect(res.status).toBe(200);
		const body = (await res.json()) as { path: string; method: string };
		expect(Date.now() - started, "the origin held its second half back for 3 timeouts").toBeGreaterThanOrEqual(TIMEOUT_MS * 3);
		expect(body).toMatchObject({ path: "/v1/items/slow-body", method: "GET" });
		expect(res.headers.get("X-RateLimit-Remaining")).not.toBeNull();
	});

	it("headers later than the timeout: 504 origin_timeout with the catalogue's body, the request reaching the origin once", async () => {
		const before = stack().originRequests.filter((r) => r.path === "/v1/items/slow-headers").length;
		const started = Date.now();
		const res = await fetch(`${stack().url}/v1/items/slow-headers`, { headers: { Authorization: `Bearer ${key}` } });
		const waited = Date.now() - started;
		expect(res.status).toBe(504);
		expect(res.headers.get("Content-Type")).toMatch(/^application\/json/);
		const body = (await res.json()) as { error: { code: string; message: string } } | { code: string; message: string };
		expect(JSON.stringify(body)).toContain('"origin_timeout"');
		expect(JSON.stringify(body)).toContain("The upstream service did not answer in time.");
		expect(waited).toBeGreaterThanOrEqual(TIMEOUT_MS);
		expect(waited, "answered at the timeout, not when the origin's headers came").toBeLessThan(TIMEOUT_MS * 4);
		expect(stack().originRequests.filter((r) => r.path === "/v1/items/slow-headers").length - before).toBe(1);
	});
});
