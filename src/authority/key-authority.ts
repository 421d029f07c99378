import { DurableObject } from "cloudflare:workers";
import type { Bucket } from "../limits/effective";
import { giveBack, grant, type LeaseAnswer, type Returned } from "../limits/lease";
import { decideBuckets, peekBucket } from "../limits/buckets";
import { mergeCounters, type Counters, type RateInfo } from "../limits/window";

export type { Bucket };
import { keyAuthorityStub } from "./client";
import { bump, merge, trim, unpass, type HourBucket } from "./usage-history";

/** What the authority knows about a key beyond its KV record. */
export interface KeyStatus {
	revokedAt: number | null; // Unix ms
	deletedAt: number | null;
	/** Set by rotation: when it was rotated, by which key, and the end of the grace during which it still works. */
	deprecatedAt: number | null;
	graceEndsAt: number | null;
	replacedBy: string | null;
}

/** The key of a rotated line that works longest before this one, and until when (Unix ms, its grace's end). */
export interface Predecessor {
	until: number;
	id: string;
}

/** A key the authority will never admit again. */
export type Dead = "revoked" | "deleted" | "expired";

export type CheckResult =
	| { ok: true; rate: RateInfo; deprecatedAt: number | null; graceEndsAt: number | null }
	| { ok: false; reason: Dead }
	| { ok: false; reason: "rate_limited"; bucket: string; rate: RateInfo; retryAfter: number; retryAt: number; available: number };

/** The answer to a lease call: tokens granted (leased mode, src/limits/lease.ts), or the same refusals as `check`. */
export type LeaseResult = ({ ok: true } & LeaseAnswer) | Exclude<CheckResult, { ok: true }>;

export interface Usage {
	passed: number;
	rejected: Record<string, number>;
	lastUsedAt: number | null;
	/**
	 * Per UTC hour, the last 30 days (src/authority/usage-history.ts): sparse, oldest
	 * first. Counted with the totals above and written with them, in the same row.
	 */
	hourly: HourBucket[];
}

/** Names the object that holds shard `index` of a key (shard 0 is the key's own object). */
export const shardName = (keyId: string, index: number) => (index === 0 ? keyId : `${keyId}#${index}`);

/**
 * How long counters may live only in memory before they are written. Writing on every
 * request halves what one object can serve (the write, and the output gate holding each
 * answer until it is durable, are most of a call's cost), so counters are written at
 * most once per FLUSH_MS, by an alarm. Exactness under concurrency does not depend on
 * it: the object decides one request at a time from memory. What it costs: if the object
 * crashes (not an idle eviction: the alarm fires first), up to FLUSH_MS of counts are
 * lost and the key may be admitted that much again. Status changes (revoke, rotate,
 * delete) are still written at once.
 */
export const FLUSH_MS = 1_000;

/** Statuses only move forward: a field once set (revoked, deleted, rotated) stays set. */
function laterOf(a: KeyStatus, b: KeyStatus): KeyStatus {
	return {
		revokedAt: a.revokedAt ?? b.revokedAt,
		deletedAt: a.deletedAt ?? b.deletedAt,
		deprecatedAt: a.deprecatedAt ?? b.deprecatedAt,
		graceEndsAt: a.graceEndsAt === null ? b.graceEndsAt : b.graceEndsAt === null ? a.graceEndsAt : Math.min(a.graceEndsAt, b.graceEndsAt),
		replacedBy: a.replacedBy ?? b.replacedBy,
	};
}

/** How many given-up replacement ids a key's object remembers (KeyAuthority.abandonGrace). */
const MAX_ABANDONED = 16;

const NO_STATUS: KeyStatus = { revokedAt: null, deletedAt: null, deprecatedAt: null, graceEndsAt: null, replacedBy: null };

/** The answer to a refusal decided before the authority was asked (a 403): its verdict on the key, and the limits as they stand. */
export interface RejectionVerdict {
	dead: Dead | null;
	rate: RateInfo | null;
}

/**
 * The key's authority: one instance per key id (and, for a sharded tier, one per extra
 * shard). It decides whether a key is alive (revocation, deletion, the end of a
 * rotation's grace) and counts its rate limits, in one call per request. Durable
 * Objects run one event at a time, so the read-decide-write in `check` is atomic: 100
 * concurrent requests on a key with 20 left give exactly 20 passes. The key's own
 * object (shard 0) is the authority on revocation, because a KV change takes 60 s or
 * more to reach every location while this object is one place. Extra shards register
 * with it on first use, and every status change is pushed to all registered shards
 * before the admin API answers (docs/scaling.md).
 *
 * State lives in the SQLite-backed synchronous KV API. Status changes are written at
 * once, and the output gate holds the answer until they are durable. Counters and usage
 * are written behind, by an alarm, at most FLUSH_MS after they change: a crash (not an
 * eviction, which runs the alarm first) can lose up to FLUSH_MS of counts.
 */
export class KeyAuthority extends DurableObject<Env> {
	private status: KeyStatus;
	private counters: Record<string, Counters>;
	private usage: Usage;
	/** On shard 0: the names of the extra shards that have registered. */
	private shards: string[];
	/** On an extra shard: set once it has the key's status from shard 0. */
	private joined: Promise<void> | undefined;
	/** Counters or usage changed since the last write; an alarm is set to write them. */
	private dirty = false;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		const kv = ctx.storage.kv;
		this.status = { ...NO_STATUS, ...kv.get<KeyStatus>("status") };
		const live = kv.get<{ counters: Record<string, Counters>; usage: Usage }>("live");
		this.counters = live?.counters ?? {};
		// Rows written before hourly buckets existed have none: history starts empty.
		this.usage = { passed: 0, rejected: {}, lastUsedAt: null, ...live?.usage, hourly: live?.usage.hourly ?? [] };
		this.shards = kv.get<string[]>("shards") ?? [];
		if (kv.get<boolean>("joined")) this.joined = Promise.resolve();
	}

	/**
	 * Decides one request: state first, then every bucket (the key's limit first, then
	 * the route's, if it has one). It passes only if all have room; then all are spent,
	 * otherwise none is. The answer's `rate` describes the first bucket, or the one that
	 * refused. `shard` is set when this object is an extra shard of key `shard.keyId`.
	 * `carried` are refusals an isolate decided on its own since its last call, for usage.
	 * `last` is false when a refusal here is not the request's answer (the isolate will
	 * try another shard): a 429 is then not counted, so usage counts each request once.
	 */
	async check(
		buckets: Bucket[],
		shard?: { keyId: string; name: string },
		carried?: Record<string, number>,
		last = true,
	): Promise<CheckResult> {
		if (shard) await this.join(shard.keyId, shard.name);
		const now = Date.now();
		this.carry(carried, now);
		const result = this.decide(buckets, now);
		this.countAnswer(result.ok ? null : result.reason, last, now);
		this.persist();
		return result;
	}

	/**
	 * Counts this call's answer in usage (null: a pass). A 429 that is not the request's
	 * last answer (`last` false: a refill, or a first shard before another is tried) refused
	 * no request and is not counted; every other answer is.
	 */
	private countAnswer(reason: string | null, last: boolean, now: number): void {
		if (reason !== "rate_limited" || last) this.count(reason, now);
	}

	/** Counts refusals an isolate decided on its own (usage only: they spent nothing). */
	private carry(carried: Record<string, number> | undefined, now: number): void {
		if (!carried) return;
		for (const [reason, n] of Object.entries(carried)) {
			this.usage.rejected[reason] = (this.usage.rejected[reason] ?? 0) + n;
			bump(this.usage.hourly, now, reason, n);
		}
	}

	private decide(buckets: Bucket[], now: number): CheckResult {
		const dead = this.dead(now);
		if (dead) return { ok: false, reason: dead };
		const d = decideBuckets(buckets, this.counters, now);
		if (!d.ok) {
			const { ok: _, ...refusal } = d;
			return { ok: false, reason: "rate_limited", ...refusal };
		}
		this.counters = d.counters;
		return { ok: true, rate: d.rate, deprecatedAt: this.status.deprecatedAt, graceEndsAt: this.status.graceEndsAt };
	}

	/**
	 * Leased mode: grants up to `want` tokens on `buckets` (src/limits/lease.ts `grant`).
	 * State first, so a revoked, deleted or expired key gets nothing from the moment it
	 * changes. `returned` are unspent tokens of this caller's ended leases, taken back
	 * first. Unlike `check`, the counters are written before the answer leaves (the
	 * output gate holds it): a grant is up to `want` requests, so losing one to a crash
	 * would over-admit by that much, and at one call per batch the write is affordable.
	 * `carried`, as for `check`: refusals the isolate decided from its memory of a refusal.
	 * `last` is false for a refill (no request waits on it) and for a request's first of
	 * two shards: a 429 then refuses no request, and is not counted.
	 */
	async lease(
		buckets: Bucket[],
		want: number,
		returned?: Returned,
		shard?: { keyId: string; name: string },
		carried?: Record<string, number>,
		last = true,
	): Promise<LeaseResult> {
		if (shard) await this.join(shard.keyId, shard.name);
		const now = Date.now();
		this.carry(carried, now);
		if (returned && returned.units > 0) {
			this.counters = giveBack(buckets, this.counters, returned);
			this.usage.passed = Math.max(0, this.usage.passed - returned.units);
			unpass(this.usage.hourly, returned.units);
		}
		const dead = this.dead(now);
		let result: LeaseResult;
		if (dead) {
			this.count(dead, now);
			result = { ok: false, reason: dead };
		} else {
			const g = grant(buckets, this.counters, Math.max(1, Math.floor(want)), now);
			if (!g.ok) {
				this.countAnswer("rate_limited", last, now);
				const { ok: _, ...refusal } = g;
				result = { ok: false, reason: "rate_limited", ...refusal };
			} else {
				this.counters = g.counters;
				this.usage.passed += g.granted;
				bump(this.usage.hourly, now, null, g.granted);
				this.usage.lastUsedAt = now;
				const s = this.status;
				// A lease never outlives its second, nor the end of a rotation's grace.
				const notAfterMs = s.graceEndsAt === null ? g.notAfterMs : Math.min(g.notAfterMs, s.graceEndsAt);
				result = {
					ok: true,
					granted: g.granted,
					second: g.second,
					notAfterMs,
					rate: g.rate,
					deprecatedAt: s.deprecatedAt,
					graceEndsAt: s.graceEndsAt,
					exhausted: g.exhausted,
				};
			}
		}
		this.dirty = true;
		this.flush();
		return result;
	}

	private dead(now: number): Dead | null {
		const s = this.status;
		if (s.deletedAt !== null) return "deleted";
		if (s.revokedAt !== null) return "revoked";
		if (s.graceEndsAt !== null && now >= s.graceEndsAt) return "expired";
		return null;
	}

	/** An extra shard learns the key's status from shard 0 once, and from then on is told of every change. */
	private join(keyId: string, name: string): Promise<void> {
		this.joined ??= (async () => {
			// Merge, never overwrite: a status pushed while this call was out must not be undone.
			this.status = laterOf(this.status, await keyAuthorityStub(this.env, keyId).registerShard(name));
			this.ctx.storage.kv.put("status", this.status);
			this.ctx.storage.kv.put("joined", true);
		})().catch((e) => {
			this.joined = undefined; // try again on the next request; this one fails closed
			throw e;
		});
		return this.joined;
	}

	/** On shard 0: an extra shard joins. Returns the status it must start from. */
	registerShard(name: string): KeyStatus {
		if (!this.shards.includes(name)) {
			this.shards = [...this.shards, name];
			this.ctx.storage.kv.put("shards", this.shards);
		}
		return this.status;
	}

	/** On an extra shard: shard 0 pushes a status change. */
	applyStatus(status: KeyStatus): void {
		this.status = laterOf(this.status, status);
		this.ctx.storage.kv.put("status", this.status);
	}

	/**
	 * Counts a refusal decided before this object was asked (e.g. a 403), for usage, and
	 * answers the key's limits as they stand (spending nothing), for the refusal's headers.
	 */
	recordRejection(reason: string, bucket?: Bucket): RejectionVerdict {
		const now = Date.now();
		// The authority's verdict comes first: a revoked or deleted key is 401 whatever else is wrong with the request.
		const dead = this.dead(now);
		this.count(dead ?? reason, now);
		this.persist();
		return { dead, rate: bucket && !dead ? peekBucket(bucket, this.counters, now) : null };
	}

	/** Schedules the write of counters and usage (write-behind, see FLUSH_MS). */
	private persist(): void {
		if (this.dirty) return;
		this.dirty = true;
		void this.ctx.storage.setAlarm(Date.now() + FLUSH_MS);
	}

	/** Writes counters and usage in one row. */
	private flush(): void {
		if (!this.dirty) return;
		this.dirty = false;
		this.ctx.storage.kv.put("live", { counters: this.counters, usage: this.usage });
	}

	override alarm(): void {
		this.flush();
	}

	/** Usage: a pass (null) or a refusal by reason. */
	private count(rejection: string | null, now: number): void {
		if (rejection === null) this.usage.passed++;
		else this.usage.rejected[rejection] = (this.usage.rejected[rejection] ?? 0) + 1;
		bump(this.usage.hourly, now, rejection);
		this.usage.lastUsedAt = now;
	}

	getStatus(): KeyStatus {
		return this.status;
	}

	/** Usage of this object, plus that of every registered shard. */
	async getUsage(): Promise<Usage> {
		// Hours that aged out while the key was idle are dropped here too (and from the next write).
		trim(this.usage.hourly, Date.now());
		const total: Usage = structuredClone(this.usage);
		for (const name of this.shards) {
			const u = await keyAuthorityStub(this.env, name).getUsage();
			total.passed += u.passed;
			for (const [reason, n] of Object.entries(u.rejected)) total.rejected[reason] = (total.rejected[reason] ?? 0) + n;
			if (u.lastUsedAt !== null && (total.lastUsedAt === null || u.lastUsedAt > total.lastUsedAt)) total.lastUsedAt = u.lastUsedAt;
			total.hourly = merge(total.hourly, u.hourly);
		}
		return total;
	}

	/** Status and usage in one call: what a keys list shows of each row. */
	async getSnapshot(): Promise<{ status: KeyStatus; usage: Usage }> {
		return { status: this.status, usage: await this.getUsage() };
	}

	/** This object's rate-limit counters (a rotation carries them to the replacement). */
	getCounters(): Record<string, Counters> {
		return this.counters;
	}

	/**
	 * Rotation, on the rotated key's own object: its counters and each registered shard's
	 * go to the same object of the replacement `to`, so a replacement starts where its key
	 * stands in every window still open. Without it, rotating reset a key's quota, and a
	 * portal customer could rotate with "Immediately" as often as they liked (a probe: 80
	 * passes in one window on a 20/hour key). Without `mark`, `to` keeps its own (a key taking in
	 * what the key it replaced passed since).
	 */
	async carryCountersTo(keyId: string, to: string, n: number, mark?: Predecessor): Promise<void> {
		// The replacement learns which key of its line other than itself works longest (chosen by the
		// admin API among those still working): rotating it with a grace before then is refused (a second
		// probe: each rotation within a grace added one more working key, 25 passes on a 5/hour key).
		await keyAuthorityStub(this.env, to).inheritCounters(this.counters, mark);
		// Every shard of the layout, by index, not only those that registered by serving a request: a shard
		// that only took counts (a replacement's) holds them too (a review: two rotations
		// in a row, with no request between, gave a 4-shard key 70 passes on 40).
		await Promise.all(
			this.extraShards(n).map(async (index) => {
				const counters = await keyAuthorityStub(this.env, shardName(keyId, index)).getCounters();
				await keyAuthorityStub(this.env, shardName(to, index)).inheritCounters(counters);
			}),
		);
	}

	/** The indices of this key's extra shards: 1 to n - 1, and any other that registered (a tier's `shards` changed in the config). */
	private extraShards(n: number): number[] {
		const indices = new Set<number>();
		for (let i = 1; i < n; i++) indices.add(i);
		for (const name of this.shards) indices.add(Number(name.slice(name.lastIndexOf("#") + 1)));
		return [...indices];
	}

	/**
	 * On a replacement's object: takes its predecessor's counters (window.ts mergeCounters),
	 * written before the answer; on shard 0, the mark `predecessor` too (`{until, id}`, stored as
	 * `predecessorWorksUntil`; the admin API picks it, and sends the same one with both carries).
	 */
	inheritCounters(from: Record<string, Counters>, predecessor?: Predecessor): void {
		for (const [bucket, c] of Object.entries(from)) {
			const mine = this.counters[bucket];
			this.counters = { ...this.counters, [bucket]: mine ? mergeCounters(mine, c) : c };
		}
		if (predecessor !== undefined) this.ctx.storage.kv.put("predecessorWorksUntil", predecessor);
		this.dirty = true;
		this.flush();
	}

	/** Which key this one replaced, directly or further back, works longest, and until when; null for a key made new. */
	predecessorGrace(): Predecessor | null {
		return this.ctx.storage.kv.get<Predecessor>("predecessorWorksUntil") ?? null;
	}

	/** Idempotent: a second revoke keeps the first time. */
	revoke(at: number): Promise<KeyStatus> {
		return this.update({ revokedAt: this.status.revokedAt ?? at });
	}

	/**
	 * Starts a rotation's grace period, atomically with the check that the key may be
	 * rotated: of two concurrent rotations, or a rotation racing a revocation, exactly one
	 * outcome is recorded. A retry by the same replacement is accepted (idempotent).
	 */
	async startGrace(at: number, endsAt: number, replacedBy: string): Promise<{ ok: boolean; status: KeyStatus }> {
		const s = this.status;
		if (s.revokedAt !== null || s.deletedAt !== null || (s.replacedBy !== null && s.replacedBy !== replacedBy))
			return { ok: false, status: s };
		if (this.abandoned().includes(replacedBy)) return { ok: false, status: s };
		// The same rotation asked again (its first answer was lost): pushed to the shards again, since a failed push is why it may be asked.
		if (s.replacedBy === replacedBy) return { ok: true, status: await this.update({}) };
		return { ok: true, status: await this.update({ deprecatedAt: at, graceEndsAt: endsAt, replacedBy }) };
	}

	/**
	 * The admin API gives up a rotation whose grace step it could not confirm: if the step
	 * took effect, it is in force and stays so (`inForce`); if not, that replacement is
	 * refused here for good, so a call still on its way (a timed-out call is not
	 * cancelled, only no longer awaited) cannot start the grace later and leave the key
	 * replaced by a key that was removed (found by a review). Calls on one object run one
	 * at a time, so the answer is final either way.
	 */
	abandonGrace(replacedBy: string): { inForce: boolean; status: KeyStatus } {
		if (this.status.replacedBy === replacedBy) return { inForce: true, status: this.status };
		// A few are kept: each is one failed rotation of this key, and any one of them is never asked again for long.
		this.ctx.storage.kv.put("abandoned", [...this.abandoned(), replacedBy].slice(-MAX_ABANDONED));
		return { inForce: false, status: this.status };
	}

	private abandoned(): string[] {
		return this.ctx.storage.kv.get<string[]>("abandoned") ?? [];
	}

	/** Idempotent. The record in KV is removed after this, so the key then reads as unknown. */
	markDeleted(at: number): Promise<KeyStatus> {
		return this.update({ deletedAt: this.status.deletedAt ?? at });
	}

	/**
	 * Sets the status here, then pushes it to every registered shard. If a push fails the
	 * caller is told (and retries): the change is already in force here, and a shard
	 * that registers later starts from it.
	 */
	private async update(patch: Partial<KeyStatus>): Promise<KeyStatus> {
		this.status = { ...this.status, ...patch };
		this.ctx.storage.kv.put("status", this.status);
		const status = this.status;
		await Promise.all(this.shards.map((name) => keyAuthorityStub(this.env, name).applyStatus(status)));
		return status;
	}
}
