import { describe, expect, it } from "vitest";
import { decideBuckets, peekBucket } from "../../src/limits/buckets";
import type { Bucket } from "../../src/limits/effective";

const bucket = (name: string, limit: number | null, burst: number): Bucket => ({ name, spec: { limit, window: 60, burst, cost: 1 } });
const NOW = 1_800_000_000_000;

describe("decideBuckets: one request on several buckets", () => {
	it("spends every bucket when all have room, and reports the first", () => {
		const d = decideBuckets([bucket("key", 10, 5), bucket("route:x", 2, 5)], {}, NOW);
		expect(d.ok).toBe(true);
		if (!d.ok) return;
		expect(d.rate.remaining).toBe(9);
		expect(d.counters["key"]!.windowCount).toBe(1);
		expect(d.counters["route:x"]!.windowCount).toBe(1);
	});

	it("spends nothing when one bucket refuses, and names it", () => {
		const buckets = [bucket("key", 10, 5), bucket("route:x", 1, 5)];
		const first = decideBuckets(buckets, {}, NOW);
		if (!first.ok) throw new Error("the first request should pass");
		const second = decideBuckets(buckets, first.counters, NOW);
		expect(second).toMatchObject({ ok: false, bucket: "route:x", available: 0 });
		expect(peekBucket(buckets[0]!, first.counters, NOW).remaining).toBe(9);
	});
});
