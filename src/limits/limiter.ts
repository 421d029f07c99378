import type { Authority } from "../authority/client";
import { shardName, type CheckResult } from "../authority/key-authority";
import type { Principal } from "../credentials/principal";
import type { Bucket, EffectiveLimits } from "./effective";
import type { RateInfo } from "./window";

const MAX_ENTRIES = 10_000;

/**
 * What the rate-limit stage asks: may this caller spend `limits` now? The answer also
 * carries the authority's verdict on the key (revoked, deleted, grace ended), so one
 * call decides both. Strict mode (this file) asks the key's authority on every request.
 */
export interface Limiter<Answer extends LimitDecision = CheckResult> {
	check(principal: Principal, limits: EffectiveLimits): Promise<Answer>;
}

/** The authority's answer, or (for an access token whose grant the counting call checks) its grant is revoked or unknown. */
export type LimitDecision = CheckResult | { ok: false; reason: "grant_revoked" };

type Refusal = Extract<CheckResult, { reason: "rate_limited" }>;

/**
 * Per-isolate memory of limits a shard has run out of, for sharded keys only. Counters
 * in a Durable Object only go up until their reset, so once a shard has said "no room
 * for cost c until t", a request costing c or more would be refused there too: it is
 * sent to another shard, or refused here when all are known exhausted. Refusing is
 * always safe for exactness; it is what keeps each shard under ~1,000 calls/s when a
 * sharded key is offered far more than its limit (docs/scaling.md).
 *
 * The trade-off, and why it is not used for ordinary keys: while an isolate refuses
 * from memory it does not ask the authority, so a key revoked meanwhile would read 429
 * instead of 401. For ordinary keys keygate keeps the exact answer and pays one
 * Durable Object call per over-limit request. For sharded keys a memory lasts at most
 * MAX_MEMORY_MS (1 s), which bounds that window.
 */
export const MAX_MEMORY_MS = 1_000;
export class ExhaustionMemory {
	/** `untilMs`: when this isolate stops trusting the memory (at most MAX_MEMORY_MS); the refusal's own `retryAt` stays what the answer says. */
	private readonly entries = new Map<string, { untilMs: number; available: number; refusal: Refusal }>();

	/** The refusal `object` would give a request with these buckets now, if this isolate already knows it. */
	refusal(object: string, buckets: Bucket[], now: number): Refusal | undefined {
		for (const b of buckets) {
			const id = `${object}|${b.name}`;
			const e = this.entries.get(id);
			if (!e) continue;
			if (now >= e.untilMs) {
				this.entries.delete(id);
				continue;
			}
			// The wait is the limit's own (a window's reset may be an hour away), not how long this memory lasts.
			if (b.spec.cost > e.available) return { ...e.refusal, retryAfter: Math.max(1, Math.ceil((e.refusal.retryAt * 1000 - now) / 1000)) };
		}
		return undefined;
	}

	remember(object: string, refusal: Refusal, now: number): void {
		if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
		const untilMs = Math.min(refusal.retryAt * 1000, now + MAX_MEMORY_MS);
		this.entries.set(`${object}|${refusal.bucket}`, { untilMs, available: refusal.available, refusal });
	}

	clear(): void {
		this.entries.clear();
	}
}

const memory = new ExhaustionMemory();
/** Refusals decided here, not yet reported: they ride along with the key's next call (usage only). */
const unreported = new Map<string, number>();

export function forgetExhausted(): void {
	memory.clear();
	unreported.clear();
}

/** Shard `index`'s part of `total` when it is split `n` ways (the parts add up to `total`). */
export function share(total: number, n: number, index: number): number {
	return Math.floor(total / n) + (index < total % n ? 1 : 0);
}

export function scaled(buckets: Bucket[], n: number, index: number): Bucket[] {
	if (n === 1) return buckets;
	return buckets.map((b) => ({
		name: b.name,
		spec: { ...b.spec, limit: b.spec.limit === null ? null : share(b.spec.limit, n, index), burst: share(b.spec.burst, n, index) },
	}));
}

/**
 * The shards worth trying, in order: a random one of those this isolate does not know
 * to be exhausted, then one other such. Empty when all are known exhausted.
 */
export function shardsToTry(
	keyId: string,
	buckets: Bucket[],
	n: number,
	now: number,
	mem: ExhaustionMemory,
	random: () => number,
): number[] {
	if (n === 1) return [0];
	const open: number[] = [];
	for (let i = 0; i < n; i++) if (!mem.refusal(shardName(keyId, i), scaled(buckets, n, i), now)) open.push(i);
	const picked: number[] = [];
	for (let t = 0; t < 2 && open.length > 0; t++) picked.push(open.splice(Math.floor(random() * open.length), 1)[0]!);
	return picked;
}

/** A shard's view scaled back to the whole key: the full limits, and remaining estimated as n times the shard's. */
export function wholeKey(rate: RateInfo, buckets: Bucket[], n: number): RateInfo {
	if (n === 1) return rate;
	const spec = buckets[0]!.spec;
	const window =
		rate.window && spec.limit !== null
			? { ...rate.window, limit: spec.limit, remaining: Math.min(spec.limit, rate.window.remaining * n) }
			: rate.window;
	const burst = { ...rate.burst, limit: spec.burst, remaining: Math.min(spec.burst, rate.burst.remaining * n) };
	const main = window ?? burst;
	return { limit: main.limit, remaining: main.remaining, reset: main.reset, window, burst };
}

/** Counts a 429 this isolate decided without asking (strict on a sharded key, or leased): usage only. */
export function countLocal(keyId: string): void {
	if (unreported.size < MAX_ENTRIES || unreported.has(keyId)) unreported.set(keyId, (unreported.get(keyId) ?? 0) + 1);
}

/**
 * The 429s counted here for `keyId` since its last call, as that call's `carried`, and
 * forgotten here: they ride along with the next call to any of the key's objects (usage
 * adds up all shards). Lost if that call fails, as they are if the isolate ends first.
 */
export function takeCarried(keyId: string): Record<string, number> | undefined {
	const n = unreported.get(keyId);
	if (!n) return undefined;
	unreported.delete(keyId);
	return { rate_limited: n };
}

/**
 * The strict limiter: the key's authority decides state and counters, in one call per
 * request. With `shards` > 1 the limits are split over that many objects; a request
 * goes to a random shard not known to be exhausted and, if refused, to one other, so a
 * skewed split rarely refuses what the whole key could still take. Each shard enforces
 * its exact share, so the key never admits more than its limit (docs/scaling.md).
 */
export function strictLimiter(authority: Authority): Limiter {
	return { check: (principal, limits) => checkLimits(authority, principal.authority, limits.buckets, limits.shards) };
}

export async function checkLimits(authority: Authority, keyId: string, buckets: Bucket[], shards: number): Promise<CheckResult> {
	const now = Date.now();
	const order = shardsToTry(keyId, buckets, shards, now, memory, Math.random);
	if (order.length === 0) {
		countLocal(keyId);
		// Every shard has a remembered refusal, shard 0's among them.
		const known = memory.refusal(shardName(keyId, 0), scaled(buckets, shards, 0), now)!;
		return { ...known, rate: wholeKey(known.rate, buckets, shards) };
	}
	let result: CheckResult | undefined;
	for (const [i, index] of order.entries()) {
		const name = shardName(keyId, index);
		const shard = index === 0 ? undefined : { keyId, name };
		result = await authority.check(name, scaled(buckets, shards, index), shard, takeCarried(keyId), i === order.length - 1);
		if (result.ok || result.reason !== "rate_limited") break;
		if (shards > 1) memory.remember(name, result, now);
	}
	if (result!.ok || result!.reason === "rate_limited") return { ...result!, rate: wholeKey(result!.rate, buckets, shards) };
	return result!;
}
