/**
 * Key format: `<type>_<environment>_<body>`, e.g. `sk_live_3kTm…`.
 *
 * body = 43 base62 characters of 256 random bits, then 6 base62 characters of the CRC-32
 * of everything before them. The checksum lets keygate refuse a mistyped or invented key
 * without touching KV (a random string passes with odds of 1 in 2^32); it is not a
 * secret and adds no strength. The record is found in O(1) by the SHA-256 of the whole
 * key, so the plaintext never needs to be stored.
 */

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_BYTES = 32;
const RANDOM_CHARS = 43; // ceil(256 / log2(62))
const CHECK_CHARS = 6; // ceil(32 / log2(62))
export const BODY_LENGTH = RANDOM_CHARS + CHECK_CHARS;

const KEY_PATTERN = new RegExp(`^([a-z][a-z0-9]{0,23})_([a-z][a-z0-9]{0,23})_([0-9A-Za-z]{${BODY_LENGTH}})$`);
/** Longest key the parser will even look at; anything longer is refused before any work. */
export const MAX_KEY_LENGTH = 24 + 1 + 24 + 1 + BODY_LENGTH;

export interface ParsedKey {
	type: string;
	environment: string;
	plaintext: string;
}

function base62(value: bigint, width: number): string {
	let out = "";
	for (let i = 0; i < width; i++) {
		out = ALPHABET[Number(value % 62n)] + out;
		value /= 62n;
	}
	return out;
}

const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

/** CRC-32 (IEEE) of an ASCII string. */
export function crc32(s: string): number {
	let c = 0xffffffff;
	for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

function checksum(withoutCheck: string): string {
	return base62(BigInt(crc32(withoutCheck)), CHECK_CHARS);
}

/** Makes a new key of the given type and environment from 256 bits of `crypto.getRandomValues`. */
export function generateKey(type: string, environment: string): string {
	return keyFromBytes(type, environment, crypto.getRandomValues(new Uint8Array(RANDOM_BYTES)));
}

/** The key whose body spells these 32 bytes: only for a public key derived so it can be shown again (keys/public-key.ts). */
export function keyFromBytes(type: string, environment: string, bytes: Uint8Array): string {
	if (bytes.length !== RANDOM_BYTES) throw new Error(`a key body takes ${RANDOM_BYTES} bytes`);
	let n = 0n;
	for (const b of bytes) n = (n << 8n) | BigInt(b);
	const head = `${type}_${environment}_${base62(n, RANDOM_CHARS)}`;
	return head + checksum(head);
}

/** Checks shape and checksum only; says nothing about whether the key exists. */
export function parseKey(candidate: string): ParsedKey | undefined {
	if (candidate.length > MAX_KEY_LENGTH) return undefined;
	const m = KEY_PATTERN.exec(candidate);
	if (!m) return undefined;
	const split = candidate.length - CHECK_CHARS;
	if (checksum(candidate.slice(0, split)) !== candidate.slice(split)) return undefined;
	return { type: m[1]!, environment: m[2]!, plaintext: candidate };
}

/** The number six base62 check characters spell (the inverse of `base62(…, CHECK_CHARS)`), or -1. */
function checkValue(check: string): number {
	let value = 0;
	for (let i = 0; i < check.length; i++) {
		const digit = ALPHABET.indexOf(check[i]!);
		if (digit === -1) return -1;
		value = value * 62 + digit;
	}
	return value;
}

/**
 * For text that has a key's shape but may carry extra letters in front of it (`xsk_live_…`,
 * as a scan of other text finds it): true when the key starting at any letter of its first
 * part has a valid checksum: that key, or undefined. The check characters are read once and
 * each start costs one CRC-32, with no BigInt, so a header full of near-keys stays cheap to scan.
 */
export function keyAtAnyStart(candidate: string): string | undefined {
	const split = candidate.length - CHECK_CHARS;
	const expected = checkValue(candidate.slice(split));
	if (expected < 0 || expected > 0xffffffff) return undefined;
	const end = candidate.indexOf("_");
	for (let i = 0; i < end; i++) {
		const c = candidate.charCodeAt(i);
		if (c < 97 || c > 122 || candidate.length - i > MAX_KEY_LENGTH) continue; // a key starts with a letter
		if (crc32(candidate.slice(i, split)) === expected && parseKey(candidate.slice(i)) !== undefined) return candidate.slice(i);
	}
	return undefined;
}

/** The part of a key that may be shown again after creation: type, environment and 4 characters. */
export function keyStart(plaintext: string): string {
	const last = plaintext.lastIndexOf("_");
	return plaintext.slice(0, last + 5);
}
