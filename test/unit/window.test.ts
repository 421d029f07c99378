import { describe, expect, it } from "vitest";
import { decide, EMPTY_COUNTERS, type Counters, type LimitSpec } from "../../src/limits/window";

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
