import { randomId } from "../keys/crypto";
import { crc32 } from "../keys/format";
import { logEvent } from "../util/log";
import { ACTOR_TYPES, AUDIT_ACTIONS, type AuditEvent, type AuditPage } from "./contract";
import { decodeCursor } from "./cursor";
import { KEY_ID } from "./service";

/**
 * The audit log of key management: who did what to which key, and when; and failed admin
 * logins (the client address, never what was presented). Never a plaintext key or a hash:
 * admin input holding a key is refused before anything is recorded (input.ts). The event's
 * shape is AuditEventSchema in contract.ts.
 *
 * KV layout:
 *   audit:<inverted ms>:<event id>                 -> AuditEvent JSON (newest first in a listing)
 *   audit-key:<key id>:<inverted ms>:<event id>    -> AuditEvent JSON (one key's history)
 * `inverted ms` is 10^13 - time in ms, zero-padded, because KV lists in ascending key order.
 * Each entry carries list metadata `{ a: action, t: actorType }`, so a filtered listing reads
 * only the values it returns.
 */
const inverted = (ms: number) => String(1e13 - ms).padStart(14, "0");

type AuditAction = (typeof AUDIT_ACTIONS)[number];
type ActorType = (typeof ACTOR_TYPES)[number];
interface AuditMeta {
	a: AuditAction;
	t: ActorType;
}

export async function recordAudit(kv: KVNamespace, event: Omit<AuditEvent, "id" | "at">): Promise<AuditEvent> {
	const now = Date.now();
	const full: AuditEvent = { id: randomId("evt"), at: new Date(now).toISOString(), ...event };
	const value = JSON.stringify(full);
	const metadata: AuditMeta = { a: full.action, t: full.actorType };
	const writes = [kv.put(`audit:${inverted(now)}:${full.id}`, value, { metadata })];
	if (full.keyId) writes.push(kv.put(`audit-key:${full.keyId}:${inverted(now)}:${full.id}`, value, { metadata }));
	try {
		await Promise.all(writes);
	} catch (e) {
		// The operation itself has happened; a lost audit line is reported in the logs, not as a failed operation.
		logEvent("audit_write_failed", { action: full.action, keyId: full.keyId, error: String(e) });
	}
	return full;
}

/** What a listing asks for. `from` is inclusive and `to` exclusive, in ms since the epoch. */
export interface AuditQuery {
	keyId?: string;
	action?: AuditAction;
	actorType?: ActorType;
	from?: number;
	to?: number;
	cursor?: string;
}

const AUDIT_PARAMS = ["keyId", "action", "actorType", "from", "to", "cursor"] as const;

export const AUDIT_PAGE = 50;
/** KV list calls one page may make while filtering (1,000 entries each) before it answers with what it found and a cursor. */
export const AUDIT_SCAN_LISTS = 5;
/** Entries without list metadata (written before it existed) one filtered page may read to filter them; then it answers with a cursor. */
export const AUDIT_LEGACY_READS = 40;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A date (`2026-12-05`, the whole UTC day) or an RFC 3339 time, as the ms it starts at and ends before. */
function dayStart(raw: string): number | undefined {
	const day = DAY.exec(raw);
	if (!day) return undefined;
	// setUTCFullYear, not Date.UTC: Date.UTC reads years 0-99 as 1900-1999.
	const d = new Date(0);
	d.setUTCFullYear(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
	// A day that does not exist (2026-02-31) would roll over into the next month: refused, not moved.
	if (d.getUTCFullYear() !== Number(day[1]) || d.getUTCMonth() !== Number(day[2]) - 1 || d.getUTCDate() !== Number(day[3]))
		return undefined;
	return d.getTime();
}

function instant(raw: string): { start: number; end: number } | undefined {
	const start = dayStart(raw);
	if (start !== undefined) return { start, end: start + 86_400_000 };
	const time = /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i.exec(raw);
	// The date part must be a real day, as a date alone must.
	if (!time || dayStart(time[1]!) === undefined) return undefined;
	const ms = Date.parse(raw);
	return Number.isFinite(ms) ? { start: ms, end: ms } : undefined;
}

/**
 * The admin API's and the console's audit filters, read from a query string. Empty values
 * are "any". A value that names nothing this log holds is refused with the reason, so a
 * typo never reads as "no events".
 */
export function parseAuditQuery(params: URLSearchParams): { ok: true; query: AuditQuery } | { ok: false; message: string } {
	for (const name of AUDIT_PARAMS)
		if (params.getAll(name).length > 1) return { ok: false, message: `${name}: given more than once; give it once.` };
	const get = (name: string) => (params.get(name) ?? "").trim();
	const query: AuditQuery = {};
	const keyId = get("keyId");
	if (keyId) {
		if (!KEY_ID.test(keyId)) return { ok: false, message: "keyId: not a key id (key_ and 22 letters or digits)." };
		query.keyId = keyId;
	}
	const action = get("action");
	if (action) {
		if (!(AUDIT_ACTIONS as readonly string[]).includes(action))
			return { ok: false, message: `action: one of ${AUDIT_ACTIONS.join(", ")}.` };
		query.action = action as AuditAction;
	}
	const actorType = get("actorType");
	if (actorType) {
		if (!(ACTOR_TYPES as readonly string[]).includes(actorType))
			return { ok: false, message: `actorType: one of ${ACTOR_TYPES.join(", ")}.` };
		query.actorType = actorType as ActorType;
	}
	const from = get("from");
	if (from) {
		const at = instant(from);
		if (!at) return { ok: false, message: "from: a date (2026-12-05, from the start of that UTC day) or an RFC 3339 time." };
		query.from = at.start;
	}
	const to = get("to");
	if (to) {
		const at = instant(to);
		if (!at) return { ok: false, message: "to: a date (2026-12-05, up to the end of that UTC day) or an RFC 3339 time." };
		// A day includes all of it; a time is the instant the range ends before.
		query.to = at.end === at.start ? at.start : at.end;
	}
	if (query.from !== undefined && query.to !== undefined && query.from >= query.to)
		return { ok: false, message: "from must be before to." };
	const cursor = get("cursor");
	if (cursor) {
		if (!readCursor(cursor, query))
			return { ok: false, message: "cursor: not one this log gave for these filters' key (or it was changed)." };
		query.cursor = cursor;
	}
	return { ok: true, query };
}

/**
 * Where the next page starts: the listing (`p`: the index it lists, the whole log or one
 * key's, and its filters), a KV list cursor (`c`, null: the first list page), the last entry
 * already given on that page (`a`), and a check value over the three (`k`). KV list cursors
 * are opaque and KV does not refuse a made-up one (it lists nothing), so a cursor edited,
 * truncated or taken to another listing is refused here rather than read as "no more
 * events" or reinterpreted. The check
 * catches mistakes, not an attacker: only the admin token holder can list at all.
 */
interface Resume {
	p: string;
	c: string | null;
	a: string | null;
}

const prefixOf = (query: Pick<AuditQuery, "keyId">) => (query.keyId ? `audit-key:${query.keyId}:` : "audit:");
/** What a cursor belongs to: the index it lists and every filter, so one taken to other filters is refused, not reinterpreted. */
const listingOf = (q: AuditQuery) => [prefixOf(q), q.action ?? "", q.actorType ?? "", q.from ?? "", q.to ?? ""].join("|");
const check = (r: Resume) => crc32(`${r.p}\n${r.c ?? ""}\n${r.a ?? ""}`).toString(36);
const toBase64Url = (s: string) => btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function writeCursor(r: Resume): string {
	return toBase64Url(JSON.stringify({ ...r, k: check(r) }));
}

function readCursor(raw: string, query: AuditQuery): Resume | undefined {
	const listing = listingOf(query);
	const prefix = prefixOf(query);
	const r = decodeCursor(raw);
	const ok = (v: unknown): v is string | null => v === null || (typeof v === "string" && v.length <= 1024);
	const c = r?.c;
	const a = r?.a;
	if (r === undefined || r.p !== listing || !ok(c) || !ok(a)) return undefined;
	const resume: Resume = { p: listing, c, a };
	if (r.k !== check(resume) || (resume.a !== null && !resume.a.startsWith(prefix))) return undefined;
	return resume;
}

/** The event's time, from its entry's name (`…:<inverted ms>:<event id>`). */
function msOf(name: string): number {
	const parts = name.split(":");
	return 1e13 - Number(parts[parts.length - 2]);
}

const isMeta = (m: unknown): m is AuditMeta =>
	typeof m === "object" && m !== null && typeof (m as AuditMeta).a === "string" && typeof (m as AuditMeta).t === "string";

/** An event written before events carried `actorType`: its type, read from its actor. */
function withActorType(e: AuditEvent): AuditEvent {
	if ((ACTOR_TYPES as readonly string[]).includes(e.actorType)) return e;
	const actorType: ActorType =
		e.actor === "console" || e.details.via === "console" ? "console" : e.actor.startsWith("portal:") ? "portal" : "token";
	return { ...e, actorType };
}

/**
 * One page of events, newest first, that match every filter. The key filter reads that
 * key's own index; the others are checked on each entry's list metadata, so events that do
 * not match are skipped without being read. Entries older than `from` end the listing. A
 * page scans at most AUDIT_SCAN_LISTS × 1,000 entries: when the filters are that sparse it
 * answers with fewer than `limit` events (possibly none) and a cursor that goes on from
 * where it stopped. `cursor` is null only when nothing older can match.
 */
export async function listAudit(kv: KVNamespace, query: AuditQuery = {}, limit = AUDIT_PAGE): Promise<AuditPage> {
	const prefix = prefixOf(query);
	const filtered = query.action !== undefined || query.actorType !== undefined || query.to !== undefined;
	const listing = listingOf(query);
	const resume = (query.cursor ? readCursor(query.cursor, query) : undefined) ?? { p: listing, c: null, a: null };
	let listCursor = resume.c;
	let after = resume.a;
	const found: { name: string; event?: AuditEvent }[] = [];
	let reads = 0;
	for (let lists = 0; lists < AUDIT_SCAN_LISTS; lists++) {
		// Unfiltered, a list page of `limit` is exactly one answer page; filtered, list widely and skip.
		const page = await kv.list<AuditMeta>({ prefix, cursor: listCursor ?? undefined, limit: filtered || after ? 1000 : limit });
		const entries = page.keys;
		for (let i = 0; i < entries.length; i++) {
			const entry = entries[i]!;
			if (after !== null && entry.name <= after) continue;
			const ms = msOf(entry.name);
			if (query.to !== undefined && ms >= query.to) continue;
			if (query.from !== undefined && ms < query.from) return { data: await values(kv, found), cursor: null };
			let meta = isMeta(entry.metadata) ? entry.metadata : undefined;
			let event: AuditEvent | undefined;
			if (!meta && (query.action !== undefined || query.actorType !== undefined)) {
				// Written before entries carried metadata: read it to filter it, within a budget (a
				// Worker may make about 1,000 KV calls per request); past it, answer and go on from here.
				if (reads === AUDIT_LEGACY_READS) {
					const resumeAt: Resume = { p: listing, c: listCursor, a: i > 0 ? entries[i - 1]!.name : after };
					return { data: await values(kv, found), cursor: writeCursor(resumeAt) };
				}
				reads++;
				const got = await kv.get<AuditEvent>(entry.name, "json");
				if (!got) continue;
				event = withActorType(got);
				meta = { a: event.action, t: event.actorType };
			}
			if (meta && query.action !== undefined && meta.a !== query.action) continue;
			if (meta && query.actorType !== undefined && meta.t !== query.actorType) continue;
			found.push({ name: entry.name, event });
			if (found.length === limit) {
				const last = i === entries.length - 1;
				const next: Resume | null = !last
					? { p: listing, c: listCursor, a: entry.name }
					: page.list_complete
						? null
						: { p: listing, c: page.cursor, a: null };
				return { data: await values(kv, found), cursor: next ? writeCursor(next) : null };
			}
		}
		if (page.list_complete) return { data: await values(kv, found), cursor: null };
		listCursor = page.cursor;
		after = null;
	}
	return { data: await values(kv, found), cursor: writeCursor({ p: listing, c: listCursor, a: null }) };
}

async function values(kv: KVNamespace, found: { name: string; event?: AuditEvent }[]): Promise<AuditEvent[]> {
	const events = await Promise.all(found.map((f) => f.event ?? kv.get<AuditEvent>(f.name, "json")));
	return events.filter((e): e is AuditEvent => e !== null).map(withActorType);
}

/** The actor named by an admin request, cleaned: printable ASCII, at most 100 characters. The caller refuses one that holds a key. */
export function actorFrom(header: string | undefined): string {
	const cleaned = (header ?? "")
		.replace(/[^\x20-\x7e]/g, "")
		.trim()
		.slice(0, 100);
	return cleaned || "admin";
}
