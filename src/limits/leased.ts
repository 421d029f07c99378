import type { Authority } from "../authority/client";
import { shardName, type CheckResult } from "../authority/key-authority";
import type { Bucket, EffectiveLimits } from "./effective";
import { LeaseBook } from "./lease";
import { countLocal, scaled, takeCarried, wholeKey, type Limiter } from "./limiter";

/** This isolate's leases (module scope: it outlives requests, as the key cache does). */
const book = new LeaseBook();

/** One book entry per key and bucket set: tokens leased for `key` alone do not cover a route's own bucket. */
const leaseKey = (keyId: string, buckets: Bucket[]) => `${keyId}|${buckets.map((b) => b.name).join("|")}`;

/**
 * The leased limiter (`consistency: "leased"`): a request spends a token this isolate
 * already holds, synchronously, with no call; when the lease runs low, a refill is sent
 * in `waitUntil` (after the response); with no token a request makes its own call,
 * never waiting on another request's. The authority grants, counts and refuses exactly
 * as in strict mode, so the rate-limit stage cannot tell the two apart. The bounds
 * (README: Consistency): over-admission 0; a revoked, deleted or expired key passes for
 * at most `leaseMs` in an isolate holding a lease; under-admission at most the tokens
 * outstanding when a second ends.
 *
 * `mine` and `random` are parameters so that tests can run several isolates (books) in
 * one and still go through real Durable Objects.
 */
export function leasedLimiter(
	authority: Authority,
	waitUntil: (work: Promise<unknown>) => void,
	mine: LeaseBook = book,
	random: () => number = Math.random,
): Limiter {
	return {
		async check(principal, limits) {
			const key = leaseKey(principal.authority, limits.buckets);
			const cost = limits.buckets[0]!.spec.cost;
			const now = Date.now();
			const spent = mine.spend(key, cost, now);
			if (spent) {
				if (mine.needsRefill(key, now, limits.leaseMs)) {
					// A failed refill costs nothing but a later call: the next request without a token asks itself.
					waitUntil(call(authority, mine, random, principal.authority, key, limits, 0).catch(() => undefined));
				}
				return {
					ok: true,
					rate: wholeKey(spent.rate, limits.buckets, limits.shards),
					deprecatedAt: spent.deprecatedAt,
					graceEndsAt: spent.graceEndsAt,
				};
			}
			return call(authority, mine, random, principal.authority, key, limits, cost);
		},
	};
}

/** One lease call: for a request (`cost` > 0, which it spends from the answer) or a refill (`cost` 0). */
async function call(
	authority: Authority,
	mine: LeaseBook,
	random: () => number,
	keyId: string,
	key: string,
	limits: EffectiveLimits,
	cost: number,
): Promise<CheckResult> {
	const refill = cost === 0;
	const n = limits.shards;
	if (!refill) mine.arrive(key, Date.now());
	// A refill asks only the shard it refills: tokens from another would replace those still held.
	const order = mine.shardsToAsk(key, Math.max(1, cost), Date.now(), n, random).slice(0, refill ? 1 : 2);
	if (order.length === 0) {
		// Every shard is known to refuse this cost for now (see LeaseBook.refusal): no call.
		if (refill) return { ok: false, reason: "rate_limited", ...refusalOf(mine, key, n) };
		countLocal(keyId);
		const known = refusalOf(mine, key, n);
		return { ok: false, reason: "rate_limited", ...known, rate: wholeKey(known.rate, limits.buckets, n) };
	}
	let result: CheckResult | undefined;
	for (const [i, index] of order.entries()) {
		const name = shardName(keyId, index);
		const sentAt = Date.now();
		const want = mine.want(key, Math.max(1, cost), sentAt, limits.leaseMs);
		// Once the key is held, one batch ask at a time per key in this isolate; meanwhile other calls ask only to bridge the
		// wait (LeaseBook.want). Before, each request sizes its own ask by the count so far: the authority's caps (half of the
		// second's room, an eighth of the window's) bound what any one of them takes, and over-admission stays 0.
		const batch = refill || (want > cost && !mine.asking(key));
		const returned = mine.begin(key, sentAt, batch, index);
		let answer;
		try {
			answer = await authority.lease(
				name,
				scaled(limits.buckets, n, index),
				want,
				returned,
				index === 0 ? undefined : { keyId, name },
				takeCarried(keyId),
				// A refill's 429 refuses no request; nor does a first shard's when another is tried next.
				!refill && i === order.length - 1,
			);
		} catch (e) {
			mine.failed(key, batch);
			throw e;
		}
		if (!answer.ok) {
			mine.failed(key, batch);
			if (answer.reason !== "rate_limited") {
				mine.drop(key); // dead is final: nothing this isolate holds may be spent
				return answer;
			}
			mine.rememberRefusal(key, answer, sentAt, limits.leaseMs, index);
			result = { ...answer, rate: wholeKey(answer.rate, limits.buckets, n) };
			continue;
		}
		const spent = mine.accept(key, answer, sentAt, limits.leaseMs, cost, Date.now(), batch, index);
		return { ok: true, rate: wholeKey(spent.rate, limits.buckets, n), deprecatedAt: spent.deprecatedAt, graceEndsAt: spent.graceEndsAt };
	}
	// Refused, but another call's grant may have arrived meanwhile with tokens to spare (a
	// volley on a key this isolate held nothing of): spending one of them is no more than
	// the authority counted, and leaves none stranded.
	const spent = refill ? undefined : mine.spend(key, cost, Date.now());
	if (spent)
		return { ok: true, rate: wholeKey(spent.rate, limits.buckets, n), deprecatedAt: spent.deprecatedAt, graceEndsAt: spent.graceEndsAt };
	return result!;
}

function refusalOf(mine: LeaseBook, key: string, n: number) {
	const now = Date.now();
	for (let i = 0; i < n; i++) {
		const r = mine.refusal(key, Number.MAX_SAFE_INTEGER, now, i);
		if (r) return r;
	}
	throw new Error("no shard to ask, and no refusal remembered");
}
