import { DurableObject } from "cloudflare:workers";
import { decide, EMPTY_COUNTERS, type Counters, type LimitSpec, type RateInfo } from "./window";

/** One counter set: the key's own limit (`key`), or a route rule's (`route:<index>`). */
export interface Bucket {
	name: string;
	spec: LimitSpec;
}

/** What the authority knows about a key beyond its KV record. */
export interface KeyStatus {
	revokedAt: number | null; // Unix ms
	deletedAt: number | null;
	/** Set by rotation: when it was rotated, and the end of the grace during which it still works. */
	deprecatedAt: number | null;
	graceEndsAt: number | null;
}

export type CheckResult =
	| { ok: true; rate: RateInfo; deprecatedAt: number | null; graceEndsAt: number | null }
	| { ok: false; reason: "revoked" | "deleted" | "expired" }
	| { ok: false; reason: "rate_limited"; rate: RateInfo; retryAfter: number };

export interface Usage {
	passed: number;
	rejected: Record<string, number>;
	lastUsedAt: number | null;
}

const NO_STATUS: KeyStatus = { revokedAt: null, deletedAt: null, deprecatedAt: null, graceEndsAt: null };

/**
 * One instance per key id. Durable Objects run one event at a time, so the
 * read-decide-write in `check` is atomic: 100 concurrent requests on a key with 20
 * left give exactly 20 passes. It is also the authority on revocation, because a KV
 * change takes 60 s or more to reach every location while this object is one place.
 *
 * State lives in the SQLite-backed synchronous KV API; writes are coalesced and the
 * output gate holds each response until they are durable, so a counter is never
 * reported that a restart could lose.
 */
export class KeyState extends DurableObject<Env> {
	private status: KeyStatus;
	private counters: Record<string, Counters>;
	private usage: Usage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		const kv = ctx.storage.kv;
		this.status = kv.get<KeyStatus>("status") ?? NO_STATUS;
		this.counters = kv.get<Record<string, Counters>>("counters") ?? {};
		this.usage = kv.get<Usage>("usage") ?? { passed: 0, rejected: {}, lastUsedAt: null };
	}

	/**
	 * Decides one request: state first, then every bucket (the key's limit first, then
	 * the route's, if it has one). It passes only if all have room; then all are spent,
	 * otherwise none is. The answer's `rate` describes the first bucket, or the one that
	 * refused.
	 */
	check(buckets: Bucket[]): CheckResult {
		const now = Date.now();
		const result = this.decide(buckets, now);
		this.count(result.ok ? null : result.reason, now);
		return result;
	}

	private decide(buckets: Bucket[], now: number): CheckResult {
		const s = this.status;
		if (s.deletedAt !== null) return { ok: false, reason: "deleted" };
		if (s.revokedAt !== null) return { ok: false, reason: "revoked" };
		if (s.graceEndsAt !== null && now >= s.graceEndsAt) return { ok: false, reason: "expired" };
		const next: Record<string, Counters> = { ...this.counters };
		let first: RateInfo | undefined;
		for (const b of buckets) {
			const d = decide(b.spec, this.counters[b.name] ?? EMPTY_COUNTERS, now);
			if (!d.ok) return { ok: false, reason: "rate_limited", rate: d.rate, retryAfter: d.retryAfter };
			next[b.name] = d.counters;
			first ??= d.rate;
		}
		if (!first) throw new Error("check needs at least one bucket");
		this.counters = next;
		this.ctx.storage.kv.put("counters", next);
		return { ok: true, rate: first, deprecatedAt: s.deprecatedAt, graceEndsAt: s.graceEndsAt };
	}

	/** Counts a refusal decided before this object was asked (e.g. a 403), for usage. */
	recordRejection(reason: string): void {
		this.count(reason, Date.now());
	}

	/** Usage: a pass (null) or a refusal by reason. */
	private count(rejection: string | null, now: number): void {
		if (rejection === null) this.usage.passed++;
		else this.usage.rejected[rejection] = (this.usage.rejected[rejection] ?? 0) + 1;
		this.usage.lastUsedAt = now;
		this.ctx.storage.kv.put("usage", this.usage);
	}

	getStatus(): KeyStatus {
		return this.status;
	}

	getUsage(): Usage {
		return this.usage;
	}

	/** Idempotent: a second revoke keeps the first time. */
	revoke(at: number): KeyStatus {
		return this.update({ revokedAt: this.status.revokedAt ?? at });
	}

	/** Starts (or keeps) a rotation grace period; the earliest end wins, so a retry cannot extend it. */
	startGrace(at: number, endsAt: number): KeyStatus {
		const s = this.status;
		return this.update({
			deprecatedAt: s.deprecatedAt ?? at,
			graceEndsAt: s.graceEndsAt === null ? endsAt : Math.min(s.graceEndsAt, endsAt),
		});
	}

	/** Idempotent. The record in KV is removed after this, so the key then reads as unknown. */
	markDeleted(at: number): KeyStatus {
		return this.update({ deletedAt: this.status.deletedAt ?? at });
	}

	private update(patch: Partial<KeyStatus>): KeyStatus {
		this.status = { ...this.status, ...patch };
		this.ctx.storage.kv.put("status", this.status);
		return this.status;
	}
}
