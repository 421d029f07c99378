import { BODY_LENGTH, MAX_KEY_LENGTH, parseKey, type ParsedKey } from "../keys/format";
import { ACCESS_TOKEN_PATTERN, fromBase64url, parseAccessToken, type ParsedAccessToken } from "../oauth/access-token";
import { CLIENT_SECRET_PATTERN } from "../oauth/clients";
import { OPAQUE_PATTERN } from "../oauth/codes";

/**
 * Credential kinds, decided from the bytes alone: no I/O, no secret. Each kind has a
 * verifier (see verify.ts) that turns it into a Principal. To add a kind: a case here,
 * a pattern in CREDENTIAL_SHAPES (so it is never forwarded, logged or accepted in a
 * URL), and a verifier.
 */
export type Classified =
	| { kind: "key"; key: ParsedKey }
	| { kind: "token"; token: ParsedAccessToken }
	| { kind: "jwt"; jwt: string; alg: string }
	| { kind: "garbage" };

/** Longest JWT looked at: an identity provider's access token is well under this. */
export const MAX_JWT_LENGTH = 8192;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Part `index` of a compact JWS (0 the header, 1 the payload) as a JSON object (UTF-8), unverified; undefined if it is none. */
function jwtPart(jwt: string, index: 0 | 1): Record<string, unknown> | undefined {
	const bytes = fromBase64url(jwt.split(".", 2)[index] ?? "");
	if (!bytes) return undefined;
	try {
		const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
		return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

/** A JWS in compact form whose header is a JSON object naming a string `alg` (RFC 7515 §7.1). Its signature is the verifier's business. */
function jwtAlg(value: string): string | undefined {
	if (value.length > MAX_JWT_LENGTH || !JWT_SHAPE.test(value)) return undefined;
	const alg = jwtPart(value, 0)?.alg;
	return typeof alg === "string" && alg !== "" ? alg : undefined;
}

export function classify(value: string): Classified {
	const key = value.length <= MAX_KEY_LENGTH ? parseKey(value) : undefined;
	if (key) return { kind: "key", key };
	// A keygate access token (`kgat_…`): its MAC is checked by the verifier, still with no I/O.
	const token = parseAccessToken(value);
	if (token) return { kind: "token", token };
	const alg = jwtAlg(value);
	if (alg !== undefined) return { kind: "jwt", jwt: value, alg };
	return { kind: "garbage" };
}

/** Every shape a credential keygate accepts can take, to find one inside other text. */
const CREDENTIAL_SHAPES: { pattern: RegExp; minLength: number; accepts: (candidate: string) => boolean }[] = [
	{
		pattern: new RegExp(`[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{${BODY_LENGTH}}`, "g"),
		minLength: BODY_LENGTH,
		// The match may start before the key (`xsk_live_…`, `?k=x<key>`): a key starting at any letter of its first part counts.
		accepts: (candidate) => {
			for (let i = 0, end = candidate.indexOf("_"); i < end; i++) if (parseKey(candidate.slice(i)) !== undefined) return true;
			return false;
		},
	},
	{
		// Access tokens carry a MAC, not a checksum: checking it needs the secret, so any
		// token-shaped text counts. A false positive only costs a scrubbed header.
		pattern: ACCESS_TOKEN_PATTERN,
		minLength: 64,
		accepts: (candidate) => parseAccessToken(candidate) !== undefined,
	},
	{
		// Authorization codes and refresh tokens: never sent anywhere but the token endpoint's
		// body, so one in a header or a URL is a leak to stop before the origin.
		pattern: OPAQUE_PATTERN,
		minLength: 56,
		accepts: () => true,
	},
	{
		// OAuth client secrets.
		pattern: CLIENT_SECRET_PATTERN,
		minLength: 48,
		accepts: () => true,
	},
];

/** A compact JWS whose header and payload are JSON objects (base64url of `{"` is `eyJ`). */
const JWT_IN_TEXT = /eyJ[A-Za-z0-9_-]{2,8192}\.eyJ[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{0,8192}/g;

/** The unverified `iss` of a JWT's payload, or undefined. Only to recognise one (which provider's keys to try); never to trust it. */
export function jwtIssuer(jwt: string): string | undefined {
	const iss = jwtPart(jwt, 1)?.iss;
	return typeof iss === "string" ? iss : undefined;
}

/**
 * True when `text` contains a credential keygate would accept (checksum included), anywhere
 * in it. `jwtIssuers`: the issuers whose JWTs the API accepts (`oauth.externalIssuers`); a
 * JWT naming one of them counts as a credential too. Other JWTs (an Access assertion, a
 * token the origin issues itself) are left alone: keygate would not accept them.
 */
export function holdsCredential(text: string, jwtIssuers?: ReadonlySet<string>): boolean {
	// A percent-encoded credential (`sk%5Flive%5F…`) is one too: an origin may decode it.
	if (text.includes("%")) {
		const decoded = text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
		if (decoded !== text && holdsCredential(decoded, jwtIssuers)) return true;
	}
	// Every keygate credential shape holds a "_" (`sk_live_…`, `kgat_…`): most header values have none.
	for (const shape of text.includes("_") ? CREDENTIAL_SHAPES : []) {
		if (text.length < shape.minLength) continue;
		for (const match of text.matchAll(shape.pattern)) if (shape.accepts(match[0])) return true;
	}
	if (jwtIssuers && jwtIssuers.size > 0 && text.includes("eyJ")) {
		for (const match of text.matchAll(JWT_IN_TEXT)) {
			const iss = jwtIssuer(match[0]);
			if (iss !== undefined && jwtIssuers.has(iss)) return true;
		}
	}
	return false;
}

/** True when any query parameter name or value contains a credential, e.g. `?api_key=`, `?auth=Bearer%20…`. */
export function queryHoldsCredential(params: URLSearchParams, jwtIssuers?: ReadonlySet<string>): boolean {
	for (const [name, value] of params) if (holdsCredential(name, jwtIssuers) || holdsCredential(value, jwtIssuers)) return true;
	return false;
}
