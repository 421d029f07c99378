import { generateKey } from "./format";

const encoder = new TextEncoder();

/**
 * A publishable key or an application identifier is public by design (a browser or a
 * mobile app carries it), so its page may show it again, as Stripe's dashboard shows a
 * publishable key. keygate still stores only its hash: the key's 256 bits are derived, an
 * HMAC of the key's id, type and environment under a key derived from SIGNING_SECRET
 * ("keygate public key v1", so it can never double as an identity signature or an access
 * token's MAC), and derived again when it is to be shown. A secret key is never derived:
 * its bits are random and it is shown once.
 *
 * Whoever holds SIGNING_SECRET and a key's id can compute that public key, and nothing
 * more: the origin, which holds the secret to verify identity fields, could already sign
 * any identity it liked. With SIGNING_SECRET changed, a public key made before no longer
 * matches its hash and is not shown (revealKey says so): it still works.
 */
const derivers = new Map<string, Promise<CryptoKey>>();
function deriver(secret: string): Promise<CryptoKey> {
	let key = derivers.get(secret);
	if (!key) {
		key = (async () => {
			const root = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
			const derived = await crypto.subtle.sign("HMAC", root, encoder.encode("keygate public key v1"));
			return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
		})();
		derivers.clear();
		derivers.set(secret, key);
	}
	return key;
}

/** The public key with this id, type and environment under `secret`: the same every time. */
export async function derivePublicKey(secret: string, id: string, type: string, environment: string): Promise<string> {
	const bits = await crypto.subtle.sign("HMAC", await deriver(secret), encoder.encode(`${id}\n${type}\n${environment}`));
	return generateKey(type, environment, new Uint8Array(bits));
}
