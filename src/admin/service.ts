import { tierOpenIn } from "../config/schema";
import type { CompiledApi, CompiledConfig } from "../config/load";
import { withoutKeyMaterial } from "../credentials/classify";
import { randomId, secretsEqual, sha256Hex } from "../keys/crypto";
import { generateKey, keyStart } from "../keys/format";
import { publicKey } from "../keys/public-key";
import { OWNER_ID, endedAs, publicView, type KeyRecord, type StoredKey } from "../keys/record";
import { getById, kvKey, putKey, removeKey } from "../keys/store";
import type { Authority } from "../authority/client";
import type { KeyStatus, Predecessor, Usage } from "../authority/key-authority";
import { keyPrincipal } from "../credentials/key";
import { effectiveLimits } from "../limits/effective";
import { logEvent } from "../util/log";
import { recordAudit } from "./audit";
import { HOUR_MS } from "../authority/usage-history";
import { keyCache } from "../keys/cache";
import type { AuditEvent, CreateKeyInput, OwnerView, UpdateKeyInput, UsageView } from "./contract";

/** An expected refusal: the admin route renders it; the field is named in the message. */
export class AdminError extends Error {
	constructor(
		readonly reason: "invalid_request" | "key_not_found" | "key_conflict" | "kv_failed" | "limiter_failed" | "not_found",
		message: string,
	) {
		// A message may quote what it refuses (a tier, an api, an id): never a key, whole or in part.
		super(withoutKeyMaterial(message));
	}
}

/**
 * A rotation refused by one of its two rules, with what the pages need to say it in their own words (they
 * put the form back with only what can work): a grace past `keys.maxRotationGraceSeconds`, or a grace while
 * the key this one replaced still works (the two-key rule). The admin API answers it as any AdminError.
 */
export class RotationRefused extends AdminError {
	constructor(
		readonly rule: { name: "grace_cap"; maxSeconds: number } | { name: "line_busy"; until: number },
		message: string,
	) {
		super(rule.name === "grace_cap" ? "invalid_request" : "key_conflict", message);
	}
}

export interface Services {
	kv: KVNamespace;
	/** The one client of the Durable Objects (authority/client.ts). */
	authority: Authority;
	config: CompiledConfig;
	/** Who is acting, for the audit log. */
	actor: string;
	/** How they came in (contract.ts ACTOR_TYPES). */
	actorType: AuditEvent["actorType"];
	/** Their client address, recorded as the audit event's `details.ip` (env.ts auditAddress). */
	ip: string | null;
}

/** Runs a step against KV or a Durable Object, turning a platform failure into a clear 503. */
async function step<T>(reason: "kv_failed" | "limiter_failed", what: string, run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (e) {
		logEvent(reason, { step: what, error: String(e) });
		throw new AdminError(reason, `${what} failed; nothing after it was done. Retrying is safe.`);
	}
}

function audit(s: Services, event: Omit<AuditEvent, "id" | "at" | "actor" | "actorType">): Promise<AuditEvent> {
	return recordAudit(s.kv, { actor: s.actor, actorType: s.actorType, ...event, details: { ...event.details, ip: s.ip } });
}

function resolveApi(s: Services, name: string | undefined): CompiledApi {
	if (name === undefined) return s.config.apis[0]!;
	const api = s.config.apis.find((a) => a.name === name);
	if (!api) throw new AdminError("invalid_request", `api: "${name}" is not a configured API`);
	return api;
}

export function pick(field: string, value: string | undefined, allowed: Record<string, unknown>, fallback: string): string {
	const chosen = value ?? fallback;
	if (!(chosen in allowed)) {
		throw new AdminError("invalid_request", `${field}: "${chosen}" is not one of ${Object.keys(allowed).join(", ")}`);
	}
	return chosen;
}

export interface CreatedKey {
	record: KeyRecord;
	key: string;
}

/** The fields a new key takes from a create body (or from the key it replaces). */
type KeyFields = Omit<CreateKeyInput, "type" | "api">;

function settle(api: CompiledApi, input: KeyFields) {
	const environment = pick("environment", input.environment, api.environments, Object.keys(api.environments)[0]!);
	const tier = pick("tier", input.tier, api.tiers, api.defaultTier);
	tierInEnvironment(api, environment, tier);
	return { environment, tier };
}

/** An environment open to some tiers only (`environments.<env>.tiers`) takes no key of another tier. */
export function tierInEnvironment(api: CompiledApi, environment: string, tier: string, then?: string): void {
	if (!tierOpenIn(api, environment, tier))
		throw new AdminError(
			"invalid_request",
			`tier: "${tier}" keys may not be made in environment "${environment}", which is open to ${api.environments[environment]!.tiers!.join(", ")}${then ? `; ${then}` : ""}`,
		);
}

async function mint(
	s: Services,
	api: CompiledApi,
	type: string,
	input: KeyFields,
	pairId: string | null,
	id = randomId("key"),
): Promise<CreatedKey> {
	const { environment, tier } = settle(api, input);
	const kind = api.keyTypes[type]!.kind;
	// A public key (publishable, identifier) is derived, so its page can show it again; a secret key is random, shown once.
	const plaintext =
		kind === "secret"
			? generateKey(type, environment)
			: await step("limiter_failed", "reading the public-key root", () => publicKey(s.authority, id, type, environment));
	const stored: StoredKey = {
		id,
		api: api.name,
		name: input.name,
		type,
		kind,
		environment,
		start: keyStart(plaintext),
		last4: plaintext.slice(-4),
		scopes: [...new Set(input.scopes ?? [])],
		tier,
		rateLimit: input.rateLimit ?? null,
		owner: input.owner ?? null,
		service: input.service ?? null,
		ipAllowlist: input.ipAllowlist ?? null,
		metadata: input.metadata ?? null,
		pairId,
		createdAt: new Date().toISOString(),
		expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
		revokedAt: null,
		rotatedAt: null,
		replacedBy: null,
		graceEndsAt: null,
		hash: await sha256Hex(plaintext),
	};
	await step("kv_failed", "writing the key record", () =>
		// A half-written record (its id entry without its hash entry) is taken back, so a retry leaves no stray key.
		putKey(s.kv, stored).catch(async (e) => {
			await removeKey(s.kv, stored).catch(() => undefined);
			throw e;
		}),
	);
	return { record: publicView(stored), key: plaintext };
}

/** Best effort: removes a key just minted that will never be handed out. True when it is gone. */
function forget(s: Services, id: string): Promise<boolean> {
	return getById(s.kv, id)
		.then((stored) => (stored ? removeKey(s.kv, stored) : undefined))
		.then(
			() => true,
			(e) => (logEvent("kv_failed", { step: "removing an unused new key", id, error: String(e) }), false),
		);
}

function created(s: Services, key: KeyRecord, details: Record<string, unknown> = {}) {
	return audit(s, {
		action: "key.created",
		api: key.api,
		keyId: key.id,
		owner: key.owner,
		details: { name: key.name, type: key.type, environment: key.environment, scopes: key.scopes, service: key.service, ...details },
	});
}

export async function createKey(s: Services, input: CreateKeyInput): Promise<CreatedKey> {
	const api = resolveApi(s, input.api);
	const firstSecret = Object.entries(api.keyTypes).find(([, t]) => t.kind === "secret")![0];
	const type = pick("type", input.type, api.keyTypes, firstSecret);
	const key = await mint(s, api, type, input, null);
	await created(s, key.record);
	return key;
}

/**
 * A secret key and its public companion, created together under one name with a shared
 * pairId: a publishable key (answered as `publishable`) or an application identifier
 * (answered as `identifier`), whichever type the API has.
 */
export async function createPair(
	s: Services,
	input: KeyFields & { api?: string },
): Promise<{ secret: CreatedKey } & ({ publishable: CreatedKey } | { identifier: CreatedKey })> {
	const api = resolveApi(s, input.api);
	const types = Object.entries(api.keyTypes);
	const companion = types.find(([, t]) => t.kind !== "secret");
	const sk = types.find(([, t]) => t.kind === "secret")![0];
	if (!companion)
		throw new AdminError("invalid_request", `api: "${api.name}" has no publishable or identifier key type, so it cannot issue pairs`);
	settle(api, input); // validate once before writing anything
	const pairId = randomId("pair");
	const publicKey = await mint(s, api, companion[0], input, pairId);
	// A pair is made whole or not at all: a lone public half would be a live key no one was shown (a review).
	const secret = await mint(s, api, sk, input, pairId).catch(async (e) => {
		if (await forget(s, publicKey.record.id)) throw e;
		throw new AdminError(
			"kv_failed",
			`writing the key record failed, and the unused ${companion[0]} key ${publicKey.record.id} could not be removed (delete it). Retrying is safe.`,
		);
	});
	await created(s, publicKey.record, { pairId });
	await created(s, secret.record, { pairId });
	return companion[1].kind === "publishable" ? { secret, publishable: publicKey } : { secret, identifier: publicKey };
}

/** Key ids are `key_` and 22 base62 characters (randomId); anything else cannot exist and costs no read. */
export const KEY_ID = /^key_[0-9A-Za-z]{22}$/;

export async function findKey(s: Services, id: string): Promise<StoredKey> {
	if (!KEY_ID.test(id)) throw new AdminError("key_not_found", `No key with id "${id.slice(0, 64)}" exists.`);
	const stored = await step("kv_failed", "reading the key record", () => getById(s.kv, id));
	if (!stored) throw new AdminError("key_not_found", `No key with id "${id}" exists.`);
	return stored;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The record with its lifecycle fields taken from the authority. The KV copy of those
 * fields is only a cache for the hot path: concurrent admin writes can leave it behind
 * (last writer wins in KV), never the Durable Object, which applies them one at a time.
 */
export function withStatus<K extends KeyRecord>(stored: K, status: KeyStatus): K {
	return {
		...stored,
		revokedAt: iso(status.revokedAt) ?? stored.revokedAt,
		rotatedAt: iso(status.deprecatedAt) ?? stored.rotatedAt,
		graceEndsAt: iso(status.graceEndsAt) ?? stored.graceEndsAt,
		replacedBy: status.replacedBy ?? stored.replacedBy,
	};
}

async function statusOf(s: Services, id: string): Promise<KeyStatus> {
	return step("limiter_failed", "reading the key's state", () => s.authority.status(id));
}

/** A key as the admin API shows it: its record, with the authority's lifecycle fields. */
export async function showKey(s: Services, id: string): Promise<KeyRecord> {
	const stored = await findKey(s, id);
	return publicView(withStatus(stored, await statusOf(s, id)));
}

/** Writes the record after merging in the authority's latest status, so a stale copy is never written back. */
async function save(s: Services, stored: StoredKey, before?: StoredKey): Promise<KeyRecord> {
	const status = await statusOf(s, stored.id);
	// A change racing a delete must not write the key back.
	if (status.deletedAt !== null) throw new AdminError("key_not_found", `No key with id "${stored.id}" exists.`);
	// An owner change: the old owner's index entry goes before the record is written, so a revoke or rotate saving
	// meanwhile under the old owner writes it again (a review: deleted after, the index could lack the owner the record
	// names); the rollback below puts it back. A failed delete leaves an entry the portal drops (it reads each record).
	if (before?.owner && before.owner !== stored.owner)
		await s.kv
			.delete(kvKey.owned(before.api, before.owner, stored.id))
			.catch((e: unknown) => logEvent("owner_index_stale", { keyId: stored.id, error: String(e) }));
	const merged = withStatus(stored, status);
	await step("kv_failed", "updating the key record", () =>
		putKey(s.kv, merged).catch(async (e) => {
			// A change half written (the id entry the admin API reads, not the hash entry requests are checked
			// against) is put back, so the record never shows a change that is not in force (a review).
			if (before) await putKey(s.kv, withStatus(before, status)).catch(() => undefined);
			throw e;
		}),
	);
	return publicView(merged);
}

/** How many objects a key's limits are split over: its own limit's, else its tier's. */
const shardsOf = (k: StoredKey, api: CompiledApi): number => (k.rateLimit ?? api.tiers[k.tier])?.shards ?? 1;

/**
 * Changes a key's record. The change reaches every location within KV's propagation
 * time plus the isolate cache's 60 s; to take rights away at once, revoke or rotate.
 */
export async function updateKey(s: Services, id: string, patch: UpdateKeyInput): Promise<KeyRecord> {
	const stored = await findKey(s, id);
	const api = resolveApi(s, stored.api);
	if (patch.scopes !== undefined && api.keys.immutableScopes) {
		throw new AdminError("invalid_request", `scopes: cannot be changed after creation on API "${api.name}"; create a new key instead`);
	}
	if (patch.tier !== undefined) {
		pick("tier", patch.tier, api.tiers, api.defaultTier);
		tierInEnvironment(api, stored.environment, patch.tier);
	}
	const next: StoredKey = { ...stored };
	if (patch.name !== undefined) next.name = patch.name;
	if (patch.scopes !== undefined) next.scopes = [...new Set(patch.scopes)];
	if (patch.tier !== undefined) next.tier = patch.tier;
	if (patch.rateLimit !== undefined) next.rateLimit = patch.rateLimit;
	if (patch.expiresAt !== undefined) next.expiresAt = patch.expiresAt === null ? null : new Date(patch.expiresAt).toISOString();
	if (patch.ipAllowlist !== undefined) next.ipAllowlist = patch.ipAllowlist;
	if (patch.owner !== undefined) next.owner = patch.owner;
	if (patch.service !== undefined) next.service = patch.service;
	if (patch.metadata !== undefined) next.metadata = patch.metadata;
	// A key's number of shards is fixed at creation: an isolate holds the record it read for up to 60 s, and
	// one still on the old layout counts each shard against the old share of the limit, so a change let
	// the two layouts each admit what was left (found by a peer, 70 passes on a 40/hour key; spreading the
	// counts over the new layout was not enough, found by two reviews). A key with other shards is a new key.
	const [shards, wanted] = [shardsOf(stored, api), shardsOf(next, api)];
	if (wanted !== shards)
		throw new AdminError(
			"invalid_request",
			`${patch.rateLimit ? "rateLimit.shards" : patch.tier !== undefined ? "tier" : "rateLimit"}: would change the key's number of shards (${shards} to ${wanted}), which is fixed when a key is made; create a new key with the shards it needs`,
		);
	const record = await save(s, next, stored);
	await audit(s, { action: "key.updated", api: stored.api, keyId: id, owner: next.owner, details: { fields: Object.keys(patch) } });
	return record;
}

/**
 * The Durable Object is told first: from that moment every request, in every isolate,
 * is refused. The KV record follows so listings show it; if that write fails the key
 * is still revoked and a retry completes the record.
 */
export async function revokeKey(s: Services, id: string): Promise<KeyRecord> {
	const stored = await findKey(s, id);
	const at = Date.now();
	const status = await step("limiter_failed", "revoking the key in its Durable Object", () => s.authority.revoke(id, at));
	const record = await save(s, stored);
	// Revoking a revoked key changes nothing (its object keeps the first time): answered as before, audited once.
	// A retry after a failed KV write (the record still says live) is the same revocation's audit.
	if (status.revokedAt === at || stored.revokedAt === null)
		await audit(s, { action: "key.revoked", api: stored.api, keyId: id, owner: stored.owner, details: {} });
	return record;
}

/**
 * A publishable key or an identifier, shown again: derived from its id under keygate's
 * root (keys/public-key.ts) and checked against the hash keygate stores, so only the key
 * itself is ever shown. Refused for a secret key (shown once, when it is made), for a key
 * that works no longer (revoked, expired, or past its rotation's grace), and for a public
 * key that does not match (made before keygate derived public keys: it still works, and a
 * rotation makes one that can be shown). Audited as `key.revealed`; the key is in the
 * answer only, never in the log or the audit entry.
 */
export async function revealKey(s: Services, id: string): Promise<KeyRecord & { key: string }> {
	const stored = await findKey(s, id);
	if (stored.kind === "secret")
		throw new AdminError(
			"invalid_request",
			"A secret key is shown once, when it is made: keygate keeps only its hash. Only a publishable key or an identifier can be shown again.",
		);
	const status = await statusOf(s, id);
	if (status.deletedAt !== null) throw new AdminError("key_not_found", `No key with id "${id}" exists.`);
	const record = publicView(withStatus(stored, status));
	const ended = endedAs(record, Date.now());
	if (ended) throw new AdminError("key_conflict", `The key is ${ENDED_WORDS[ended]}: it works no longer, so it is not shown.`);
	const key = await step("limiter_failed", "reading the public-key root", () =>
		publicKey(s.authority, stored.id, stored.type, stored.environment),
	);
	if (!(await secretsEqual(await sha256Hex(key), stored.hash)))
		throw new AdminError(
			"key_conflict",
			"This key cannot be shown again: it was made before keygate could show public keys again (or under another public-key root, if keygate's Durable Objects were replaced). It still works; rotate it for one that can be shown.",
		);
	await audit(s, { action: "key.revealed", api: stored.api, keyId: id, owner: stored.owner, details: {} });
	return { ...record, key };
}

const ENDED_WORDS = { revoked: "revoked", expired: "expired", grace_ended: "replaced, and its grace period has ended" } as const;

/**
 * Starts the old key's grace period, naming its replacement. A failed call may have taken
 * effect (its answer lost, or a shard's push failed after the key's object saved it), so
 * it is asked once more with the same replacement, which the object answers idempotently.
 * If that fails too, the object decides (abandonGrace): a rotation in force is finished by
 * the caller; one never made is refused there for good and undone here (the unused
 * replacement removed), so "retrying is safe" stays true even if a timed-out call lands
 * late. Found by reviews: the replacement was left live and unaudited, and the retry that
 * the 503 advised could only get 409.
 */
async function startGrace(
	s: Services,
	id: string,
	now: number,
	endsAt: number,
	replacement: KeyRecord,
): Promise<{ ok: boolean; status: KeyStatus }> {
	const ask = () => s.authority.startGrace(id, now, endsAt, replacement.id);
	try {
		return await ask();
	} catch (e) {
		logEvent("limiter_failed", { step: "starting the old key's grace period", error: String(e) });
	}
	try {
		return await ask();
	} catch (e) {
		logEvent("limiter_failed", { step: "starting the old key's grace period, asked again", error: String(e) });
	}
	let abandoned: { inForce: boolean; status: KeyStatus };
	try {
		abandoned = await s.authority.abandonGrace(id, replacement.id);
	} catch (e) {
		logEvent("limiter_failed", { step: "giving up a rotation whose grace step failed", error: String(e) });
		throw new AdminError(
			"limiter_failed",
			`Starting the old key's grace period failed and whether it took effect could not be read. Read ${id}: if its replacedBy is ${replacement.id}, the rotation took effect (revoke ${replacement.id} and create a new key, since its plaintext is lost); if replacedBy is null, delete ${replacement.id}, unused, and retrying is safe.`,
		);
	}
	if (abandoned.inForce) return { ok: true, status: abandoned.status };
	// Refused for good by the key's object now, so removing it cannot leave the key replaced by nothing.
	const removed = await forget(s, replacement.id);
	throw new AdminError(
		"limiter_failed",
		removed
			? "starting the old key's grace period failed; nothing after it was done. Retrying is safe."
			: `starting the old key's grace period failed, and the unused replacement ${replacement.id} could not be removed (delete it). Retrying is safe.`,
	);
}

/**
 * The key this one replaced, directly or further back, that still works longest, and until
 * when; null when none does. Until then this key is rotated only with no grace: at most two
 * keys of one line work at once. A predecessor revoked or deleted since works no longer.
 */
async function workingPredecessor(s: Services, older: Predecessor | null): Promise<Predecessor | null> {
	if (older === null || older.until <= Date.now()) return null;
	const status = await statusOf(s, older.id);
	return status.revokedAt === null && status.deletedAt === null ? older : null;
}

/** The key's mark as its object keeps it (the key before it that worked longest), working or not. */
const markOf = (s: Services, id: string) => step("limiter_failed", "reading the key's predecessor", () => s.authority.predecessorGrace(id));

/** Until when (Unix ms) a key this one replaced still works (workingPredecessor), or null. */
export async function predecessorWorksUntil(s: Services, id: string): Promise<number | null> {
	return (await workingPredecessor(s, await markOf(s, id)))?.until ?? null;
}

export async function rotateKey(
	s: Services,
	id: string,
	graceSeconds: number | undefined,
): Promise<{ created: CreatedKey; previous: KeyRecord }> {
	const stored = await findKey(s, id);
	const api = resolveApi(s, stored.api);
	const grace = graceSeconds ?? api.keys.rotationGraceSeconds;
	// Checked before anything is read from the key's object or changed.
	const maxGrace = api.keys.maxRotationGraceSeconds;
	if (maxGrace !== undefined && grace > maxGrace)
		throw new RotationRefused(
			{ name: "grace_cap", maxSeconds: maxGrace },
			maxGrace === 0
				? `gracePeriodSeconds: this API's keys are rotated with no grace period (keys.maxRotationGraceSeconds 0): send 0, or leave it out`
				: `gracePeriodSeconds: at most ${maxGrace} for this API (keys.maxRotationGraceSeconds)`,
		);
	// A key of a tier its environment is no longer open to gets no successor there, refused before any count is carried (a review).
	tierInEnvironment(api, stored.environment, stored.tier, "this key cannot be rotated: create one of another tier or environment");
	const status = await statusOf(s, id);
	// Deleted under us (its object says so before KV does): as any key that does not exist (a probe saw "already rotated").
	if (status.deletedAt !== null) throw new AdminError("key_not_found", `No key with id "${id}" exists.`);
	if (stored.revokedAt !== null || status.revokedAt !== null)
		throw new AdminError("key_conflict", "The key is revoked and cannot be rotated.");
	if (stored.replacedBy !== null || status.replacedBy !== null) throw new AdminError("key_conflict", "The key has already been rotated.");
	if (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= Date.now())
		throw new AdminError("key_conflict", "The key has expired and cannot be rotated.");
	// At most two keys of one line work at once: a key whose predecessor still works is rotated with no
	// grace, or after that grace (a second probe: rotating within graces gave 25 passes on a 5/hour key).
	const line = await markOf(s, id);
	const older = await workingPredecessor(s, line);
	if (grace > 0 && older !== null)
		throw new RotationRefused(
			{ name: "line_busy", until: older.until },
			`The key it replaced still works until ${new Date(older.until).toISOString()}: rotate this one with no grace period ("Immediately", gracePeriodSeconds 0), or after then.`,
		);
	// The replacement exists before the old key's clock starts, so there is never a moment with neither.
	const fields: KeyFields = {
		name: stored.name,
		environment: stored.environment,
		scopes: stored.scopes,
		tier: stored.tier,
		rateLimit: stored.rateLimit ?? undefined,
		expiresAt: stored.expiresAt ?? undefined,
		ipAllowlist: stored.ipAllowlist ?? undefined,
		owner: stored.owner ?? undefined,
		service: stored.service ?? undefined,
		metadata: stored.metadata ?? undefined,
	};
	const now = Date.now();
	const endsAt = now + grace * 1000;
	// The replacement's object first takes the key's counts, and learns which key before it still
	// works, before the replacement exists anywhere: it cannot be listed, used or rotated before that
	// (a review: a rotation of the replacement timed before this step passed the two-key check).
	const replacementId = randomId("key");
	// What the replacement must know of its line: the key that works longest before it, among those still
	// working (a review: a revoked older key named here left the direct predecessor out, and graces chained again).
	const mark: Predecessor = older !== null && older.until > endsAt ? older : { until: endsAt, id };
	// What the key before it passed while it worked on (its grace, revoked since or run out) is this key's
	// line's too: taken in first, or a rotation after each grace gave each old key a window's worth again
	// (a seed-page pass: 30 passes in one hour on a 5/hour key, never more than two keys working).
	// Both keys of a line have the same number of shards: a rotation copies the limits, and no PATCH changes it.
	const shards = shardsOf(stored, api);
	if (line !== null)
		await step("limiter_failed", "carrying the counts of the key it replaced", () => s.authority.carryCounters(line.id, id, shards));
	await step("limiter_failed", "carrying the key's rate-limit counts to its replacement", () =>
		s.authority.carryCounters(id, replacementId, shards, mark),
	);
	const replacement = await mint(s, api, stored.type, fields, stored.pairId, replacementId);
	const started = await startGrace(s, id, now, endsAt, replacement.record);
	if (!started.ok) {
		// Lost a race with a revocation or another rotation: the replacement must not outlive it.
		const orphan = await findKey(s, replacement.record.id);
		await step("kv_failed", "removing the unused replacement", () => removeKey(s.kv, orphan));
		if (started.status.deletedAt !== null) throw new AdminError("key_not_found", `No key with id "${id}" exists.`);
		throw new AdminError(
			"key_conflict",
			started.status.revokedAt !== null ? "The key is revoked and cannot be rotated." : "The key has already been rotated.",
		);
	}
	// Once more now that the grace has started: what the old key passed between the first carry and
	// its grace step counts too (a review: 80 passes on a 20/hour key, timed into that gap). With
	// "Immediately" the old key is dead by now, so nothing escapes; counts only go up, so twice is safe.
	await s.authority.carryCounters(id, replacement.record.id, shards, mark).catch((e: unknown) => {
		logEvent("limiter_failed", { step: "carrying the key's counts to its replacement again, after its grace started", error: String(e) });
	});
	let previous: KeyRecord;
	try {
		previous = await save(s, stored);
	} catch (e) {
		// Past this point the rotation has happened: saying "retry" would only earn a 409.
		if (e instanceof AdminError && e.reason === "kv_failed") {
			throw new AdminError(
				"kv_failed",
				`The rotation took effect (${id} is replaced by ${replacement.record.id} and works until its grace period ends) but its record could not be updated, so the new key cannot be shown. Do not retry: revoke ${replacement.record.id} and create a new key.`,
			);
		}
		throw e;
	}
	await audit(s, {
		action: "key.rotated",
		api: stored.api,
		keyId: id,
		owner: stored.owner,
		details: { replacedBy: replacement.record.id, graceEndsAt: previous.graceEndsAt },
	});
	await created(s, replacement.record, { replaces: id });
	return { created: replacement, previous };
}

/** The Durable Object marks the key deleted first, then KV forgets it: it reads as unknown from then on. */
export async function deleteKey(s: Services, id: string): Promise<void> {
	const stored = await findKey(s, id);
	await step("limiter_failed", "deleting the key in its Durable Object", () => s.authority.markDeleted(id, Date.now()));
	await step("kv_failed", "removing the key record", () => removeKey(s.kv, stored));
	// This isolate may remember the key as revoked or expired; from now on it answers as for a deleted key.
	keyCache.markDead(id, "deleted");
	await audit(s, { action: "key.deleted", api: stored.api, keyId: id, owner: stored.owner, details: { name: stored.name } });
}

/** Hour buckets as the admin API and the pages show them. */
export function historyView(hourly: Usage["hourly"]): UsageView["history"] {
	return hourly.map((b) => ({ hourStart: new Date(b.hour * HOUR_MS).toISOString(), passed: b.passed, rejected: b.rejected }));
}

export async function keyUsage(s: Services, id: string): Promise<UsageView> {
	const stored = await findKey(s, id);
	const usage = await step("limiter_failed", "reading usage", () => s.authority.usage(id));
	// The same function the rate-limit stage counts with, so the view cannot disagree with it.
	const api = s.config.apis.find((a) => a.name === stored.api);
	const effective = api ? effectiveLimits(keyPrincipal(stored), api, undefined) : undefined;
	const own = effective?.buckets[0]!.spec;
	return {
		id,
		passed: usage.passed,
		rejected: usage.rejected,
		lastUsedAt: iso(usage.lastUsedAt),
		history: historyView(usage.hourly),
		limits: own ? { limit: own.limit, window: own.window, burst: own.burst, shards: effective!.shards } : null,
	};
}

function ownerApi(s: Services, apiName: string | undefined, owner: string): CompiledApi & { owners: NonNullable<CompiledApi["owners"]> } {
	if (!OWNER_ID.test(owner)) throw new AdminError("invalid_request", "owner: 1 to 200 printable ASCII characters, no spaces or colons");
	const api = resolveApi(s, apiName);
	if (!api.owners) throw new AdminError("invalid_request", `api: "${api.name}" has no owners configured`);
	return api as CompiledApi & { owners: NonNullable<CompiledApi["owners"]> };
}

/** Sets an owner's role; every key of the owner has the new rights from its next request. */
export async function setOwnerRole(s: Services, owner: string, apiName: string | undefined, role: string): Promise<OwnerView> {
	const api = ownerApi(s, apiName, owner);
	pick("role", role, api.owners.roles, api.owners.defaultRole);
	await step("limiter_failed", "setting the owner's role", () => s.authority.setOwnerRole(api.name, owner, role));
	await audit(s, { action: "owner.role_set", api: api.name, keyId: null, owner, details: { role } });
	return { owner, api: api.name, role, assigned: true };
}

export async function getOwner(s: Services, owner: string, apiName: string | undefined): Promise<OwnerView> {
	const api = ownerApi(s, apiName, owner);
	const role = await step("limiter_failed", "reading the owner's role", () => s.authority.ownerRole(api.name, owner));
	return { owner, api: api.name, role: role ?? api.owners.defaultRole, assigned: role !== null };
}
