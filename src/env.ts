import { parseIp } from "./util/ip";
import { logEvent } from "./util/log";
/** The Worker's bindings (wrangler.toml, secrets), plus the optional config override. */
export type Bindings = Env & {
	/** Optional: the config's JSON, replacing the bundled keygate.config.json. */
	KEYGATE_CONFIG?: unknown;
	/**
	 * Where the client's address comes from. Absent or "cloudflare": `CF-Connecting-IP`,
	 * which Cloudflare's edge sets (a client's own value is overwritten). "local" (written
	 * to .dev.vars by `npm run dev`): outside Cloudflare the header is whatever the client
	 * sent, so it is ignored and every client is the loopback address.
	 */
	KEYGATE_CLIENT_ADDRESS?: string;
};

export const LOOPBACK = "127.0.0.1";

/** The client's address, as far as this deployment can know it (see KEYGATE_CLIENT_ADDRESS). */
export function clientAddress(headers: Headers, env: Pick<Bindings, "KEYGATE_CLIENT_ADDRESS">): string | undefined {
	if (env.KEYGATE_CLIENT_ADDRESS === "local") return LOOPBACK;
	return headers.get("CF-Connecting-IP") || undefined;
}

/** The client address to record in the audit log: a well-formed address only (the header is client input wherever Cloudflare does not set it), else null. */
export function auditAddress(headers: Headers, env: Pick<Bindings, "KEYGATE_CLIENT_ADDRESS">): string | null {
	const ip = clientAddress(headers, env);
	return ip !== undefined && parseIp(ip) !== undefined ? ip : null;
}

/**
 * The shortest ADMIN_TOKEN and SIGNING_SECRET keygate uses: 32 characters. `npm run dev` writes
 * 32 (24 random bytes, base64url) and the README's `openssl rand -base64 32` gives 44. A shorter
 * one is guessable (the admin throttle is per address; a login assertion or an identity
 * signature under a short SIGNING_SECRET could be forged offline), so keygate treats it as
 * unset and fails closed: the admin API and the key path answer 503, the console 404, as with
 * no secret at all (found by a probe: a one-character ADMIN_TOKEN opened the admin API).
 */
export const MIN_SECRET_LENGTH = 32;

const tooShort = (secret: string | undefined): boolean => secret !== undefined && secret !== "" && secret.length < MIN_SECRET_LENGTH;
const reported = new Set<string>();

/** The bindings with a secret shorter than MIN_SECRET_LENGTH taken out (logged once per isolate as secret_too_short). */
export function withUsableSecrets<B extends { ADMIN_TOKEN?: string; SIGNING_SECRET?: string }>(env: B): B {
	const admin = tooShort(env.ADMIN_TOKEN);
	const signing = tooShort(env.SIGNING_SECRET);
	if (!admin && !signing) return env;
	for (const [name, short] of [
		["ADMIN_TOKEN", admin],
		["SIGNING_SECRET", signing],
	] as const) {
		if (short && !reported.has(name)) {
			reported.add(name);
			logEvent("secret_too_short", { name, minLength: MIN_SECRET_LENGTH });
		}
	}
	return { ...env, ...(admin ? { ADMIN_TOKEN: undefined } : {}), ...(signing ? { SIGNING_SECRET: undefined } : {}) };
}
