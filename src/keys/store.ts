import type { KeyRecord, StoredKey } from "./record";

/**
 * Workers KV layout (see README "Storage schema"):
 *   hash:<sha256 hex>   -> StoredKey JSON   the hot path: O(1) lookup from the presented key
 *   id:<key id>         -> StoredKey JSON   the admin API: lookup by id
 *   api:<api>:<key id>  -> ""               index for listing one API's keys
 *   owner:<api>:<owner>:<key id> -> ""      index for listing one owner's keys of one API (the portal)
 * Only hashes are ever written; a plaintext key never reaches KV.
 */
export const kvKey = {
	byHash: (hash: string) => `hash:${hash}`,
	byId: (id: string) => `id:${id}`,
	index: (api: string, id: string) => `api:${api}:${id}`,
	/** API names and owner ids hold no `:`, so one owner's prefix never takes in another's. */
	owned: (api: string, owner: string, id: string) => `owner:${api}:${owner}:${id}`,
};

export async function putKey(kv: KVNamespace, key: StoredKey): Promise<void> {
	const value = JSON.stringify(key);
	// The id entry is written first: it is what the admin API retries from if a later write fails. The owner's entry
	// beside it, settled either way, so a rollback to the old record restores its owner's entry even when the id
	// entry's write fails again (an entry ahead of its record is harmless: the portal reads each record).
	const first = await Promise.allSettled([
		kv.put(kvKey.byId(key.id), value),
		key.owner === null ? undefined : kv.put(kvKey.owned(key.api, key.owner, key.id), ""),
	]);
	for (const r of first) if (r.status === "rejected") throw r.reason;
	await Promise.all([kv.put(kvKey.byHash(key.hash), value), kv.put(kvKey.index(key.api, key.id), "")]);
}

export async function removeKey(kv: KVNamespace, key: StoredKey): Promise<void> {
	await Promise.all([
		kv.delete(kvKey.byHash(key.hash)),
		kv.delete(kvKey.index(key.api, key.id)),
		key.owner === null ? undefined : kv.delete(kvKey.owned(key.api, key.owner, key.id)),
	]);
	await kv.delete(kvKey.byId(key.id));
}

export function getById(kv: KVNamespace, id: string): Promise<StoredKey | null> {
	return kv.get<StoredKey>(kvKey.byId(id), "json");
}

/**
 * The hot-path read. `cacheTtl` lets the edge serve it from its cache for 60 s: safe,
 * because what can change about a key later (revocation, rotation, deletion) is decided
 * by its Durable Object, not by this record.
 */
export function getByHash(kv: KVNamespace, hash: string): Promise<StoredKey | null> {
	return kv.get<StoredKey>(kvKey.byHash(hash), { type: "json", cacheTtl: 60 });
}

export interface KeyPage {
	data: StoredKey[];
	cursor: string | null;
}

export function listKeys(kv: KVNamespace, api: string | undefined, cursor: string | undefined, limit = 50): Promise<KeyPage> {
	return listPrefix(kv, api ? `api:${api}:` : "id:", cursor, limit);
}

/** One owner's keys of one API, from the owner index (an entry left by an owner change is the caller's to drop). */
export function listOwnerKeys(kv: KVNamespace, api: string, owner: string, cursor: string | undefined, limit = 1000): Promise<KeyPage> {
	return listPrefix(kv, kvKey.owned(api, owner, ""), cursor, limit);
}

/** KV reads up to 100 keys in one operation; a Worker may make about 1,000 KV operations per request. */
const BULK_GET = 100;

async function listPrefix(kv: KVNamespace, prefix: string, cursor: string | undefined, limit: number): Promise<KeyPage> {
	const page = await kv.list({ prefix, cursor, limit });
	const names = page.keys.map((k) => kvKey.byId(k.name.slice(prefix.length)));
	// In bulk, 100 records an operation (a review: a portal page read up to 1,000 records one by one, past the limit).
	const chunks: string[][] = [];
	for (let i = 0; i < names.length; i += BULK_GET) chunks.push(names.slice(i, i + BULK_GET));
	const found = await Promise.all(chunks.map((chunk) => kv.get<StoredKey>(chunk, "json")));
	const records = chunks.flatMap((chunk, i) => chunk.map((name) => found[i]!.get(name) ?? null));
	return {
		data: records.filter((r): r is StoredKey => r !== null),
		cursor: page.list_complete ? null : page.cursor,
	};
}

export type { KeyRecord };
