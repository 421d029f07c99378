import type { Authority } from "../authority/client";
import { keyFromBytes } from "./format";

const encoder = new TextEncoder();

/**
 * A publishable key or an application identifier is public by design (a browser or a
 * mobile app carries it), so its page may show it again, as Stripe's dashboard shows a
 * publishable key. keygate still stores only its hash: the key's 256 bits are derived, an
 * HMAC-SHA256 of a label, the key's id, type and environment under a root of 256 random
 * bits that keygate made itself (OwnerRoles.publicKeyRoot), and derived again when it is to
 * be shown. A secret key is never derived: its bits are random and it is shown once.
 *
 * The root is no secret anyone chose, so a customer holding a public key and its id can test
 * no guess offline: at 256 random bits there is nothing to guess (a review: derived from
 * SIGNING_SECRET, a pair and its id tested guesses at that secret). It is the same in every
 * location and never changes; it is read from its object on each use (making or showing a
 * public key, an admin act, never a request's), and its imported key kept while it is the same.
 */
let root: { hex: string; key: Promise<CryptoKey> } | undefined;

async function rootKey(authority: Authority): Promise<CryptoKey> {
	const hex = await authority.publicKeyRoot();
	if (root?.hex !== hex) {
		const bytes = Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
		if (bytes.length !== 32) throw new Error("the public-key root is not 32 bytes");
		root = { hex, key: crypto.subtle.importKey("raw", bytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]) };
	}
	return root.key;
}

/** The public key with this id, type and environment under `rootKey`: the same every time. */
export async function derivePublicKey(key: CryptoKey, id: string, type: string, environment: string): Promise<string> {
	const bits = await crypto.subtle.sign("HMAC", key, encoder.encode(`keygate public key v1\n${id}\n${type}\n${environment}`));
	return keyFromBytes(type, environment, new Uint8Array(bits));
}

/** The public key with this id, type and environment, under keygate's root (read from its object). */
export async function publicKey(authority: Authority, id: string, type: string, environment: string): Promise<string> {
	return derivePublicKey(await rootKey(authority), id, type, environment);
}
