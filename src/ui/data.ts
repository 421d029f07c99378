import type { Services } from "../admin/service";
import type { KeyRecord } from "../keys/record";
import { listKeys } from "../keys/store";
import { publicView } from "../keys/record";

/** At most this many keys of one API are loaded for search, filters and sort. */
export const MAX_LISTED = 1000;

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
