import type { MiddlewareHandler } from "hono";
import { classify } from "../credentials/classify";
import { extractCredential } from "../credentials/extract";
import { verify } from "../credentials/verify";
import { clientIp, reject, rejectCredential, type GatewayEnv } from "./context";

/** Stage: find the credential where this API accepts one, and classify it from its bytes alone (no I/O). */
export const credential: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const found = extractCredential(c.req.raw.headers, c.get("api").credentials);
	if (!found.ok) return found.reason === "no_credential" ? reject(c, found.reason) : rejectCredential(c, found.reason);
	const classified = classify(found.value);
	if (classified.kind === "garbage") return rejectCredential(c, "malformed_key");
	c.set("presented", classified);
	await next();
};

/** Stage: the credential's verifier turns it into the caller (the Principal), or refuses it. */
export const verifyStage: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const presented = c.get("presented");
	if (!presented) throw new Error("the verify stage ran before the credential stage");
	const verdict = await verify(presented, { api: c.get("api"), host: c.get("url").hostname, ip: clientIp(c), now: Date.now() }, c.env);
	if (!verdict.ok) {
		if (verdict.countsAsFailure) return rejectCredential(c, verdict.reason);
		return reject(c, verdict.reason, verdict.retryAfter !== undefined ? { retryAfter: verdict.retryAfter } : undefined);
	}
	c.set("principal", verdict.principal);
	await next();
};
