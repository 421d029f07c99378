import { hmacHex } from "../../src/keys/crypto";
import { signedMessage } from "../../src/pipeline/identity";
import { TEST_SIGNING_SECRET } from "../constants";
import type { OriginCall } from "./origin";

/**
 * What an origin does to trust the identity headers (the README's snippet, in test form):
 * a fresh timestamp, the HMAC over the v3 message, and, when a Content-Digest was signed,
 * the body it received matching it.
 */
export async function verifyIdentity(received: OriginCall, maxAgeSeconds = 30): Promise<boolean> {
	const signature = received.headers.get("X-Keygate-Signature") ?? "";
	const m = /^t=(\d+),v3=([0-9a-f]{64})$/.exec(signature);
	if (!m) return false;
	const t = Number(m[1]);
	if (Math.abs(Date.now() / 1000 - t) > maxAgeSeconds) return false;
	const identity = Object.fromEntries(
		[
			"X-Keygate-Key-Id",
			"X-Keygate-Environment",
			"X-Keygate-Scopes",
			"X-Keygate-Owner",
			"X-Keygate-Service",
			"X-Keygate-Auth",
			"X-Keygate-Subject",
			"X-Keygate-Client-Id",
		].map((h) => [h, received.headers.get(h) ?? ""]),
	);
	const digest = received.headers.get("Content-Digest") ?? "";
	if (digest) {
		const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(received.body)));
		if (digest !== `sha-256=:${btoa(String.fromCharCode(...hash))}:`) return false;
	}
	const requestId = received.headers.get("X-Keygate-Request-Id") ?? "";
	const expected = await hmacHex(
		TEST_SIGNING_SECRET,
		signedMessage(t, requestId, received.method, received.url.pathname + received.url.search, digest, identity),
	);
	return expected === m[2];
}
