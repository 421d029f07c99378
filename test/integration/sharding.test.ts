import { describe, expect, it } from "vitest";
import { keyCache } from "../../src/keys/cache";
import { forgetExhausted } from "../../src/limits/limiter";
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

describe("changing a key's number of shards, or rotating a sharded key", () => {
	const limits = { limit: 40, window: 86_400, burst: 1000 };
	const isolateForgets = () => (keyCache.clear(), forgetExhausted()); // as when the change has reached this isolate (60 s)
	const patch = (id: string, shards: number) =>
		admin(`/keys/${id}`, { method: "PATCH", body: JSON.stringify({ rateLimit: { ...limits, shards } }) });
	const rotateNow = async (id: string) =>
		(await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 0 }) })).json<{
			id: string;
			key: string;
		}>();
	async function spend(key: string, n: number): Promise<number> {
		let passed = 0;
		for (let i = 0; i < n; i++) if ((await call("/v1/a", { key })).status === 200) passed++;
		return passed;
	}

	it.each([
		[1, 4],
		[4, 1],
	])(
		"from %i to %i shards is refused, with nothing changed: an isolate still on the old layout would count against the old limits (a peer: 70 passes on a 40/day key; two reviews of a first fix)",
		async (from, to) => {
			const { id, key } = await createKey({ rateLimit: { ...limits, shards: from } });
			expect(await spend(key, 30)).toBe(30);
			const refused = await expectError(await patch(id, to), 400, "invalid_request");
			expect(refused.message).toBe(
				`rateLimit.shards: would change the key's number of shards (${from} to ${to}), which is fixed when a key is made; create a new key with the shards it needs`,
			);
			expect(((await (await admin(`/keys/${id}`)).json()) as { rateLimit: { shards: number } }).rateLimit.shards).toBe(from);
			// The same number of shards with another limit is a change like any other.
			expect(
				(await admin(`/keys/${id}`, { method: "PATCH", body: JSON.stringify({ rateLimit: { ...limits, limit: 50, shards: from } }) }))
					.status,
			).toBe(200);
			isolateForgets();
			expect(await spend(key, 40)).toBe(20);
			expect(origin.calls).toHaveLength(50);
		},
		30_000,
	);

	it("a sharded key rotated twice with no request between passes no more than its limit: every shard is carried by index (a review: 70 on 40)", async () => {
		const twice = await createKey({ rateLimit: { ...limits, shards: 4 } });
		expect(await spend(twice.key, 80)).toBe(40);
		const second = await rotateNow((await rotateNow(twice.id)).id);
		isolateForgets();
		expect(await spend(second.key, 40)).toBe(0);
		expect(origin.calls).toHaveLength(40);
	}, 30_000);
});
