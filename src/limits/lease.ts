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
 * lease call. The caps below keep any one grant to 1/LEASE_DIVISOR of what is left in
 * the window and 1/SECOND_DIVISOR of what is left this second, so the last tokens go
 * out one at a time.
 */
import type { Bucket } from "./effective";
import { current, decide, EMPTY_COUNTERS, type Counters, type RateInfo } from "./window";

/** No grant exceeds 1/LEASE_DIVISOR of what is left in the window (but always covers one request). */
export const LEASE_DIVISOR = 8;
/**
 * Nor 1/SECOND_DIVISOR of what is left this second. Looser than the window's: tokens of
 * the second an isolate strands are lost only until the second ends, while a window's
 * come back only with that isolate's next call. A tighter cap here makes a busy isolate
 * run dry while its refill is out, and then every request asks for itself: with 1/8,
 * one isolate offered 30,000/s on a key allowed 10,000/s over 4 shards made 1,839 calls/s
 * on one object in the simulation; with 1/2, 940.
 */
export const SECOND_DIVISOR = 2;
/** A cold isolate's rate is taken over at least this long (see `LeaseBook.want`). */
export const COLD_FLOOR_MS = 100;
/** With a batch call out, a request asks for this long's tokens (see `LeaseBook.want`). */
export const BRIDGE_MS = 3;
/** No isolate asks for more than this at once. */
export const MAX_WANT = 2_000;

export type Grant =
	| {
			ok: true;
			granted: number;
			counters: Record<string, Counters>;
			rate: RateInfo;
			second: number;
			notAfterMs: number;
			/** The refusal one more request would get now, when this grant took the last of the room (see `LeaseBook.accept`). */
			exhausted: Refusal | null;
	  }
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

/** The most one grant may take of bucket `b`: 1/LEASE_DIVISOR of the window's room, 1/SECOND_DIVISOR of the second's. */
function capOf(b: Bucket, c: Counters): number {
	const second = Math.floor((b.spec.burst - c.secondCount) / SECOND_DIVISOR);
	return b.spec.limit === null ? second : Math.min(second, Math.floor((b.spec.limit - c.windowCount) / LEASE_DIVISOR));
}

/**
 * Grants up to `want` tokens on `buckets` at `nowMs`: g = min(want, room, cap), where
 * room is the least any bucket has left in its window and this second, and cap is
 * max(cost, the least of each bucket's window room / LEASE_DIVISOR and second room /
 * SECOND_DIVISOR). g is at least one request's cost; with less room than that the
 * request is refused, as in strict mode.
 */
export function grant(buckets: Bucket[], counters: Record<string, Counters>, want: number, nowMs: number): Grant {
	if (buckets.length === 0) throw new Error("a lease needs at least one bucket");
	const cost = buckets[0]!.spec.cost;
	const now: Record<string, Counters> = {};
	let left = Infinity;
	let most = Infinity;
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
		most = Math.min(most, capOf(b, c));
	}
	const cap = Math.max(cost, most);
	const granted = Math.min(Math.max(want, cost), left, cap);
	const next: Record<string, Counters> = { ...counters };
	let rate: RateInfo | undefined;
	let exhausted: Refusal | null = null;
	for (const b of buckets) {
		const c = now[b.name]!;
		next[b.name] = { ...c, windowCount: c.windowCount + granted, secondCount: c.secondCount + granted };
		// `decide` with cost 0 only reports: the headers' view after this grant.
		const d = decide({ ...b.spec, cost: 0 }, next[b.name]!, nowMs);
		rate ??= d.rate;
		if (exhausted === null) {
			// And with the request's cost: what the next request would be told, if it is refused now.
			const after = decide(b.spec, next[b.name]!, nowMs);
			if (!after.ok)
				exhausted = { bucket: b.name, rate: after.rate, retryAfter: after.retryAfter, retryAt: after.retryAt, available: after.available };
		}
	}
	const second = Math.floor(nowMs / 1000);
	// Second boundaries are window boundaries too (windows are whole seconds, epoch-aligned).
	return { ok: true, granted, counters: next, rate: rate!, second, notAfterMs: (second + 1) * 1000, exhausted };
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

/** One shard's lease in an isolate. */
interface Slot {
	tokens: number;
	/** Isolate time (ms) after which no token of this lease may be spent. */
	expiresAtMs: number;
	/** Unix second the lease was granted in. */
	second: number;
	/** Tokens of this shard's ended leases, to give back with the next call to it. */
	unreturned: Returned | null;
}

/** What an isolate holds for one key and bucket set. */
interface Held {
	/**
	 * Per shard, its lease: an isolate may hold leases of several shards at once, so tokens
	 * of one are not stranded when a grant comes from another (a sharded key whose shards
	 * run out in turn).
	 */
	slots: Map<number, Slot>;
	/** The shard that answered last: the one a refill asks, and whose view the headers give. */
	shard: number;
	/** The authority's view right after its last grant to this isolate (all granted tokens counted as spent). */
	rate: RateInfo;
	deprecatedAt: number | null;
	graceEndsAt: number | null;
	/** Spending in this isolate, to size the next ask: units in `rateSecond`, and in the second before. */
	rateSecond: number;
	thisSecond: number;
	lastSecond: number;
	/** Isolate time this isolate first held the key, and units admitted since: a cold isolate's rate (see `want`). */
	firstMs: number;
	seen: number;
	/** A call asking for a batch (a refill, or a request's own call asking for more than itself) is out: others ask only to bridge the wait. */
	asking: boolean;
	/** Per shard: its last refusal, remembered until its reset or the end of leaseMs, whichever is first. */
	refused: Map<number, { untilMs: number; available: number; refusal: Refusal }>;
}

/** A rate-limit refusal as the authority gives it. */
export interface Refusal {
	bucket: string;
	rate: RateInfo;
	retryAfter: number;
	retryAt: number;
	available: number;
}

/** A lease as the authority answers it (plus the key's rotation state, shown to the origin). */
export interface LeaseAnswer {
	granted: number;
	second: number;
	notAfterMs: number;
	rate: RateInfo;
	deprecatedAt: number | null;
	graceEndsAt: number | null;
	/** The refusal a further request would get, when this grant took the last of the room: remembered as a refusal is. */
	exhausted?: Refusal | null;
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
	/** Keys this isolate has asked for but holds nothing of yet: when the first request asked, and how many have (see `want`). */
	private readonly cold = new Map<string, { firstMs: number; asks: number }>();

	/**
	 * Spends `cost` synchronously if a live lease covers it: the one that ends soonest (so
	 * fewer tokens are left when leases end), on a tie the last answering shard's. Slots
	 * of other shards with nothing held and nothing to give back are dropped.
	 */
	spend(key: string, cost: number, nowMs: number): Spent | undefined {
		const h = this.held.get(key);
		if (!h) return undefined;
		let from: Slot | undefined;
		for (const [shard, s] of h.slots) {
			if (nowMs >= s.expiresAtMs) this.retire(s);
			if (s.tokens === 0 && s.unreturned === null && shard !== h.shard) {
				h.slots.delete(shard);
				continue;
			}
			if (s.tokens < cost) continue;
			if (from === undefined || s.expiresAtMs < from.expiresAtMs || (s.expiresAtMs === from.expiresAtMs && shard === h.shard)) from = s;
		}
		if (!from) return undefined;
		from.tokens -= cost;
		// Sized by what was admitted here, not offered: a key far over its limit must not
		// have each isolate ask for its whole demand and strand it.
		this.observe(h, cost, nowMs);
		return this.view(h, nowMs);
	}

	/** True when `key`'s leases are running low and no refill is out: the caller should start one. */
	needsRefill(key: string, nowMs: number, leaseMs: number): boolean {
		const h = this.held.get(key);
		if (!h || h.asking || !this.live(h.slots.get(h.shard), nowMs) || this.refusal(key, 1, nowMs, h.shard)) return false;
		return this.unspent(key, nowMs) <= Math.floor(this.need(h, nowMs, leaseMs) / 2);
	}

	/**
	 * How many tokens to ask for: what this isolate's recent spending on `key` would use
	 * in the time a lease asked for now can live (to the end of the second, at most
	 * leaseMs), less what it still holds. A quiet key asks for 1 and behaves as strict
	 * mode; a busy one asks for less as the second runs out, so little is left unspent
	 * when it ends. With a batch call out, a request asks only for what would bridge the
	 * wait (BRIDGE_MS of its rate), so the requests that find the isolate dry meanwhile
	 * do not each make a call.
	 */
	want(key: string, cost: number, nowMs: number, leaseMs: number): number {
		const h = this.held.get(key);
		if (!h) {
			// Nothing held yet. The first request asks for its own cost; one that finds an earlier one's call
			// still out sizes its ask by the requests so far, as a cold isolate's rate (see `rate`).
			const c = this.cold.get(key);
			if (!c || c.asks <= 1) return cost;
			const rate = (c.asks * 1000) / Math.max(nowMs - c.firstMs, COLD_FLOOR_MS);
			return Math.min(MAX_WANT, Math.max(cost, Math.ceil((rate * Math.min(leaseMs, 1000 - (nowMs % 1000))) / 1000)));
		}
		if (h.asking) return Math.min(MAX_WANT, Math.max(cost, Math.ceil((this.rate(h, nowMs) * BRIDGE_MS) / 1000)));
		return Math.min(MAX_WANT, Math.max(cost, this.need(h, nowMs, leaseMs) - this.unspent(key, nowMs)));
	}

	/** Tokens this isolate would spend on `h`'s key before a lease asked for now ends. */
	private need(h: Held, nowMs: number, leaseMs: number): number {
		const lives = Math.min(leaseMs, 1000 - (nowMs % 1000));
		return Math.ceil((this.rate(h, nowMs) * lives) / 1000);
	}

	/**
	 * Units per second this isolate admits on `h`'s key: the busier of this second and the
	 * last. A cold isolate (that first held the key under a second ago) has no whole
	 * second to go by, so it also takes the rate since then, over at least COLD_FLOOR_MS:
	 * otherwise a busy key is fed a few tokens at a time while its count grows (200 cold
	 * isolates doing that made about 2,000 calls on one object in their first second).
	 */
	private rate(h: Held, nowMs: number): number {
		const sec = Math.floor(nowMs / 1000);
		const recent = h.rateSecond === sec ? Math.max(h.thisSecond, h.lastSecond) : h.rateSecond === sec - 1 ? h.thisSecond : 0;
		const age = nowMs - h.firstMs;
		return age < 1000 ? Math.max(recent, Math.floor((h.seen * 1000) / Math.max(age, COLD_FLOOR_MS))) : recent;
	}

	/** A request found no token for `key` and makes its own call: while nothing is held yet, counted to size the asks (see `want`). */
	arrive(key: string, nowMs: number): void {
		if (this.held.has(key)) return;
		const c = this.cold.get(key);
		if (c) c.asks++;
		else {
			if (this.cold.size >= MAX_ENTRIES) this.cold.delete(this.cold.keys().next().value!);
			this.cold.set(key, { firstMs: nowMs, asks: 1 });
		}
	}

	/** True while a batch call for `key` is out: a call made now asks only to bridge the wait (see `want`) and is no batch. */
	asking(key: string): boolean {
		return this.held.get(key)?.asking ?? false;
	}

	/** Starts a call to `shard`: marks a refill out (when `refill`), and hands over tokens of that shard's ended leases to give back with it. */
	begin(key: string, nowMs: number, batch: boolean, shard = 0): Returned | undefined {
		const h = this.held.get(key);
		if (!h) return undefined;
		if (batch) h.asking = true;
		const s = h.slots.get(shard);
		if (!s) return undefined;
		if (nowMs >= s.expiresAtMs) this.retire(s);
		const r = s.unreturned ?? undefined;
		s.unreturned = null;
		return r;
	}

	/** A call failed or was refused: tokens it was giving back are lost (under-admission only). */
	failed(key: string, batch: boolean): void {
		const h = this.held.get(key);
		if (!h) return;
		if (batch) h.asking = false;
	}

	/**
	 * The authority's answer to a call sent at `sentAtMs`: the caller's request takes
	 * `cost` of it (0 for a refill), the rest joins what this isolate holds of that
	 * shard. The lease ends at the earlier of sentAt + leaseMs and the end of its second.
	 */
	accept(
		key: string,
		answer: LeaseAnswer,
		sentAtMs: number,
		leaseMs: number,
		cost: number,
		nowMs: number,
		batch: boolean,
		shard = 0,
	): Spent {
		const h = this.held.get(key) ?? this.create(key, answer.rate, shard, nowMs);
		const s = this.slot(h, shard);
		const expiresAtMs = Math.min(sentAtMs + leaseMs, answer.notAfterMs);
		const rest = Math.max(0, answer.granted - cost);
		h.refused.delete(shard); // that shard had room again
		// ...unless this grant took the last of it: then, as after a refusal, no call until its reset.
		if (answer.exhausted) this.rememberRefusal(key, answer.exhausted, sentAtMs, leaseMs, shard);
		if (batch) h.asking = false;
		if (cost > 0) this.observe(h, cost, nowMs);
		if (nowMs >= s.expiresAtMs) this.retire(s);
		if (nowMs >= expiresAtMs) {
			// An answer that arrives after its lease ended (it crossed a second): its tokens go
			// back with the next call, and what this isolate holds now is left alone. Its shard
			// becomes the one refills ask only if the one that was has no live lease either.
			this.giveLater(s, rest, answer.second);
			if (shard !== h.shard && this.live(h.slots.get(h.shard), nowMs)) {
				// The key's rotation state is the same on every shard; the headers are this shard's view.
				this.note(h, answer, false);
				return this.view(h, nowMs, shard, answer.rate);
			}
			h.shard = shard;
			this.note(h, answer);
			return this.view(h, nowMs);
		}
		h.shard = shard;
		if (s.tokens > 0 && s.second !== answer.second) this.retire(s);
		if (s.tokens > 0) {
			// Same second, same shard: the tokens merge. The newer grant proves the key was
			// alive when its call was sent, so the merged tokens may live as long as either lease.
			s.tokens += rest;
			s.expiresAtMs = Math.max(s.expiresAtMs, expiresAtMs);
		} else {
			s.tokens = rest;
			s.expiresAtMs = expiresAtMs;
		}
		s.second = answer.second;
		this.note(h, answer);
		return this.view(h, nowMs);
	}

	/**
	 * Leased mode only: a refusal this isolate can repeat without a call. The authority's
	 * counters only go up until their reset, so a request costing more than was left is
	 * refused there too until then. It lasts at most `leaseMs` from the refused call: a
	 * key revoked meanwhile reads 429 instead of 401 for no longer than a lease could
	 * have let it pass, which is the mode's stated revocation bound.
	 */
	refusal(key: string, cost: number, nowMs: number, shard = 0): Refusal | undefined {
		const r = this.held.get(key)?.refused.get(shard);
		if (!r || nowMs >= r.untilMs || cost <= r.available) return undefined;
		return { ...r.refusal, retryAfter: Math.max(1, Math.ceil((r.refusal.retryAt * 1000 - nowMs) / 1000)) };
	}

	/**
	 * The shards worth asking, in order (at most two): the one that answered this isolate
	 * last while its lease lives, else a random one, then one other; never one known to
	 * refuse `cost` now. Empty when every shard is known to refuse: the caller answers
	 * with `refusal`.
	 */
	shardsToAsk(key: string, cost: number, nowMs: number, n: number, random: () => number): number[] {
		const open: number[] = [];
		for (let i = 0; i < n; i++) if (!this.refusal(key, cost, nowMs, i)) open.push(i);
		const picked: number[] = [];
		const held = this.held.get(key);
		if (held && open.includes(held.shard) && this.live(held.slots.get(held.shard), nowMs))
			picked.push(...open.splice(open.indexOf(held.shard), 1));
		while (picked.length < 2 && open.length > 0) picked.push(open.splice(Math.floor(random() * open.length), 1)[0]!);
		return picked;
	}

	/** Remembers the authority's refusal of a call sent at `sentAtMs` (see `refusal`). */
	rememberRefusal(key: string, refusal: Refusal, sentAtMs: number, leaseMs: number, shard = 0): void {
		const h = this.held.get(key) ?? this.create(key, refusal.rate, shard, sentAtMs);
		h.refused.set(shard, { untilMs: Math.min(refusal.retryAt * 1000, sentAtMs + leaseMs), available: refusal.available, refusal });
	}

	/** Unspent tokens held for `key` (live leases only, of every shard). */
	unspent(key: string, nowMs: number): number {
		const h = this.held.get(key);
		if (!h) return 0;
		let n = 0;
		for (const s of h.slots.values()) if (this.live(s, nowMs)) n += s.tokens;
		return n;
	}

	/**
	 * Tokens granted to this isolate for `key` and not spent, whether their lease still runs
	 * or has ended and waits to go back with the next call: what the authority counts that
	 * no request used (the under-admission bound). `unspent` counts only the live ones.
	 */
	outstanding(key: string): number {
		const h = this.held.get(key);
		if (!h) return 0;
		let n = 0;
		for (const s of h.slots.values()) n += s.tokens + (s.unreturned?.units ?? 0);
		return n;
	}

	/** Forgets `key` entirely (its tokens become under-admission): a dead key holds nothing. */
	drop(key: string): void {
		this.held.delete(key);
		this.cold.delete(key);
	}

	/** Keys held (bounded by MAX_ENTRIES): the soak reports it. */
	get size(): number {
		return this.held.size;
	}

	private create(key: string, rate: RateInfo, shard: number, nowMs: number): Held {
		if (this.held.size >= MAX_ENTRIES) this.held.delete(this.held.keys().next().value!);
		this.cold.delete(key);
		const h: Held = {
			slots: new Map(),
			shard,
			rate,
			deprecatedAt: null,
			graceEndsAt: null,
			rateSecond: Math.floor(nowMs / 1000),
			thisSecond: 0,
			lastSecond: 0,
			firstMs: nowMs,
			seen: 0,
			asking: false,
			refused: new Map(),
		};
		this.held.set(key, h);
		return h;
	}

	private slot(h: Held, shard: number): Slot {
		let s = h.slots.get(shard);
		if (!s) h.slots.set(shard, (s = { tokens: 0, expiresAtMs: 0, second: 0, unreturned: null }));
		return s;
	}

	private live(s: Slot | undefined, nowMs: number): s is Slot {
		return s !== undefined && nowMs < s.expiresAtMs;
	}

	/** Takes the key's rotation state from an answer and, unless `rate` is false, the authority's view its headers start from (see `view`). */
	private note(h: Held, answer: LeaseAnswer, rate = true): void {
		if (rate) h.rate = answer.rate;
		h.deprecatedAt = answer.deprecatedAt;
		h.graceEndsAt = answer.graceEndsAt;
	}

	/**
	 * The authority's remaining (of `shard`, by default the one that answered last) counts every token it
	 * granted as spent, so this isolate adds what it holds unspent of that shard, and (to
	 * the window) what it will give back to it: tokens of an ended lease in the same
	 * window return to it with the next call.
	 */
	private view(h: Held, nowMs: number, shard = h.shard, r = h.rate): Spent {
		const s = h.slots.get(shard);
		const tokens = this.live(s, nowMs) ? s.tokens : 0;
		const back = s?.unreturned;
		const backToWindow =
			r.window && back && back.second >= r.window.reset - r.window.window && back.second < r.window.reset ? back.units : 0;
		const add = (limit: number, remaining: number, extra: number) => Math.min(limit, remaining + tokens + extra);
		const window = r.window ? { ...r.window, remaining: add(r.window.limit, r.window.remaining, backToWindow) } : null;
		const burst = { ...r.burst, remaining: add(r.burst.limit, r.burst.remaining, 0) };
		const main = window ?? burst;
		return {
			rate: { limit: main.limit, remaining: main.remaining, reset: main.reset, window, burst },
			deprecatedAt: h.deprecatedAt,
			graceEndsAt: h.graceEndsAt,
		};
	}

	/** The lease has ended (or is being replaced): its tokens become something to give back. */
	private retire(s: Slot): void {
		this.giveLater(s, s.tokens, s.second);
		s.tokens = 0;
		s.expiresAtMs = 0;
	}

	/** Keeps `units` to give back to the slot's shard; one batch is kept, so an older one is dropped (under-admission only). */
	private giveLater(s: Slot, units: number, second: number): void {
		if (units <= 0) return;
		if (s.unreturned && s.unreturned.second === second) s.unreturned.units += units;
		else if (!s.unreturned || s.unreturned.second < second) s.unreturned = { units, second };
	}

	private observe(h: Held, cost: number, nowMs: number): void {
		const sec = Math.floor(nowMs / 1000);
		if (h.rateSecond !== sec) {
			h.lastSecond = h.rateSecond === sec - 1 ? h.thisSecond : 0;
			h.thisSecond = 0;
			h.rateSecond = sec;
		}
		h.thisSecond += cost;
		if (nowMs - h.firstMs < 1000) h.seen += cost;
	}
}
