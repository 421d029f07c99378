import { describe, expect, it } from "vitest";
import { admin, call, createKey, expectError, sleep } from "../helpers/gateway";
import { MODES } from "../helpers/modes";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

/** Strict and leased mode, the two implementations of one limiter: each case runs on both (README: Consistency). */
describe.each(MODES)("a key whose limit is split over several Durable Objects (shards), %s", (consistency) => {
	it("never admits more than its limit, and under this load admits all of it", async () => {
		const { key } = await createKey({ rateLimit: { limit: 40, window: 3600, burst: 1000, shards: 4, consistency } });
		const responses = await Promise.all(Array.from({ length: 120 }, () => call("/v1/a", { key })));
		const passed = responses.filter((r) => r.status === 200).length;
		expect(passed).toBeLessThanOrEqual(40); // the bound: no over-admission
		expect(passed).toBe(40); // and nothing stranded in a shard here
		expect(responses.filter((r) => r.status === 429)).toHaveLength(120 - passed);
		expect(origin.calls).toHaveLength(passed);
		const headers = responses.find((r) => r.status === 200)!.headers;
		expect(headers.get("X-RateLimit-Limit")).toBe("40");
	}, 20_000);

	it("sees a revocation on every shard: on the next request (strict), once leaseMs has passed (leased)", async () => {
		const leaseMs = 200;
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 1000, shards: 8, consistency, leaseMs } });
		// Enough traffic that every shard has joined.
		await Promise.all(Array.from({ length: 80 }, () => call("/v1/a", { key })));
		expect((await admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		if (consistency === "leased") await sleep(leaseMs + 10);
		const before = origin.calls.length;
		const after = await Promise.all(Array.from({ length: 40 }, () => call("/v1/a", { key })));
		for (const res of after) await expectError(res, 401, "expired_api_key");
		expect(origin.calls).toHaveLength(before);
	}, 20_000); // eight objects joining, on local disk: ~3 s strict, ~6 s leased (its grants are written before they are answered)

	it("adds up usage over all shards", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 1000, shards: 4, consistency } });
		await Promise.all(Array.from({ length: 30 }, () => call("/v1/a", { key })));
		const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number }>();
		// Leased usage counts granted tokens as passed until unspent ones come back, so it may read more for a while.
		if (consistency === "strict") expect(usage.passed).toBe(30);
		else expect(usage.passed).toBeGreaterThanOrEqual(30);
	}, 20_000);

	it("counts each refused request once in usage: not a first shard's 429 when another shard then answers", async () => {
		const leaseMs = 200;
		const { id, key } = await createKey({ rateLimit: { limit: 12, window: 3600, burst: 1000, shards: 4, consistency, leaseMs } });
		let refused = 0;
		let passed = 0;
		const send = async () => {
			const res = await call("/v1/a", { key });
			if (res.status === 429) refused++;
			else if (res.status === 200) passed++;
			else throw new Error(`unexpected ${res.status}`);
			return res.status;
		};
		for (let i = 0; i < 30; i++) await send();
		// Refusals an isolate decided from memory ride with its next call: once memories lapse
		// (1 s strict, leaseMs leased), requests ask again, and the first 429 after that reports them.
		await sleep(1_050);
		for (let i = 0; i < 15 && (await send()) !== 429; i++);
		expect(passed).toBeLessThanOrEqual(12);
		expect(origin.calls).toHaveLength(passed);
		const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number; rejected: Record<string, number> }>();
		expect(usage.rejected).toEqual({ rate_limited: refused });
		if (consistency === "strict") expect(usage.passed).toBe(passed);
	}, 20_000);
});

describe("shards in config", () => {
	it("is refused by config validation when a shard would get no budget", async () => {
		const res = await admin("/keys", {
			method: "POST",
			body: JSON.stringify({ name: "x", rateLimit: { limit: 1000, burst: 2, shards: 4 } }),
		});
		const error = await expectError(res, 400, "invalid_request");
		expect(error.message).toBe("rateLimit.shards: burst and limit must each be at least shards");
	});
});
