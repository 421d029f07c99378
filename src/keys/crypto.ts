const encoder = new TextEncoder();

const HEX_BYTES = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hex(buf: ArrayBuffer): string {
	const bytes = new Uint8Array(buf);
	let out = "";
	for (let i = 0; i < bytes.length; i++) out += HEX_BYTES[bytes[i]!];
	return out;
}

/** SHA-256 of a key, lowercase hex: the only form of a key keygate stores. */
export async function sha256Hex(value: string): Promise<string> {
	return hex(await crypto.subtle.digest("SHA-256", encoder.encode(value)));
}

/**
 * Constant-time comparison of two secrets of any length: both are hashed first so
 * neither their content nor their length leaks through timing.
 */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
	const [ha, hb] = await Promise.all([
		crypto.subtle.digest("SHA-256", encoder.encode(a)),
		crypto.subtle.digest("SHA-256", encoder.encode(b)),
	]);
	return crypto.subtle.timingSafeEqual(ha, hb);
}

const hmacKeys = new Map<string, Promise<CryptoKey>>();

/** HMAC-SHA256 of `message` under `secret`, lowercase hex. The imported key is reused per isolate. */
export async function hmacHex(secret: string, message: string): Promise<string> {
	let key = hmacKeys.get(secret);
	if (!key) {
		key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
		hmacKeys.clear();
		hmacKeys.set(secret, key);
	}
	return hex(await crypto.subtle.sign("HMAC", await key, encoder.encode(message)));
}

/**
 * An HMAC-SHA256 key derived from `secret` for one purpose: the HMAC of `label` under it.
 * Each use of SIGNING_SECRET (an access token's MAC, a sealed OAuth cookie) has its own
 * label, so a MAC made for one can never be taken for another, or for an identity signature.
 */
export async function derivedKey(secret: string, label: string): Promise<CryptoKey> {
	const root = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
	const derived = await crypto.subtle.sign("HMAC", root, encoder.encode(label));
	return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/** A random identifier: `<prefix>_` and 22 base62 characters (about 131 bits). */
export function randomId(prefix: string): string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const bytes = crypto.getRandomValues(new Uint8Array(22));
	let out = "";
	// 256 % 62 leaves a small bias; 22 chars of ~5.95 bits still give >128 bits of identity.
	for (const b of bytes) out += alphabet[b % 62];
	return `${prefix}_${out}`;
}
