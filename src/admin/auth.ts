import { percentDecoded } from "../credentials/classify";
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../config/load";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { secretsEqual } from "../keys/crypto";
import { authority } from "../authority/client";
import { FailureThrottle } from "../credentials/brute-force";
import { auditAddress, clientAddress, type Bindings } from "../env";
import { parseIp, throttleUnit } from "../util/ip";
import { logEvent } from "../util/log";
import { actorFrom, recordAudit } from "./audit";
import { ADMIN_FAILURE_WINDOW_SECONDS, ADMIN_MAX_FAILURES } from "./contract";
import { refuseKey, refuseKeysInQuery, refuseSecretsIn } from "./input";
import type { Services } from "./service";

export type AdminEnv = { Bindings: Bindings; Variables: { services: Services } };

/**
 * Wrong admin tokens per client address (CF-Connecting-IP): after ADMIN_MAX_FAILURES in a
 * window, which starts at the first failure, every admin request from the address is
 * refused with 429 until the window ends. The right token is refused too meanwhile:
 * otherwise the throttle would tell a guesser which guess was right. Counted per isolate,
 * as the key throttle is (brute-force.ts): it bounds guessing and audit writes per
 * isolate; it is not a global ban list, and a token of 256 random bits is what actually
 * makes guessing hopeless.
 */
export const adminFailures = new FailureThrottle();

/** Seconds until `ip` may try the admin token again (0: now). */
export function adminWait(ip: string | undefined, now: number): number {
	return ip ? adminFailures.blockedFor(throttleUnit(ip), now, ADMIN_MAX_FAILURES) : 0;
}

/**
 * A wrong admin token, from the JSON API or the console's login form: counted against the
 * address and audited as `admin.auth_failed` (the address only, never what was presented).
 */
export async function recordAdminFailure(kv: KVNamespace, ip: string | undefined, now: number, via?: "console"): Promise<void> {
	if (ip) adminFailures.recordFailure(throttleUnit(ip), now, ADMIN_FAILURE_WINDOW_SECONDS);
	await recordAudit(kv, {
		actor: "unauthenticated",
		actorType: via ?? "token",
		action: "admin.auth_failed",
		api: null,
		keyId: null,
		owner: null,
		// Only a well-formed address is kept: the header is client input wherever Cloudflare does not set it.
		details: { ip: ip !== undefined && parseIp(ip) !== undefined ? ip : null, throttled: adminWait(ip, now) > 0, ...(via ? { via } : {}) },
	});
}

/**
 * Admin auth: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. With no
 * ADMIN_TOKEN configured the admin API is closed (503), never open. A request that
 * presents a wrong token is counted against its address and recorded in the audit log
 * (the address, never what was presented); one that presents none is only refused.
 */
export const adminAuth: MiddlewareHandler<AdminEnv> = async (c, next) => {
	const expected = c.env.ADMIN_TOKEN;
	if (!expected) {
		logEvent("secret_missing", { name: "ADMIN_TOKEN" });
		return renderError("secret_missing", DEFAULT_ERROR_CONTEXT);
	}
	const ip = clientAddress(c.req.raw.headers, c.env);
	const now = Date.now();
	const wait = adminWait(ip, now);
	if (wait > 0) return renderError("too_many_failures", DEFAULT_ERROR_CONTEXT, { retryAfter: wait });

	const header = c.req.header("Authorization");
	if (header === undefined) return renderError("admin_unauthorized", DEFAULT_ERROR_CONTEXT);
	const match = /^Bearer +(\S+)$/i.exec(header);
	// The comparison runs whatever was sent, so a malformed header costs what a wrong token does.
	const equal = await secretsEqual(match?.[1] ?? header, expected);
	if (!match || !equal) {
		await recordAdminFailure(c.env.KEYS, ip, now);
		return renderError("admin_unauthorized", DEFAULT_ERROR_CONTEXT);
	}

	const config = loadConfig(c.env);
	if (!config.ok) return renderError("config_invalid", DEFAULT_ERROR_CONTEXT);
	// What the admin API stores it must never be handed a key in: the actor goes to the audit log.
	const actorHeader = c.req.header("X-Keygate-Actor");
	const actor = actorFrom(actorHeader);
	refuseKey("X-Keygate-Actor", actorHeader);
	refuseKey("X-Keygate-Actor", actor);
	const url = new URL(c.req.url);
	refuseKeysInQuery(url.searchParams);
	// The path too: `PUT /owners/{owner}` stores its owner id (a review).
	await refuseSecretsIn([actorHeader ?? "", url.pathname, percentDecoded(url.pathname), ...url.searchParams], c.env);
	c.set("services", {
		kv: c.env.KEYS,
		authority: authority(c.env),
		config: config.value,
		actor,
		actorType: "token",
		ip: auditAddress(c.req.raw.headers, c.env),
	});
	await next();
};
