import { clientMirrorSubject, grants } from "../authority/client";
import type { GrantRecord } from "../authority/oauth-grants";
import { describeIssues, type CompiledApi } from "../config/load";
import {
	getClient,
	hashSecret,
	listClients,
	newClientId,
	newClientSecret,
	publicClient,
	putClient,
	removeClient,
	subjectsOf,
	type StoredClient,
} from "../oauth/clients";
import { logEvent } from "../util/log";
import { recordAudit } from "./audit";
import type {
	AuditEvent,
	CreatedOAuthClientView,
	CreateOAuthClientInput,
	OAuthClientView,
	OAuthGrantView,
	RevokeGrantsInput,
} from "./contract";
import { GrantsSubject } from "./contract";
import { AdminError, tierInEnvironment, type Services } from "./service";

/**
 * OAuth clients and grants for the admin API (README "OAuth 2.0"). Client secrets are
 * shown once, at creation and rotation, and stored only as SHA-256.
 */
export interface OAuthServices extends Services {
	env: { OAUTH_GRANTS: Env["OAUTH_GRANTS"]; KEYS: KVNamespace };
}

const CLIENT_ID = /^client_[0-9A-Za-z]{22}$/;

function oauthApi(s: Services, name: string | undefined): CompiledApi {
	const api = name === undefined ? s.config.apis.find((a) => a.oauth) : s.config.apis.find((a) => a.name === name);
	if (!api)
		throw new AdminError(
			"invalid_request",
			name === undefined ? "api: no configured API has oauth" : `api: "${name}" is not a configured API`,
		);
	if (!api.oauth) throw new AdminError("invalid_request", `api: "${api.name}" has no oauth configured`);
	return api;
}

async function step<T>(reason: "kv_failed" | "limiter_failed", what: string, run: () => Promise<T>): Promise<T> {
	try {
		return await run();
	} catch (e) {
		if (e instanceof AdminError) throw e;
		logEvent(reason, { step: what, error: String(e) });
		throw new AdminError(reason, `${what} failed; nothing after it was done. Retrying is safe.`);
	}
}

function audit(s: Services, event: Omit<AuditEvent, "id" | "at" | "actor" | "actorType" | "keyId" | "owner">): Promise<AuditEvent> {
	return recordAudit(s.kv, {
		actor: s.actor,
		actorType: s.actorType,
		keyId: null,
		owner: null,
		...event,
		details: { ...event.details, ip: s.ip },
	});
}

const view = (c: StoredClient): OAuthClientView => publicClient(c);

export async function createClient(s: OAuthServices, input: CreateOAuthClientInput): Promise<CreatedOAuthClientView> {
	const api = oauthApi(s, input.api);
	const oauth = api.oauth!;
	const scopes = input.scopes ?? oauth.scopes;
	for (const [i, scope] of scopes.entries())
		if (!oauth.scopes.includes(scope)) throw new AdminError("invalid_request", `scopes[${i}]: "${scope}" is not one of oauth.scopes`);
	const tier = input.tier ?? api.defaultTier;
	if (!Object.hasOwn(api.tiers, tier))
		throw new AdminError("invalid_request", `tier: "${tier}" is not one of ${Object.keys(api.tiers).join(", ")}`);
	const environment = input.environment ?? Object.keys(api.environments)[0]!;
	if (!Object.hasOwn(api.environments, environment))
		throw new AdminError("invalid_request", `environment: "${environment}" is not one of ${Object.keys(api.environments).join(", ")}`);
	// Its tokens would all be refused there (tier_not_in_environment): refused now instead (a review).
	tierInEnvironment(api, environment, tier);
	const type = input.type ?? "confidential";
	const secret = type === "confidential" ? newClientSecret() : null;
	const client: StoredClient = {
		id: newClientId(),
		api: api.name,
		name: input.name,
		redirectUris: input.redirectUris,
		type,
		scopes,
		tier,
		environment,
		secretHash: secret === null ? null : await hashSecret(secret),
		createdAt: new Date().toISOString(),
		secretRotatedAt: null,
	};
	await step("kv_failed", "KV write", () => putClient(s.kv, client));
	await audit(s, { action: "oauth.client_created", api: api.name, details: { clientId: client.id, type } });
	return { ...view(client), secret };
}

export async function findClient(s: Services, id: string): Promise<StoredClient> {
	if (!CLIENT_ID.test(id)) throw new AdminError("not_found", `No OAuth client with id "${id.slice(0, 64)}" exists.`);
	const client = await step("kv_failed", "KV read", () => getClient(s.kv, id));
	if (!client) throw new AdminError("not_found", `No OAuth client with id "${id}" exists.`);
	return client;
}

export async function showClient(s: Services, id: string): Promise<OAuthClientView> {
	return view(await findClient(s, id));
}

export async function clientsOf(s: Services, apiName: string | undefined): Promise<OAuthClientView[]> {
	const api = oauthApi(s, apiName);
	return (await step("kv_failed", "KV list", () => listClients(s.kv, api.name))).map(view);
}

/** A new secret; the old one stops working at once (a client secret has no grace period: rotate when it leaked). */
export async function rotateClientSecret(s: Services, id: string): Promise<CreatedOAuthClientView> {
	const client = await findClient(s, id);
	if (client.type === "public") throw new AdminError("invalid_request", "id: a public client has no secret");
	const secret = newClientSecret();
	const next: StoredClient = { ...client, secretHash: await hashSecret(secret), secretRotatedAt: new Date().toISOString() };
	await step("kv_failed", "KV write", () => putClient(s.kv, next));
	await audit(s, { action: "oauth.client_secret_rotated", api: client.api, details: { clientId: client.id } });
	return { ...view(next), secret };
}

/**
 * Revokes every grant of the client first: in its mirror (which then refuses every grant
 * of the client, also one the KV index of subjects has not caught up with), and in each
 * subject's object. Then removes it.
 */
export async function deleteClient(s: OAuthServices, id: string): Promise<void> {
	const client = await findClient(s, id);
	const now = Date.now();
	const mark = () => grants(s.env, client.api, clientMirrorSubject(client.id)).revokeClient(now);
	// Per client, tokens are checked on the mirror: it must refuse them before the client goes. Otherwise it is only
	// a safeguard for a later switch to per-client counting, and a mirror that cannot take it holds nothing up.
	if (oauthApi(s, client.api).oauth?.rateLimitBy === "client") await step("limiter_failed", "Client revocation in its mirror", mark);
	else await mark().catch((e) => logEvent("oauth_mirror_failed", { clientId: client.id, error: String(e) }));
	const { revoked } = await revokeClientGrants(s, client.api, client.id, now);
	await step("kv_failed", "KV delete", () => removeClient(s.kv, client));
	await audit(s, { action: "oauth.client_deleted", api: client.api, details: { clientId: client.id, grantsRevoked: revoked } });
}

async function revokeClientGrants(
	s: OAuthServices,
	api: string,
	clientId: string,
	now: number,
): Promise<{ revoked: number; mirrored: boolean }> {
	const subjects = await step("kv_failed", "KV list", () => subjectsOf(s.kv, clientId));
	const results = await step("limiter_failed", "Grant revocation", () =>
		Promise.all(subjects.map((subject) => grants(s.env, api, subject).revokeGrants({ clientId }, now))),
	);
	return { revoked: results.reduce((a, r) => a + r.revoked, 0), mirrored: results.every((r) => r.mirrored) };
}

const grantView = (subject: string, g: GrantRecord): OAuthGrantView => ({
	id: g.id,
	subject,
	clientId: g.clientId,
	scopes: g.scopes,
	environment: g.environment,
	tier: g.tier,
	createdAt: new Date(g.createdAt).toISOString(),
	revokedAt: g.revokedAt === null ? null : new Date(g.revokedAt).toISOString(),
});

export async function listGrants(
	s: OAuthServices,
	query: { api?: string; subject?: string; clientId?: string },
): Promise<OAuthGrantView[]> {
	const api = oauthApi(s, query.api);
	if (query.subject === undefined && query.clientId === undefined)
		throw new AdminError("invalid_request", "subject or clientId is required");
	// As the revocation's body: a subject with a space could name a client's mirror object (found by a probe).
	const subject = GrantsSubject.safeParse({ subject: query.subject });
	if (!subject.success) throw new AdminError("invalid_request", describeIssues(subject.error));
	const subjects =
		query.subject !== undefined ? [query.subject] : await step("kv_failed", "KV list", () => subjectsOf(s.kv, query.clientId!));
	const found = await step("limiter_failed", "Grant lookup", () =>
		Promise.all(subjects.map(async (subject) => (await grants(s.env, api.name, subject).listGrants()).map((g) => grantView(subject, g)))),
	);
	return found.flat().filter((g) => query.clientId === undefined || g.clientId === query.clientId);
}

export async function revokeGrants(s: OAuthServices, input: RevokeGrantsInput): Promise<{ revoked: number }> {
	const api = oauthApi(s, input.api);
	if (input.grantId !== undefined && input.subject === undefined) throw new AdminError("invalid_request", "grantId: needs subject");
	const now = Date.now();
	let result: { revoked: number; mirrored: boolean };
	if (input.subject !== undefined) {
		const filter = { grantId: input.grantId, clientId: input.clientId };
		result = await step("limiter_failed", "Grant revocation", () => grants(s.env, api.name, input.subject!).revokeGrants(filter, now));
	} else {
		result = await revokeClientGrants(s, api.name, input.clientId!, now);
	}
	const { revoked } = result;
	await audit(s, {
		action: "oauth.grants_revoked",
		api: api.name,
		details: { subject: input.subject ?? null, clientId: input.clientId ?? null, grantId: input.grantId ?? null, revoked },
	});
	// Per client, tokens are checked on the client's mirror: until it has the revocation, it is not in force for them.
	if (!result.mirrored && api.oauth?.rateLimitBy === "client")
		throw new AdminError(
			"limiter_failed",
			"Grant revocation: recorded in the subjects' objects, but the client's mirror, which checks tokens counted per client, has not confirmed it yet; it is resent automatically within a minute. Repeat this request to confirm it.",
		);
	return { revoked };
}
