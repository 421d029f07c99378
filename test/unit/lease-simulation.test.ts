import { describe, expect, it } from "vitest";
import { scaled, share } from "../../src/limits/limiter";
import { giveBack, grant, LeaseBook, type Returned } from "../../src/limits/lease";
import type { Counters } from "../../src/limits/window";

/**
 * A simulation of leased mode with the real arithmetic: the authority's `grant` and
 * `giveBack` (one counter set per shard), one `LeaseBook` per isolate, and the same
 * control flow as src/limits/leased.ts (spend, else a remembered refusal, else a call
 * of the request's own; a refill in the background at the low-water mark). The clock is
 * driven in whole milliseconds; a call reaches the object `latency` ms after it is sent
 * and its answer arrives `latency` ms later, latency drawn from 1 to 5 ms. Requests arrive
 * evenly and go to a random isolate.
 *
 * It measures what the README states for leased mode: admitted per second never above
 * the burst (over-admission 0); admitted per second when offered more (under-admission);
 * calls per second on the busiest object; and, when the key is revoked, how long after
 * the revocation anything was still admitted.
 */
interface Options {
	isolates: number;
	offeredPerSecond: number;
	burst: number;
	shards: number;
	seconds: number;
	leaseMs: number;
	seed: number;
	revokeAtMs?: number;
}

function simulate(o: Options) {
	let seed = o.seed;
	const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
	const t0 = Date.UTC(2026, 0, 1);
	const whole = [{ name: "key", spec: { limit: null, window: 3600, burst: o.burst, cost: 1 } }];
	const shardBuckets = Array.from({ length: o.shards }, (_, i) => scaled(whole, o.shards, i));
	const counters: Record<string, Counters>[] = Array.from({ length: o.shards }, () => ({}));
	const books = Array.from({ length: o.isolates }, () => new LeaseBook());
	const events = new Map<number, (() => void)[]>();
	const at = (t: number, f: () => void) => (events.get(t) ?? events.set(t, []).get(t)!).push(f);
	const admitted: number[] = Array(o.seconds + 1).fill(0);
	const calls: number[][] = Array.from({ length: o.seconds + 1 }, () => Array(o.shards).fill(0));
	const localRefusals: number[] = Array(o.seconds + 1).fill(0);
	let granted = 0;
	let returned = 0;
	let spent = 0;
	let lastAdmittedAt = 0;
	let revoked = false;
	const K = "key_sim|key";
	const sec = (t: number) => Math.floor((t - t0) / 1000);

	function admit(t: number, second: number): void {
		admitted[second]!++;
		spent++;
		lastAdmittedAt = Math.max(lastAdmittedAt, t);
	}

	/** The calls leased.ts makes for a request (when `request`) or a refill: the shards it asks in turn, at most two. */
	function ask(book: LeaseBook, now: number, request: boolean): void {
		if (request) book.arrive(K, now);
		const order = book.shardsToAsk(K, 1, now, o.shards, random).slice(0, request ? 2 : 1);
		if (order.length > 0) send(book, now, request, order);
		else if (request) localRefusals[sec(now)]!++;
	}

	function send(book: LeaseBook, now: number, request: boolean, order: number[]): void {
		const [shard, ...rest] = order as [number, ...number[]];
		const want = book.want(K, 1, now, o.leaseMs);
		const batch = !request || (want > 1 && !book.asking(K));
		const back: Returned | undefined = book.begin(K, now, batch, shard);
		const latency = 1 + Math.floor(random() * 5);
		at(now + latency, () => {
			const t = now + latency;
			calls[sec(t)]![shard]!++;
			if (back) {
				counters[shard] = giveBack(shardBuckets[shard]!, counters[shard]!, back);
				returned += back.units;
			}
			if (revoked) {
				at(t + latency, () => {
					book.failed(K, batch);
					book.drop(K);
				});
				return;
			}
			const g = grant(shardBuckets[shard]!, counters[shard]!, want, t);
			if (g.ok) {
				counters[shard] = g.counters;
				granted += g.granted;
			}
			at(t + latency, () => {
				const u = t + latency;
				if (!g.ok) {
					book.failed(K, batch);
					book.rememberRefusal(K, g, now, o.leaseMs, shard);
					if (rest.length > 0) send(book, u, request, rest);
					// Refused: a token another call's grant left meanwhile is spent instead.
					else if (request && book.spend(K, 1, u)) admit(u, sec(u));
					return;
				}
				const answer = { ...g, deprecatedAt: null, graceEndsAt: null };
				book.accept(K, answer, now, o.leaseMs, request ? 1 : 0, u, batch, shard);
				// The request's own token was counted in the grant's second.
				if (request) admit(u, g.second - t0 / 1000);
			});
		});
	}

	function request(book: LeaseBook, now: number): void {
		if (book.spend(K, 1, now)) {
			admit(now, sec(now));
			if (book.needsRefill(K, now, o.leaseMs)) ask(book, now, false);
			return;
		}
		ask(book, now, true);
	}

	const end = t0 + o.seconds * 1000;
	const perMs = o.offeredPerSecond / 1000;
	let carry = 0;
	for (let t = t0; t < end + 50; t++) {
		if (o.revokeAtMs !== undefined && t === t0 + o.revokeAtMs) revoked = true;
		if (t < end) {
			carry += perMs;
			for (; carry >= 1; carry--) request(books[Math.floor(random() * o.isolates)]!, t);
		}
		for (const f of events.get(t) ?? []) f();
		events.delete(t);
	}
	const seconds = admitted.slice(1, o.seconds); // whole seconds, after the first (isolates warming up)
	return {
		minAdmitted: Math.min(...seconds),
		perSecond: admitted.join(","),
		local: localRefusals.join(","),
		callsPerSecond: calls.map((c) => Math.max(...c)).join(","),
		maxAdmitted: Math.max(...admitted),
		// From the second second on; the first, with every isolate cold, is coldObjectCalls.
		maxObjectCalls: Math.max(...calls.slice(1, o.seconds).map((c) => Math.max(...c))),
		coldObjectCalls: Math.max(...calls[0]!),
		callsPerRequest: calls.flat().reduce((a, b) => a + b, 0) / (o.offeredPerSecond * o.seconds),
		spent,
		granted,
		returned,
		revokedFor: o.revokeAtMs === undefined ? null : Math.max(0, lastAdmittedAt - (t0 + o.revokeAtMs)),
	};
}

const base = { burst: 10_000, seconds: 6, leaseMs: 1000, seed: 42 };
/** Each case runs on these seeds (arrivals, isolates and latencies differ), and every run must keep its bounds. */
const SEEDS = [42, 7, 1234, 99];

describe("leased mode, simulated: one key allowed 10,000/s", () => {
	// isolates, offered/s, shards, then the bounds every seed's run must keep (README: Consistency): the least
	// admitted in any whole second after the first; the most calls one object takes in such a second; and in the
	// first second, when every isolate is cold at once.
	it.each([
		[1, 10_000, 1, 9_900, 1_000, 1_000],
		[10, 10_000, 1, 9_800, 1_000, 1_000],
		[200, 10_000, 1, 9_500, 1_000, 1_000],
		[1, 30_000, 1, 10_000, 1_000, 1_000],
		[10, 30_000, 1, 10_000, 1_000, 1_000],
		[200, 30_000, 1, 9_980, 1_000, 1_000],
		[1, 10_000, 16, 9_900, 1_000, 1_000],
		[10, 10_000, 16, 9_800, 1_000, 1_000],
		[200, 10_000, 16, 9_500, 1_000, 1_000],
		[200, 30_000, 16, 9_900, 1_000, 1_000],
		[1, 30_000, 4, 10_000, 1_000, 1_000],
		[10, 30_000, 4, 10_000, 1_000, 1_000],
		[200, 30_000, 4, 9_900, 1_000, 1_000],
	])(
		"%i isolate(s) offered %i/s over %i shard(s): never over the burst, at least %i admitted, under %i calls/s per object (%i in the cold second)",
		(isolates, offered, shards, least, most, cold) => {
			for (const seed of SEEDS) {
				const r = simulate({ ...base, seed, isolates, offeredPerSecond: offered, shards });
				console.log(JSON.stringify({ isolates, offered, shards, seed, ...r }));
				expect(r.maxAdmitted).toBeLessThanOrEqual(10_000); // over-admission 0, every second
				expect(r.spent).toBeLessThanOrEqual(r.granted - r.returned); // Σ spent ≤ Σ granted
				expect(r.minAdmitted, `seed ${seed}`).toBeGreaterThanOrEqual(least);
				expect(r.maxObjectCalls, `seed ${seed}`).toBeLessThan(most);
				// The first second, every isolate cold at once: they size their asks by their rate since they
				// first held the key. Known weak spot (README: Consistency): 200 isolates offered 3x the burst.
				expect(r.coldObjectCalls, `seed ${seed}`).toBeLessThanOrEqual(cold);
			}
		},
	);

	it("asks its object at most once per 10 requests at a steady 1,000/s on one key", () => {
		for (const isolates of [1, 10]) {
			const r = simulate({ ...base, burst: 2_000, isolates, offeredPerSecond: 1_000, shards: 1 });
			// Every request admitted (a second may show 998 and the next 1,002: a request is counted in the
			// second its call was granted in, which can be the next one).
			expect(r.spent).toBe(1_000 * base.seconds);
			expect(r.minAdmitted).toBeGreaterThanOrEqual(995);
			expect(r.callsPerRequest).toBeLessThanOrEqual(0.1);
		}
	});

	it.each([1, 10, 200])("with %i isolate(s), a revoked key is admitted for at most leaseMs after the revocation", (isolates) => {
		for (const leaseMs of [1000, 250]) {
			const r = simulate({ ...base, isolates, offeredPerSecond: 10_000, shards: 1, leaseMs, revokeAtMs: 3_500 });
			expect(r.revokedFor).toBeLessThanOrEqual(leaseMs);
		}
	});

	it("splits the burst exactly over shards", () => {
		expect(Array.from({ length: 16 }, (_, i) => share(10_000, 16, i)).reduce((a, b) => a + b, 0)).toBe(10_000);
	});
});
