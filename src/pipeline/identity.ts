import type { Principal } from "../credentials/principal";
import { hmacHex, randomId } from "../keys/crypto";

/**
 * The identity keygate asserts to the origin, and its signature (README "Verifying
 * identity headers"). Signed: a version, the time, a per-request id (so an origin can
 * refuse a replay), method, path and query, the body's RFC 9530 Content-Digest, and the
 * identity fields. The credential itself never enters the signed material.
 */
export const IDENTITY_PREFIX = "x-keygate-";
// v3 added how the caller authenticated (key, oauth, jwt), the OAuth subject and client id.
export const SIGNATURE_VERSION = "v3";

export function identityHeaders(principal: Principal): Record<string, string> {
	return {
		"X-Keygate-Key-Id": principal.id,
		"X-Keygate-Environment": principal.environment,
		"X-Keygate-Scopes": principal.scopes.join(","),
		"X-Keygate-Owner": principal.owner ?? "",
		"X-Keygate-Service": principal.service ?? "",
		"X-Keygate-Auth": principal.kind,
		"X-Keygate-Subject": principal.subject ?? "",
		"X-Keygate-Client-Id": principal.clientId ?? "",
	};
}

/** The message the origin recomputes: these lines joined by `\n`. `contentDigest` is "" when keygate sent none. */
export function signedMessage(
	t: number,
	requestId: string,
	method: string,
	pathAndQuery: string,
	contentDigest: string,
	identity: Record<string, string>,
): string {
	return [
		SIGNATURE_VERSION,
		t,
		requestId,
		method,
		pathAndQuery,
		contentDigest,
		identity["X-Keygate-Key-Id"],
		identity["X-Keygate-Environment"],
		identity["X-Keygate-Scopes"],
		identity["X-Keygate-Owner"],
		identity["X-Keygate-Service"],
		identity["X-Keygate-Auth"],
		identity["X-Keygate-Subject"],
		identity["X-Keygate-Client-Id"],
	].join("\n");
}

/** The body as it will be forwarded, and its digest when keygate read all of it. */
export interface PreparedBody {
	body: ReadableStream<Uint8Array> | Uint8Array | null;
	/** `sha-256=:<base64>:` (RFC 9530), or undefined when the body is larger than the limit (then it streams unsigned). */
	contentDigest: string | undefined;
}

async function digest(bytes: Uint8Array): Promise<string> {
	const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
	let bin = "";
	for (const b of hash) bin += String.fromCharCode(b);
	return `sha-256=:${btoa(bin)}:`;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
	const out = new Uint8Array(total);
	let at = 0;
	for (const c of chunks) {
		out.set(c, at);
		at += c.length;
	}
	return out;
}

/**
 * Reads a request body of up to `maxBytes` to digest it; past that (by Content-Length, or
 * once that many bytes have arrived) it is forwarded as a stream, what was read first
 * included, and no digest is signed. Nothing is ever dropped or changed.
 */
export async function prepareBody(
	body: ReadableStream<Uint8Array> | null,
	declaredLength: string | null,
	maxBytes: number,
): Promise<PreparedBody> {
	if (!body) return { body: null, contentDigest: undefined };
	const declared = declaredLength === null ? NaN : Number(declaredLength);
	if (declared > maxBytes) return { body, contentDigest: undefined };
	const reader = body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) {
			const bytes = concat(chunks, total);
			return { body: bytes, contentDigest: await digest(bytes) };
		}
		chunks.push(value);
		total += value.length;
		if (total > maxBytes) break;
	}
	// Too large to sign: forward what was read, then the rest, as it arrives.
	const stream = new ReadableStream<Uint8Array>({
		start(controller) {
			for (const c of chunks) controller.enqueue(c);
		},
		async pull(controller) {
			const { done, value } = await reader.read();
			if (done) controller.close();
			else controller.enqueue(value);
		},
		cancel(reason) {
			return reader.cancel(reason);
		},
	});
	return { body: stream, contentDigest: undefined };
}

/** The identity headers, the request id and the signature, for one forwarded request. */
export async function signIdentity(
	secret: string,
	principal: Principal,
	method: string,
	pathAndQuery: string,
	contentDigest: string | undefined,
): Promise<Record<string, string>> {
	const identity = identityHeaders(principal);
	const t = Math.floor(Date.now() / 1000);
	const requestId = randomId("req");
	const mac = await hmacHex(secret, signedMessage(t, requestId, method, pathAndQuery, contentDigest ?? "", identity));
	return { ...identity, "X-Keygate-Request-Id": requestId, "X-Keygate-Signature": `t=${t},${SIGNATURE_VERSION}=${mac}` };
}
