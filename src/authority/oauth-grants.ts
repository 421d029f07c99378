import { DurableObject } from "cloudflare:workers";
import { clientMirrorSubject, grantsStub } from "./client";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { decideBuckets, peekBucket } from "../limits/buckets";
import type { Bucket } from "../limits/effective";
import type { Counters, RateInfo } from "../limits/window";

/**
 * One object per (API, subject): the authority on that user's OAuth grants. Codes,
 * refresh tokens and revocation live here, not in KV, because KV's get-then-put lets two
 * concurrent redemptions of one code both succeed (the flaw that rules out
 * @cloudflare/workers-oauth-provider's storage). A Durable Object runs one event at a
 * time and every method below reads, decides and writes in synchronous SQL with no
 * await inside (the outbox's send to the client's mirror comes after), so each
 * read-decide-write is atomic: of N concurrent redemptions of a code exactly one wins.
 *
 * Only SHA-256 hashes of codes and refresh tokens are stored.
 *
 * It also counts the rate limits of the subject's access tokens when the API counts
 * per subject or per subject and client (`spend`): the object that knows whether a
 * grant is revoked is the one that counts, so a warm token costs one call, as a key
 * does, and a revocation is still seen by the very next request (README "OAuth 2.0").
 *
 * Per client (`rateLimitBy: "client"`) one budget is shared by the grants of many
 * subjects, kept in as many objects. So each client has a mirror object too (subject
 * `clientMirrorSubject(cid)`) holding a replica of every grant of that client: each
 * subject's object writes a grant's change to an outbox in the same step that makes it,
 * then sends the outbox to the client's mirror before it answers (and again from its
 * alarm until the mirror has it). The mirror's copy only ever moves from live to
 * revoked. The request path asks the mirror alone: grant check and count in one call.
 * A grant the mirror has not heard of is refused, so a lost message fails closed.
 */

export interface GrantRecord {
	id: string;
	clientId: string;
	scopes: string[];
	environment: string;
	tier: string;
	createdAt: number;
	revokedAt: number | null;
}

export type GrantCheck = "ok" | "revoked" | "unknown";

/** Which API an object's grants belong to: given with every call that may change a grant, so its mirror can be named. */
export interface OfApi {
	api: string;
}

/** What a user consented to: the terms a code carries and its grant keeps. */
export interface GrantTerms {
	clientId: string;
	redirectUri: string;
	scopes: string[];
	environment: string;
	tier: string;
	/** S256 code challenge (RFC 7636), or null for a confidential client that sent none. */
	challenge: string | null;
	/** The login's nonce, spent with the code (single use): a replayed login gets none. */
	nonce?: string;
}

export interface CodeInput extends OfApi, GrantTerms {
	codeHash: string;
	grantId: string;
	expiresAt: number;
	now: number;
}

export interface RedeemInput extends OfApi {
	codeHash: string;
	clientId: string;
	redirectUri: string;
	/** base64url(SHA-256(code_verifier)), or null when none was sent. */
	verifierChallenge: string | null;
	refreshHash: string;
	refreshExpiresAt: number;
	now: number;
}

export interface RefreshInput extends OfApi {
	refreshHash: string;
	clientId: string;
	newRefreshHash: string;
	refreshExpiresAt: number;
	now: number;
	/** The scope the refresh asks for (RFC 6749 §6: at most the grant's); absent, the grant's own. */
	scopes?: string[];
}

/** A token request decided by `spend`: passed (with its limits), its grant revoked or unknown, or over a limit. */
export type GrantSpend =
	| { ok: true; rate: RateInfo }
	| { ok: false; reason: "grant_revoked" }
	/** Only a client's mirror can say this of a genuine token: its subject's object decides (`resend`). */
	| { ok: false; reason: "grant_unknown" }
	| { ok: false; reason: "rate_limited"; bucket: string; rate: RateInfo; retryAfter: number; retryAt: number; available: number };

/** The answer to a refusal decided before this object was asked (a 403): is the grant dead, and the limits as they stand. */
export interface GrantRefusalVerdict {
	revoked: boolean;
	/** Refused because this object never heard of the grant (in a client's mirror: ask its subject's object). */
	unknown: boolean;
	rate: RateInfo | null;
}

/** How long counters may live only in memory before they are written: KeyAuthority's FLUSH_MS, for the same reason. */
const FLUSH_MS = 1_000;
/** First retry of an outbox the client's mirror did not take; doubled up to MIRROR_RETRY_MAX_MS. */
const MIRROR_RETRY_MS = 1_000;
/** A code of a grant with no live refresh token is kept this long past its expiry, so a late replay still revokes its grant. */
const CODE_KEEP_AFTER_EXPIRY_MS = 86_400_000;
/** Rows of one table deleted by one call at most, so pruning never makes a request slow. */
const PRUNE_BATCH = 100;
/** How long a send to a mirror may take: under the callers' AUTHORITY_TIMEOUT_MS, so a slow mirror is reported, not timed out on. */
const MIRROR_SEND_TIMEOUT_MS = 1_000;
const MIRROR_RETRY_MAX_MS = 60_000;

/**
 * RFC 6749 §5.2: every failure of a code or refresh token is invalid_grant, except a refresh
 * asking for more than the grant holds (`invalidScope`: invalid_scope, and nothing used up).
 * `revokedGrant` says the grant was revoked because of it (replay, reuse).
 */
export type GrantResult = { ok: true; grant: GrantRecord } | { ok: false; revokedGrant: boolean; invalidScope?: true };

interface GrantRow {
	id: string;
	client_id: string;
	scopes: string;
	environment: string;
	tier: string;
	created_at: number;
	revoked_at: number | null;
	[k: string]: SqlStorageValue;
}

const toGrant = (r: GrantRow): GrantRecord => ({
	id: r.id,
	clientId: r.client_id,
	scopes: JSON.parse(r.scopes) as string[],
	environment: r.environment,
	tier: r.tier,
	createdAt: r.created_at,
	revokedAt: r.revoked_at,
});

export interface OidcPendingInput {
	stateHash: string;
	verifier: string;
	nonce: string;
	expiresAt: number;
	now: number;
}

export class OAuthGrants extends DurableObject<Env> {
	private readonly sql: SqlStorage;
	/** Token limit counters by counter scope (`subject`, or `client:<id>`), then by bucket name. */
	private readonly counters = new Map<string, Record<string, Counters>>();
	/** Scopes whose counters changed since the last write; an alarm is set to write them. */
	private readonly dirty = new Set<string>();
	/** The wait before the next retry of the outbox, while the mirror does not take it. */
	private mirrorRetryMs = MIRROR_RETRY_MS;
	/** When the alarm this instance set will fire (null: none set by this instance); an alarm is only ever moved earlier. */
	private alarmAt: number | null = null;
	/** In a client's mirror: when the client was deleted (every grant of it refused since), else null. */
	private clientDeletedAt: number | null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		this.sql.exec(`
			CREATE TABLE IF NOT EXISTS grants (
				id TEXT PRIMARY KEY, client_id TEXT NOT NULL, scopes TEXT NOT NULL, environment TEXT NOT NULL,
				tier TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER);
			CREATE TABLE IF NOT EXISTS codes (
				hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
				challenge TEXT, expires_at INTEGER NOT NULL, used_at INTEGER);
			CREATE TABLE IF NOT EXISTS refresh_tokens (
				hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_at INTEGER NOT NULL, superseded_at INTEGER);
			CREATE INDEX IF NOT EXISTS refresh_by_grant ON refresh_tokens (grant_id);
			CREATE TABLE IF NOT EXISTS used_nonces (nonce TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS limit_counters (scope TEXT PRIMARY KEY, counters TEXT NOT NULL);
			CREATE TABLE IF NOT EXISTS oidc_pending (
				state_hash TEXT PRIMARY KEY, verifier TEXT NOT NULL, nonce TEXT NOT NULL, expires_at INTEGER NOT NULL);
			CREATE TABLE IF NOT EXISTS mirror_sends (
				id INTEGER PRIMARY KEY AUTOINCREMENT, grant_id TEXT NOT NULL, api TEXT NOT NULL, client_id TEXT NOT NULL);
			CREATE TABLE IF NOT EXISTS mirror_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);`);
		for (const row of this.sql.exec<{ scope: string; counters: string }>("SELECT scope, counters FROM limit_counters"))
			this.counters.set(row.scope, JSON.parse(row.counters) as Record<string, Counters>);
		this.clientDeletedAt = this.sql.exec<{ v: number }>("SELECT v FROM mirror_meta WHERE k = 'client_deleted_at'").toArray()[0]?.v ?? null;
	}

	private grant(id: string): GrantRow | undefined {
		return this.sql.exec<GrantRow>("SELECT * FROM grants WHERE id = ?", id).toArray()[0];
	}

	private revoke(grantId: string, now: number, api: string): void {
		this.sql.exec("UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", now, grantId);
		this.sql.exec("UPDATE refresh_tokens SET superseded_at = COALESCE(superseded_at, ?) WHERE grant_id = ?", now, grantId);
		this.enqueue(grantId, api);
	}

	/**
	 * Notes, in the same step as the change, that the client's mirror must hear of this
	 * grant's state, and sets the alarm that sends it if nothing sooner does (so a send cut
	 * short by a restart is still made). Rows are only appended: ids are never reused.
	 */
	private enqueue(grantId: string, api: string, ifAbsent = false): string | undefined {
		const grant = this.grant(grantId);
		if (!grant) return undefined;
		// A change always gets a row of its own (see flushMirror); a resend, which changes nothing, rides on a row already waiting.
		if (!ifAbsent || this.sql.exec("SELECT 1 FROM mirror_sends WHERE grant_id = ?", grantId).toArray().length === 0)
			this.sql.exec("INSERT INTO mirror_sends (grant_id, api, client_id) VALUES (?, ?, ?)", grantId, api, grant.client_id);
		this.scheduleAlarm(Date.now() + MIRROR_RETRY_MS);
		return grant.client_id;
	}

	/** Sets the alarm for `at` unless this instance already set it for sooner (it writes counters and sends the outbox). */
	private scheduleAlarm(at: number): void {
		if (this.alarmAt !== null && this.alarmAt <= at) return;
		this.alarmAt = at;
		void this.ctx.storage.setAlarm(at);
	}

	/**
	 * Sends the outbox to the clients' mirrors: each grant noted there, as it stands now.
	 * Only the rows read here are deleted, once their mirror took them: a change noted while
	 * the message was out has a row of its own (a higher id) and is sent next time. Returns
	 * the clients whose mirror did not take its part (each mirror is judged on its own, so
	 * one broken mirror does not fail another client's revocation); for those the alarm
	 * retries, backing off to 60 s.
	 */
	private async flushMirror(): Promise<Set<string>> {
		const rows = this.sql
			.exec<{ id: number; grant_id: string; api: string; client_id: string }>("SELECT id, grant_id, api, client_id FROM mirror_sends")
			.toArray();
		if (rows.length === 0) return new Set();
		const groups = new Map<string, typeof rows>();
		for (const r of rows) {
			const k = `${r.api}\n${r.client_id}`;
			groups.set(k, [...(groups.get(k) ?? []), r]);
		}
		const failed = new Set<string>();
		await Promise.all(
			[...groups.values()].map(async (group) => {
				const { api, client_id } = group[0]!;
				const ids = [...new Set(group.map((r) => r.grant_id))];
				const records = ids.map((id) => this.grant(id)).flatMap((g) => (g ? [toGrant(g)] : []));
				try {
					const mirror = grantsStub(this.env, api, clientMirrorSubject(client_id));
					await withTimeout(mirror.replicate(records), MIRROR_SEND_TIMEOUT_MS, "oauth client mirror");
				} catch (e) {
					logEvent("oauth_mirror_failed", { clientId: client_id, grants: ids.length, error: String(e) });
					failed.add(client_id);
					return;
				}
				for (const r of group) this.sql.exec("DELETE FROM mirror_sends WHERE id = ?", r.id);
			}),
		);
		if (failed.size === 0) {
			this.mirrorRetryMs = MIRROR_RETRY_MS;
		} else {
			this.scheduleAlarm(Date.now() + this.mirrorRetryMs);
			this.mirrorRetryMs = Math.min(this.mirrorRetryMs * 2, MIRROR_RETRY_MAX_MS);
		}
		return failed;
	}

	/** Sends the outbox without making the caller wait (issuing, redeeming, refreshing); the alarm is the backstop. */
	private sendSoon(): void {
		void this.flushMirror();
	}

	/**
	 * The request path's fallback when a client's mirror has not heard of a grant (its send
	 * not arrived yet, or a grant older than mirrors): this object, the authority, says
	 * what the grant is and sends it to the mirror, waiting for it.
	 */
	async resend(grantId: string, api: string): Promise<{ state: GrantCheck; mirrored: boolean }> {
		const client = this.enqueue(grantId, api, true);
		const state = this.check(grantId);
		if (client === undefined) return { state, mirrored: false };
		return { state, mirrored: !(await this.flushMirror()).has(client) };
	}

	/**
	 * In a client's mirror object: takes grants' states from their subjects' objects. A
	 * grant only ever goes from live to revoked, whatever order the messages arrive in.
	 */
	replicate(records: GrantRecord[]): void {
		for (const g of records) {
			this.sql.exec(
				`INSERT INTO grants (id, client_id, scopes, environment, tier, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET revoked_at = COALESCE(grants.revoked_at, excluded.revoked_at)`,
				g.id,
				g.clientId,
				JSON.stringify(g.scopes),
				g.environment,
				g.tier,
				g.createdAt,
				g.revokedAt,
			);
			if (this.clientDeletedAt !== null)
				this.sql.exec("UPDATE grants SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", this.clientDeletedAt, g.id);
		}
	}

	/**
	 * In a client's mirror: the client is deleted. Every grant of it is refused from now on,
	 * those the mirror holds and those it never heard of (so the fallback to a subject's
	 * object cannot bring one back).
	 */
	revokeClient(now: number): void {
		if (this.clientDeletedAt === null) {
			this.clientDeletedAt = now;
			this.sql.exec("INSERT OR IGNORE INTO mirror_meta (k, v) VALUES ('client_deleted_at', ?)", now);
		}
		this.sql.exec("UPDATE grants SET revoked_at = COALESCE(revoked_at, ?)", this.clientDeletedAt);
	}

	/**
	 * The OIDC login's pending record (in the pending-login objects, see oidcPendingObjectName):
	 * the PKCE verifier stays here, never in the browser, for at most 10 minutes.
	 */
	putOidcPending(input: OidcPendingInput): void {
		this.sql.exec("DELETE FROM oidc_pending WHERE expires_at <= ?", input.now);
		this.sql.exec(
			"INSERT OR REPLACE INTO oidc_pending (state_hash, verifier, nonce, expires_at) VALUES (?, ?, ?, ?)",
			input.stateHash,
			input.verifier,
			input.nonce,
			input.expiresAt,
		);
	}

	/** Takes the pending record of a `state` once: read and deleted in one call, so a replayed callback finds nothing. */
	takeOidcPending(stateHash: string, now: number): { verifier: string; nonce: string } | null {
		const row = this.sql
			.exec<{ verifier: string; nonce: string; expires_at: number }>(
				"SELECT verifier, nonce, expires_at FROM oidc_pending WHERE state_hash = ?",
				stateHash,
			)
			.toArray()[0];
		this.sql.exec("DELETE FROM oidc_pending WHERE state_hash = ? OR expires_at <= ?", stateHash, now);
		return row && row.expires_at > now ? { verifier: row.verifier, nonce: row.nonce } : null;
	}

	/**
	 * Records a new grant and its authorization code. `nonce` (the login's) is spent here,
	 * atomically: an assertion or a consent replayed gets no second code. False when it was spent.
	 */
	issueCode(input: CodeInput): boolean {
		if (!this.issueCodeNow(input)) return false;
		// The client's mirror hears of the grant in the background; a token used before it
		// has is checked here instead (`resend`), so nothing waits on the mirror.
		this.sendSoon();
		return true;
	}

	/**
	 * Deletes what can no longer matter, a bounded batch per table per call (run by the
	 * writes that add rows: issuing a code, refreshing). A grant's codes and refresh tokens
	 * are kept as long as any refresh token of that grant is unexpired: a replayed code or a
	 * superseded refresh token must still revoke a grant someone is refreshing (a thief who
	 * refreshed first holds a live one). Once every refresh token of a grant has expired,
	 * none of its rows can be used: codes a day past their expiry and the expired refresh
	 * tokens go. Grants are kept: the admin API lists them, and a revoked one must stay
	 * revoked.
	 */
	private prune(now: number): void {
		const noLiveRefresh = "NOT EXISTS (SELECT 1 FROM refresh_tokens l WHERE l.grant_id = t.grant_id AND l.expires_at > ?)";
		this.sql.exec(
			`DELETE FROM codes WHERE hash IN (SELECT t.hash FROM codes t WHERE t.expires_at <= ? AND ${noLiveRefresh} LIMIT ?)`,
			now - CODE_KEEP_AFTER_EXPIRY_MS,
			now,
			PRUNE_BATCH,
		);
		this.sql.exec(
			`DELETE FROM refresh_tokens WHERE hash IN (SELECT t.hash FROM refresh_tokens t WHERE t.expires_at <= ? AND ${noLiveRefresh} LIMIT ?)`,
			now,
			now,
			PRUNE_BATCH,
		);
	}

	private issueCodeNow(input: CodeInput): boolean {
		this.prune(input.now);
		if (input.nonce !== undefined) {
			this.sql.exec("DELETE FROM used_nonces WHERE expires_at <= ?", input.now);
			if (this.sql.exec("SELECT 1 FROM used_nonces WHERE nonce = ?", input.nonce).toArray().length > 0) return false;
			this.sql.exec("INSERT INTO used_nonces (nonce, expires_at) VALUES (?, ?)", input.nonce, input.now + 3_600_000);
		}
		this.sql.exec(
			"INSERT INTO grants (id, client_id, scopes, environment, tier, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
			input.grantId,
			input.clientId,
			JSON.stringify(input.scopes),
			input.environment,
			input.tier,
			input.now,
		);
		this.sql.exec(
			"INSERT INTO codes (hash, grant_id, client_id, redirect_uri, challenge, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, NULL)",
			input.codeHash,
			input.grantId,
			input.clientId,
			input.redirectUri,
			input.challenge,
			input.expiresAt,
		);
		this.enqueue(input.grantId, input.api);
		return true;
	}

	/**
	 * Redeems a code once (RFC 6749 §4.1.3, RFC 7636 §4.6). A second redemption is a
	 * replay: RFC 6749 §4.1.2 says the grant SHOULD then be revoked, tokens included.
	 */
	async redeemCode(input: RedeemInput): Promise<GrantResult> {
		const result = this.redeemCodeNow(input);
		await this.sendAfter(result);
		return result;
	}

	/**
	 * After a redemption or a refresh: a grant revoked by it (replay, reuse) is sent to the
	 * mirror before the refusal goes out (the answer is a refusal either way, so waiting
	 * costs nothing); anything else is sent in the background, so a slow mirror never
	 * turns a spent code or a rotated refresh token into a 503.
	 */
	private async sendAfter(result: GrantResult): Promise<void> {
		if (!result.ok && result.revokedGrant) await this.flushMirror();
		else this.sendSoon();
	}

	private redeemCodeNow(input: RedeemInput): GrantResult {
		const code = this.sql
			.exec<{
				grant_id: string;
				client_id: string;
				redirect_uri: string;
				challenge: string | null;
				expires_at: number;
				used_at: number | null;
			}>("SELECT grant_id, client_id, redirect_uri, challenge, expires_at, used_at FROM codes WHERE hash = ?", input.codeHash)
			.toArray()[0];
		if (!code) return { ok: false, revokedGrant: false };
		if (code.used_at !== null) {
			this.revoke(code.grant_id, input.now, input.api);
			return { ok: false, revokedGrant: true };
		}
		// Spent whatever happens next: a code that failed a check must not be tried again.
		this.sql.exec("UPDATE codes SET used_at = ? WHERE hash = ?", input.now, input.codeHash);
		if (code.client_id !== input.clientId || code.redirect_uri !== input.redirectUri || code.expires_at <= input.now) {
			this.revoke(code.grant_id, input.now, input.api);
			return { ok: false, revokedGrant: true };
		}
		// RFC 7636 §4.6, and the Security BCP §4.8.2: a verifier without a challenge is refused too (PKCE downgrade).
		if (code.challenge !== input.verifierChallenge) {
			this.revoke(code.grant_id, input.now, input.api);
			return { ok: false, revokedGrant: true };
		}
		const grant = this.grant(code.grant_id);
		if (!grant || grant.revoked_at !== null) return { ok: false, revokedGrant: false };
		this.sql.exec(
			"INSERT INTO refresh_tokens (hash, grant_id, expires_at, superseded_at) VALUES (?, ?, ?, NULL)",
			input.refreshHash,
			grant.id,
			input.refreshExpiresAt,
		);
		return { ok: true, grant: toGrant(grant) };
	}

	/**
	 * Rotates a refresh token (RFC 6749 §6, OAuth 2.0 Security BCP §4.14.2): the presented
	 * one is superseded and a new one issued. A superseded token presented again means two
	 * parties hold the grant, so the whole grant is revoked. Run one at a time, concurrent
	 * refreshes with one token give one winner; the rest read it superseded and revoke the
	 * grant, so two live token families can never exist.
	 */
	async refresh(input: RefreshInput): Promise<GrantResult> {
		const result = this.refreshNow(input);
		await this.sendAfter(result);
		return result;
	}

	private refreshNow(input: RefreshInput): GrantResult {
		this.prune(input.now);
		const row = this.sql
			.exec<{
				grant_id: string;
				expires_at: number;
				superseded_at: number | null;
			}>("SELECT grant_id, expires_at, superseded_at FROM refresh_tokens WHERE hash = ?", input.refreshHash)
			.toArray()[0];
		if (!row) return { ok: false, revokedGrant: false };
		const grant = this.grant(row.grant_id);
		if (!grant || grant.revoked_at !== null) return { ok: false, revokedGrant: false };
		if (grant.client_id !== input.clientId) return { ok: false, revokedGrant: false };
		if (row.superseded_at !== null) {
			this.revoke(grant.id, input.now, input.api);
			return { ok: false, revokedGrant: true };
		}
		if (row.expires_at <= input.now) return { ok: false, revokedGrant: false };
		// A scope wider than the grant's is refused before the token is used up: a client's mistake must not cost the grant.
		const record = toGrant(grant);
		if (input.scopes?.some((sc) => !record.scopes.includes(sc))) return { ok: false, revokedGrant: false, invalidScope: true };
		this.sql.exec("UPDATE refresh_tokens SET superseded_at = ? WHERE hash = ?", input.now, input.refreshHash);
		this.sql.exec(
			"INSERT INTO refresh_tokens (hash, grant_id, expires_at, superseded_at) VALUES (?, ?, ?, NULL)",
			input.newRefreshHash,
			grant.id,
			input.refreshExpiresAt,
		);
		// Grants made before the mirrors existed reach theirs on their next refresh.
		this.enqueue(grant.id, input.api);
		return { ok: true, grant: record };
	}

	/** The request path's question: may tokens of this grant still be used? */
	check(grantId: string): GrantCheck {
		if (this.clientDeletedAt !== null) return "revoked";
		const grant = this.grant(grantId);
		if (!grant) return "unknown";
		return grant.revoked_at === null ? "ok" : "revoked";
	}

	/**
	 * The request path's one call for a token whose limits this object counts: the grant
	 * first (revoked or unknown spends nothing), then every bucket of the counter `scope`,
	 * exactly as KeyAuthority decides a key (src/limits/buckets.ts). One event at a time, so
	 * the check-and-count is atomic: a revocation answered before this call began is seen,
	 * and N concurrent requests with k left give exactly k passes. Counters are written
	 * behind (FLUSH_MS), as KeyAuthority's are; grant state is written at once, by the
	 * methods that change it.
	 */
	spend(grantId: string, scope: string, buckets: Bucket[]): GrantSpend {
		const state = this.check(grantId);
		if (state !== "ok") return { ok: false, reason: state === "unknown" ? "grant_unknown" : "grant_revoked" };
		const d = decideBuckets(buckets, this.counters.get(scope) ?? {}, Date.now());
		if (!d.ok) {
			const { ok: _, ...refusal } = d;
			return { ok: false, reason: "rate_limited", ...refusal };
		}
		this.counters.set(scope, d.counters);
		this.persist(scope);
		return { ok: true, rate: d.rate };
	}

	/** For a token refused before this object was asked (a 403): whether its grant is dead (that answer wins), and the limits as they stand. */
	refusalVerdict(grantId: string, scope: string, bucket?: Bucket): GrantRefusalVerdict {
		const state = this.check(grantId);
		if (state !== "ok") return { revoked: true, unknown: state === "unknown", rate: null };
		return { revoked: false, unknown: false, rate: bucket ? peekBucket(bucket, this.counters.get(scope) ?? {}, Date.now()) : null };
	}

	/** Schedules the write of changed counters (write-behind, see FLUSH_MS). */
	private persist(scope: string): void {
		if (this.dirty.size === 0) this.scheduleAlarm(Date.now() + FLUSH_MS);
		this.dirty.add(scope);
	}

	override async alarm(): Promise<void> {
		this.alarmAt = null;
		this.writeCounters();
		await this.flushMirror();
	}

	private writeCounters(): void {
		for (const scope of this.dirty) {
			const counters = this.counters.get(scope);
			if (counters)
				this.sql.exec(
					"INSERT INTO limit_counters (scope, counters) VALUES (?, ?) ON CONFLICT (scope) DO UPDATE SET counters = excluded.counters",
					scope,
					JSON.stringify(counters),
				);
		}
		this.dirty.clear();
	}

	/** RFC 7009: revokes the grant a refresh token belongs to, if `clientId` owns it. True when one was found. */
	async revokeByRefresh(refreshHash: string, clientId: string, now: number, api: string): Promise<{ found: boolean; mirrored: boolean }> {
		const row = this.sql.exec<{ grant_id: string }>("SELECT grant_id FROM refresh_tokens WHERE hash = ?", refreshHash).toArray()[0];
		const grant = row ? this.grant(row.grant_id) : undefined;
		if (!grant || grant.client_id !== clientId) return { found: false, mirrored: true };
		// Sent again even when already revoked: repeating a revocation whose send failed makes the send again.
		this.revoke(grant.id, now, api);
		return { found: true, mirrored: !(await this.flushMirror()).has(grant.client_id) };
	}

	/** Revokes one grant, every grant of one client, or all of this subject's grants. Returns how many were live. */
	async revokeGrants(
		filter: { grantId?: string; clientId?: string },
		now: number,
		api: string,
	): Promise<{ revoked: number; mirrored: boolean }> {
		const matching = this.listGrants().filter(
			(g) => (filter.grantId === undefined || g.id === filter.grantId) && (filter.clientId === undefined || g.clientId === filter.clientId),
		);
		// Every matching grant is sent, the already revoked too: repeating a revocation whose send failed makes the send again.
		for (const g of matching) this.revoke(g.id, now, api);
		const failed = await this.flushMirror();
		return { revoked: matching.filter((g) => g.revokedAt === null).length, mirrored: !matching.some((g) => failed.has(g.clientId)) };
	}

	listGrants(): GrantRecord[] {
		return this.sql.exec<GrantRow>("SELECT * FROM grants ORDER BY created_at").toArray().map(toGrant);
	}
}
