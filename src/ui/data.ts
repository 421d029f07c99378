import type { UsageView } from "../admin/contract";
import { historyView, withStatus, type Services } from "../admin/service";
import type { Usage } from "../authority/key-authority";
import type { KeyRecord, StoredKey } from "../keys/record";
import { keyShapedIn } from "../credentials/classify";
import { sha256Hex } from "../keys/crypto";
import { keyAtAnyStart } from "../keys/format";
import { getByHash, listKeys, listOwnerKeys } from "../keys/store";
import { publicView } from "../keys/record";
import { holdsAnyKey, matchKeys, pathHoldsKey, selectKeys, type KeyQuery } from "./present";
import { FORM_TOKEN_FIELD } from "./security";

/** At most this many keys of one API are loaded for search, filters and sort. */
export const MAX_LISTED = 1000;
/** Calls to key authorities in flight at once while a list loads. */
export const LIST_CONCURRENCY = 16;
/** After this long a list stops asking: the rows not asked yet show their use as unavailable (calls out finish within their own timeout). */
export const LIST_DEADLINE_MS = 5_000;

/**
 * One API's keys as KV lists them (lifecycle fields as last written to KV; the pages then
 * ask the authority for the rows they show). Bounded: search, filters and sort work over
 * the first MAX_LISTED keys of an API.
 */
export async function allKeys(s: Services, api: string): Promise<KeyRecord[]> {
	const out: KeyRecord[] = [];
	let cursor: string | undefined;
	do {
		const got = await listKeys(s.kv, api, cursor, MAX_LISTED);
		for (const k of got.data) {
			out.push(publicView(k));
		}
		cursor = got.cursor ?? undefined;
	} while (cursor && out.length < MAX_LISTED);
	return out;
}

/** At most this many of one owner's keys (revoked and expired ones included) are read for the portal. */
const MAX_OWNER_KEYS = 5000;

/**
 * One owner's keys of one API, whatever their place in the API's listing (found by a probe: behind 2,000 other
 * keys, an owner's keys past the API's first 1,000 were neither listed nor counted under `maxKeysPerOwner`).
 * From the owner index (`owner:<api>:<owner>:`), plus the owner's keys among the API's first MAX_LISTED, which
 * holds keys made before the index existed. An owner with more than MAX_OWNER_KEYS keys is refused (503): its
 * keys could not all be counted, so nothing is made.
 */
export async function ownerKeys(s: Services, api: string, owner: string): Promise<KeyRecord[]> {
	const found = new Map<string, KeyRecord>();
	let cursor: string | undefined;
	do {
		const got = await listOwnerKeys(s.kv, api, owner, cursor);
		for (const k of got.data) found.set(k.id, publicView(k));
		if (found.size > MAX_OWNER_KEYS)
			throw new Error(`owner ${owner} of ${api} holds more than ${MAX_OWNER_KEYS} keys: too many to count for the portal`);
		cursor = got.cursor ?? undefined;
	} while (cursor);
	for (const k of await allKeys(s, api)) if (!found.has(k.id)) found.set(k.id, k);
	// An entry the owner index still has after an owner change (its record now names another owner) is dropped here.
	return [...found.values()].filter((k) => k.api === api && k.owner === owner);
}

/**
 * A whole key pasted into a search or filter field (`q`, `keyId`): the record it names, null
 * when it names none, undefined when the value holds no credential. The plaintext goes no
 * further than its hash: the pages never echo it or keep it in a link.
 */
export async function pastedKey(s: Services, value: string | null | undefined): Promise<StoredKey | null | undefined> {
	if (!value) return undefined;
	// Key-shaped text counts even with a typo (a failed checksum), behind a scheme (`Bearer sk_live_…`, as the
	// curl line shows it), or cut short (its checksum characters lost): it finds nothing then, but is never echoed.
	if (!holdsAnyKey(value)) return undefined;
	for (const candidate of keyShapedIn(value)) {
		const key = keyAtAnyStart(candidate);
		if (key !== undefined) return getByHash(s.kv, await sha256Hex(key));
	}
	return null;
}

/** What a keys list shows of a key's use. */
export interface Activity {
	lastUsedAt: string | null;
	/** Every request since creation, passed and refused. */
	requests: number;
	history: UsageView["history"];
}

/** A row of a keys list: the record with the authority's lifecycle fields, and its use (null when the authority did not answer). */
export interface ListedKey {
	k: KeyRecord;
	usage: Activity | null;
	/** The authority says the key was deleted (KV has not caught up): not shown. */
	deleted?: boolean;
}

function activity(u: Usage): Activity {
	return {
		lastUsedAt: u.lastUsedAt === null ? null : new Date(u.lastUsedAt).toISOString(),
		requests: u.passed + Object.values(u.rejected).reduce((a, b) => a + b, 0),
		history: historyView(u.hourly),
	};
}

/**
 * Each key's status and use, one authority call per key, at most LIST_CONCURRENCY in
 * flight, in the keys' order. A key whose authority does not answer keeps its KV record
 * and shows its use as unavailable, and so do the keys not yet asked when
 * LIST_DEADLINE_MS has passed: a list is a view, and slow objects must not blank or stall
 * the page.
 */
export async function withActivity(s: Services, keys: KeyRecord[], deadlineMs = LIST_DEADLINE_MS): Promise<ListedKey[]> {
	const out: ListedKey[] = new Array(keys.length);
	const deadline = Date.now() + deadlineMs;
	let next = 0;
	const worker = async () => {
		while (next < keys.length) {
			const i = next++;
			const k = keys[i]!;
			if (Date.now() > deadline) {
				out[i] = { k, usage: null };
				continue;
			}
			out[i] = await s.authority.snapshot(k.id).then(
				(snap) => ({ k: withStatus(k, snap.status), usage: activity(snap.usage), deleted: snap.status.deletedAt !== null }),
				() => ({ k, usage: null }),
			);
		}
	};
	await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, keys.length) }, worker));
	return out;
}

/**
 * One page of a keys list. Every sort but "last used" is decided from the KV records and
 * asks the authorities only for the page's rows; "last used" lives in each key's
 * authority, so it asks for every key that matches the search and filters (at most
 * MAX_LISTED), then sorts.
 */
export async function keysPage(
	s: Services,
	keys: KeyRecord[],
	query: KeyQuery,
	now: number,
): Promise<{ rows: ListedKey[]; total: number; pages: number }> {
	if (query.sort !== "lastUsed") {
		const picked = selectKeys(keys, query, now);
		// The page's rows as their authorities see them: a key deleted there (KV not caught up) is left out.
		return { ...picked, rows: (await withActivity(s, picked.rows)).filter((r) => !r.deleted) };
	}
	// Every matching key is asked anyway: filter again on the authorities' status, so a key
	// revoked there (KV not caught up) is not listed under "Active", and leave out deleted ones.
	const asked = (await withActivity(s, matchKeys(keys, query, now))).filter((r) => !r.deleted);
	const matched = matchKeys(
		asked.map((r) => r.k),
		query,
		now,
	);
	const byId = new Map(asked.map((r) => [r.k.id, r]));
	const lastUsed = new Map(asked.map((r) => [r.k.id, r.usage?.lastUsedAt ?? null]));
	const picked = selectKeys(matched, { ...query, q: "", status: "", environment: "" }, now, lastUsed);
	return { ...picked, rows: picked.rows.map((k) => byId.get(k.id)!) };
}

/**
 * Where a pasted key that opened no key page goes: `back` with the other fields of the
 * search (filters, sort: a GET's parameters or a `find-key` POST's form), so the list stays
 * as it was, and `pasted=1` for the notice. The fields that may hold the key (`q`, `keyId`,
 * `owner`), any in `drop`, and any value that looks like a key are left out.
 */
export function awayFromKey(back: string, fields: Iterable<[string, unknown]>, drop: string[] = []): string {
	const kept = new URLSearchParams();
	for (const [name, value] of fields)
		if (
			typeof value === "string" &&
			// The form token is the session's, never an address's (it would sit in the history).
			!["q", "keyId", "owner", "pasted", FORM_TOKEN_FIELD, ...drop].includes(name) &&
			value.length <= 200 &&
			// Encoded keys too, as the guard that sent it here finds them (a review: a twice-encoded key was kept, and sent away again).
			!pathHoldsKey(value) &&
			!pathHoldsKey(name)
		)
			kept.append(name, value);
	kept.set("pasted", "1");
	return `${back}?${kept}`;
}
