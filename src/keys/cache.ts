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
 * How long past its freshness an entry may still be used when KV fails or hangs. Safe
 * for the same reason staleness is: the key's Durable Object still decides revocation
 * and limits on every request.
 */
export const STALE_IF_ERROR_MS = 300_000;

interface Entry {
	key: StoredKey | null;
	until: number;
}

export class KeyCache {
	private readonly entries = new Map<string, Entry>();
	/** Keys the authority said are revoked, expired or deleted: these never come back. */
	private readonly dead = new Map<string, "revoked" | "expired" | "deleted">();

	/** A fresh entry, or undefined. */
	get(hash: string, now: number): StoredKey | null | undefined {
		const e = this.entries.get(hash);
		if (!e) return undefined;
		if (e.until <= now) {
			if (e.until + STALE_IF_ERROR_MS <= now) this.entries.delete(hash);
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
		if (this.entries.size >= MAX_ENTRIES) {
			// Maps iterate in insertion order: drop the oldest.
			const oldest = this.entries.keys().next().value;
			if (oldest !== undefined) this.entries.delete(oldest);
		}
		this.entries.delete(hash); // re-insert at the end: eviction drops the least recently refreshed
		this.entries.set(hash, { key, until: now + (key ? POSITIVE_TTL_MS : NEGATIVE_TTL_MS) });
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

	clear(): void {
		this.entries.clear();
		this.dead.clear();
	}
}

export const keyCache = new KeyCache();
