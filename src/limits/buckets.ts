import type { Bucket } from "./effective";
import { decide, EMPTY_COUNTERS, peek, type Counters, type RateInfo } from "./window";

/** One request decided on a set of buckets: the counters to keep when it passes, or the bucket that refused it. */
export type BucketsDecision =
	| { ok: true; counters: Record<string, Counters>; rate: RateInfo }
	| { ok: false; bucket: string; rate: RateInfo; retryAfter: number; retryAt: number; available: number };

/**
 * Pure: decides one request on every bucket in order (the caller's own limit first,
 * then the route's, if any). It passes only if all have room; then all are spent,
 * otherwise none is. The answer's `rate` describes the first bucket, or the one that
 * refused. Every object that counts uses it: KeyAuthority for a key's requests, OAuthGrants
 * for access tokens.
 */
export function decideBuckets(buckets: Bucket[], counters: Record<string, Counters>, now: number): BucketsDecision {
	const next: Record<string, Counters> = { ...counters };
	let first: RateInfo | undefined;
	for (const b of buckets) {
		const d = decide(b.spec, counters[b.name] ?? EMPTY_COUNTERS, now);
		if (!d.ok) return { ok: false, bucket: b.name, rate: d.rate, retryAfter: d.retryAfter, retryAt: d.retryAt, available: d.available };
		next[b.name] = d.counters;
		first ??= d.rate;
	}
	if (!first) throw new Error("a decision needs at least one bucket");
	return { ok: true, counters: next, rate: first };
}

/** Pure: one bucket's limits as they stand, spending nothing (the headers of a refusal decided elsewhere). */
export function peekBucket(bucket: Bucket, counters: Record<string, Counters>, now: number): RateInfo {
	return peek(bucket.spec, counters[bucket.name] ?? EMPTY_COUNTERS, now);
}
