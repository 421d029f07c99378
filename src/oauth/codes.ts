import { grants } from "../authority/client";
import type { GrantBindings } from "../authority/client";
import type { GrantTerms } from "../authority/oauth-grants";
import { randomId, sha256Hex } from "../keys/crypto";
import { base64url, fromBase64url } from "./access-token";
import { clientKv } from "./clients";

/**
 * Authorization codes (`kgac_…`) and refresh tokens (`kgrt_…`): `<prefix><route>.<secret>`,
 * where `route` is base64url of `{"a": api, "s": subject}`, naming the Durable Object
 * that holds the grant (so the token endpoint finds it with no index and no KV read), and
 * `secret` is 256 random bits. Only the SHA-256 of the whole string is stored, in that
 * object. The route is not secret: the subject is also in every access token.
 */
export type OpaqueKind = "code" | "refresh";
const PREFIX: Record<OpaqueKind, string> = { code: "kgac_", refresh: "kgrt_" };

export interface OpaqueRoute {
	api: string;
	subject: string;
}

export function newOpaque(kind: OpaqueKind, route: OpaqueRoute): string {
	const r = base64url(new TextEncoder().encode(JSON.stringify({ a: route.api, s: route.subject })));
	return `${PREFIX[kind]}${r}.${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

export function parseOpaque(kind: OpaqueKind, value: string): OpaqueRoute | undefined {
	if (value.length > 2100 || !value.startsWith(PREFIX[kind])) return undefined;
	const m = /^[a-z]+_([A-Za-z0-9_-]{8,2000})\.[A-Za-z0-9_-]{43}$/.exec(value);
	if (!m) return undefined;
	try {
		const route = JSON.parse(new TextDecoder().decode(fromBase64url(m[1]!))) as { a?: unknown; s?: unknown };
		if (typeof route.a !== "string" || typeof route.s !== "string") return undefined;
		return { api: route.a, subject: route.s };
	} catch {
		return undefined;
	}
}

export interface CodeRequest extends GrantTerms {
	api: string;
	subject: string;
	codeTtl: number;
}

/**
 * Records a new grant and returns its authorization code: what the authorization endpoint
 * hands the client once the user has signed in and consented.
 */
export async function issueAuthorizationCode(
	env: GrantBindings & { KEYS: KVNamespace },
	req: CodeRequest,
	now = Date.now(),
): Promise<{ code: string; grantId: string } | undefined> {
	// Which subjects hold grants of a client, so deleting or revoking a client reaches them all.
	// Written once per pair: KV allows about one write per second to one key, and a user may
	// authorize the same client twice in a second.
	const indexKey = clientKv.subjects(req.clientId, req.subject);
	if ((await env.KEYS.get(indexKey)) === null) await env.KEYS.put(indexKey, "");
	const code = newOpaque("code", { api: req.api, subject: req.subject });
	const grantId = randomId("grant");
	const issued = await grants(env, req.api, req.subject).issueCode({
		codeHash: await sha256Hex(code),
		grantId,
		clientId: req.clientId,
		redirectUri: req.redirectUri,
		scopes: req.scopes,
		environment: req.environment,
		tier: req.tier,
		challenge: req.challenge,
		expiresAt: now + req.codeTtl * 1000,
		now,
		...(req.nonce !== undefined ? { nonce: req.nonce } : {}),
	});
	return issued ? { code, grantId } : undefined;
}

/** RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))). */
export async function s256(verifier: string): Promise<string> {
	return base64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
}
