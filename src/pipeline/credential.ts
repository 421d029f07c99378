import type { MiddlewareHandler } from "hono";
import type { CredentialSource } from "../config/schema";
import { MAX_KEY_LENGTH, parseKey } from "../keys/format";
import { reject, rejectCredential, type GatewayEnv } from "./context";

export type CredentialResult = { ok: true; value: string } | { ok: false; reason: "no_credential" | "wrong_scheme" | "malformed_key" };

/**
 * Finds the key in the first configured place that holds one. An Authorization header
 * with a scheme this API does not accept is a wrong credential (invalid_api_key), not a
 * missing one. Schemes compare case-insensitively (RFC 9110 §11.1). A header that was
 * sent several times arrives joined with ", " and so never parses as a key.
 */
export function extractCredential(headers: Headers, sources: readonly CredentialSource[]): CredentialResult {
	const authorization = headers.get("Authorization");
	let wrongScheme = false;
	for (const source of sources) {
		if (source.in === "authorization") {
			if (authorization === null) continue;
			const space = authorization.indexOf(" ");
			const scheme = space === -1 ? authorization : authorization.slice(0, space);
			if (scheme.toLowerCase() !== source.scheme.toLowerCase()) {
				wrongScheme = true;
				continue;
			}
			const value = authorization.slice(space + 1).trim();
			if (space === -1 || value === "") return { ok: false, reason: "malformed_key" };
			return { ok: true, value };
		}
		const value = headers.get(source.name);
		if (value !== null) return value.trim() === "" ? { ok: false, reason: "malformed_key" } : { ok: true, value: value.trim() };
	}
	return { ok: false, reason: wrongScheme ? "wrong_scheme" : "no_credential" };
}

/** Header names that may carry a credential for this API: removed before forwarding. */
export function credentialHeaders(sources: readonly CredentialSource[]): string[] {
	return sources.map((s) => (s.in === "authorization" ? "Authorization" : s.name));
}

/** Stage: credential, then format and checksum. No KV read happens for a key that fails here. */
export const credential: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const api = c.var.api;
	const found = extractCredential(c.req.raw.headers, api.credentials);
	if (!found.ok) return found.reason === "no_credential" ? reject(c, found.reason) : rejectCredential(c, found.reason);
	const parsed = found.value.length <= MAX_KEY_LENGTH ? parseKey(found.value) : undefined;
	if (!parsed) return rejectCredential(c, "malformed_key");
	const type = api.keyTypes[parsed.type];
	if (!type) return rejectCredential(c, "unknown_key_type");
	// An identifier names an application in public; it authorizes nothing on its own.
	if (type.kind === "identifier") return rejectCredential(c, "identifier_only");
	if (!(parsed.environment in api.environments)) return rejectCredential(c, "wrong_environment");
	c.set("credential", parsed);
	await next();
};
