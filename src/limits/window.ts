/**
 * Rate-limit arithmetic, pure so it can be tested without a Durable Object.
 *
 * Two fixed windows are kept per key: the `limit` per `window` seconds (aligned to the
 * Unix epoch, so every location computes the same reset time) and `burst` per calendar
 * second. A request passes only if both have room for its cost; a refused request
 * consumes nothing. Fixed windows let a client spend up to 2 x limit across one window
 * boundary; the trade is O(1) state and a reset time the client can rely on.
 */

export interface LimitSpec {
	/** Requests per window, or null for no window limit. */
	limit: number | null;
	window: number;
	burst: number;
	/** How much of the budget this request spends. */
	cost: number;
}

export interface Counters {
	windowStart: number; // Unix seconds
	windowCount: number;
	second: number; // Unix seconds
	secondCount: number;
}

export interface RateInfo {
	/** The limit the X-RateLimit-* headers describe: the window's, or the burst's when the window is unlimited. */
	limit: number;
	remaining: number;
	/** Unix seconds at which `remaining` is restored. */
	reset: number;
	window: { limit: number; window: number; remaining: number; reset: number } | null;
	burst: { limit: number; remaining: number; reset: number };
}

export type Decision =
	| { ok: true; counters: Counters; rate: RateInfo }
	| {
			ok: false;
			rate: RateInfo;
			retryAfter: number;
			/** Unix seconds when the refusing limit resets, and what it had left: until then a request costing more is refused too. */
			retryAt: number;
			available: number;
	  };

export const EMPTY_COUNTERS: Counters = { windowStart: 0, windowCount: 0, second: 0, secondCount: 0 };

function info(spec: LimitSpec, c: Counters): RateInfo {
	const burst = { limit: spec.burst, remaining: Math.max(0, spec.burst - c.secondCount), reset: c.second + 1 };
	const window =
		spec.limit === null
			? null
			: {
					limit: spec.limit,
					window: spec.window,
					remaining: Math.max(0, spec.limit - c.windowCount),
					reset: c.windowStart + spec.window,
				};
	const main = window ?? burst;
	return { limit: main.limit, remaining: main.remaining, reset: main.reset, window, burst };
}

/** The counters as they stand at `nowMs`: a window or second that has ended counts from zero. */
export function current(spec: LimitSpec, previous: Counters, nowMs: number): Counters {
	const nowSec = Math.floor(nowMs / 1000);
	const windowStart = nowSec - (nowSec % spec.window);
	return {
		windowStart,
		windowCount: previous.windowStart === windowStart ? previous.windowCount : 0,
		second: nowSec,
		secondCount: previous.second === nowSec ? previous.secondCount : 0,
	};
}

/**
 * One bucket's counts from two objects (a rotated key's and its replacement's): each of
 * the window and the second keeps the later one, and the larger count when both are the
 * same. Windows are aligned to the epoch, so two keys' counts of one window line up.
 */
export function mergeCounters(a: Counters, b: Counters): Counters {
	const [windowStart, windowCount] = laterCount([a.windowStart, a.windowCount], [b.windowStart, b.windowCount]);
	const [second, secondCount] = laterCount([a.second, a.secondCount], [b.second, b.secondCount]);
	return { windowStart, windowCount, second, secondCount };
}

/** Of two [start, count] of one period, the later one's; the larger count when both are the same period. */
function laterCount(a: [number, number], b: [number, number]): [number, number] {
	if (a[0] === b[0]) return [a[0], Math.max(a[1], b[1])];
	return a[0] > b[0] ? a : b;
}

/** What the limits look like now, spending nothing (for the headers of a refused request). */
export function peek(spec: LimitSpec, previous: Counters, nowMs: number): RateInfo {
	return info(spec, current(spec, previous, nowMs));
}

/** Decides one request at `nowMs`, returning the counters to store when it passes. */
export function decide(spec: LimitSpec, previous: Counters, nowMs: number): Decision {
	const nowSec = Math.floor(nowMs / 1000);
	const c = current(spec, previous, nowMs);
	const windowStart = c.windowStart;
	if (spec.limit !== null && c.windowCount + spec.cost > spec.limit) {
		const retryAt = windowStart + spec.window;
		return { ok: false, rate: info(spec, c), retryAfter: Math.max(1, retryAt - nowSec), retryAt, available: spec.limit - c.windowCount };
	}
	if (c.secondCount + spec.cost > spec.burst) {
		return { ok: false, rate: info(spec, c), retryAfter: 1, retryAt: nowSec + 1, available: spec.burst - c.secondCount };
	}
	const next: Counters = {
		...c,
		windowCount: c.windowCount + spec.cost,
		secondCount: c.secondCount + spec.cost,
	};
	return { ok: true, counters: next, rate: info(spec, next) };
}
