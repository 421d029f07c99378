import { DurableObject } from "cloudflare:workers";

/**
 * The owner's object: one instance per (API, owner), holding the owner's current role, kept by keygate. Keys
 * inherit their owner's rights, so this is read on every request for an API with
 * `owners` configured; a role change is seen by the next request of every one of the
 * owner's keys, in every location, because this object is the one place it lives.
 *
 * It also claims generate forms (the console's in one object per API, a customer's in
 * its owner's), and spends the owner's customer-portal entry tokens (src/ui/portal-session.ts):
 * KV has no compare-and-delete, so the one-time use of an entry is decided here, where
 * two redemptions racing from two locations meet one after the other.
 */
export class OwnerRoles extends DurableObject<Env> {
	getRole(): string | null {
		return this.ctx.storage.kv.get<string>("role") ?? null;
	}

	setRole(role: string): string {
		this.ctx.storage.kv.put("role", role);
		return role;
	}

	/**
	 * Spends the portal entry whose token hashes to `hash`: true the first time, false ever
	 * after (until the entry's own expiry, past which it is refused anyway). Spent entries
	 * are remembered until `expiresAt`, then pruned.
	 */
	spendPortalEntry(hash: string, expiresAt: number, now: number): boolean {
		return this.#spendOnce("portal-entry:", hash, expiresAt, now);
	}

	/** True the first time `prefix + id` is spent, false while it stands (until `until`); entries past their time are pruned first. */
	#spendOnce(prefix: string, id: string, until: number, now: number): boolean {
		const kv = this.ctx.storage.kv;
		for (const [name, end] of kv.list<number>({ prefix })) if (end <= now) kv.delete(name);
		if (kv.get(`${prefix}${id}`) !== undefined) return false;
		kv.put(`${prefix}${id}`, until);
		return true;
	}

	/**
	 * The portal's per-owner key limit, decided one request at a time. `live` are the ids
	 * of the owner's live keys in the key listing, `listed` every id it holds. Counted
	 * against `max`: the live keys, the slots of creates still under way, and keys made
	 * through here that the listing does not show yet (KV lists are eventually
	 * consistent). Returns a slot id to settle once the keys exist, or null: no room.
	 */
	reservePortalKeys(live: string[], listed: string[], want: number, max: number, now: number): string | null {
		const kv = this.ctx.storage.kv;
		const known = new Set(listed);
		let count = live.length;
		for (const [name, slot] of kv.list<PortalSlot>({ prefix: "portal-slot:" })) {
			if (slot.until <= now) kv.delete(name);
			else count += slot.ids === null ? slot.n : slot.ids.filter((id) => !known.has(id)).length;
		}
		if (count + want > max) return null;
		const id = crypto.randomUUID();
		kv.put(`portal-slot:${id}`, { until: now + PENDING_MS, n: want, ids: null } satisfies PortalSlot);
		return id;
	}

	/**
	 * Claims a generate form's `once` value (src/ui/once.ts): true the first time, false while
	 * the claim stands. Decided here, one call at a time, so two sends of the same form (a
	 * double click without the page's script, a reload) cannot both make a key, as they could
	 * with KV, which has no compare-and-set. Claims are pruned once `until` has passed.
	 */
	claimForm(once: string, until: number, now: number): boolean {
		return this.#spendOnce("form-sent:", once, until, now);
	}

	/** Gives a claim back: the form made nothing, so it may be sent again once corrected. */
	releaseForm(once: string): void {
		this.ctx.storage.kv.delete(`form-sent:${once}`);
	}

	/**
	 * The root public keys are derived from (keys/public-key.ts): 256 random bits made the
	 * first time it is asked for, in the one object named PUBLIC_KEY_ROOT, and the same ever
	 * after. Decided here, one call at a time, so two isolates asking at once get one root.
	 */
	publicKeyRoot(): string {
		const kv = this.ctx.storage.kv;
		const held = kv.get<string>("public-key-root");
		if (held !== undefined) return held;
		const root = [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, "0")).join("");
		kv.put("public-key-root", root);
		return root;
	}

	/** The create behind `slot` ended: the keys it made (none if it failed) count until the listing shows them. */
	settlePortalKeys(slot: string, ids: string[], now: number): void {
		const kv = this.ctx.storage.kv;
		if (ids.length === 0) kv.delete(`portal-slot:${slot}`);
		else kv.put(`portal-slot:${slot}`, { until: now + UNLISTED_MS, n: ids.length, ids } satisfies PortalSlot);
	}
}

/** A create under way (`ids` null: `n` keys to come), or keys made that the listing may not show yet. */
interface PortalSlot {
	until: number;
	n: number;
	ids: string[] | null;
}

/** A create that never settles (its isolate died) frees its slot after this long. */
const PENDING_MS = 60_000;
/** KV lists show a new key everywhere within about 60 s; counted from here until twice that. */
const UNLISTED_MS = 120_000;
