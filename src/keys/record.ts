import type { RateLimit } from "../config/schema";

/** A key as the admin API shows it. Never holds the plaintext or its hash. */
export interface KeyRecord {
	id: string;
	api: string;
	name: string;
	/** The type prefix, e.g. `sk`. */
	type: string;
	kind: "secret" | "publishable" | "identifier";
	environment: string;
	/** Type, environment and the first 4 characters of the body, to recognise a key by. */
	start: string;
	scopes: string[];
	tier: string;
	/** Per-key limits; when set they replace the tier's. */
	rateLimit: RateLimit | null;
	owner: string | null;
	/** The service or integration that uses this key, for audit. */
	service: string | null;
	ipAllowlist: string[] | null;
	metadata: Record<string, unknown> | null;
	/** Set on both keys of a pair created together. */
	pairId: string | null;
	createdAt: string;
	expiresAt: string | null;
	revokedAt: string | null;
	/** Rotation: when this key was replaced, by which key, and until when it still works. */
	rotatedAt: string | null;
	replacedBy: string | null;
	graceEndsAt: string | null;
}

/** What KV holds: the record plus the key's SHA-256, needed to remove the hash entry on delete. */
export interface StoredKey extends KeyRecord {
	hash: string;
}

export function publicView(stored: StoredKey): KeyRecord {
	const { hash: _hash, ...record } = stored;
	return record;
}
