import type { Reason } from "../errors/catalogue";
import { withTimeout } from "../util/timeout";
import type { Returned } from "../limits/lease";
import type {
	Bucket,
	CheckResult,
	Dead,
	KeyAuthority,
	KeyStatus,
	LeaseResult,
	Predecessor,
	RejectionVerdict,
	Usage,
} from "./key-authority";
import type {
	CodeInput,
	GrantCheck,
	GrantRecord,
	GrantRefusalVerdict,
	GrantResult,
	GrantSpend,
	OAuthGrants,
	OidcPendingInput,
	RedeemInput,
	RefreshInput,
} from "./oauth-grants";
import type { OwnerRoles } from "./owner-roles";

/**
 * The one client for keygate's Durable Objects. Every call from the request path, the
 * admin service and the objects themselves goes through here: stubs are made in one
 * place, every wait is bounded by one timeout, and every result is typed.
 */

/** Bounded wait for any Durable Object call; past it the caller fails closed (503). */
export const AUTHORITY_TIMEOUT_MS = 3_000;

export interface AuthorityBindings {
	KEY_AUTHORITY: DurableObjectNamespace<KeyAuthority>;
	OWNER_ROLES: DurableObjectNamespace<OwnerRoles>;
}

export interface GrantBindings {
	OAUTH_GRANTS: DurableObjectNamespace<OAuthGrants>;
}

/** The stub of the key authority named `name` (a key id, or a shard name, see shardName). */
export function keyAuthorityStub(env: Pick<AuthorityBindings, "KEY_AUTHORITY">, name: string): DurableObjectStub<KeyAuthority> {
	return env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(name));
}

const ownerObjectName = (api: string, owner: string) => `${api}:${owner}`;
/** The one object that holds the public-key root: its name holds no ":", so no (API, owner) object shares it. */
export const PUBLIC_KEY_ROOT = " public key root";
/** The object that claims the console's generate forms of one API: an owner id holds no space, so no owner shares it. */
export const CONSOLE_FORMS = " console forms";

/** The error a dead key answers, wherever its death was learnt (the authority, or an isolate's memory of it). */
export function deadReason(dead: Dead): Reason {
	return dead === "deleted" ? "deleted_key" : dead === "revoked" ? "revoked" : "grace_ended";
}

export interface Authority {
	/**
	 * Decides one request on the key's object (or shard `shard.name` of it), spending from
	 * `buckets` if it passes. `last` false: a 429 here is not the request's answer (another
	 * shard is tried next), so it is not counted in usage.
	 */
	check(
		object: string,
		buckets: Bucket[],
		shard?: { keyId: string; name: string },
		carried?: Record<string, number>,
		last?: boolean,
	): Promise<CheckResult>;
	/** Leased mode: asks the key's object (or shard) for up to `want` tokens, giving back `returned` (src/limits/lease.ts); `carried` and `last` as for `check`. */
	lease(
		object: string,
		buckets: Bucket[],
		want: number,
		returned?: Returned,
		shard?: { keyId: string; name: string },
		carried?: Record<string, number>,
		last?: boolean,
	): Promise<LeaseResult>;
	/** Counts a refusal decided before the authority was asked; returns its verdict on the key and the limits as they stand. */
	recordRejection(keyId: string, reason: Reason, bucket?: Bucket): Promise<RejectionVerdict>;
	status(keyId: string): Promise<KeyStatus>;
	usage(keyId: string): Promise<Usage>;
	/** Status and usage in one call (the keys lists: one call per row). */
	snapshot(keyId: string): Promise<{ status: KeyStatus; usage: Usage }>;
	revoke(keyId: string, at: number): Promise<KeyStatus>;
	startGrace(keyId: string, at: number, endsAt: number, replacedBy: string): Promise<{ ok: boolean; status: KeyStatus }>;
	/** Rotation: the replacement `to` starts from `from`'s counters, on each shard, and learns until when its line's older keys work (KeyAuthority.carryCountersTo). */
	carryCounters(from: string, to: string, shards: number, mark?: Predecessor): Promise<void>;
	/** The key this one replaced (directly or further back) that works longest, and until when (Unix ms), or null. */
	predecessorGrace(keyId: string): Promise<Predecessor | null>;
	/** Gives up a rotation whose grace step could not be confirmed: in force if it took effect, else refused for good. */
	abandonGrace(keyId: string, replacedBy: string): Promise<{ inForce: boolean; status: KeyStatus }>;
	markDeleted(keyId: string, at: number): Promise<KeyStatus>;
	/** The owner's role as keygate holds it, or null when none was assigned. */
	ownerRole(api: string, owner: string): Promise<string | null>;
	setOwnerRole(api: string, owner: string, role: string): Promise<string>;
	/** Spends a customer-portal entry token (by its hash) in its owner's object: true only the first time. */
	spendPortalEntry(api: string, owner: string, hash: string, expiresAt: number, now: number): Promise<boolean>;
	/** Claims a generate form's `once` value in the object of `owner` (CONSOLE_FORMS for the console): true only the first time. */
	claimForm(api: string, owner: string, once: string, until: number, now: number): Promise<boolean>;
	releaseForm(api: string, owner: string, once: string): Promise<void>;
	/** The portal's per-owner key limit in the owner's object (OwnerRoles.reservePortalKeys): a slot id, or null when there is no room. */
	reservePortalKeys(
		api: string,
		owner: string,
		live: string[],
		listed: string[],
		want: number,
		max: number,
		now: number,
	): Promise<string | null>;
	settlePortalKeys(api: string, owner: string, slot: string, ids: string[], now: number): Promise<void>;
	/** The random root public keys are derived from (OwnerRoles.publicKeyRoot), hex. */
	publicKeyRoot(): Promise<string>;
}

/** The Authority over real Durable Objects, with `timeoutMs` on every call. */
export function authority(env: AuthorityBindings, timeoutMs = AUTHORITY_TIMEOUT_MS): Authority {
	const key = (name: string) => keyAuthorityStub(env, name);
	const owner = (api: string, id: string) => env.OWNER_ROLES.get(env.OWNER_ROLES.idFromName(ownerObjectName(api, id)));
	// Each call is an async function with the declared result type: awaiting the RPC result
	// strips the stub's wrapper types (a union of promises becomes a union of values), so
	// the answers are checked against the object's own types, with no casts.
	const bounded = <T>(what: string, work: () => Promise<T>): Promise<T> => withTimeout(work(), timeoutMs, what);
	return {
		check: (object, buckets, shard, carried, last) =>
			bounded("Durable Object check", async (): Promise<CheckResult> => key(object).check(buckets, shard, carried, last)),
		lease: (object, buckets, want, returned, shard, carried, last) =>
			bounded("Durable Object lease", async (): Promise<LeaseResult> => key(object).lease(buckets, want, returned, shard, carried, last)),
		recordRejection: (keyId, reason, bucket) =>
			bounded("usage count", async (): Promise<RejectionVerdict> => key(keyId).recordRejection(reason, bucket)),
		status: (keyId) => bounded("key status", async (): Promise<KeyStatus> => key(keyId).getStatus()),
		usage: (keyId) => bounded("usage", async (): Promise<Usage> => key(keyId).getUsage()),
		snapshot: (keyId) => bounded("key snapshot", async (): Promise<{ status: KeyStatus; usage: Usage }> => key(keyId).getSnapshot()),
		revoke: (keyId, at) => bounded("revoke", async (): Promise<KeyStatus> => key(keyId).revoke(at)),
		startGrace: (keyId, at, endsAt, replacedBy) =>
			bounded("rotation", async (): Promise<{ ok: boolean; status: KeyStatus }> => key(keyId).startGrace(at, endsAt, replacedBy)),
		carryCounters: (from, to, shards, mark) =>
			bounded("rotation counters", async (): Promise<void> => key(from).carryCountersTo(from, to, shards, mark)),
		predecessorGrace: (keyId) => bounded("key status", async (): Promise<Predecessor | null> => key(keyId).predecessorGrace()),
		abandonGrace: (keyId, replacedBy) =>
			bounded("rotation", async (): Promise<{ inForce: boolean; status: KeyStatus }> => key(keyId).abandonGrace(replacedBy)),
		markDeleted: (keyId, at) => bounded("delete", async (): Promise<KeyStatus> => key(keyId).markDeleted(at)),
		ownerRole: (api, id) => bounded("owner lookup", async (): Promise<string | null> => owner(api, id).getRole()),
		setOwnerRole: (api, id, role) => bounded("owner role", async (): Promise<string> => owner(api, id).setRole(role)),
		spendPortalEntry: (api, id, hash, expiresAt, now) =>
			bounded("portal entry", async (): Promise<boolean> => owner(api, id).spendPortalEntry(hash, expiresAt, now)),
		claimForm: (api, id, once, until, now) =>
			bounded("form claim", async (): Promise<boolean> => owner(api, id).claimForm(once, until, now)),
		releaseForm: (api, id, once) => bounded("form claim", async (): Promise<void> => owner(api, id).releaseForm(once)),
		reservePortalKeys: (api, id, live, listed, want, max, now) =>
			bounded("portal key limit", async (): Promise<string | null> => owner(api, id).reservePortalKeys(live, listed, want, max, now)),
		settlePortalKeys: (api, id, slot, ids, now) =>
			bounded("portal key limit", async (): Promise<void> => owner(api, id).settlePortalKeys(slot, ids, now)),
		publicKeyRoot: () =>
			bounded("public key root", async (): Promise<string> =>
				env.OWNER_ROLES.get(env.OWNER_ROLES.idFromName(PUBLIC_KEY_ROOT)).publicKeyRoot(),
			),
	};
}

/** The object holding one subject's OAuth grants on one API. API names hold no ":", so the name is unambiguous. */
export const grantsObjectName = (api: string, subject: string) => `${api}:${subject}`;

/**
 * The objects holding pending OIDC logins: 16 per API, chosen by the state's hash. The
 * name's space cannot occur in a subject (subjects are printable ASCII without spaces),
 * so no user's grants share an object with them.
 */
export const oidcPendingSubject = (stateHash: string) => ` oidc-pending ${stateHash.slice(0, 1)}`;

/** The OAuth grants of one subject (authority/oauth-grants.ts), through the same one timeout. */
export interface GrantsClient {
	issueCode(input: Omit<CodeInput, "api">): Promise<boolean>;
	redeemCode(input: Omit<RedeemInput, "api">): Promise<GrantResult>;
	refresh(input: Omit<RefreshInput, "api">): Promise<GrantResult>;
	check(grantId: string): Promise<GrantCheck>;
	/** A token whose limits the grants object counts: the grant check and the count, in one call. */
	spend(grantId: string, scope: string, buckets: Bucket[]): Promise<GrantSpend>;
	/** A token refused by policy: the grant's verdict (it wins) and the limits as they stand. */
	refusalVerdict(grantId: string, scope: string, bucket?: Bucket): Promise<GrantRefusalVerdict>;
	/** `mirrored`: the client's mirror took the change (when false, the object's alarm keeps sending it). */
	revokeByRefresh(refreshHash: string, clientId: string, now: number): Promise<{ found: boolean; mirrored: boolean }>;
	revokeGrants(filter: { grantId?: string; clientId?: string }, now: number): Promise<{ revoked: number; mirrored: boolean }>;
	/** In a subject's object: the grant's state, sent to its client's mirror (the fallback when the mirror has not heard of it). */
	resend(grantId: string): Promise<{ state: GrantCheck; mirrored: boolean }>;
	/** In a client's mirror: the client is deleted; every grant of it is refused from now on. */
	revokeClient(now: number): Promise<void>;
	listGrants(): Promise<GrantRecord[]>;
	putOidcPending(input: OidcPendingInput): Promise<void>;
	takeOidcPending(stateHash: string, now: number): Promise<{ verifier: string; nonce: string } | null>;
}

/**
 * The mirror object of one client's grants (authority/oauth-grants.ts): the one object
 * that can check any of the client's grants, so it counts `rateLimitBy: "client"`. The
 * space keeps the name apart from every subject's, as oidcPendingSubject's does.
 */
export const clientMirrorSubject = (clientId: string) => ` client ${clientId}`;

export function grantsStub(env: GrantBindings, api: string, subject: string): DurableObjectStub<OAuthGrants> {
	return env.OAUTH_GRANTS.get(env.OAUTH_GRANTS.idFromName(grantsObjectName(api, subject)));
}

export function grants(env: GrantBindings, api: string, subject: string, timeoutMs = AUTHORITY_TIMEOUT_MS): GrantsClient {
	const stub = () => grantsStub(env, api, subject);
	const bounded = <T>(what: string, work: () => Promise<T>): Promise<T> => withTimeout(work(), timeoutMs, what);
	return {
		issueCode: (input) => bounded("oauth code", async (): Promise<boolean> => stub().issueCode({ ...input, api })),
		redeemCode: (input) => bounded("oauth code redemption", async (): Promise<GrantResult> => stub().redeemCode({ ...input, api })),
		refresh: (input) => bounded("oauth refresh", async (): Promise<GrantResult> => stub().refresh({ ...input, api })),
		check: (grantId) => bounded("oauth grant check", async (): Promise<GrantCheck> => stub().check(grantId)),
		spend: (grantId, scope, buckets) =>
			bounded("oauth grant check and count", async (): Promise<GrantSpend> => stub().spend(grantId, scope, buckets)),
		refusalVerdict: (grantId, scope, bucket) =>
			bounded("oauth grant verdict", async (): Promise<GrantRefusalVerdict> => stub().refusalVerdict(grantId, scope, bucket)),
		revokeByRefresh: (hash, clientId, now) =>
			bounded("oauth revoke", async (): Promise<{ found: boolean; mirrored: boolean }> => stub().revokeByRefresh(hash, clientId, now, api)),
		revokeGrants: (filter, now) =>
			bounded("oauth revoke", async (): Promise<{ revoked: number; mirrored: boolean }> => stub().revokeGrants(filter, now, api)),
		resend: (grantId) =>
			bounded("oauth grant resend", async (): Promise<{ state: GrantCheck; mirrored: boolean }> => stub().resend(grantId, api)),
		revokeClient: (now) => bounded("oauth client revoke", async (): Promise<void> => stub().revokeClient(now)),
		listGrants: () => bounded("oauth grants", async (): Promise<GrantRecord[]> => stub().listGrants()),
		putOidcPending: (input) => bounded("oidc pending", async (): Promise<void> => stub().putOidcPending(input)),
		takeOidcPending: (hash, now) =>
			bounded("oidc pending", async (): Promise<{ verifier: string; nonce: string } | null> => stub().takeOidcPending(hash, now)),
	};
}

/** The calls that check a grant on the object that counts its tokens. */
export type GrantCounter = Pick<GrantsClient, "spend" | "refusalVerdict" | "check">;

/**
 * The grants object a token's grant is checked on: `subject`'s, or, with `home`, a client's
 * mirror (`subject` is then clientMirrorSubject). A mirror that has not heard of a grant
 * (its send still on the way, or a grant older than mirrors) hands the question to the
 * grant's own subject's object, `home`, which decides it and sends it; the mirror is then
 * asked again. Revoked or unknown there is revoked; a mirror that still does not take it
 * fails the call (closed).
 */
export function countingGrants(env: GrantBindings, api: string, counter: { subject: string; home?: string }): GrantCounter {
	const counting = grants(env, api, counter.subject);
	const home = counter.home;
	if (home === undefined) return counting;
	const heard = async (grantId: string): Promise<boolean> => {
		const sent = await grants(env, api, home).resend(grantId);
		if (sent.state !== "ok") return false;
		if (!sent.mirrored) throw new Error("the client's mirror did not take the grant");
		return true;
	};
	return {
		async spend(grantId, scope, buckets) {
			const answer = await counting.spend(grantId, scope, buckets);
			if (answer.ok || answer.reason !== "grant_unknown") return answer;
			return (await heard(grantId)) ? counting.spend(grantId, scope, buckets) : { ok: false, reason: "grant_revoked" };
		},
		async refusalVerdict(grantId, scope, bucket) {
			const verdict = await counting.refusalVerdict(grantId, scope, bucket);
			if (!verdict.unknown) return verdict;
			return (await heard(grantId)) ? counting.refusalVerdict(grantId, scope, bucket) : { revoked: true, unknown: false, rate: null };
		},
		async check(grantId) {
			const state = await counting.check(grantId);
			if (state !== "unknown") return state;
			return (await heard(grantId)) ? counting.check(grantId) : "revoked";
		},
	};
}
