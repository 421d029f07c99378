import { describe, expect, it } from "vitest";
import type { RateInfo } from "../../src/limits/window";
import { rateLimitHeaders } from "../../src/pipeline/rate-limit";

const NOW = 1_800_000_000;
// A window of 100 per hour with 3 left; a burst of 10 per second with 2 left.
const RATE: RateInfo = {
	limit: 100,
	remaining: 3,
	reset: NOW + 1800,
	window: { limit: 100, window: 3600, remaining: 3, reset: NOW + 1800 },
	burst: { limit: 10, remaining: 2, reset: NOW + 1 },
};

describe("rateLimitHeaders", () => {
	it("a pass describes the window", () => {
		expect(rateLimitHeaders(RATE, NOW)).toMatchObject({
			"X-RateLimit-Limit": "100",
			"X-RateLimit-Remaining": "3",
			"X-RateLimit-Reset": String(NOW + 1800),
		});
	});
	it("a 429 the burst refused describes the burst", () => {
		expect(rateLimitHeaders(RATE, NOW, NOW + 1)).toMatchObject({
			"X-RateLimit-Limit": "10",
			"X-RateLimit-Remaining": "2",
			"X-RateLimit-Reset": String(NOW + 1),
		});
	});
	it("a 429 the window refused describes the window, even when the burst has less left (a request costing more than 3; found by a review)", () => {
		expect(rateLimitHeaders(RATE, NOW, NOW + 1800)).toMatchObject({
			"X-RateLimit-Limit": "100",
			"X-RateLimit-Remaining": "3",
			"X-RateLimit-Reset": String(NOW + 1800),
		});
	});
	it("both limits are always in RateLimit", () => {
		expect(rateLimitHeaders(RATE, NOW, NOW + 1).RateLimit).toBe('"window";r=3;t=1800, "burst";r=2;t=1');
	});
	it("t is never 0: a second that ended while the origin answered reads as resetting within the next one (found by a peer's suite: r=48;t=0)", () => {
		expect(rateLimitHeaders(RATE, NOW + 1).RateLimit).toBe('"window";r=3;t=1799, "burst";r=2;t=1');
		expect(rateLimitHeaders(RATE, NOW + 1800).RateLimit).toBe('"window";r=3;t=1, "burst";r=2;t=1');
	});
});
