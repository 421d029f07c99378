// Well-formed keygate keys made locally, one per request, for the "new unknown key on
// every request" rows (tens of thousands per run: too many to fetch from the Worker). The format is
// keygate's (src/keys/format.ts): `<type>_<env>_` + 43 base62 characters of 256 random
// bits + 6 base62 characters of the CRC-32 of everything before them. The bench checks
// this copy against keys minted by keygate's own generateKey before using it, and falls
// back to minted keys if they disagree.
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

function crc32(s) {
	let c = 0xffffffff;
	for (let i = 0; i < s.length; i++) c = CRC_TABLE[(c ^ s.charCodeAt(i)) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

function base62(value, width) {
	let out = "";
	for (let i = 0; i < width; i++) {
		out = ALPHABET[value % 62] + out;
		value = Math.floor(value / 62);
	}
	return out;
}

/** The checksum part keygate's format expects after `head`. */
export function checksumOf(head) {
	return base62(crc32(head), 6);
}

// Random body characters, drawn from a buffer refilled in bulk (cheap enough to make a
// key per request inside the load generator). Only the shape and checksum matter to
// keygate before its KV lookup; these keys are never meant to exist.
let pool = Buffer.alloc(0);
let at = 0;
function randomChars(n) {
	if (at + n > pool.length) {
		pool = randomBytes(64 * 1024);
		at = 0;
	}
	let out = "";
	for (let i = 0; i < n; i++) out += ALPHABET[pool[at++] % 62];
	return out;
}

export function localKey(type, environment) {
	const head = `${type}_${environment}_${randomChars(43)}`;
	return head + checksumOf(head);
}

/** True if every minted key ends with the checksum this module computes for it. */
export function agreesWith(mintedKeys) {
	return (
		mintedKeys.length > 0 &&
		mintedKeys.every(
			(k) => k.length > 6 && checksumOf(k.slice(0, -6)) === k.slice(-6) && /^[a-z][a-z0-9]*_[a-z][a-z0-9]*_[0-9A-Za-z]{49}$/.test(k),
		)
	);
}
