import { describe, expect, it } from "vitest";
import { ExhaustionMemory, scaled, shardsToTry } from "../../src/limits/limiter";
import { shardName } from "../../src/authority/key-authority";
import { decide, EMPTY_COUNTERS, type Counters } from "../../src/limits/window";

/**
 * A simulation of the sharded limiter (docs/scaling.md) with the real window
 * arithmetic, split and shard choice: one key allowed 10,000 requests/s, offered that
 * or more for 10 s through 200 isolates worldwide, each with its own exhaustion memory.
 * It measures what the design claims: admitted never exceeds the limit
 * (over-admission bound: 0), how much of the limit is admitted, and the calls each
 * shard takes per second (a Durable Object serves about 1,000/s).
 */
function simulate(opts: { shards: number; burst: number; offeredPerSecond: number; seconds: number; isolates: number; seed: number }) {
	let seed = opts.seed;
	const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
	const buckets = [{ name: "key", spec: { limit: null, window: 3600, burst: opts.burst, cost: 1 } }];
	const counters = new Map<number, Counters>();
	const memories = Array.from({ length: opts.isolates }, () => new ExhaustionMemory());
	const perSecond: { admitted: number; maxShardCalls: number }[] = [];
	const t0 = Date.UTC(2026, 0, 1);
	for (let s = 0; s < opts.seconds; s++) {
		const calls = Array<number>(opts.shards).fill(0);
		let admitted = 0;
		for (let r = 0; r < opts.offeredPerSecond; r++) {
			const now = t0 + s * 1000 + Math.floor((r / opts.offeredPerSecond) * 1000);
			const memory = memories[Math.floor(random() * opts.isolates)]!;
			for (const shard of shardsToTry("key_sim", buckets, opts.shards, now, memory, random)) {
				calls[shard]!++;
				const spec = scaled(buckets, opts.shards, shard)[0]!.spec;
				const d = decide(spec, counters.get(shard) ?? EMPTY_COUNTERS, now);
				if (d.ok) {
					counters.set(shard, d.counters);
					admitted++;
					break;
				}
				memory.remember(shardName("key_sim", shard), { ...d, ok: false, reason: "rate_limited", bucket: "key" }, now);
			}
		}
		perSecond.push({ admitted, maxShardCalls: Math.max(...calls) });
	}
	return perSecond;
}

describe("sharded limits, simulated at 10,000 requests/s", () => {
	it.each([
		[16, 10_000],
		[16, 12_000],
		[16, 30_000],
		[32, 30_000],
	])(
		"%i shards, %i offered/s: never over the limit, within 1% of it when offered enough, under 1,000 calls/s per shard",
		(shards, offered) => {
			const result = simulate({ shards, burst: 10_000, offeredPerSecond: offered, seconds: 10, isolates: 200, seed: 42 });
			for (const second of result) {
				expect(second.admitted).toBeLessThanOrEqual(10_000); // over-admission: 0, the claimed bound
				if (offered > 10_000) expect(second.admitted).toBeGreaterThanOrEqual(9_900); // under-admission below 1%
				expect(second.maxShardCalls).toBeLessThan(1_000);
			}
		},
		30_000, // 300,000 simulated requests: 4 s alone, over vitest's 5 s default on a busy machine (a CI run)
	);

	it("at exactly the limit, a skewed split leaves a little unadmitted: the measured price of sharding", () => {
		const result = simulate({ shards: 16, burst: 10_000, offeredPerSecond: 10_000, seconds: 10, isolates: 200, seed: 7 });
		const admitted = result.reduce((sum, s) => sum + s.admitted, 0) / result.length;
		expect(admitted).toBeGreaterThan(9_500);
		expect(admitted).toBeLessThanOrEqual(10_000);
	});

	it("the same load on one object would be far more than 1,000 calls/s: the reason to shard", () => {
		const one = simulate({ shards: 1, burst: 10_000, offeredPerSecond: 12_000, seconds: 3, isolates: 200, seed: 1 });
		const sixteen = simulate({ shards: 16, burst: 10_000, offeredPerSecond: 12_000, seconds: 3, isolates: 200, seed: 1 });
		for (let s = 0; s < 3; s++) {
			// Both admit the same (measured, not set: the window arithmetic decides), but sharding
			// spreads the calls: each of 16 objects takes under 1,000/s where one would take
			// more than ten times that.
			expect(one[s]!.admitted).toBeLessThanOrEqual(10_000);
			expect(Math.abs(one[s]!.admitted - sixteen[s]!.admitted)).toBeLessThan(200);
			expect(sixteen[s]!.maxShardCalls).toBeLessThan(1_000);
			expect(one[s]!.maxShardCalls).toBeGreaterThan(10 * sixteen[s]!.maxShardCalls);
		}
	});
});
