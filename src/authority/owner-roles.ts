import { DurableObject } from "cloudflare:workers";

/**
 * The owner's roles: one instance per (API, owner), holding the owner's current role, kept by keygate. Keys
 * inherit their owner's rights, so this is read on every request for an API with
 * `owners` configured; a role change is seen by the next request of every one of the
 * owner's keys, in every location, because this object is the one place it lives.
 */
export class OwnerRoles extends DurableObject<Env> {
	getRole(): string | null {
		return this.ctx.storage.kv.get<string>("role") ?? null;
	}

	setRole(role: string): string {
		this.ctx.storage.kv.put("role", role);
		return role;
	}
}
