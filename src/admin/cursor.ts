import { crc32 } from "../keys/format";

/**
 * A listing's cursor as keygate hands it out: the listing it belongs to (`p`) and KV's own
 * list cursor (`c`), with a check value (`k`). KV lists nothing for a cursor it never gave
 * (no error), which a client would read as "no more"; sealed, a cursor that was edited,
 * truncated or taken to another listing is refused instead. The check catches mistakes,
 * not an attacker: only the admin token's holder can list at all.
 */
const toBase64Url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const check = (p: string, c: string) => crc32(`${p}\n${c}`).toString(36);

export function writeListCursor(kvCursor: string, listing: string): string {
	return toBase64Url(JSON.stringify({ p: listing, c: kvCursor, k: check(listing, kvCursor) }));
}

/**
 * The JSON object inside a cursor keygate handed out (base64url, at most 2,048 characters),
 * unchecked; undefined when `raw` is not of that shape. The listings check its fields.
 */
export function decodeCursor(raw: string): Record<string, unknown> | undefined {
	if (raw.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(raw)) return undefined;
	try {
		const r: unknown = JSON.parse(atob(raw.replace(/-/g, "+").replace(/_/g, "/")));
		return typeof r === "object" && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

/** KV's cursor inside `raw`, or null when `raw` is not a cursor this listing gave. */
export function readListCursor(raw: string, listing: string): string | null {
	const r = decodeCursor(raw);
	if (r === undefined || r.p !== listing || typeof r.c !== "string" || r.c.length > 1024) return null;
	return r.k === check(listing, r.c) ? r.c : null;
}
