import { describe, expect, it } from "vitest";
import { admin, call, createKey, expectError } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("a key whose limit is split over several Durable Objects (shards)", () => {
	it("never admits more than its limit, and under this load admits all of it", async () => {
		const { key } = await createKey({ rateLimit: { limit: 40, window: 3600, burst: 1000, shards: 4 } });
		const responses = await Promise.all(Array.from({ length: 120 }, () => call("/v1/a", { key })));
		const passed = responses.filter((r) => r.status === 200).length;
		expect(passed).toBeLessThanOrEqual(40); // the bound: no over-admission
		expect(passed).toBe(40); // and nothing stranded in a shard here
		expect(responses.filter((r) => r.status === 429)).toHaveLength(80);
		expect(origin.calls).toHaveLength(40);
		const headers = responses.find((r) => r.status === 200)!.headers;
		expect(headers.get("X-RateLimit-Limit")).toBe("40");
	});

	it("sees a revocation on every shard on the next request", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 1000, shards: 8 } });
		// Enough traffic that every shard has joined.
		await Promise.all(Array.from({ length: 80 }, () => call("/v1/a", { key })));
		const before = origin.calls.length;
		expect((await admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		const after = await Promise.all(Array.from({ length: 40 }, () => call("/v1/a", { key })));
		for (const res of after) await expectError(res, 401, "expired_api_key");
		expect(origin.calls).toHaveLength(before);
	});

	it("adds up usage over all shards", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 1000, window: 3600, burst: 1000, shards: 4 } });
		await Promise.all(Array.from({ length: 30 }, () => call("/v1/a", { key })));
		const usage = await (await admin(`/keys/${id}/usage`)).json<{ passed: number }>();
		expect(usage.passed).toBe(30);
	});

	it("is refused by config validation when a shard would get no budget", async () => {
		const res = await admin("/keys", {
			method: "POST",
			body: JSON.stringify({ name: "x", rateLimit: { limit: 1000, burst: 2, shards: 4 } }),
		});
		const error = await expectError(res, 400, "invalid_request");
		expect(error.message).toBe("rateLimit.shards: burst and limit must each be at least shards");
	});
});
