import { describe, expect, it } from "vitest";
import { FailureThrottle, MAX_TRACKED_ADDRESSES } from "../../src/credentials/brute-force";

describe("a full failed-credential throttle (found by a probe: spraying fresh addresses pushed out the ones held back)", () => {
	const now = 1_000_000;

	it("keeps an address it holds back while fresh addresses fill it, dropping one with fewer failures", () => {
		const t = new FailureThrottle();
		for (let i = 0; i < 20; i++) t.recordFailure("blocked", now, 60);
		expect(t.blockedFor("blocked", now, 20)).toBeGreaterThan(0);
		for (let i = 0; i < MAX_TRACKED_ADDRESSES * 2; i++) t.recordFailure(`spray-${i}`, now, 60);
		expect(t.size).toBe(MAX_TRACKED_ADDRESSES);
		expect(t.blockedFor("blocked", now, 20)).toBeGreaterThan(0);
	});

	it("drops an entry whose window is over before any live one", () => {
		const t = new FailureThrottle();
		t.recordFailure("first", now, 60);
		t.recordFailure("first", now, 60);
		t.recordFailure("over", now, 1);
		for (let i = 2; i < MAX_TRACKED_ADDRESSES; i++) t.recordFailure(`live-${i}`, now + 5_000, 60);
		t.recordFailure("newcomer", now + 5_000, 60);
		expect(t.size).toBe(MAX_TRACKED_ADDRESSES);
		// The oldest entry, still in its window, stays; the one whose window is over went.
		expect(t.budget("first", now + 5_000, 20, 60).remaining).toBe(18);
		expect(t.budget("newcomer", now + 5_000, 20, 60).remaining).toBe(19);
	});
});
