import * as z from "zod/mini";
import { doc, RateLimitSchema } from "../config/schema";

/**
 * A scope as keygate holds one: an RFC 6749 §3.3 scope-token (printable ASCII, no space,
 * quote or backslash) with no comma, since X-Keygate-Scopes joins scopes with one. Keys'
 * scopes are refused otherwise (admin contract); an external JWT's are dropped.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]{1,100}$/;

/**
 * An owner id, and an OAuth subject (the same thing: the user a key or a grant belongs to):
 * 1-200 printable ASCII characters, no space or colon. It becomes a header value, a Durable
 * Object name and an admin path or query value.
 */
export const OWNER_ID = /^[\x21-\x39\x3b-\x7e]{1,200}$/;
/** OWNER_ID's characters, any length: for a schema that checks the length itself. */
export const OWNER_ID_CHARS = /^[\x21-\x39\x3b-\x7e]+$/;

const nullableString = () => z.nullable(z.string());
const time = () => z.iso.datetime({ offset: true });

/**
 * A key as the admin API shows it: the schema is the contract (the served OpenAPI document
 * is generated from it, and `npm test` checks every admin response against it). Never holds
 * the plaintext or its hash; strict, so a field added here and not there fails the check.
 */
export const KeyRecordSchema = z.strictObject({
	id: z.string(),
	api: z.string(),
	name: z.string(),
	type: doc(z.string(), "The type prefix, e.g. sk."),
	kind: z.enum(["secret", "publishable", "identifier"]),
	environment: z.string(),
	start: doc(z.string(), "Type, environment and the first 4 characters of the body, to recognise a key by."),
	last4: doc(
		z.nullable(z.string()),
		"The key's last 4 characters (part of its checksum, so they reveal nothing of its random part), kept at creation to show a masked key; null for keys created before it was kept.",
	),
	scopes: z.array(z.string()),
	tier: z.string(),
	rateLimit: doc(z.nullable(RateLimitSchema), "Per-key limits; when set they replace the tier's."),
	owner: nullableString(),
	service: doc(nullableString(), "The service or integration that uses this key, for audit."),
	ipAllowlist: z.nullable(z.array(z.string())),
	metadata: z.nullable(z.record(z.string(), z.unknown())),
	pairId: doc(nullableString(), "Set on both keys of a pair created together."),
	createdAt: time(),
	expiresAt: z.nullable(time()),
	revokedAt: z.nullable(time()),
	rotatedAt: doc(z.nullable(time()), "When this key was rotated."),
	replacedBy: doc(nullableString(), "The id of the key that replaced it."),
	graceEndsAt: doc(z.nullable(time()), "Until when a rotated key still works."),
});

export type KeyRecord = z.output<typeof KeyRecordSchema>;

/** What KV holds: the record plus the key's SHA-256, needed to remove the hash entry on delete. */
export interface StoredKey extends KeyRecord {
	hash: string;
}

export function publicView(stored: StoredKey): KeyRecord {
	const { hash: _hash, ...record } = stored;
	// Records written before last4 was kept have none.
	return { ...record, last4: record.last4 ?? null };
}

/** Why a key's record says it works no longer at `now`, in the order the gateway checks: revoked, expired, past its rotation's grace. */
export function endedAs(
	key: Pick<KeyRecord, "revokedAt" | "expiresAt" | "graceEndsAt">,
	now: number,
): "revoked" | "expired" | "grace_ended" | undefined {
	if (key.revokedAt !== null) return "revoked";
	if (key.expiresAt !== null && Date.parse(key.expiresAt) <= now) return "expired";
	if (key.graceEndsAt !== null && Date.parse(key.graceEndsAt) <= now) return "grace_ended";
	return undefined;
}
