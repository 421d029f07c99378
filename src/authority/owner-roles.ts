import { DurableObject } from "cloudflare:workers";

/**
 * The owner's object: one instance per (API, owner), holding the owner's current role, kept by keygate. Keys
 * inherit their owner's rights, so this is read on every request for an API with
 * `owners` configured; a role change is seen by the next request of every one of the
 * owner's keys, in every location, because this object is the one place it lives.
 *
 * It also spends the owner's customer-portal entry tokens (src/ui/portal-session.ts):
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
		const kv = this.ctx.storage.kv;
		for (const [name, until] of kv.list<number>({ prefix: "portal-entry:" })) if (until <= now) kv.delete(name);
		if (kv.get(`portal-entry:${hash}`) !== undefined) return false;
		kv.put(`portal-entry:${hash}`, expiresAt);
		return true;
	}
}
