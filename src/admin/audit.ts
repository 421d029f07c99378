import { randomId } from "../keys/crypto";
import { logEvent } from "../util/log";
import type { AuditEvent, AuditPage } from "./contract";

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
 */
const inverted = (ms: number) => String(1e13 - ms).padStart(14, "0");

export async function recordAudit(kv: KVNamespace, event: Omit<AuditEvent, "id" | "at">): Promise<AuditEvent> {
	const now = Date.now();
	const full: AuditEvent = { id: randomId("evt"), at: new Date(now).toISOString(), ...event };
	const value = JSON.stringify(full);
	const writes = [kv.put(`audit:${inverted(now)}:${full.id}`, value)];
	if (full.keyId) writes.push(kv.put(`audit-key:${full.keyId}:${inverted(now)}:${full.id}`, value));
	try {
		await Promise.all(writes);
	} catch (e) {
		// The operation itself has happened; a lost audit line is reported in the logs, not as a failed operation.
		logEvent("audit_write_failed", { action: full.action, keyId: full.keyId, error: String(e) });
	}
	return full;
}

export async function listAudit(kv: KVNamespace, keyId: string | undefined, cursor: string | undefined, limit = 50): Promise<AuditPage> {
	const prefix = keyId ? `audit-key:${keyId}:` : "audit:";
	const page = await kv.list({ prefix, cursor, limit });
	const events = await Promise.all(page.keys.map((k) => kv.get<AuditEvent>(k.name, "json")));
	return { data: events.filter((e): e is AuditEvent => e !== null), cursor: page.list_complete ? null : page.cursor };
}

/** The actor named by an admin request, cleaned: printable ASCII, at most 100 characters. The caller refuses one that holds a key. */
export function actorFrom(header: string | undefined): string {
	const cleaned = (header ?? "")
		.replace(/[^\x20-\x7e]/g, "")
		.trim()
		.slice(0, 100);
	return cleaned || "admin";
}
