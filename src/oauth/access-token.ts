/**
 * keygate access tokens: `kgat_<payload>.<mac>`, both base64url (no padding).
 *
 * The payload is the grant's claims (API, environment, subject, client, grant id, scopes,
 * tier, issued-at and expiry, Unix seconds); the MAC is HMAC-SHA256 over `kgat_<payload>`
 * under a key derived from SIGNING_SECRET. So the request path decides a forged token and
 * an expired one with no read at all: the MAC first (a forged token is invalid whatever
 * its expiry says), then the expiry (only a genuine token can be "expired"). Revocation is
 * the only thing left to ask, and the grant's Durable Object answers it.
 *
 * Why not a JWT: a JWT would be mistaken for an external IdP's token, and its `alg`
 * header is an invitation to algorithm confusion; this format has one algorithm and a
 * prefix that secret scanners and keygate's own log guard can match.
 */

import { derivedKey } from "../keys/crypto";
export const ACCESS_TOKEN_PREFIX = "kgat_";
/** Longest token the parser looks at; anything longer is garbage before any work. */
export const MAX_ACCESS_TOKEN_LENGTH = 4096;
const MAC_CHARS = 43; // 32 bytes, base64url, unpadded
const WHOLE = /^kgat_([A-Za-z0-9_-]{16,4000})\.([A-Za-z0-9_-]{43})$/;

export interface AccessTokenClaims {
	/** API name. */
	api: string;
	environment: string;
	/** The user the grant is for. */
	sub: string;
	/** The client (OAuth client id). */
	cid: string;
	/** The grant id: revoking the grant kills every token issued under it. */
	gid: string;
	scopes: string[];
	tier: string;
	/** Issued at, Unix seconds. */
	iat: number;
	/** Expires at, Unix seconds. */
	exp: number;
}

/** A token's parts, from its bytes alone: nothing here is trusted until `verifyAccessToken`. */
export interface ParsedAccessToken {
	signed: string;
	mac: string;
	payload: string;
}

export function parseAccessToken(value: string): ParsedAccessToken | undefined {
	if (value.length > MAX_ACCESS_TOKEN_LENGTH || !value.startsWith(ACCESS_TOKEN_PREFIX)) return undefined;
	const m = WHOLE.exec(value);
	if (!m) return undefined;
	return { signed: `${ACCESS_TOKEN_PREFIX}${m[1]}`, payload: m[1]!, mac: m[2]! };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function base64url(bytes: Uint8Array): string {
	let bin = "";
	for (const b of bytes) bin += String.fromCharCode(b);
	return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text: string): Uint8Array | undefined {
	try {
		const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
		return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
	} catch {
		return undefined;
	}
}

// The MAC key is derived, not SIGNING_SECRET itself: a token MAC can then never be
// replayed as an identity-header signature, or the other way round.
const macKeys = new Map<string, Promise<CryptoKey>>();
function macKey(secret: string): Promise<CryptoKey> {
	let key = macKeys.get(secret);
	if (!key) {
		key = derivedKey(secret, "keygate oauth access token v1");
		macKeys.clear();
		macKeys.set(secret, key);
	}
	return key;
}

export async function issueAccessToken(secret: string, claims: AccessTokenClaims): Promise<string> {
	const signed = ACCESS_TOKEN_PREFIX + base64url(encoder.encode(JSON.stringify(claims)));
	const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await macKey(secret), encoder.encode(signed)));
	return `${signed}.${base64url(mac)}`;
}

export type TokenCheck = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: "forged" | "expired"; claims?: AccessTokenClaims };

function isClaims(v: unknown): v is AccessTokenClaims {
	if (typeof v !== "object" || v === null) return false;
	const c = v as Record<string, unknown>;
	return (
		["api", "environment", "sub", "cid", "gid", "tier"].every((f) => typeof c[f] === "string") &&
		Array.isArray(c.scopes) &&
		c.scopes.every((s) => typeof s === "string") &&
		Number.isSafeInteger(c.iat) &&
		Number.isSafeInteger(c.exp)
	);
}

/**
 * Decides a token with no I/O: forged (bad MAC, or a MAC over something that is not our
 * claims), expired (genuine, `exp` reached), or its claims. The MAC comparison is
 * crypto.subtle.verify, which is constant-time.
 */
export async function verifyAccessToken(secret: string, token: ParsedAccessToken, nowMs: number): Promise<TokenCheck> {
	const mac = fromBase64url(token.mac);
	if (!mac || mac.length !== 32 || token.mac.length !== MAC_CHARS) return { ok: false, reason: "forged" };
	const valid = await crypto.subtle.verify("HMAC", await macKey(secret), mac, encoder.encode(token.signed));
	if (!valid) return { ok: false, reason: "forged" };
	let claims: unknown;
	try {
		claims = JSON.parse(decoder.decode(fromBase64url(token.payload)));
	} catch {
		return { ok: false, reason: "forged" };
	}
	if (!isClaims(claims)) return { ok: false, reason: "forged" };
	if (claims.exp * 1000 <= nowMs) return { ok: false, reason: "expired", claims };
	return { ok: true, claims };
}
