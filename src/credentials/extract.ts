import type { CredentialSource } from "../config/schema";

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
