import { DurableObject } from "cloudflare:workers";
import { decide, EMPTY_COUNTERS, type Counters, type LimitSpec, type RateInfo } from "./window";

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
	private counters: Counters;
	private usage: Usage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		const kv = ctx.storage.kv;
		this.status = kv.get<KeyStatus>("status") ?? NO_STATUS;
		this.counters = kv.get<Counters>("counters") ?? EMPTY_COUNTERS;
		this.usage = kv.get<Usage>("usage") ?? { passed: 0, rejected: {}, lastUsedAt: null };
	}

	/** Decides one request: state first, then the rate limit. A refused request spends nothing. */
	check(spec: LimitSpec): CheckResult {
		const now = Date.now();
		const result = this.decide(spec, now);
		this.record(result, now);
		return result;
	}

	private decide(spec: LimitSpec, now: number): CheckResult {
		const s = this.status;
		if (s.deletedAt !== null) return { ok: false, reason: "deleted" };
		if (s.revokedAt !== null) return { ok: false, reason: "revoked" };
		if (s.graceEndsAt !== null && now >= s.graceEndsAt) return { ok: false, reason: "expired" };
		const d = decide(spec, this.counters, now);
		if (!d.ok) return { ok: false, reason: "rate_limited", rate: d.rate, retryAfter: d.retryAfter };
		this.counters = d.counters;
		this.ctx.storage.kv.put("counters", d.counters);
		return { ok: true, rate: d.rate, deprecatedAt: s.deprecatedAt, graceEndsAt: s.graceEndsAt };
	}

	private record(result: CheckResult, now: number): void {
		if (result.ok) this.usage.passed++;
		else this.usage.rejected[result.reason] = (this.usage.rejected[result.reason] ?? 0) + 1;
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
