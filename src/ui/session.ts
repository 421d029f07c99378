import { randomId, sha256Hex } from "../keys/crypto";

/**
 * Console sessions. The browser holds a random token in `__Host-kg_session`; KV holds only
 * its SHA-256 (as it holds only keys' hashes), so a KV dump cannot be replayed as a cookie.
 *
 * KV layout:
 *   ui-session:<sha256 hex of the session token> -> UiSession JSON, expirationTtl = the absolute lifetime
 *
 * A session is bound to the ADMIN_TOKEN it was opened with (`binding`, a hash of the token
 * under a label of its own): rotating ADMIN_TOKEN ends every session on its next request,
 * with nothing to enumerate or delete. The token itself is never stored or put in a cookie.
 *
 * KV is eventually consistent: a logout is immediate in the location that served it and
 * reaches the others within KV's propagation time (about 60 s). The idle timestamp is
 * refreshed at most once a minute, so an active console costs about one write a minute.
 */
export const SESSION_COOKIE = "__Host-kg_session";
export const SESSION_ABSOLUTE_MS = 8 * 3600_000;
export const SESSION_IDLE_MS = 30 * 60_000;
const TOUCH_EVERY_MS = 60_000;

export interface UiSession {
	createdAt: number;
	lastSeenAt: number;
	binding: string;
	/** Who signed in, for the audit log. */
	actor: string;
}

const kvName = async (token: string) => `ui-session:${await sha256Hex(token)}`;
export const adminTokenBinding = (adminToken: string) => sha256Hex(`keygate-ui-session:${adminToken}`);

export async function openSession(kv: KVNamespace, adminToken: string, actor: string, now = Date.now()): Promise<string> {
	const token = randomId("kgs") + randomId("").slice(1);
	const session: UiSession = { createdAt: now, lastSeenAt: now, binding: await adminTokenBinding(adminToken), actor };
	await kv.put(await kvName(token), JSON.stringify(session), { expirationTtl: SESSION_ABSOLUTE_MS / 1000 });
	return token;
}

export type SessionCheck = { ok: true; session: UiSession } | { ok: false; reason: "none" | "expired" | "idle" | "token_changed" };

/** Pure: is a stored session still good at `now` for the current ADMIN_TOKEN's binding? */
export function judgeSession(session: UiSession | null, binding: string, now: number): SessionCheck {
	if (!session) return { ok: false, reason: "none" };
	if (session.binding !== binding) return { ok: false, reason: "token_changed" };
	if (now - session.createdAt >= SESSION_ABSOLUTE_MS) return { ok: false, reason: "expired" };
	if (now - session.lastSeenAt >= SESSION_IDLE_MS) return { ok: false, reason: "idle" };
	return { ok: true, session };
}

export async function readSession(kv: KVNamespace, token: string, adminToken: string, now = Date.now()): Promise<SessionCheck> {
	if (!/^kgs_[0-9A-Za-z]{44}$/.test(token)) return { ok: false, reason: "none" };
	const name = await kvName(token);
	const session = await kv.get<UiSession>(name, "json");
	const verdict = judgeSession(session, await adminTokenBinding(adminToken), now);
	if (!verdict.ok) {
		if (session) await kv.delete(name);
		return verdict;
	}
	if (now - verdict.session.lastSeenAt >= TOUCH_EVERY_MS) {
		const remaining = Math.max(60, Math.ceil((verdict.session.createdAt + SESSION_ABSOLUTE_MS - now) / 1000));
		await kv.put(name, JSON.stringify({ ...verdict.session, lastSeenAt: now }), { expirationTtl: remaining });
	}
	return verdict;
}

export async function closeSession(kv: KVNamespace, token: string): Promise<void> {
	await kv.delete(await kvName(token));
}
