import { describe, expect, it } from "vitest";
import { decide, EMPTY_COUNTERS, mergeCounters, type Counters, type LimitSpec } from "../../src/limits/window";

const T0 = Date.UTC(2026, 0, 1, 0, 0, 0); // aligned to an hour
const spec = (over: Partial<LimitSpec> = {}): LimitSpec => ({ limit: 3, window: 3600, burst: 100, cost: 1, ...over });

function run(s: LimitSpec, times: number[]): { passed: number; last: ReturnType<typeof decide> } {
	let counters: Counters = EMPTY_COUNTERS;
	let passed = 0;
	let last = decide(s, counters, times[0]!);
	for (const t of times) {
		last = decide(s, counters, t);
		if (last.ok) {
			counters = last.counters;
			passed++;
		}
	}
	return { passed, last };
}

describe("rate-limit arithmetic", () => {
	it("allows exactly `limit` requests per window", () => {
		const { passed, last } = run(spec(), [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4]);
		expect(passed).toBe(3);
		expect(last.ok).toBe(false);
	});

	it("tells the real wait until the window resets", () => {
		const { last } = run(spec(), [T0, T0, T0, T0 + 600_000]);
		expect(last).toMatchObject({ ok: false, retryAfter: 3000 });
		expect(last.rate).toMatchObject({ limit: 3, remaining: 0, reset: T0 / 1000 + 3600 });
	});

	it("starts a new window at the epoch-aligned boundary", () => {
		const { passed } = run(spec(), [T0, T0, T0, T0 + 3_600_000, T0 + 3_600_000]);
		expect(passed).toBe(5);
	});

	it("allows `burst` per second, then 1 second's wait", () => {
		const { passed, last } = run(spec({ limit: 1000, burst: 2 }), [T0, T0 + 10, T0 + 20]);
		expect(passed).toBe(2);
		expect(last).toMatchObject({ ok: false, retryAfter: 1 });
		expect(run(spec({ limit: 1000, burst: 2 }), [T0, T0 + 10, T0 + 1000]).passed).toBe(3);
	});

	it("describes the burst limit when the window is unlimited", () => {
		const d = decide(spec({ limit: null, burst: 1000 }), EMPTY_COUNTERS, T0);
		expect(d.ok).toBe(true);
		expect(d.rate).toMatchObject({ limit: 1000, remaining: 999, reset: T0 / 1000 + 1, window: null });
	});

	it("spends `cost` units and refuses a request that does not fit, spending nothing", () => {
		const first = decide(spec({ limit: 10, cost: 7 }), EMPTY_COUNTERS, T0);
		expect(first.ok && first.counters.windowCount).toBe(7);
		const second = decide(spec({ limit: 10, cost: 7 }), first.ok ? first.counters : EMPTY_COUNTERS, T0);
		expect(second.ok).toBe(false);
		expect(second.rate.remaining).toBe(3);
	});
});

describe("mergeCounters (a rotated key's counts into its replacement's)", () => {
	const w = 1_767_225_600; // an hour's start, Unix seconds
	it("keeps the larger count of one window and one second", () => {
		const a = { windowStart: w, windowCount: 7, second: w + 5, secondCount: 1 };
		const b = { windowStart: w, windowCount: 3, second: w + 5, secondCount: 4 };
		expect(mergeCounters(a, b)).toEqual({ windowStart: w, windowCount: 7, second: w + 5, secondCount: 4 });
		expect(mergeCounters(b, a)).toEqual(mergeCounters(a, b));
	});

	it("keeps the later window and the later second, each on its own", () => {
		const old = { windowStart: w - 3600, windowCount: 900, second: w + 9, secondCount: 2 };
		const now = { windowStart: w, windowCount: 1, second: w + 3, secondCount: 8 };
		expect(mergeCounters(old, now)).toEqual({ windowStart: w, windowCount: 1, second: w + 9, secondCount: 2 });
		expect(mergeCounters(now, old)).toEqual(mergeCounters(old, now));
	});

	it("from empty counters, takes the other's", () => {
		const c = { windowStart: w, windowCount: 4, second: w, secondCount: 4 };
		expect(mergeCounters(EMPTY_COUNTERS, c)).toEqual(c);
	});
});
