import { Hono } from "hono";
import type { Reason } from "../errors/catalogue";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { listKeys } from "../keys/store";
import { publicView } from "../keys/record";
import { logEvent } from "../util/log";
import { listAudit, parseAuditQuery } from "./audit";
import { readListCursor, writeListCursor } from "./cursor";
import { adminAuth, type AdminEnv } from "./auth";
import {
	CreateKeyBody,
	CreateOAuthClientBody,
	CreatePairBody,
	RevokeGrantsBody,
	OwnerRoleBody,
	PortalSessionBody,
	NoBody,
	RotateBody,
	UpdateKeyBody,
	type CreatedKeyView,
	type KeyPage,
	type KeyPairView,
	type PortalSessionView,
	type RotatedKeyView,
} from "./contract";
import { readBody, refuseKey } from "./input";
import {
	clientsOf,
	createClient,
	deleteClient,
	listGrants,
	revokeGrants,
	rotateClientSecret,
	showClient,
	type OAuthServices,
} from "./oauth-service";
import { issueEntry } from "../ui/portal-session";
// Generated from contract.ts by scripts/openapi.mjs; `npm test` fails when it is stale.
import { OPENAPI_GZIP_BASE64 } from "./openapi.gz";
import {
	AdminError,
	createKey,
	createPair,
	deleteKey,
	getOwner,
	keyUsage,
	revealKey,
	revokeKey,
	rotateKey,
	setOwnerRole,
	showKey,
	updateKey,
	type CreatedKey,
	pick,
} from "./service";

const fail = (reason: Reason, message?: string) => renderError(reason, DEFAULT_ERROR_CONTEXT, { message });

const shown = (k: CreatedKey): CreatedKeyView => ({ ...k.record, key: k.key });

export const adminApp = new Hono<AdminEnv>();

// Answers may hold a plaintext key, token or secret (shown once): no cache may keep one.
adminApp.use("*", async (c, next) => {
	await next();
	c.res.headers.set("Cache-Control", "no-store");
});
adminApp.use("*", adminAuth);

/** The OpenAPI document (src/admin/openapi.json), kept gzipped in the bundle and inflated per request. */
adminApp.get("/openapi.json", () => {
	const gzipped = Uint8Array.from(atob(OPENAPI_GZIP_BASE64), (ch) => ch.charCodeAt(0));
	const body = new Blob([gzipped]).stream().pipeThrough(new DecompressionStream("gzip"));
	return new Response(body, { headers: { "Content-Type": "application/json" } });
});

/**
 * A listing's query parameter given twice is refused, not read as its first value (a probe); so is
 * any other parameter given twice, read or not (a later probe: `?cursor=a&cursor=b` passed where
 * the listing reads no cursor).
 */
function queryOnce(c: { req: { url: string } }): void {
	const seen = new Set<string>();
	for (const name of new URL(c.req.url).searchParams.keys()) {
		if (seen.has(name)) throw new AdminError("invalid_request", `${name}: given more than once; give it once.`);
		seen.add(name);
	}
}

adminApp.post("/keys", async (c) => {
	const created = await createKey(c.var.services, await readBody(c, CreateKeyBody));
	return c.json(shown(created) satisfies CreatedKeyView, 201);
});

adminApp.post("/key-pairs", async (c) => {
	const pair = await createPair(c.var.services, await readBody(c, CreatePairBody));
	const body: KeyPairView =
		"publishable" in pair
			? { publishable: shown(pair.publishable), secret: shown(pair.secret) }
			: { identifier: shown(pair.identifier), secret: shown(pair.secret) };
	return c.json(body, 201);
});

adminApp.get("/keys", async (c) => {
	queryOnce(c);
	const api = c.req.query("api");
	if (api !== undefined && !c.var.services.config.apis.some((a) => a.name === api)) {
		throw new AdminError("invalid_request", `api: "${api}" is not a configured API`);
	}
	const raw = c.req.query("cursor") || undefined;
	const listing = `keys|${api ?? ""}`;
	const cursor = raw === undefined ? undefined : readListCursor(raw, listing);
	// KV lists nothing for a made-up cursor, which would read as "no more keys".
	if (cursor === null) throw new AdminError("invalid_request", "cursor: not one this listing gave for this api (or it was changed).");
	const page = await listKeys(c.env.KEYS, api, cursor);
	// Each listed key shows its authority's lifecycle fields, as GET /keys/{id} does.
	const data = await Promise.all(page.data.map((k) => showKey(c.var.services, k.id).catch(() => publicView(k))));
	return c.json({ data, cursor: page.cursor === null ? null : writeListCursor(page.cursor, listing) } satisfies KeyPage);
});

adminApp.get("/keys/:id", async (c) => c.json(await showKey(c.var.services, c.req.param("id"))));

adminApp.patch("/keys/:id", async (c) => c.json(await updateKey(c.var.services, c.req.param("id"), await readBody(c, UpdateKeyBody))));

adminApp.get("/keys/:id/usage", async (c) => c.json(await keyUsage(c.var.services, c.req.param("id"))));

adminApp.post("/keys/:id/revoke", async (c) => {
	await readBody(c, NoBody, true);
	return c.json(await revokeKey(c.var.services, c.req.param("id")));
});

adminApp.post("/keys/:id/reveal", async (c) => {
	await readBody(c, NoBody, true);
	return c.json((await revealKey(c.var.services, c.req.param("id"))) satisfies CreatedKeyView);
});

adminApp.post("/keys/:id/rotate", async (c) => {
	const body = await readBody(c, RotateBody, true);
	const { created, previous } = await rotateKey(c.var.services, c.req.param("id"), body.gracePeriodSeconds);
	return c.json({ ...shown(created), previous } satisfies RotatedKeyView, 201);
});

adminApp.delete("/keys/:id", async (c) => {
	await readBody(c, NoBody, true);
	await deleteKey(c.var.services, c.req.param("id"));
	return c.body(null, 204);
});

adminApp.get("/audit", async (c) => {
	queryOnce(c);
	const parsed = parseAuditQuery(new URL(c.req.url).searchParams);
	if (!parsed.ok) throw new AdminError("invalid_request", parsed.message);
	return c.json(await listAudit(c.env.KEYS, parsed.query));
});

adminApp.put("/owners/:owner", async (c) => {
	refuseKey("owner", c.req.param("owner"));
	const body = await readBody(c, OwnerRoleBody);
	return c.json(await setOwnerRole(c.var.services, c.req.param("owner"), body.api, body.role));
});

adminApp.get("/owners/:owner", async (c) => {
	refuseKey("owner", c.req.param("owner"));
	queryOnce(c);
	return c.json(await getOwner(c.var.services, c.req.param("owner"), c.req.query("api") || undefined));
});

const oauth = (c: { var: AdminEnv["Variables"]; env: AdminEnv["Bindings"] }): OAuthServices => ({ ...c.var.services, env: c.env });

adminApp.post("/oauth/clients", async (c) => c.json(await createClient(oauth(c), await readBody(c, CreateOAuthClientBody)), 201));

adminApp.get("/oauth/clients", async (c) => {
	queryOnce(c);
	return c.json({ data: await clientsOf(c.var.services, c.req.query("api") || undefined), cursor: null });
});

adminApp.get("/oauth/clients/:clientId", async (c) => c.json(await showClient(c.var.services, c.req.param("clientId"))));

adminApp.post("/oauth/clients/:clientId/rotate-secret", async (c) => {
	await readBody(c, NoBody, true);
	return c.json(await rotateClientSecret(c.var.services, c.req.param("clientId")));
});

adminApp.delete("/oauth/clients/:clientId", async (c) => {
	await readBody(c, NoBody, true);
	await deleteClient(oauth(c), c.req.param("clientId"));
	return c.body(null, 204);
});

adminApp.get("/oauth/grants", async (c) => {
	queryOnce(c);
	const subject = c.req.query("subject") || undefined;
	const clientId = c.req.query("clientId") || undefined;
	const data = await listGrants(oauth(c), { api: c.req.query("api") || undefined, subject, clientId });
	return c.json({ data, cursor: null });
});

adminApp.post("/oauth/grants/revoke", async (c) => c.json(await revokeGrants(oauth(c), await readBody(c, RevokeGrantsBody))));

/** A customer portal entry for one owner of one API (src/ui/portal-session.ts): a single-use URL, valid 5 minutes. */
adminApp.post("/portal-sessions", async (c) => {
	const body = await readBody(c, PortalSessionBody);
	const s = c.var.services;
	const api = body.api === undefined ? s.config.apis[0]! : s.config.apis.find((a) => a.name === body.api);
	if (!api) throw new AdminError("invalid_request", `api: "${body.api}" is not a configured API`);
	if (!api.portal) throw new AdminError("invalid_request", `api: "${api.name}" has no portal block in the config`);
	const entry = await issueEntry(c.env.KEYS, {
		api: api.name,
		owner: body.owner,
		returnUrl: body.returnUrl ?? null,
		...(body.tier === undefined ? {} : { tier: pick("tier", body.tier, api.tiers, api.defaultTier) }),
	});
	const url = `${new URL(c.req.url).origin}/_keygate/portal/enter?token=${entry.token}`;
	return c.json({ url, expiresAt: new Date(entry.expiresAt).toISOString() } satisfies PortalSessionView, 201);
});

adminApp.all("*", () => fail("not_found"));

adminApp.onError((err) => {
	if (err instanceof AdminError) return fail(err.reason, err.message);
	logEvent("internal_error", { area: "admin", error: String(err) });
	return fail("internal_error");
});
