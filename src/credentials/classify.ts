import { BODY_LENGTH, MAX_KEY_LENGTH, parseKey, type ParsedKey } from "../keys/format";
import { ACCESS_TOKEN_PATTERN, parseAccessToken, type ParsedAccessToken } from "../oauth/access-token";

/**
 * Credential kinds, decided from the bytes alone: no I/O, no secret. Each kind has a
 * verifier (see verify.ts) that turns it into a Principal. To add a kind: a case here,
 * a pattern in CREDENTIAL_SHAPES (so it is never forwarded, logged or accepted in a
 * URL), and a verifier.
 */
export type Classified = { kind: "key"; key: ParsedKey } | { kind: "token"; token: ParsedAccessToken } | { kind: "garbage" };

export function classify(value: string): Classified {
	const key = value.length <= MAX_KEY_LENGTH ? parseKey(value) : undefined;
	if (key) return { kind: "key", key };
	// A keygate access token (`kgat_…`): its MAC is checked by the verifier, still with no I/O.
	const token = parseAccessToken(value);
	if (token) return { kind: "token", token };
	return { kind: "garbage" };
}

/** Every shape a credential keygate accepts can take, to find one inside other text. */
const CREDENTIAL_SHAPES: { pattern: RegExp; minLength: number; accepts: (candidate: string) => boolean }[] = [
	{
		pattern: new RegExp(`[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{${BODY_LENGTH}}`, "g"),
		minLength: BODY_LENGTH,
		accepts: (candidate) => parseKey(candidate) !== undefined,
	},
	{
		// Access tokens carry a MAC, not a checksum: checking it needs the secret, so any
		// token-shaped text counts. A false positive only costs a scrubbed header.
		pattern: ACCESS_TOKEN_PATTERN,
		minLength: 64,
		accepts: (candidate) => parseAccessToken(candidate) !== undefined,
	},
];

/** True when `text` contains a credential keygate would accept (checksum included), anywhere in it. */
export function holdsCredential(text: string): boolean {
	for (const shape of CREDENTIAL_SHAPES) {
		if (text.length < shape.minLength) continue;
		for (const match of text.matchAll(shape.pattern)) if (shape.accepts(match[0])) return true;
	}
	return false;
}

/** True when any query parameter name or value contains a credential, e.g. `?api_key=`, `?auth=Bearer%20…`. */
export function queryHoldsCredential(params: URLSearchParams): boolean {
	for (const [name, value] of params) if (holdsCredential(name) || holdsCredential(value)) return true;
	return false;
}
