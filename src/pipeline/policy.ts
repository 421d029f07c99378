import type { MiddlewareHandler } from "hono";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Reason } from "../errors/catalogue";
import type { StoredKey } from "../keys/record";
import { ownerObjectName } from "../limiter/owner-state";
import { withTimeout } from "../util/timeout";
import { clientIp, reject, type GatewayContext, type GatewayEnv } from "./context";
import { ipAllowed } from "./ip";
import { keyCache } from "../keys/cache";
import { bucketsFor, rateLimitHeaders } from "./rate-limit";
import type { RateInfo } from "../limiter/window";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
export const OWNER_TIMEOUT_MS = 3_000;

/** What the key's owner may do now: a role from `owners.roles`. */
export interface OwnerRights {
	scopes?: string[];
	methods?: string[];
}

/** Pure: may this key make this request? Returns the reason it may not. */
export function authorize(
	key: StoredKey,
	api: CompiledApi,
	route: CompiledRoute | undefined,
	method: string,
	clientIp: string | undefined,
	owner?: OwnerRights,
): Reason | undefined {
	if (!route && api.unmatchedRoutes === "deny") return "route_denied";
	if (api.readOnlyTypes.has(key.type) && !SAFE_METHODS.has(method)) return "read_only_key";
	if (route && !route.scopes.every((s) => key.scopes.includes(s))) return "missing_scope";
	if (owner) {
		// Effective rights are the key's scopes limited by what its owner may do today.
		if (owner.methods && !owner.methods.includes(method)) return "owner_not_permitted";
		const all = !owner.scopes || owner.scopes.includes("*");
		if (route && !all && !route.scopes.every((s) => owner.scopes!.includes(s))) return "owner_not_permitted";
	}
	if (key.ipAllowlist && !ipAllowed(clientIp, key.ipAllowlist)) return "ip_not_allowed";
	return undefined;
}

/** The owner's current role, from its Durable Object (the authority: no cache, so a change applies on the next request). */
async function ownerRights(c: GatewayContext, key: StoredKey): Promise<OwnerRights | Reason> {
	const owners = c.var.api.owners!;
	let role: string | null = null;
	if (key.owner !== null) {
		const ns = c.env.OWNER_STATE;
		try {
			const stub = ns.get(ns.idFromName(ownerObjectName(key.api, key.owner)));
			role = await withTimeout<string | null>(stub.getRole() as Promise<string | null>, OWNER_TIMEOUT_MS, "owner lookup");
		} catch (e) {
			console.error(JSON.stringify({ event: "owner_lookup_failed", keyId: key.id, error: String(e) }));
			return "owner_lookup_failed";
		}
	}
	// A role that has left the config grants nothing.
	return owners.roles[role ?? owners.defaultRole] ?? { scopes: [], methods: [] };
}

/**
 * Refuses a key-authenticated request the policy does not allow. The key's object counts
 * the refusal and returns the key's limits as they stand, so a 403 carries the same
 * rate-limit headers as every other answer to a known key. The refusal does not depend
 * on that call: if it fails, the 403 goes out without the headers.
 */
async function refuse(c: GatewayContext, key: StoredKey, reason: Reason): Promise<Response> {
	const buckets = bucketsFor(key, c.var.api, c.var.route);
	const sharded = (key.rateLimit ?? c.var.api.tiers[key.tier])?.shards !== 1;
	let headers: Record<string, string> | undefined;
	try {
		const stub = c.env.KEY_STATE.get(c.env.KEY_STATE.idFromName(key.id));
		const work = stub.recordRejection(reason, buckets && !sharded ? buckets[0] : undefined) as Promise<{
			dead: "revoked" | "deleted" | "expired" | null;
			rate: RateInfo | null;
		}>;
		const verdict = await withTimeout(work, OWNER_TIMEOUT_MS, "usage count");
		if (verdict.dead) {
			keyCache.markDead(key.id, verdict.dead);
			return reject(c, verdict.dead === "deleted" ? "deleted_key" : verdict.dead === "revoked" ? "revoked" : "grace_ended");
		}
		if (verdict.rate) headers = rateLimitHeaders(verdict.rate, Math.floor(Date.now() / 1000));
	} catch (e) {
		console.error(JSON.stringify({ event: "usage_count_failed", keyId: key.id, error: String(e) }));
	}
	return reject(c, reason, { headers });
}

/** Stage: scopes, read-only types, the owner's role, the IP allowlist (from CF-Connecting-IP, which Cloudflare sets). */
export const policy: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const key = c.var.key;
	let owner: OwnerRights | undefined;
	if (c.var.api.owners) {
		const rights = await ownerRights(c, key);
		if (typeof rights === "string") return reject(c, rights);
		owner = rights;
	}
	const reason = authorize(key, c.var.api, c.var.route, c.req.method, clientIp(c), owner);
	if (reason) return refuse(c, key, reason);
	await next();
};
