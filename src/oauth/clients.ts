import { sha256Hex } from "../keys/crypto";
import { randomId } from "../keys/crypto";
import { base64url } from "./access-token";

/**
 * OAuth clients, in Workers KV (README "Storage schema"):
 *   oauth-client:<client id>        -> StoredClient JSON (the secret only as its SHA-256)
 *   oauth-clients:<api>:<client id> -> ""   index for listing one API's clients
 * A client secret is 256 random bits, so one SHA-256 is enough (no slow hash needed: it
 * cannot be guessed from a dictionary), exactly as for keys.
 */
export interface StoredClient {
	id: string;
	api: string;
	name: string;
	/** Exact redirect URIs (RFC 6749 §3.1.2; OAuth 2.0 Security BCP §4.1: no pattern matching). */
	redirectUris: string[];
	/** `confidential` clients authenticate with a secret; `public` ones (SPAs, apps) must use PKCE. */
	type: "confidential" | "public";
	/** The scopes this client may be granted (a subset of the API's `oauth.scopes`). */
	scopes: string[];
	/** Tier and environment of the tokens issued to this client. */
	tier: string;
	environment: string;
	secretHash: string | null;
	createdAt: string;
	secretRotatedAt: string | null;
}

export const clientKv = {
	byId: (id: string) => `oauth-client:${id}`,
	index: (api: string, id: string) => `oauth-clients:${api}:${id}`,
	/** One entry per subject that was ever issued a code for this client: revoking the client reaches each. */
	subjects: (clientId: string, subject: string) => `oauth-client-subjects:${clientId}:${subject}`,
};

/** The subjects that hold (or held) grants of a client. */
export async function subjectsOf(kv: KVNamespace, clientId: string): Promise<string[]> {
	const prefix = `oauth-client-subjects:${clientId}:`;
	const out: string[] = [];
	let cursor: string | undefined;
	do {
		const page: KVNamespaceListResult<unknown> = await kv.list({ prefix, cursor });
		for (const k of page.keys) out.push(k.name.slice(prefix.length));
		cursor = page.list_complete ? undefined : page.cursor;
	} while (cursor);
	return out;
}

/** `kgcs_` and 43 base64url characters: recognisable to secret scanners and to keygate's log guard. */
export function newClientSecret(): string {
	return `kgcs_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

export const newClientId = () => randomId("client");

export function getClient(kv: KVNamespace, id: string): Promise<StoredClient | null> {
	// A client id is not a secret, but it comes from the request: bound its size before it reaches KV.
	if (id.length > 64) return Promise.resolve(null);
	return kv.get<StoredClient>(clientKv.byId(id), "json");
}

export async function putClient(kv: KVNamespace, client: StoredClient): Promise<void> {
	await kv.put(clientKv.byId(client.id), JSON.stringify(client));
	await kv.put(clientKv.index(client.api, client.id), "");
}

export async function removeClient(kv: KVNamespace, client: StoredClient): Promise<void> {
	await kv.delete(clientKv.index(client.api, client.id));
	await kv.delete(clientKv.byId(client.id));
}

export async function listClients(kv: KVNamespace, api: string): Promise<StoredClient[]> {
	const out: StoredClient[] = [];
	let cursor: string | undefined;
	do {
		const page: KVNamespaceListResult<unknown> = await kv.list({ prefix: `oauth-clients:${api}:`, cursor });
		const found = await Promise.all(page.keys.map((k) => getClient(kv, k.name.slice(`oauth-clients:${api}:`.length))));
		for (const c of found) if (c) out.push(c);
		cursor = page.list_complete ? undefined : page.cursor;
	} while (cursor);
	return out;
}

/** The client as the admin API shows it: never the secret's hash. */
export function publicClient(client: StoredClient): Omit<StoredClient, "secretHash"> {
	const { secretHash: _hash, ...rest } = client;
	void _hash;
	return rest;
}

export const hashSecret = (secret: string) => sha256Hex(secret);
