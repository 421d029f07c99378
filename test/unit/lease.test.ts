import { describe, expect, it } from "vitest";
import {
	BRIDGE_MS,
	COLD_FLOOR_MS,
	giveBack,
	grant,
	LEASE_DIVISOR,
	LeaseBook,
	SECOND_DIVISOR,
	type LeaseAnswer,
} from "../../src/limits/lease";
import type { Bucket } from "../../src/limits/effective";
import type { Counters } from "../../src/limits/window";

const T0 = Date.UTC(2026, 0, 1); // a window and second boundary
const key = (limit: number | null, burst: number, cost = 1, window = 3600): Bucket[] => [
	{ name: "key", spec: { limit, window, burst, cost } },
];

function answerOf(g: ReturnType<typeof grant>): LeaseAnswer {
	if (!g.ok) throw new Error(`refused: ${JSON.stringify(g)}`);
	return { granted: g.granted, second: g.second, notAfterMs: g.notAfterMs, rate: g.rate, deprecatedAt: null, graceEndsAt: null };
}

describe("granting a lease on the key's authority (pure)", () => {
	it("grants what is asked when there is plenty of room, and counts all of it at once", () => {
		const g = grant(key(10_000, 1000), {}, 50, T0 + 200);
		expect(g).toMatchObject({ ok: true, granted: 50, second: T0 / 1000, notAfterMs: T0 + 1000 });
		if (!g.ok) return;
		expect(g.counters.key).toMatchObject({ windowCount: 50, secondCount: 50 });
		expect(g.rate.remaining).toBe(10_000 - 50);
		expect(g.rate.burst.remaining).toBe(1000 - 50);
	});

	it("never grants more than 1/8 of what is left in the window, so the window's last tokens go out one at a time", () => {
		let counters: Record<string, Counters> = {};
		const grants: number[] = [];
		for (;;) {
			const g = grant(key(100, 1000), counters, 1000, T0 + 10);
			if (!g.ok) break;
			grants.push(g.granted);
			counters = g.counters;
		}
		expect(grants[0]).toBe(Math.floor(100 / LEASE_DIVISOR));
		expect(grants.slice(-8)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
		expect(grants.reduce((a, b) => a + b, 0)).toBe(100); // all of it, and no more
	});

	it("never grants more than half of what is left this second, so its last tokens go out one at a time too", () => {
		let counters: Record<string, Counters> = {};
		const grants: number[] = [];
		for (;;) {
			const g = grant(key(null, 1000), counters, 1000, T0 + 10);
			if (!g.ok) break;
			grants.push(g.granted);
			counters = g.counters;
		}
		expect(grants[0]).toBe(1000 / SECOND_DIVISOR);
		expect(grants.slice(0, 3)).toEqual([500, 250, 125]);
		expect(grants.slice(-2)).toEqual([1, 1]);
		expect(grants.reduce((a, b) => a + b, 0)).toBe(1000);
	});

	it("is bounded by the burst left this second, and a new second starts from the full burst", () => {
		let counters: Record<string, Counters> = {};
		let total = 0;
		for (let i = 0; i < 500; i++) {
			const g = grant(key(null, 40), counters, 5, T0 + 900);
			if (!g.ok) {
				expect(g).toMatchObject({ bucket: "key", retryAfter: 1, available: 0 });
				break;
			}
			total += g.granted;
			counters = g.counters;
		}
		expect(total).toBe(40);
		expect(grant(key(null, 40), counters, 5, T0 + 1000)).toMatchObject({ ok: true, granted: 5, notAfterMs: T0 + 2000 });
	});

	it("grants at least one request's cost, and refuses (as strict mode does) when less than that is left", () => {
		const first = grant(key(25, 100, 10), {}, 1, T0);
		expect(first).toMatchObject({ ok: true, granted: 10 });
		const second = grant(key(25, 100, 10), first.ok ? first.counters : {}, 1, T0);
		expect(second).toMatchObject({ ok: true, granted: 10 });
		const third = grant(key(25, 100, 10), second.ok ? second.counters : {}, 1, T0);
		expect(third).toMatchObject({ ok: false, bucket: "key", available: 5 });
	});

	it("takes the least room over every bucket, and counts the grant in each", () => {
		const buckets: Bucket[] = [...key(1000, 1000), { name: "category:x", spec: { limit: 16, window: 60, burst: 100, cost: 1 } }];
		const g = grant(buckets, {}, 500, T0);
		expect(g).toMatchObject({ ok: true, granted: 2 }); // 16 / 8
		if (g.ok) expect([g.counters.key!.windowCount, g.counters["category:x"]!.windowCount]).toEqual([2, 2]);
	});

	it("takes back returned tokens within their window and second, and ignores them once those have ended", () => {
		const g = grant(key(1000, 100), {}, 10, T0 + 100);
		if (!g.ok) throw new Error("refused");
		const same = giveBack(key(1000, 100), g.counters, { units: 4, second: T0 / 1000 });
		expect(same.key).toMatchObject({ windowCount: 6, secondCount: 6 });
		// A later second in the same window: the window gets them back, the old second is gone anyway.
		const later = grant(key(1000, 100), g.counters, 1, T0 + 1500);
		if (!later.ok) throw new Error("refused");
		expect(giveBack(key(1000, 100), later.counters, { units: 4, second: T0 / 1000 }).key).toMatchObject({
			windowCount: 7,
			secondCount: 1,
		});
		// Another window (1 s windows): nothing to take back.
		const w1 = key(1000, 100, 1, 1);
		const a = grant(w1, {}, 10, T0 + 100);
		const b = a.ok ? grant(w1, a.counters, 1, T0 + 1500) : a;
		if (!b.ok) throw new Error("refused");
		expect(giveBack(w1, b.counters, { units: 4, second: T0 / 1000 }).key).toMatchObject({ windowCount: 1, secondCount: 1 });
	});
});

describe("an isolate's lease book (pure)", () => {
	it("spends what it holds synchronously, and nothing once the lease has ended", () => {
		const book = new LeaseBook();
		const a = answerOf(grant(key(1000, 1000), {}, 5, T0 + 100));
		book.accept("k", a, T0 + 100, 1000, 1, T0 + 101, false);
		for (let i = 0; i < 4; i++) expect(book.spend("k", 1, T0 + 200)).toBeDefined();
		expect(book.spend("k", 1, T0 + 200)).toBeUndefined();
		book.accept("k", a, T0 + 300, 1000, 0, T0 + 301, true);
		expect(book.unspent("k", T0 + 999)).toBe(5);
		// The lease ends with its second, whatever leaseMs says.
		expect(book.spend("k", 1, T0 + 1000)).toBeUndefined();
	});

	it("ends a lease leaseMs after its call was sent, not after the answer arrived", () => {
		const book = new LeaseBook();
		const a = answerOf(grant(key(1000, 1000), {}, 5, T0 + 100));
		book.accept("k", a, T0 + 100, 200, 1, T0 + 250, false);
		expect(book.spend("k", 1, T0 + 299)).toBeDefined();
		expect(book.spend("k", 1, T0 + 300)).toBeUndefined();
	});

	it("gives back what an ended lease left unspent, once, to the shard that granted it", () => {
		const book = new LeaseBook();
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 5, T0 + 100)), T0 + 100, 1000, 1, T0 + 101, false, 3);
		expect(book.begin("k", T0 + 1200, false, 1)).toBeUndefined(); // another shard: not its tokens
		expect(book.begin("k", T0 + 1200, false, 3)).toEqual({ units: 4, second: T0 / 1000 });
		expect(book.begin("k", T0 + 1300, false, 3)).toBeUndefined();
	});

	it("holds leases of several shards at once: a grant from one shard does not strand what another granted", () => {
		const book = new LeaseBook();
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 10, T0 + 100)), T0 + 100, 1000, 0, T0 + 101, true, 0);
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 6, T0 + 200)), T0 + 200, 1000, 1, T0 + 201, false, 1);
		expect(book.unspent("k", T0 + 300)).toBe(15); // 10 of shard 0, and 5 of shard 1 after its request took one
		for (let i = 0; i < 15; i++) expect(book.spend("k", 1, T0 + 300), `token ${i}`).toBeDefined();
		expect(book.spend("k", 1, T0 + 300)).toBeUndefined();
		// What each shard's ended lease left goes back to that shard, and only to it.
		const again = new LeaseBook();
		again.accept("k", answerOf(grant(key(1000, 1000), {}, 10, T0 + 100)), T0 + 100, 1000, 0, T0 + 101, true, 0);
		again.accept("k", answerOf(grant(key(1000, 1000), {}, 6, T0 + 200)), T0 + 200, 1000, 1, T0 + 201, false, 1);
		expect(again.spend("k", 1, T0 + 300)).toBeDefined(); // from shard 1, the last to answer
		expect(again.begin("k", T0 + 1100, false, 0)).toEqual({ units: 10, second: T0 / 1000 });
		expect(again.begin("k", T0 + 1100, false, 1)).toEqual({ units: 4, second: T0 / 1000 });
		expect(again.begin("k", T0 + 1100, false, 1)).toBeUndefined();
	});

	it("spends from the lease that ends soonest, so fewer tokens are left over when leases end", () => {
		const book = new LeaseBook();
		// Shard 0's lease ends at T0+300 (leaseMs 200); shard 1's, answered later, at the second's end.
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 5, T0 + 100)), T0 + 100, 200, 0, T0 + 101, true, 0);
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 5, T0 + 150)), T0 + 150, 1000, 0, T0 + 151, true, 1);
		for (let i = 0; i < 3; i++) expect(book.spend("k", 1, T0 + 160)).toBeDefined();
		expect(book.begin("k", T0 + 400, false, 0)).toEqual({ units: 2, second: T0 / 1000 }); // 3 of its 5 were spent
		expect(book.unspent("k", T0 + 400)).toBe(5); // shard 1's, untouched
	});

	it("keeps refilling from the shard it holds a live lease of when another shard's answer arrives after its lease ended", () => {
		const book = new LeaseBook();
		book.accept("k", answerOf(grant(key(1000, 1000), {}, 5, T0 + 1000)), T0 + 1000, 1000, 0, T0 + 1001, true, 0);
		// Shard 1 granted at T0+995 (its lease ends with that second); the answer came at T0+1002.
		const late = book.accept("k", answerOf(grant(key(1000, 1000), {}, 3, T0 + 995)), T0 + 990, 1000, 1, T0 + 1002, true, 1);
		expect(late.rate.remaining).toBe(999); // shard 1's view: 997 left there, plus the 2 unspent on their way back
		expect(book.shardsToAsk("k", 1, T0 + 1003, 2, () => 0.99)).toEqual([0, 1]);
		expect(book.begin("k", T0 + 1003, false, 1)).toEqual({ units: 2, second: T0 / 1000 });
	});

	it("asks for 1 on a quiet key, and on a busy one for what its recent spending would use while the lease lives, less what it holds", () => {
		const book = new LeaseBook();
		expect(book.want("k", 1, T0, 1000)).toBe(1);
		// First held two seconds ago (so not cold), then 400 granted and spent in this second.
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 1, T0 - 2000)), T0 - 2000, 1000, 1, T0 - 2000, false);
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 400, T0)), T0, 1000, 1, T0, false);
		for (let i = 0; i < 399; i++) book.spend("k", 1, T0 + i);
		expect(book.unspent("k", T0 + 500)).toBe(0);
		// 400 spent this second: a lease asked for now lives 500 ms (to the second's end), or leaseMs if shorter.
		expect(book.want("k", 1, T0 + 500, 1000)).toBe(200);
		expect(book.want("k", 1, T0 + 500, 100)).toBe(40);
		expect(book.want("k", 1, T0 + 900, 1000)).toBe(40);
		expect(book.want("k", 1, T0 + 3000, 1000)).toBe(1); // quiet again
		// What it still holds counts: 150 unspent of the 200 it would use leaves 50 to ask for.
		book.accept(
			"k",
			answerOf(
				grant(key(null, 10_000), { key: { windowStart: T0 / 1000, windowCount: 400, second: T0 / 1000, secondCount: 400 } }, 150, T0 + 500),
			),
			T0 + 500,
			1000,
			0,
			T0 + 500,
			true,
		);
		expect(book.unspent("k", T0 + 500)).toBe(150);
		expect(book.want("k", 1, T0 + 500, 1000)).toBe(50);
	});

	it("sizes a cold isolate's asks by its rate since it first held the key, over at least COLD_FLOOR_MS", () => {
		const book = new LeaseBook();
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 1, T0)), T0, 1000, 1, T0, false);
		// One request 10 ms in: taken over COLD_FLOOR_MS, 10/s, 9 for the 990 ms its lease could live.
		expect(COLD_FLOOR_MS).toBe(100);
		expect(book.want("k", 1, T0 + 10, 1000)).toBe(10);
		// 100 admitted in its first 200 ms: 500/s, so 400 for the 800 ms left (the old count-based ask was 80).
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 99, T0 + 10)), T0 + 10, 1000, 0, T0 + 10, true);
		for (let i = 0; i < 99; i++) book.spend("k", 1, T0 + 10 + i);
		expect(book.want("k", 1, T0 + 200, 1000)).toBe(400);
		// A second after it first held the key it goes by whole seconds again.
		expect(book.want("k", 1, T0 + 1200, 1000)).toBe(80); // 100 last second, for 800 ms
	});

	it("before it holds anything, sizes a request's ask by the requests that found an earlier call still out", () => {
		const book = new LeaseBook();
		book.arrive("k", T0);
		expect(book.want("k", 1, T0, 1000)).toBe(1); // the first request knows no rate: it asks for itself
		book.arrive("k", T0 + 4); // a second arrives before the first call's answer
		// 2 requests in 4 ms, taken over COLD_FLOOR_MS: 20/s, for the 996 ms a lease asked now could live.
		expect(book.want("k", 1, T0 + 4, 1000)).toBe(20);
		// The same count is a slower rate later (4/s at 500 ms), for a shorter life (500 ms).
		expect(book.want("k", 1, T0 + 500, 1000)).toBe(2);
		expect(book.want("k", 3, T0 + 999, 1000)).toBe(3); // never less than the request's own cost
		// Once the key is held, its asks go by what was admitted; the count is gone.
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 1, T0 + 4)), T0 + 4, 1000, 1, T0 + 8, false);
		book.drop("k");
		book.arrive("k", T0 + 3000);
		expect(book.want("k", 1, T0 + 3000, 1000)).toBe(1);
	});

	it("with a batch call out, asks only for what bridges the wait", () => {
		const book = new LeaseBook();
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 1, T0 - 2000)), T0 - 2000, 1000, 1, T0 - 2000, false);
		book.accept("k", answerOf(grant(key(null, 10_000), {}, 2000, T0)), T0, 1000, 1, T0, false);
		for (let i = 0; i < 1999; i++) book.spend("k", 1, T0 + Math.floor(i / 4));
		expect(book.want("k", 1, T0 + 500, 1000)).toBe(1000); // 2,000/s for 500 ms
		book.begin("k", T0 + 500, true); // a refill goes out
		expect(book.asking("k")).toBe(true);
		expect(book.want("k", 1, T0 + 500, 1000)).toBe((2000 * BRIDGE_MS) / 1000);
		book.failed("k", true);
		expect(book.want("k", 1, T0 + 500, 1000)).toBe(1000);
	});

	it("remembers a grant that took the last of the room as a refusal: no refill, and no call once its tokens are spent", () => {
		const book = new LeaseBook();
		// The window's last token (its last tokens go out one at a time), taken by a refill.
		const counters = { key: { windowStart: T0 / 1000, windowCount: 99, second: T0 / 1000, secondCount: 0 } };
		const g = grant(key(100, 1000), counters, 3, T0 + 10);
		expect(g).toMatchObject({ ok: true, granted: 1, exhausted: { bucket: "key", retryAt: T0 / 1000 + 3600, available: 0 } });
		expect(grant(key(100, 1000), {}, 3, T0 + 10)).toMatchObject({ ok: true, exhausted: null });
		if (!g.ok) return;
		book.accept("k", { ...answerOf(g), exhausted: g.exhausted }, T0 + 10, 300, 0, T0 + 12, true);
		expect(book.needsRefill("k", T0 + 13, 300)).toBe(false);
		expect(book.spend("k", 1, T0 + 13)).toBeDefined();
		expect(book.spend("k", 1, T0 + 14)).toBeUndefined();
		expect(book.refusal("k", 1, T0 + 14)).toMatchObject({ bucket: "key", available: 0, retryAt: T0 / 1000 + 3600 });
		expect(book.shardsToAsk("k", 1, T0 + 14, 1, Math.random)).toEqual([]);
		// leaseMs after the call, the memory lapses: the next request asks again.
		expect(book.refusal("k", 1, T0 + 310)).toBeUndefined();
		expect(book.shardsToAsk("k", 1, T0 + 310, 1, Math.random)).toEqual([0]);
	});

	it("says X-RateLimit-Remaining is the authority's remaining plus what this isolate holds unspent", () => {
		const book = new LeaseBook();
		const spent = book.accept("k", answerOf(grant(key(1000, 1000), {}, 10, T0)), T0, 1000, 1, T0, false);
		expect(spent.rate.remaining).toBe(999); // 1000 − 10 granted + 9 held
		expect(book.spend("k", 1, T0 + 1)!.rate.remaining).toBe(998);
	});

	it("stays truthful when an answer arrives after its lease ended: its tokens count as coming back to the window", () => {
		const book = new LeaseBook();
		const g0 = grant(key(1000, 1000), {}, 2, T0 + 100);
		book.accept("k", answerOf(g0), T0 + 100, 1000, 1, T0 + 101, true);
		expect(book.spend("k", 1, T0 + 200)!.rate.remaining).toBe(998); // 2 spent
		// Granted at T0+995 (5 tokens, its second ends at T0+1000), answered at T0+1002.
		const late = grant(key(1000, 1000), g0.ok ? g0.counters : {}, 5, T0 + 995);
		const spent = book.accept("k", answerOf(late), T0 + 990, 1000, 1, T0 + 1002, true);
		expect(spent.rate.remaining).toBe(997); // 3 spent: 993 left at the object, 4 on their way back
		expect(book.unspent("k", T0 + 1002)).toBe(0);
		// Outstanding, though no longer spendable: the under-admission bound counts them until they go back.
		expect(book.outstanding("k")).toBe(4);
		expect(book.begin("k", T0 + 1003, false)).toEqual({ units: 4, second: T0 / 1000 });
		expect(book.outstanding("k")).toBe(0);
	});
});

describe("an isolate's memory of refusals (pure)", () => {
	it("repeats a shard's refusal without a call until its reset or leaseMs after the refused call, whichever is first", () => {
		const book = new LeaseBook();
		const refused = grant(key(null, 1), { key: { windowStart: 0, windowCount: 0, second: T0 / 1000, secondCount: 1 } }, 1, T0 + 100);
		if (refused.ok) throw new Error("granted");
		book.rememberRefusal("k", refused, T0 + 100, 200, 0);
		expect(book.refusal("k", 1, T0 + 299, 0)).toMatchObject({ bucket: "key", retryAfter: 1 });
		expect(book.refusal("k", 1, T0 + 300, 0)).toBeUndefined(); // leaseMs: a revocation is seen by then
		book.rememberRefusal("k", refused, T0 + 900, 1000, 0);
		expect(book.refusal("k", 1, T0 + 999, 0)).toBeDefined();
		expect(book.refusal("k", 1, T0 + 1000, 0)).toBeUndefined(); // the second's reset
	});

	it("asks only shards not known to refuse, the one it holds a lease of first, and none when all refuse", () => {
		const book = new LeaseBook();
		const random = () => 0;
		book.accept("k", answerOf(grant(key(null, 100), {}, 10, T0)), T0, 1000, 1, T0, false, 2);
		expect(book.shardsToAsk("k", 1, T0 + 1, 4, random)).toEqual([2, 0]);
		const refused = grant(key(null, 1), { key: { windowStart: 0, windowCount: 0, second: T0 / 1000, secondCount: 1 } }, 1, T0);
		if (refused.ok) throw new Error("granted");
		for (const shard of [0, 1, 3]) book.rememberRefusal("k", refused, T0, 1000, shard);
		expect(book.shardsToAsk("k", 1, T0 + 1, 4, random)).toEqual([2]);
		book.rememberRefusal("k", refused, T0, 1000, 2);
		expect(book.shardsToAsk("k", 1, T0 + 1, 4, random)).toEqual([]);
	});
});
