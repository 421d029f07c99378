/** The hourly usage buckets a key's authority keeps (src/authority/usage-history.ts), with explicit clocks. */
import { describe, expect, it } from "vitest";
import {
	HISTORY_HOURS,
	HOUR_MS,
	bump,
	dense,
	hourOf,
	merge,
	requests,
	totals,
	trim,
	unpass,
	type HourBucket,
} from "../../src/authority/usage-history";

const T0 = Date.UTC(2026, 11, 4, 10, 0, 0);

describe("usage history", () => {
	it("counts passes and refusals by reason into the UTC hour they happen in", () => {
		const h: HourBucket[] = [];
		bump(h, T0 + 1_000, null);
		bump(h, T0 + HOUR_MS - 1, null);
		bump(h, T0 + 5_000, "rate_limited", 3);
		bump(h, T0 + HOUR_MS, "revoked");
		bump(h, T0 + HOUR_MS + 10, null);
		expect(h).toEqual([
			{ hour: hourOf(T0), passed: 2, rejected: { rate_limited: 3 } },
			{ hour: hourOf(T0) + 1, passed: 1, rejected: { revoked: 1 } },
		]);
	});

	it("drops hours older than 30 days when the hour turns, and keeps at most 720", () => {
		const h: HourBucket[] = [];
		for (let i = 0; i < 800; i++) bump(h, T0 + i * HOUR_MS, null);
		expect(h.length).toBe(HISTORY_HOURS);
		expect(h[0]!.hour).toBe(hourOf(T0) + 800 - HISTORY_HOURS);
		// An idle key: nothing counted for 29 days after the last hour, then trimmed on read.
		const last = T0 + 799 * HOUR_MS;
		trim(h, last + 29 * 24 * HOUR_MS);
		expect(h.length).toBe(HISTORY_HOURS - 29 * 24);
		trim(h, last + 30 * 24 * HOUR_MS);
		expect(h).toEqual([]);
	});

	it("takes returned lease tokens back from the newest hours, never below zero", () => {
		const h: HourBucket[] = [];
		bump(h, T0, null, 5);
		bump(h, T0 + HOUR_MS, null, 2);
		unpass(h, 4);
		expect(h.map((b) => b.passed)).toEqual([3, 0]);
		unpass(h, 10);
		expect(h.map((b) => b.passed)).toEqual([0, 0]);
	});

	it("adds shards up hour by hour, leaving its inputs alone", () => {
		const a: HourBucket[] = [{ hour: 10, passed: 1, rejected: { revoked: 1 } }];
		const b: HourBucket[] = [
			{ hour: 9, passed: 4, rejected: {} },
			{ hour: 10, passed: 2, rejected: { revoked: 2, rate_limited: 1 } },
		];
		expect(merge(a, b)).toEqual([
			{ hour: 9, passed: 4, rejected: {} },
			{ hour: 10, passed: 3, rejected: { revoked: 3, rate_limited: 1 } },
		]);
		expect(a).toEqual([{ hour: 10, passed: 1, rejected: { revoked: 1 } }]);
	});

	it("fills the missing hours of a window with zeros, and totals only the window", () => {
		const now = T0 + 30 * 60_000;
		const h: HourBucket[] = [
			{ hour: hourOf(now) - 40, passed: 100, rejected: {} },
			{ hour: hourOf(now) - 35, passed: 1, rejected: { rate_limited: 2 } },
			{ hour: hourOf(now), passed: 7, rejected: {} },
		];
		const d = dense(h, now, 36);
		expect(d.length).toBe(36);
		expect(d[0]).toEqual({ hour: hourOf(now) - 35, passed: 1, rejected: { rate_limited: 2 } });
		expect(d[35]!.passed).toBe(7);
		expect(d.slice(1, 35).every((b) => requests(b) === 0)).toBe(true);
		expect(d.reduce((t, b) => t + requests(b), 0)).toBe(10);
		expect(totals(h, now, 24)).toEqual({ passed: 7, rejected: {} });
		expect(totals(h, now, 36)).toEqual({ passed: 8, rejected: { rate_limited: 2 } });
		expect(totals(h, now, 41)).toEqual({ passed: 108, rejected: { rate_limited: 2 } });
	});
});
