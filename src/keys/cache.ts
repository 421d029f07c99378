import type { StoredKey } from "./record";

/**
 * Per-isolate cache of key records by hash, including misses. A hit saves a KV read
 * (several ms at the edge); a cached miss stops a stream of invented keys from reaching
 * KV. Entries are short-lived and the map is bounded, so memory stays flat under
 * garbage traffic. Staleness is safe: revocation, rotation and deletion are decided by
 * the key's Durable Object, never by this record alone.
 */
export const POSITIVE_TTL_MS = 60_000;
export const NEGATIVE_TTL_MS = 30_000;
export const MAX_ENTRIES = 10_000;
/**
 * The entries' estimated weight must stay under this too. A count alone does not bound
 * memory: a record may hold 100 scopes of 100 characters, 100 allowlist ranges and 4 KB
 * of metadata, and 10,000 such records held 220 MiB of V8 heap (soak, SOAK_FILL_RECORDS=max),
 * more than the 128 MB a Worker isolate has. Each entry weighs entryWeight(); the oldest
 * go first when a new one would pass the budget.
 */
export const MAX_WEIGHT = 16 * 1024 * 1024;

/**
 * An entry's estimated heap bytes, on the high side: 4 per character of the record as
 * JSON (measured: about 1.1 for records of long strings, up to about 7 for metadata made
 * of empty objects), plus the entry, its hash and the map slot.
 */
export function entryWeight(key: StoredKey | null): number {
	return 256 + (key ? 4 * JSON.stringify(key).length : 0);
}
/**
 * How long past its freshness an entry may still be used when KV fails or hangs. Safe
 * for the same reason staleness is: the key's Durable Object still decides revocation
 * and limits on every request.
 */
export const STALE_IF_ERROR_MS = 300_000;

interface Entry {
	key: StoredKey | null;
	until: number;
	weight: number;
}

export class KeyCache {
	private readonly entries = new Map<string, Entry>();
	/** Keys the authority said are revoked, expired or deleted: these never come back. */
	private readonly dead = new Map<string, "revoked" | "expired" | "deleted">();
	private weightHeld = 0;

	private drop(hash: string): void {
		const e = this.entries.get(hash);
		if (!e) return;
		this.weightHeld -= e.weight;
		this.entries.delete(hash);
	}

	/** A fresh entry, or undefined. */
	get(hash: string, now: number): StoredKey | null | undefined {
		const e = this.entries.get(hash);
		if (!e) return undefined;
		if (e.until <= now) {
			if (e.until + STALE_IF_ERROR_MS <= now) this.drop(hash);
			return undefined;
		}
		return e.key;
	}

	/** An entry past its freshness but within STALE_IF_ERROR_MS: only for when KV has failed. */
	getStale(hash: string, now: number): StoredKey | null | undefined {
		const e = this.entries.get(hash);
		return e && e.until + STALE_IF_ERROR_MS > now ? e.key : undefined;
	}

	set(hash: string, key: StoredKey | null, now: number): void {
		this.drop(hash); // re-insert at the end: eviction drops the least recently refreshed
		const weight = entryWeight(key);
		if (weight > MAX_WEIGHT) return;
		// Maps iterate in insertion order: drop the oldest until the new entry fits.
		while (this.entries.size >= MAX_ENTRIES || this.weightHeld + weight > MAX_WEIGHT) {
			const oldest = this.entries.keys().next().value;
			if (oldest === undefined) break;
			this.drop(oldest);
		}
		this.entries.set(hash, { key, until: now + (key ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS), weight });
		this.weightHeld += weight;
	}

	markDead(id: string, state: "revoked" | "expired" | "deleted"): void {
		if (this.dead.size >= MAX_ENTRIES) {
			const oldest = this.dead.keys().next().value;
			if (oldest !== undefined) this.dead.delete(oldest);
		}
		this.dead.set(id, state);
	}

	deadState(id: string): "revoked" | "expired" | "deleted" | undefined {
		return this.dead.get(id);
	}

	get size(): number {
		return this.entries.size + this.dead.size;
	}

	/** The entries' estimated weight (entryWeight), at most MAX_WEIGHT. */
	get weight(): number {
		return this.weightHeld;
	}

	clear(): void {
		this.weightHeld = 0;
		this.entries.clear();
		this.dead.clear();
	}
}

export const keyCache = new KeyCache();
