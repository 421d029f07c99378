import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyCache } from "../../src/keys/cache";
import { generateKey } from "../../src/keys/format";
import { forgetExhausted } from "../../src/limiter/client";
import { admin, callWithEnv, createKey, sleep } from "../helpers/gateway";
import { countingBindings } from "../helpers/counting";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

let origin: FakeOrigin;
let counted: ReturnType<typeof countingBindings>;
beforeEach(() => {
	origin = fakeOrigin();
	counted = countingBindings();
});
afterEach(() => vi.restoreAllMocks());

const send = (key: string, path = "/v1/a") => callWithEnv(counted.bindings, path, { key });

/** Runs `n` requests and returns the KV reads and Durable Object calls they made. */
async function cost(n: number, request: () => Promise<Response>, status: number): Promise<{ kvReads: number; doCalls: number }> {
	counted.reset();
	for (let i = 0; i < n; i++) {
		const res = await request();
		if (status !== -1) expect(res.status).toBe(status);
	}
	return { ...counted.counts };
}

describe("what each request costs in KV reads and Durable Object calls", () => {
	it("a warm valid key: zero KV reads and exactly one Durable Object call", async () => {
		const { key } = await createKey();
		keyCache.clear();
		expect(await cost(1, () => send(key), 200)).toEqual({ kvReads: 1, doCalls: 1 }); // first request: one KV read
		expect(await cost(10, () => send(key), 200)).toEqual({ kvReads: 0, doCalls: 10 });
	});

	it("a malformed key or a bad checksum: nothing at all", async () => {
		const bad = generateKey("sk", "live").slice(0, -1) + "x";
		expect(await cost(5, () => send("garbage"), 401)).toEqual({ kvReads: 0, doCalls: 0 });
		expect(await cost(5, () => send(bad), 401)).toEqual({ kvReads: 0, doCalls: 0 });
		expect(await cost(5, () => callWithEnv(counted.bindings, "/v1/a"), 401)).toEqual({ kvReads: 0, doCalls: 0 });
	});

	it("an unknown key: one KV read per isolate per cache period, no Durable Object call", async () => {
		const unknown = generateKey("sk", "live");
		expect(await cost(10, () => send(unknown), 401)).toEqual({ kvReads: 1, doCalls: 0 });
	});

	it("a revoked key this isolate has seen refused: no further calls", async () => {
		const { id, key } = await createKey();
		await send(key);
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		expect(await cost(1, () => send(key), 401)).toEqual({ kvReads: 0, doCalls: 1 }); // the authority says so once
		expect(await cost(10, () => send(key), 401)).toEqual({ kvReads: 0, doCalls: 0 });
	});

	it("a key already over its limit in this isolate: no further calls until the reset, and the refusals still count in usage", async () => {
		forgetExhausted();
		const { id, key } = await createKey({ rateLimit: { limit: 2, window: 3600, burst: 100 } });
		expect(await cost(2, () => send(key), 200)).toEqual({ kvReads: 1, doCalls: 2 });
		expect(await cost(1, () => send(key), 429)).toEqual({ kvReads: 0, doCalls: 1 });
		const refusals = await Promise.all(Array.from({ length: 10 }, () => send(key)));
		expect(refusals.map((r) => r.status)).toEqual(Array(10).fill(429));
		expect(counted.counts.doCalls).toBe(1);
		const last = refusals[9]!;
		expect(Number(last.headers.get("Retry-After"))).toBeGreaterThan(0);
		expect(last.headers.get("X-RateLimit-Remaining")).toBe("0");
		expect(await last.json()).toEqual({ error: "rate_limit_exceeded", message: `Rate limit exceeded. Try again in ${last.headers.get("Retry-After")} seconds.` });
		expect(origin.calls).toHaveLength(2);
		void id;
	});

	it("refusals decided in the isolate reach the key's usage with its next Durable Object call", async () => {
		forgetExhausted();
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 2 } });
		while (Date.now() % 1000 > 200) await sleep(1000 - (Date.now() % 1000) + 5);
		const volley = await cost(8, async () => send(key), -1);
		expect(volley.doCalls).toBe(3); // two passes and the refusal that taught this isolate
		await sleep(1000 - (Date.now() % 1000) + 5); // the burst window resets
		expect((await send(key)).status).toBe(200);
		const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number; rejected: Record<string, number> }>();
		expect(usage).toMatchObject({ passed: 3, rejected: { rate_limited: 6 } });
	});
});
