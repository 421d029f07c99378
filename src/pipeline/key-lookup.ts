import type { MiddlewareHandler } from "hono";
import type { CompiledApi } from "../config/load";
import type { Reason } from "../errors/catalogue";
import { keyCache } from "../keys/cache";
import { sha256Hex } from "../keys/crypto";
import type { StoredKey } from "../keys/record";
import { getByHash } from "../keys/store";
import { withTimeout } from "../util/timeout";
import { failureThrottle } from "./brute-force";
import { clientIp, reject, rejectCredential, type GatewayEnv } from "./context";

/** Bounded wait for KV: past this keygate answers 503 rather than hold the client. */
export const KV_TIMEOUT_MS = 2_000;

/**
 * What the record alone says about a key of this API here, at `now` (the caller has
 * already refused another API's key). The Durable Object has the last word after this.
 */
export function checkRecord(key: StoredKey, api: CompiledApi, host: string, now: number): Reason | undefined {
	const env = api.environments[key.environment];
	if (!env) return "wrong_environment";
	if (env.hosts && !env.hosts.includes(host)) return "wrong_environment";
	if (key.revokedAt !== null) return "revoked";
	if (key.expiresAt !== null && Date.parse(key.expiresAt) <= now) return "expired";
	if (key.graceEndsAt !== null && Date.parse(key.graceEndsAt) <= now) return "grace_ended";
	return undefined;
}

/** Stage: key record (isolate cache, then KV; misses cached too), then its state. */
export const keyLookup: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const hash = await sha256Hex(c.var.credential.plaintext);
	const now = Date.now();
	let key = keyCache.get(hash, now);
	if (key === undefined) {
		// An address that keeps sending bad keys gets no more KV reads for keys this isolate does not know.
		const ip = clientIp(c);
		const { maxFailures, windowSeconds } = c.var.api.bruteForce;
		const blocked = ip ? failureThrottle.blockedFor(ip, now, maxFailures, windowSeconds) : 0;
		if (blocked > 0) return reject(c, "too_many_failures", { retryAfter: blocked });
		try {
			key = await withTimeout(getByHash(c.env.KEYS, hash), KV_TIMEOUT_MS, "KV read");
			keyCache.set(hash, key, now);
		} catch (e) {
			const stale = keyCache.getStale(hash, now);
			console.error(JSON.stringify({ event: "kv_failed", error: String(e), servedStale: stale !== undefined }));
			if (stale === undefined) return reject(c, "kv_failed");
			key = stale;
		}
	}
	if (key === null) return rejectCredential(c, "unknown_key");
	// Another API's key answers exactly like an unknown one, whatever its state.
	if (key.api !== c.var.api.name) return rejectCredential(c, "wrong_api");
	const dead = keyCache.deadState(key.id);
	if (dead) return reject(c, dead === "deleted" ? "deleted_key" : dead === "revoked" ? "revoked" : "grace_ended");
	const reason = checkRecord(key, c.var.api, c.var.url.hostname, now);
	if (reason === "wrong_environment") return rejectCredential(c, reason);
	if (reason) return reject(c, reason);
	c.set("key", key);
	await next();
};
