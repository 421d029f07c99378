import * as z from "zod/mini";
import { RateLimitSchema } from "../config/schema";

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
	/** The type prefix, e.g. `sk`. */
	type: z.string(),
	kind: z.enum(["secret", "publishable", "identifier"]),
	environment: z.string(),
	/** Type, environment and the first 4 characters of the body, to recognise a key by. */
	start: z.string(),
	scopes: z.array(z.string()),
	tier: z.string(),
	/** Per-key limits; when set they replace the tier's. */
	rateLimit: z.nullable(RateLimitSchema),
	owner: nullableString(),
	/** The service or integration that uses this key, for audit. */
	service: nullableString(),
	ipAllowlist: z.nullable(z.array(z.string())),
	metadata: z.nullable(z.record(z.string(), z.unknown())),
	/** Set on both keys of a pair created together. */
	pairId: nullableString(),
	createdAt: time(),
	expiresAt: z.nullable(time()),
	revokedAt: z.nullable(time()),
	/** Rotation: when this key was replaced, by which key, and until when it still works. */
	rotatedAt: z.nullable(time()),
	replacedBy: nullableString(),
	graceEndsAt: z.nullable(time()),
});

export type KeyRecord = z.output<typeof KeyRecordSchema>;

/** What KV holds: the record plus the key's SHA-256, needed to remove the hash entry on delete. */
export interface StoredKey extends KeyRecord {
	hash: string;
}

export function publicView(stored: StoredKey): KeyRecord {
	const { hash: _hash, ...record } = stored;
	return record;
}
