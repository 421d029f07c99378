/**
 * Escrow leases, pure: the arithmetic the key's Durable Object uses to grant a batch of
 * tokens (`grant`, `giveBack`), and the book an isolate keeps of what it holds
 * (`LeaseBook`). Nothing here touches a binding or the clock: the caller passes `nowMs`,
 * so the simulation (test/unit/lease-simulation.test.ts) runs the same code as the
 * Worker.
 *
 * Why it is exact (over-admission 0): the object adds every granted token to its
 * counters before it answers, exactly as if that many requests had passed, so
 * Σ granted ≤ limit per window and ≤ burst per second. An isolate spends a token only
 * while its lease is live, and a lease never outlives the second it was granted in
 * (`notAfterMs`), nor `leaseMs` after its request was sent. So every token is spent in
 * the second (and window) that counted it: Σ spent ≤ Σ granted. Tokens given back are
 * dropped from the isolate before they are sent, so none is both returned and spent.
 *
 * What it costs (under-admission): tokens granted but not spent before their lease ends
 * are lost to that second's burst; they go back to the window with the isolate's next
 * lease call. The cap below keeps any one grant to 1/LEASE_DIVISOR of what is left, so
 * the last tokens of a window or second go out one at a time.
 */
import type { Bucket } from "./effective";
import { current, decide, EMPTY_COUNTERS, type Counters, type RateInfo } from "./window";

/** No grant exceeds 1/LEASE_DIVISOR of what is left (but always covers one request). */
export const LEASE_DIVISOR = 8;
/** No isolate asks for more than this at once. */
export const MAX_WANT = 1_000;

export type Grant =
	| { ok: true; granted: number; counters: Record<string, Counters>; rate: RateInfo; second: number; notAfterMs: number }
	| { ok: false; bucket: string; rate: RateInfo; retryAfter: number; retryAt: number; available: number };

/** Tokens an isolate gives back: `units` of the lease granted in Unix second `second`. */
export interface Returned {
	units: number;
	second: number;
}

/** Room for more spending in bucket `b` now: the least of the window's and this second's. */
function room(b: Bucket, c: Counters): number {
	const second = b.spec.burst - c.secondCount;
	return b.spec.limit === null ? second : Math.min(second, b.spec.limit - c.windowCount);
}

/**
 * Grants up to `want` tokens on `buckets` at `nowMs`: g = min(want, room, cap), where
 * room is the least any bucket has left in its window and this second, and cap is
 * max(cost, floor(room / LEASE_DIVISOR)). g is at least one request's cost; with less
 * room than that the request is refused, as in strict mode.
 */
export function grant(buckets: Bucket[], counters: Record<string, Counters>, want: number, nowMs: number): Grant {
	if (buckets.length === 0) throw new Error("a lease needs at least one bucket");
	const cost = buckets[0]!.spec.cost;
	const now: Record<string, Counters> = {};
	let left = Infinity;
	for (const b of buckets) {
		const c = current(b.spec, counters[b.name] ?? EMPTY_COUNTERS, nowMs);
		now[b.name] = c;
		if (room(b, c) < b.spec.cost) {
			// The same refusal strict mode gives (decide refuses for exactly this reason).
			const d = decide(b.spec, c, nowMs);
			if (d.ok) throw new Error("decide admitted what the lease arithmetic refused");
			return { ok: false, bucket: b.name, rate: d.rate, retryAfter: d.retryAfter, retryAt: d.retryAt, available: d.available };
		}
		left = Math.min(left, room(b, c));
	}
	const cap = Math.max(cost, Math.floor(left / LEASE_DIVISOR));
	const granted = Math.min(Math.max(want, cost), left, cap);
	const next: Record<string, Counters> = { ...counters };
	let rate: RateInfo | undefined;
	for (const b of buckets) {
		const c = now[b.name]!;
		next[b.name] = { ...c, windowCount: c.windowCount + granted, secondCount: c.secondCount + granted };
		// `decide` with cost 0 only reports: the headers' view after this grant.
		const d = decide({ ...b.spec, cost: 0 }, next[b.name]!, nowMs);
		rate ??= d.rate;
	}
	const second = Math.floor(nowMs / 1000);
	// Second boundaries are window boundaries too (windows are whole seconds, epoch-aligned).
	return { ok: true, granted, counters: next, rate: rate!, second, notAfterMs: (second + 1) * 1000 };
}

/**
 * Takes back `returned` tokens: from the window's count when that second is in the
 * current window, and from the second's count when it is still that second. Tokens of
 * a past window are simply gone (the window already reset).
 */
export function giveBack(buckets: Bucket[], counters: Record<string, Counters>, returned: Returned): Record<string, Counters> {
	const next: Record<string, Counters> = { ...counters };
	for (const b of buckets) {
		const c = counters[b.name];
		if (!c) continue;
		const windowStart = returned.second - (returned.second % b.spec.window);
		next[b.name] = {
			...c,
			windowCount: c.windowStart === windowStart ? Math.max(0, c.windowCount - returned.units) : c.windowCount,
			secondCount: c.second === returned.second ? Math.max(0, c.secondCount - returned.units) : c.secondCount,
		};
	}
	return next;
}

/** What an isolate holds for one key and bucket set. */
interface Held {
	tokens: number;
	/** Isolate time (ms) after which no token of this lease may be spent. */
	expiresAtMs: number;
	/** Unix second the lease was granted in, and the shard that granted it (for giving tokens back). */
	second: number;
	shard: number;
	/** The authority's view right after its last grant to this isolate (all granted tokens counted as spent). */
	rate: RateInfo;
	deprecatedAt: number | null;
	graceEndsAt: number | null;
	/** Spending in this isolate, to size the next ask: units in `rateSecond`, and in the second before. */
	rateSecond: number;
	thisSecond: number;
	lastSecond: number;
	/** Tokens of an ended lease, to give back with the next call to the shard that granted them. */
	unreturned: (Returned & { shard: number }) | null;
	refilling: boolean;
}

/** A lease as the authority answers it (plus the key's rotation state, shown to the origin). */
export interface LeaseAnswer {
	granted: number;
	second: number;
	notAfterMs: number;
	rate: RateInfo;
	deprecatedAt: number | null;
	graceEndsAt: number | null;
}

export type Spent = { rate: RateInfo; deprecatedAt: number | null; graceEndsAt: number | null };

const MAX_ENTRIES = 10_000;

/**
 * One isolate's leases, in module scope in the Worker (one per simulated isolate in
 * tests). Bounded: past MAX_ENTRIES the oldest entry is dropped (its tokens are then
 * under-admission, never over-admission).
 */
export class LeaseBook {
	private readonly held = new Map<string, Held>();

	/** Spends `cost` synchronously if a live lease covers it. */
	spend(key: string, cost: number, nowMs: number): Spent | undefined {
		const h = this.held.get(key);
		if (!h) return undefined;
		this.observe(h, cost, nowMs);
		if (nowMs >= h.expiresAtMs) this.retire(h);
		if (h.tokens < cost) return undefined;
		h.tokens -= cost;
		return this.view(h);
	}

	/** True when `key`'s lease is running low and no refill is out: the caller should start one. */
	needsRefill(key: string, nowMs: number): boolean {
		const h = this.held.get(key);
		if (!h || h.refilling || nowMs >= h.expiresAtMs) return false;
		return h.tokens <= Math.floor(this.want(key, 1, nowMs) / 4);
	}

	/** How many tokens to ask for: about a quarter of a second of this isolate's recent spending on `key` (1 for a quiet key). */
	want(key: string, cost: number, nowMs: number): number {
		const h = this.held.get(key);
		if (!h) return cost;
		const sec = Math.floor(nowMs / 1000);
		const recent = h.rateSecond === sec ? Math.max(h.thisSecond, h.lastSecond) : h.rateSecond === sec - 1 ? h.thisSecond : 0;
		return Math.min(MAX_WANT, Math.max(cost, Math.ceil(recent / 4)));
	}

	/** The shard to ask: the one whose lease this isolate holds, if any, else undefined (the caller picks). */
	shardOf(key: string, nowMs: number): number | undefined {
		const h = this.held.get(key);
		return h && nowMs < h.expiresAtMs && h.tokens > 0 ? h.shard : undefined;
	}

	/** Starts a call to `shard`: marks a refill out (when `refill`), and hands over tokens of that shard's ended leases to give back with it. */
	begin(key: string, nowMs: number, refill: boolean, shard = 0): Returned | undefined {
		const h = this.held.get(key);
		if (!h) return undefined;
		if (refill) h.refilling = true;
		if (nowMs >= h.expiresAtMs) this.retire(h);
		if (!h.unreturned || h.unreturned.shard !== shard) return undefined;
		const r = { units: h.unreturned.units, second: h.unreturned.second };
		h.unreturned = null;
		return r;
	}

	/** A call failed or was refused: tokens it was giving back are lost (under-admission only). */
	failed(key: string, refill: boolean): void {
		const h = this.held.get(key);
		if (h && refill) h.refilling = false;
	}

	/**
	 * The authority's answer to a call sent at `sentAtMs`: the caller's request takes
	 * `cost` of it (0 for a refill), the rest joins what this isolate holds. The lease
	 * ends at the earlier of sentAt + leaseMs and the end of its second.
	 */
	accept(
		key: string,
		answer: LeaseAnswer,
		sentAtMs: number,
		leaseMs: number,
		cost: number,
		nowMs: number,
		refill: boolean,
		shard = 0,
	): Spent {
		let h = this.held.get(key);
		const expiresAtMs = Math.min(sentAtMs + leaseMs, answer.notAfterMs);
		const rest = Math.max(0, answer.granted - cost);
		if (!h) {
			if (this.held.size >= MAX_ENTRIES) this.held.delete(this.held.keys().next().value!);
			h = {
				tokens: 0,
				expiresAtMs: 0,
				second: answer.second,
				shard,
				rate: answer.rate,
				deprecatedAt: answer.deprecatedAt,
				graceEndsAt: answer.graceEndsAt,
				rateSecond: Math.floor(nowMs / 1000),
				thisSecond: 0,
				lastSecond: 0,
				unreturned: null,
				refilling: false,
			};
			this.held.set(key, h);
		}
		if (refill) h.refilling = false;
		if (cost > 0) this.observe(h, cost, nowMs);
		if (nowMs >= h.expiresAtMs || h.second !== answer.second || h.shard !== shard) this.retire(h);
		if (h.tokens > 0) {
			// Same second: the tokens merge. The newer grant proves the key was alive when
			// its call was sent, so the merged tokens may live as long as the newer lease.
			h.tokens += rest;
			h.expiresAtMs = Math.max(h.expiresAtMs, expiresAtMs);
		} else {
			h.tokens = rest;
			h.expiresAtMs = expiresAtMs;
		}
		h.second = answer.second;
		h.shard = shard;
		// An answer that arrives after its lease ended: its tokens go straight back.
		if (nowMs >= h.expiresAtMs) this.retire(h);
		h.rate = answer.rate;
		h.deprecatedAt = answer.deprecatedAt;
		h.graceEndsAt = answer.graceEndsAt;
		return this.view(h);
	}

	/** Unspent tokens held for `key` (live leases only). */
	unspent(key: string, nowMs: number): number {
		const h = this.held.get(key);
		return h && nowMs < h.expiresAtMs ? h.tokens : 0;
	}

	/** Forgets `key` entirely (its tokens become under-admission): a dead key holds nothing. */
	drop(key: string): void {
		this.held.delete(key);
	}

	clear(): void {
		this.held.clear();
	}

	/** The headers' view: the authority's remaining at its last grant here, plus what this isolate still holds unspent. */
	private view(h: Held): Spent {
		const add = (limit: number, remaining: number) => Math.min(limit, remaining + h.tokens);
		const r = h.rate;
		const window = r.window ? { ...r.window, remaining: add(r.window.limit, r.window.remaining) } : null;
		const burst = { ...r.burst, remaining: add(r.burst.limit, r.burst.remaining) };
		const main = window ?? burst;
		return {
			rate: { limit: main.limit, remaining: main.remaining, reset: main.reset, window, burst },
			deprecatedAt: h.deprecatedAt,
			graceEndsAt: h.graceEndsAt,
		};
	}

	/** The lease has ended (or is being replaced): its tokens become something to give back. */
	private retire(h: Held): void {
		if (h.tokens > 0) {
			if (h.unreturned && h.unreturned.second === h.second && h.unreturned.shard === h.shard) h.unreturned.units += h.tokens;
			else h.unreturned = { units: h.tokens, second: h.second, shard: h.shard };
		}
		h.tokens = 0;
		h.expiresAtMs = 0;
	}

	private observe(h: Held, cost: number, nowMs: number): void {
		const sec = Math.floor(nowMs / 1000);
		if (h.rateSecond !== sec) {
			h.lastSecond = h.rateSecond === sec - 1 ? h.thisSecond : 0;
			h.thisSecond = 0;
			h.rateSecond = sec;
		}
		h.thisSecond += cost;
	}
}
