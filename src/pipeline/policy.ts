import { tierOpenIn } from "../config/schema";
import type { MiddlewareHandler } from "hono";
import { authority, countingGrants, deadReason } from "../authority/client";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Principal } from "../credentials/principal";
import type { Reason } from "../errors/catalogue";
import { keyCache } from "../keys/cache";
import { effectiveLimits } from "../limits/effective";
import { ipAllowed } from "../util/ip";
import { logEvent } from "../util/log";
import { clientIp, principalOf, reject, type GatewayContext, type GatewayEnv } from "./context";
import { rateLimitHeaders } from "./rate-limit";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** What the key's owner may do now: a role from `owners.roles`. */
export interface OwnerRights {
	scopes?: string[];
	methods?: string[];
}

/** The scopes a role holds back to, or undefined when it allows every scope (no `scopes`, or `*`). */
const roleScopes = (owner: OwnerRights): string[] | undefined => (!owner.scopes || owner.scopes.includes("*") ? undefined : owner.scopes);

/** Pure: may this caller make this request? Returns the reason it may not. */
export function authorize(
	principal: Principal,
	api: CompiledApi,
	route: CompiledRoute | undefined,
	method: string,
	clientIp: string | undefined,
	owner?: OwnerRights,
): Reason | undefined {
	if (!route && api.unmatchedRoutes === "deny") return "route_denied";
	// An environment open to some tiers only: a key made before the config said so, or moved to another tier, works no more.
	if (!tierOpenIn(api, principal.environment, principal.tier)) return "tier_not_in_environment";
	if (principal.keyType !== null && api.readOnlyTypes.has(principal.keyType) && !SAFE_METHODS.has(method)) return "read_only_key";
	if (route && !route.scopes.every((s) => principal.scopes.includes(s))) return "missing_scope";
	if (owner) {
		// Effective rights are the caller's scopes limited by what its owner may do today.
		if (owner.methods && !owner.methods.includes(method)) return "owner_not_permitted";
		const held = roleScopes(owner);
		if (route && held && !route.scopes.every((s) => held.includes(s))) return "owner_not_permitted";
	}
	if (principal.ipAllowlist && !ipAllowed(clientIp, principal.ipAllowlist)) return "ip_not_allowed";
	return undefined;
}

/** The owner's current role, from its Durable Object (the authority: no cache, so a change applies on the next request). */
async function ownerRights(c: GatewayContext, principal: Principal): Promise<OwnerRights | Reason> {
	const owners = c.get("api").owners!;
	let role: string | null = null;
	if (principal.owner !== null) {
		try {
			role = await authority(c.env).ownerRole(principal.api, principal.owner);
		} catch (e) {
			logEvent("owner_lookup_failed", { keyId: principal.id, error: String(e) });
			return "owner_lookup_failed";
		}
	}
	// A role that has left the config grants nothing.
	return owners.roles[role ?? owners.defaultRole] ?? { scopes: [], methods: [] };
}

/**
 * Refuses a request the policy does not allow. The key's authority counts the refusal
 * and returns the limits as they stand, so a 403 carries the same rate-limit headers as
 * every other answer to a known key, and a key revoked meanwhile gets its 401 instead.
 * The refusal does not depend on that call: if it fails, the 403 goes out without the headers.
 * An access token whose grant is checked by its counting call (`grantCounter`) asks its
 * grants object instead: a revoked grant gets its 401 (as when the verifier checked it),
 * and if that call fails the answer is 503, never a 403 for a grant nobody checked.
 */
async function refuse(c: GatewayContext, principal: Principal, reason: Reason, refusedBy: CompiledRoute | undefined): Promise<Response> {
	const limits = effectiveLimits(principal, c.get("api"), c.get("route"));
	let headers: Record<string, string> | undefined;
	if (principal.grantCounter) {
		const counter = principal.grantCounter;
		try {
			const verdict = await countingGrants(c.env, principal.api, counter).refusalVerdict(principal.id, counter.scope, limits?.buckets[0]);
			if (verdict.revoked) return reject(c, "grant_revoked");
			if (verdict.rate) headers = rateLimitHeaders(verdict.rate, Math.floor(Date.now() / 1000));
		} catch (e) {
			logEvent("grant_check_failed", { grantId: principal.id, error: String(e) });
			return reject(c, "limiter_failed");
		}
	} else {
		try {
			// A sharded key's limits live on several objects: its 403 carries no headers rather than one shard's view.
			const bucket = limits && limits.shards === 1 ? limits.buckets[0] : undefined;
			const verdict = await authority(c.env).recordRejection(principal.authority, reason, bucket);
			if (verdict.dead) {
				keyCache.markDead(principal.id, verdict.dead);
				return reject(c, deadReason(verdict.dead));
			}
			if (verdict.rate) headers = rateLimitHeaders(verdict.rate, Math.floor(Date.now() / 1000));
		} catch (e) {
			logEvent("usage_count_failed", { keyId: principal.id, error: String(e) });
		}
	}
	if (reason === "missing_scope" && principal.kind !== "key") {
		// RFC 6750 §3.1: a bearer token short of scope is told so, and which scope the route needs. The body stays the API's own 403.
		// Only RFC 6749 §3.3 scope-tokens: a config scope with a quote or a space could not be said safely here.
		const needed = (refusedBy?.scopes ?? []).filter((sc) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(sc)).join(" ");
		headers = {
			...headers,
			"WWW-Authenticate": `${c.get("api").errorContext.scheme} realm="${c.get("api").errorContext.realm}", error="insufficient_scope", scope="${needed}"`,
		};
	}
	return reject(c, reason, { headers });
}

/** Stage: scopes, read-only types, the owner's role, the IP allowlist (from CF-Connecting-IP, which Cloudflare sets). */
export const policy: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const principal = principalOf(c);
	let owner: OwnerRights | undefined;
	if (c.get("api").owners) {
		const rights = await ownerRights(c, principal);
		if (typeof rights === "string") return reject(c, rights);
		owner = rights;
	}
	const sent = c.get("sentAs");
	let reason = authorize(principal, c.get("api"), c.get("route"), c.get("method"), clientIp(c), owner);
	let refusedBy = c.get("route");
	if (!reason && sent) {
		reason = authorize(principal, c.get("api"), sent.route, sent.method, clientIp(c), owner);
		refusedBy = sent.route;
	}
	for (const twin of (!reason && c.get("twins")) || []) {
		reason = authorize(principal, c.get("api"), twin.route, twin.method, clientIp(c), owner);
		refusedBy = twin.route;
		if (reason) break;
	}
	if (reason) return refuse(c, principal, reason, refusedBy);
	// The origin is told the rights the request carries: the key's scopes limited by its owner's role today, not
	// those stored on the key (found by a peer's suite: a reader's key sent X-Keygate-Scopes read,write).
	const held = owner && roleScopes(owner);
	if (held) c.set("principal", { ...principal, scopes: principal.scopes.filter((s) => held.includes(s)) });
	await next();
};
