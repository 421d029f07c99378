import { parseIp } from "./util/ip";
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
