/**
 * Hourly usage buckets, as a key's authority keeps them: per UTC hour, requests passed
 * and refused by reason, for the last HISTORY_HOURS hours. Pure arithmetic with explicit
 * `now` arguments, so it is tested without a clock (test/unit/usage-history.test.ts).
 *
 * The list is sparse (hours without requests are absent) and sorted oldest first; the
 * last entry is the current hour while requests are arriving, so counting is O(1) on the
 * hot path: bump the last entry, or push a new one when the hour has turned (and only
 * then drop the hours that have aged out).
 */

export const HOUR_MS = 3_600_000;
/** 30 days of hours. */
export const HISTORY_HOURS = 720;

export interface HourBucket {
	/** Hours since the Unix epoch (UTC): the hour starts at `hour * HOUR_MS`. */
	hour: number;
	passed: number;
	rejected: Record<string, number>;
}

export const hourOf = (now: number) => Math.floor(now / HOUR_MS);

/** Drops the buckets older than HISTORY_HOURS before `now`'s hour (in place; the list stays sorted). */
export function trim(history: HourBucket[], now: number): HourBucket[] {
	const oldest = hourOf(now) - HISTORY_HOURS + 1;
	let drop = 0;
	while (drop < history.length && history[drop]!.hour < oldest) drop++;
	if (drop > 0) history.splice(0, drop);
	return history;
}

/** The bucket of `now`'s hour, created (and old hours trimmed) when the hour has turned. */
function current(history: HourBucket[], now: number): HourBucket {
	const hour = hourOf(now);
	const last = history[history.length - 1];
	if (last && last.hour === hour) return last;
	if (last && last.hour > hour) return last; // the clock went back: count in the newest hour rather than reorder
	const b: HourBucket = { hour, passed: 0, rejected: {} };
	history.push(b);
	trim(history, now);
	return b;
}

/** Counts `n` requests at `now`: passed when `rejection` is null, else refused for that reason. */
export function bump(history: HourBucket[], now: number, rejection: string | null, n = 1): void {
	const b = current(history, now);
	if (rejection === null) b.passed += n;
	else b.rejected[rejection] = (b.rejected[rejection] ?? 0) + n;
}

/**
 * Takes back `n` passes (unspent lease tokens returned): from the newest hours first,
 * since a lease lives at most a second, never below zero.
 */
export function unpass(history: HourBucket[], n: number): void {
	for (let i = history.length - 1; i >= 0 && n > 0; i--) {
		const b = history[i]!;
		const take = Math.min(b.passed, n);
		b.passed -= take;
		n -= take;
	}
}

/** Adds `b` into `a` (shards added up): a new sorted list, `a` and `b` untouched. */
export function merge(a: readonly HourBucket[], b: readonly HourBucket[]): HourBucket[] {
	const byHour = new Map<number, HourBucket>();
	for (const x of [...a, ...b]) {
		const into = byHour.get(x.hour);
		if (!into) {
			byHour.set(x.hour, { hour: x.hour, passed: x.passed, rejected: { ...x.rejected } });
			continue;
		}
		into.passed += x.passed;
		for (const [reason, n] of Object.entries(x.rejected)) into.rejected[reason] = (into.rejected[reason] ?? 0) + n;
	}
	return [...byHour.values()].sort((x, y) => x.hour - y.hour);
}

/** The last `hours` hours up to and including `now`'s, one entry per hour (zeros filled in), oldest first. */
export function dense(history: readonly HourBucket[], now: number, hours: number): HourBucket[] {
	const end = hourOf(now);
	const byHour = new Map(history.map((b) => [b.hour, b]));
	const out: HourBucket[] = [];
	for (let h = end - hours + 1; h <= end; h++) out.push(byHour.get(h) ?? { hour: h, passed: 0, rejected: {} });
	return out;
}

/** Totals of the last `hours` hours up to and including `now`'s. */
export function totals(history: readonly HourBucket[], now: number, hours: number): { passed: number; rejected: Record<string, number> } {
	const end = hourOf(now);
	const t = { passed: 0, rejected: {} as Record<string, number> };
	for (const b of history) {
		if (b.hour <= end - hours || b.hour > end) continue;
		t.passed += b.passed;
		for (const [reason, n] of Object.entries(b.rejected)) t.rejected[reason] = (t.rejected[reason] ?? 0) + n;
	}
	return t;
}

/** All requests in a bucket, passed and refused. */
export const requests = (b: { passed: number; rejected: Record<string, number> }) =>
	b.passed + Object.values(b.rejected).reduce((x, y) => x + y, 0);
