/**
 * Per-isolate throttle on failed credentials by client IP. Once an address has sent
 * `maxFailures` bad credentials within `windowSeconds`, keys from it that this isolate
 * does not already know are refused with 429 before any KV read, so guessing keys
 * cannot turn into a flood of KV reads. Known-good keys from that address still work
 * (one NAT may hide an attacker and a customer). The counter is per isolate, so the
 * bound is per isolate: enough to keep KV reads bounded, which is the point; it is not
 * a global ban list.
 */
import { throttleUnit } from "../util/ip";

export const MAX_TRACKED_ADDRESSES = 10_000;

/**
 * An address's entry for one API: each API's `bruteForce` counts its own failures in its own
 * window, as its config reads (found by a peer's suite: bad keys sent to one API spent
 * another's budget, whatever that API's window).
 */
export const addressKey = (api: string, ip: string) => `${api}\n${throttleUnit(ip)}`;

interface Window {
	/** When the window ends: its start plus the window it was opened with. */
	end: number;
	failures: number;
}

/** How many of the oldest entries a full throttle looks through for one to drop. */
const EVICTION_SCAN = 64;

export class FailureThrottle {
	private readonly windows = new Map<string, Window>();

	/** Seconds until the address may try unknown keys again, or 0 if it may now. */
	blockedFor(ip: string, now: number, maxFailures: number): number {
		const w = this.windows.get(ip);
		if (!w) return 0;
		if (now >= w.end) {
			this.windows.delete(ip);
			return 0;
		}
		return w.failures >= maxFailures ? Math.ceil((w.end - now) / 1000) : 0;
	}

	recordFailure(ip: string, now: number, windowSeconds: number): void {
		let w = this.windows.get(ip);
		if (!w || now >= w.end) {
			if (!w && this.windows.size >= MAX_TRACKED_ADDRESSES) this.evictOne(now);
			w = { end: now + windowSeconds * 1000, failures: 0 };
			this.windows.set(ip, w);
		}
		w.failures++;
	}

	/**
	 * Makes room: among the oldest entries, one whose window is over, else the one with the
	 * fewest failures. Dropping simply the oldest let a client spraying fresh addresses push
	 * out the entries that held it back (found by a probe).
	 */
	private evictOne(now: number): void {
		let pick: string | undefined;
		let fewest = Infinity;
		let seen = 0;
		for (const [key, w] of this.windows) {
			if (now >= w.end) {
				pick = key;
				break;
			}
			if (w.failures < fewest) {
				fewest = w.failures;
				pick = key;
			}
			if (++seen >= EVICTION_SCAN) break;
		}
		if (pick !== undefined) this.windows.delete(pick);
	}

	/**
	 * The address's failed-credential budget as it stands: `limit` failures per window,
	 * `remaining` before unknown keys are refused without a read, `reset` the window's end
	 * (Unix seconds; a fresh window would start now).
	 */
	budget(ip: string, now: number, maxFailures: number, windowSeconds: number): { limit: number; remaining: number; reset: number } {
		const w = this.windows.get(ip);
		const live = w && now < w.end ? w : undefined;
		return {
			limit: maxFailures,
			remaining: Math.max(0, maxFailures - (live?.failures ?? 0)),
			reset: Math.ceil((live?.end ?? now + windowSeconds * 1000) / 1000),
		};
	}

	get size(): number {
		return this.windows.size;
	}

	clear(): void {
		this.windows.clear();
	}
}

export const failureThrottle = new FailureThrottle();
