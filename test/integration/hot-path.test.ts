import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { keyCache } from "../../src/keys/cache";
import { generateKey } from "../../src/keys/format";
import { forgetExhausted } from "../../src/limits/limiter";
import { admin, callWithEnv, createKey, sleep, badChecksum } from "../helpers/gateway";
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
		const bad = badChecksum(generateKey("sk", "live"));
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

	it("an ordinary key over its limit: each refusal asks the authority (one call), so a revocation reads 401 at once", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 2, window: 3600, burst: 100 } });
		expect(await cost(2, () => send(key), 200)).toEqual({ kvReads: 1, doCalls: 2 });
		expect(await cost(5, () => send(key), 429)).toEqual({ kvReads: 0, doCalls: 5 });
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		expect(await cost(1, () => send(key), 401)).toEqual({ kvReads: 0, doCalls: 1 });
		expect(origin.calls).toHaveLength(2);
	});

	it("a sharded key over its limit: refused from isolate memory without calls, for at most a second, and counted in usage", async () => {
		// Both volleys must land inside one calendar second; on a loaded machine they may
		// not, and then the run is repeated with a fresh key (at most 3 times).
		for (let attempt = 0; ; attempt++) {
			forgetExhausted();
			origin.calls.length = 0;
			const { id, key } = await createKey({ rateLimit: { limit: null, window: 3600, burst: 4, shards: 2 } });
			while (Date.now() % 1000 > 200) await sleep(1000 - (Date.now() % 1000) + 5);
			const second = Math.floor(Date.now() / 1000);
			const volley = await cost(12, () => send(key), -1);
			counted.reset();
			const quiet = await Promise.all(Array.from({ length: 5 }, () => send(key)));
			if (Math.floor(Date.now() / 1000) !== second && attempt < 2) continue;
			// 4 passes; then each shard refuses once per isolate before the isolate stops asking.
			expect(volley.doCalls).toBeLessThanOrEqual(4 + 2 + 2);
			expect(quiet.map((r) => r.status)).toEqual(Array(5).fill(429));
			expect(counted.counts.doCalls).toBe(0);
			await sleep(1000 - (Date.now() % 1000) + 5); // memory and burst window end
			expect((await send(key)).status).toBe(200);
			const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number; rejected: Record<string, number> }>();
			expect(usage.passed).toBe(5);
			expect(usage.passed + (usage.rejected.rate_limited ?? 0)).toBeGreaterThanOrEqual(13); // local refusals ride along with the next call
			expect(origin.calls).toHaveLength(5);
			return;
		}
	});
});
