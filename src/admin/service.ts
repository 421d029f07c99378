import type { CompiledApi, CompiledConfig } from "../config/load";
import { randomId, sha256Hex } from "../keys/crypto";
import { generateKey, keyStart } from "../keys/format";
import { publicView, type KeyRecord, type StoredKey } from "../keys/record";
import { getById, putKey, removeKey } from "../keys/store";
import type { KeyState, KeyStatus, Usage } from "../limiter/key-state";
import type { CreateKeyInput } from "./bodies";

/** An expected refusal: the admin route renders it; the field is named in the message. */
export class AdminError extends Error {
	constructor(
		readonly reason: "invalid_request" | "key_not_found" | "key_conflict" | "kv_failed" | "limiter_failed",
		message: string,
	) {
		super(message);
	}
}

export interface Services {
	kv: KVNamespace;
	keyState: DurableObjectNamespace<KeyState>;
	config: CompiledConfig;
}

export const DEFAULT_GRACE_SECONDS = 86_400;

function keyStub(s: Services, id: string): DurableObjectStub<KeyState> {
	return s.keyState.get(s.keyState.idFromName(id));
}

/** Runs a step against KV or the Durable Object, turning a platform failure into a clear 503. */
async function step<T>(reason: "kv_failed" | "limiter_failed", what: string, run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (e) {
		console.error(JSON.stringify({ event: reason, step: what, error: String(e) }));
		throw new AdminError(reason, `${what} failed; nothing after it was done. Retrying is safe.`);
	}
}

function resolveApi(s: Services, name: string | undefined): CompiledApi {
	if (name === undefined) return s.config.apis[0]!;
	const api = s.config.apis.find((a) => a.name === name);
	if (!api) throw new AdminError("invalid_request", `api: "${name}" is not a configured API`);
	return api;
}

function pick(field: string, value: string | undefined, allowed: Record<string, unknown>, fallback: string): string {
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

interface NewKeyFields {
	api: CompiledApi;
	type: string;
	input: Omit<CreateKeyInput, "type" | "api">;
	pairId: string | null;
}

function defaults(api: CompiledApi, input: Omit<CreateKeyInput, "type" | "api">) {
	return {
		environment: pick("environment", input.environment, api.environments, Object.keys(api.environments)[0]!),
		tier: pick("tier", input.tier, api.tiers, api.defaultTier),
	};
}

async function mint({ api, type, input, pairId }: NewKeyFields, s: Services): Promise<CreatedKey> {
	const { environment, tier } = defaults(api, input);
	const plaintext = generateKey(type, environment);
	const stored: StoredKey = {
		id: randomId("key"),
		api: api.name,
		name: input.name,
		type,
		kind: api.keyTypes[type]!.kind,
		environment,
		start: keyStart(plaintext),
		scopes: [...new Set(input.scopes ?? [])],
		tier,
		rateLimit: input.rateLimit ?? null,
		owner: input.owner ?? null,
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
	await step("kv_failed", "writing the key record", () => putKey(s.kv, stored));
	return { record: publicView(stored), key: plaintext };
}

export async function createKey(s: Services, input: CreateKeyInput): Promise<CreatedKey> {
	const api = resolveApi(s, input.api);
	const firstSecret = Object.entries(api.keyTypes).find(([, t]) => t.kind === "secret")![0];
	const type = pick("type", input.type, api.keyTypes, firstSecret);
	return mint({ api, type, input, pairId: null }, s);
}

/** A publishable and a secret key created together under one name, sharing a pairId. */
export async function createPair(s: Services, input: Omit<CreateKeyInput, "type">): Promise<{ publishable: CreatedKey; secret: CreatedKey }> {
	const api = resolveApi(s, input.api);
	const types = Object.entries(api.keyTypes);
	const pk = types.find(([, t]) => t.kind === "publishable")?.[0];
	const sk = types.find(([, t]) => t.kind === "secret")?.[0];
	if (!pk || !sk) throw new AdminError("invalid_request", `api: "${api.name}" has no publishable key type, so it cannot issue pairs`);
	defaults(api, input); // validate once before writing anything
	const pairId = randomId("pair");
	const publishable = await mint({ api, type: pk, input, pairId }, s);
	const secret = await mint({ api, type: sk, input, pairId }, s);
	return { publishable, secret };
}

export async function findKey(s: Services, id: string): Promise<StoredKey> {
	const stored = await step("kv_failed", "reading the key record", () => getById(s.kv, id));
	if (!stored) throw new AdminError("key_not_found", `No key with id "${id}" exists.`);
	return stored;
}

async function save(s: Services, stored: StoredKey): Promise<KeyRecord> {
	await step("kv_failed", "updating the key record", () => putKey(s.kv, stored));
	return publicView(stored);
}

/**
 * The Durable Object is told first: from that moment every request, in every isolate,
 * is refused. The KV record follows so listings show it; if that write fails the key
 * is still revoked and a retry completes the record.
 */
export async function revokeKey(s: Services, id: string): Promise<KeyRecord> {
	const stored = await findKey(s, id);
	const status = await step("limiter_failed", "revoking the key in its Durable Object", () => keyStub(s, id).revoke(Date.now()));
	return save(s, { ...stored, revokedAt: new Date(status.revokedAt!).toISOString() });
}

export async function rotateKey(s: Services, id: string, graceSeconds: number): Promise<{ created: CreatedKey; previous: KeyRecord }> {
	const stored = await findKey(s, id);
	const status = await step("limiter_failed", "reading the key's state", () => keyStub(s, id).getStatus());
	if (stored.revokedAt !== null || status.revokedAt !== null) throw new AdminError("key_conflict", "The key is revoked and cannot be rotated.");
	if (stored.replacedBy !== null || status.graceEndsAt !== null) throw new AdminError("key_conflict", "The key has already been rotated.");
	if (stored.expiresAt !== null && Date.parse(stored.expiresAt) <= Date.now()) throw new AdminError("key_conflict", "The key has expired and cannot be rotated.");
	const api = resolveApi(s, stored.api);
	const { hash: _h, id: _id, ...fields } = stored;
	// The replacement exists before the old key's clock starts, so there is never a moment with neither.
	const created = await mint(
		{
			api,
			type: stored.type,
			pairId: stored.pairId,
			input: { ...fields, expiresAt: fields.expiresAt ?? undefined, owner: fields.owner ?? undefined, ipAllowlist: fields.ipAllowlist ?? undefined, metadata: fields.metadata ?? undefined, rateLimit: fields.rateLimit ?? undefined },
		},
		s,
	);
	const now = Date.now();
	const after: KeyStatus = await step("limiter_failed", "starting the old key's grace period", () => keyStub(s, id).startGrace(now, now + graceSeconds * 1000));
	const previous = await save(s, {
		...stored,
		rotatedAt: new Date(after.deprecatedAt!).toISOString(),
		replacedBy: created.record.id,
		graceEndsAt: new Date(after.graceEndsAt!).toISOString(),
	});
	return { created, previous };
}

/** The Durable Object marks the key deleted first, then KV forgets it: it reads as unknown from then on. */
export async function deleteKey(s: Services, id: string): Promise<void> {
	const stored = await findKey(s, id);
	await step("limiter_failed", "deleting the key in its Durable Object", () => keyStub(s, id).markDeleted(Date.now()));
	await step("kv_failed", "removing the key record", () => removeKey(s.kv, stored));
}

export async function keyUsage(s: Services, id: string): Promise<Usage & { id: string }> {
	await findKey(s, id);
	const usage = await step("limiter_failed", "reading usage", () => keyStub(s, id).getUsage());
	return { id, ...usage };
}
