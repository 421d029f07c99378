import { deadReason } from "../authority/client";
import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import type { Reason } from "../errors/catalogue";
import { keyCache } from "../keys/cache";
import { sha256Hex } from "../keys/crypto";
import type { ParsedKey } from "../keys/format";
import { endedAs, type StoredKey } from "../keys/record";
import { getByHash } from "../keys/store";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { addressKey, failureThrottle } from "./brute-force";
import type { Principal } from "./principal";
import type { Verdict, VerifyContext } from "./verify";

/** Bounded wait for KV: past this keygate answers 503 rather than hold the client. */
export const KV_TIMEOUT_MS = 2_000;

/**
 * What the record alone says about a key of this API here, at `now` (the caller has
 * already refused another API's key). The key's authority has the last word after this.
 */
export function checkRecord(key: StoredKey, api: CompiledApi, host: string, now: number): Reason | undefined {
	const env = api.environments[key.environment];
	if (!env) return "wrong_environment";
	if (env.hosts && !env.hosts.includes(host)) return "wrong_environment";
	return endedAs(key, now);
}

/** The caller a key record proves. */
export function keyPrincipal(key: StoredKey): Principal {
	return {
		kind: "key",
		id: key.id,
		api: key.api,
		environment: key.environment,
		scopes: key.scopes,
		tier: key.tier,
		rateLimit: key.rateLimit,
		owner: key.owner,
		service: key.service,
		ipAllowlist: key.ipAllowlist,
		keyType: key.type,
		subject: null,
		clientId: null,
		authority: key.id,
	};
}

const refuse = (reason: Reason): Verdict => ({ ok: false, reason, countsAsFailure: false });
const bad = (reason: Reason): Verdict => ({ ok: false, reason, countsAsFailure: true });

/** Pure: what the key's own bytes say on this API (type, kind, environment). No read happens for a key that fails here. */
export function checkShape(key: ParsedKey, api: CompiledApi): Reason | undefined {
	const type = api.keyTypes[key.type];
	if (!type) return "unknown_key_type";
	// An identifier names an application in public; it authorizes nothing on its own.
	if (type.kind === "identifier") return "identifier_only";
	if (!(key.environment in api.environments)) return "wrong_environment";
	return undefined;
}

/**
 * The key verifier: shape, then the record (isolate cache, then KV; misses are cached
 * too), then what the record and this isolate's memory of dead keys say. The key's
 * authority has the last word later, in the rate-limit stage's one call.
 */
export async function verifyKey(parsed: ParsedKey, ctx: VerifyContext, env: Bindings): Promise<Verdict> {
	const shape = checkShape(parsed, ctx.api);
	// An application identifier is public by design (Novu's page: "safe to use in client-side code"), not a guess:
	// a widget that sends one spends no budget, or it would lock its address out of the secret key (a seed-page pass).
	if (shape) return shape === "identifier_only" ? refuse(shape) : bad(shape);
	const hash = await sha256Hex(parsed.plaintext);
	let key = keyCache.get(hash, ctx.now);
	if (key === undefined) {
		// An address that keeps sending bad keys gets no more KV reads for keys this isolate does not know.
		const { maxFailures } = ctx.api.bruteForce;
		const blocked = ctx.ip ? failureThrottle.blockedFor(addressKey(ctx.api.name, ctx.ip), ctx.now, maxFailures) : 0;
		if (blocked > 0) return { ok: false, reason: "too_many_failures", countsAsFailure: false, retryAfter: blocked };
		try {
			key = await withTimeout(getByHash(env.KEYS, hash), KV_TIMEOUT_MS, "KV read");
			keyCache.set(hash, key, ctx.now);
		} catch (e) {
			const stale = keyCache.getStale(hash, ctx.now);
			logEvent("kv_failed", { error: String(e), servedStale: stale !== undefined });
			if (stale === undefined) return refuse("kv_failed");
			key = stale;
		}
	}
	if (key === null) return bad("unknown_key");
	// Another API's key answers exactly like an unknown one, whatever its state.
	if (key.api !== ctx.api.name) return bad("wrong_api");
	const dead = keyCache.deadState(key.id);
	if (dead) return refuse(deadReason(dead));
	const reason = checkRecord(key, ctx.api, ctx.host, ctx.now);
	if (reason === "wrong_environment") return bad(reason);
	if (reason) return refuse(reason);
	return { ok: true, principal: keyPrincipal(key) };
}
