/**
 * Builds the admin API's OpenAPI 3.1 document from the contract (./contract.ts).
 *
 * Not part of the Worker: `scripts/openapi.mjs` runs this at build time and writes
 * src/admin/openapi.json, which the Worker serves at /_keygate/v1/openapi.json; `npm test`
 * fails when that file is stale. Schemas come only from the zod schemas the routes use;
 * this file adds what zod cannot say: paths, methods, statuses and prose.
 */
import * as z from "zod/mini";
import { RateLimitSchema } from "../config/schema";
import { catalogueEntry, type PublicCode } from "../errors/catalogue";
import {
	ACTOR_TYPES,
	AUDIT_ACTIONS,
	ADMIN_FAILURE_WINDOW_SECONDS,
	ADMIN_MAX_FAILURES,
	AuditEventSchema,
	AuditPageSchema,
	CreatedKeySchema,
	CreateKeyBody,
	CreatedOAuthClientSchema,
	CreateOAuthClientBody,
	CreatePairBody,
	KeyPageSchema,
	OAuthClientPageSchema,
	OAuthClientSchema,
	OAuthGrantPageSchema,
	OAuthGrantSchema,
	RevokedGrantsSchema,
	RevokeGrantsBody,
	KeyPairSchema,
	KeyRecordSchema,
	MAX_GRACE_SECONDS,
	OwnerRoleBody,
	OwnerSchema,
	PortalSessionBody,
	PortalSessionSchema,
	RotateBody,
	RotatedKeySchema,
	UpdateKeyBody,
	UsageSchema,
} from "./contract";

type Json = Record<string, unknown>;

// Named schemas, emitted under components.schemas and referenced by $ref. Requests are
// described as clients send them (defaults optional), responses as keygate answers them.
const requests = z.registry<{ id: string }>();
requests.add(CreateKeyBody, { id: "CreateKeyRequest" });
requests.add(CreatePairBody, { id: "CreateKeyPairRequest" });
requests.add(UpdateKeyBody, { id: "UpdateKeyRequest" });
requests.add(RotateBody, { id: "RotateKeyRequest" });
requests.add(OwnerRoleBody, { id: "OwnerRoleRequest" });
requests.add(RateLimitSchema, { id: "RateLimitRequest" });
requests.add(CreateOAuthClientBody, { id: "CreateOAuthClientRequest" });
requests.add(RevokeGrantsBody, { id: "RevokeGrantsRequest" });
requests.add(PortalSessionBody, { id: "PortalSessionRequest" });

const responses = z.registry<{ id: string }>();
responses.add(KeyRecordSchema, { id: "Key" });
responses.add(CreatedKeySchema, { id: "CreatedKey" });
responses.add(KeyPairSchema, { id: "KeyPair" });
responses.add(RotatedKeySchema, { id: "RotatedKey" });
responses.add(KeyPageSchema, { id: "KeyPage" });
responses.add(UsageSchema, { id: "Usage" });
responses.add(AuditEventSchema, { id: "AuditEvent" });
responses.add(AuditPageSchema, { id: "AuditPage" });
responses.add(OwnerSchema, { id: "Owner" });
responses.add(RateLimitSchema, { id: "RateLimit" });
responses.add(OAuthClientSchema, { id: "OAuthClient" });
responses.add(CreatedOAuthClientSchema, { id: "CreatedOAuthClient" });
responses.add(OAuthClientPageSchema, { id: "OAuthClientPage" });
responses.add(OAuthGrantSchema, { id: "OAuthGrant" });
responses.add(OAuthGrantPageSchema, { id: "OAuthGrantPage" });
responses.add(RevokedGrantsSchema, { id: "RevokedGrants" });
responses.add(PortalSessionSchema, { id: "PortalSession" });

const SCHEMAS = "#/components/schemas/";

function convert(registry: z.core.$ZodRegistry<{ id: string }>, io: "input" | "output"): Record<string, Json> {
	const { schemas } = z.toJSONSchema(registry, {
		io,
		uri: (id) => SCHEMAS + id,
		unrepresentable: "throw",
		override: ({ jsonSchema }) => {
			// zod's date-time regex is its implementation of the format; the format says it.
			if (jsonSchema.format === "date-time") delete jsonSchema.pattern;
		},
	});
	const out: Record<string, Json> = {};
	for (const [id, schema] of Object.entries(schemas)) {
		if (id === "__shared") throw new Error("a schema is reused without an id: give it one in openapi.ts");
		const { $schema: _s, $id: _i, ...rest } = schema as Json;
		out[id] = rest;
	}
	return out;
}

const ref = (id: string) => ({ $ref: SCHEMAS + id });
const json = (schema: unknown) => ({ "application/json": { schema } });

// ---- errors: one response per public code, with the status and body the catalogue renders ----

const ERROR_TEXT: Partial<Record<PublicCode, string>> = {
	invalid_request:
		"Invalid input; nothing was changed. The message names the field: a body field, a query or path parameter, or X-Keygate-Actor (refused too when it holds an API key).",
	invalid_admin_token:
		"No `Authorization: Bearer <ADMIN_TOKEN>`, or a wrong token. Wrong tokens are counted per client address and audited.",
	rate_limit_exceeded: `Too many wrong admin tokens from this client address (CF-Connecting-IP): after ${ADMIN_MAX_FAILURES} within ${ADMIN_FAILURE_WINDOW_SECONDS} s, every admin request from it is refused until the window ends, the right token included.`,
	gateway_unavailable:
		"KV, a Durable Object, the ADMIN_TOKEN secret or the config failed. The message names the step; it says whether retrying is safe.",
	key_not_found: "No key with this id exists.",
	conflict: "The key is revoked, expired or already rotated, or (rotating with a grace) the key it replaced still works.",
	not_found: "No OAuth client with this id exists.",
};

function errorResponse(code: PublicCode): Json {
	const body = z.toJSONSchema(z.strictObject({ error: z.literal(code), message: z.string() }));
	const { $schema: _s, ...schema } = body as Json;
	const headers: Json = {};
	if (code === "invalid_admin_token")
		headers["WWW-Authenticate"] = { required: true, schema: { type: "string", const: 'Bearer realm="keygate-admin"' } };
	if (code === "rate_limit_exceeded")
		headers["Retry-After"] = {
			required: true,
			description: "Seconds until the window ends.",
			schema: { type: "string", pattern: "^[0-9]+$" },
		};
	return {
		description: `${code}. ${ERROR_TEXT[code] ?? catalogueEntry(code).message}`,
		...(Object.keys(headers).length ? { headers } : {}),
		content: json(schema),
	};
}

/** Every admin operation can answer these: bad input (X-Keygate-Actor at least), a wrong token, the throttle, a failure. */
const EVERY_OPERATION: PublicCode[] = ["invalid_request", "invalid_admin_token", "rate_limit_exceeded", "gateway_unavailable"];
const ERROR_CODES: PublicCode[] = [...EVERY_OPERATION, "key_not_found", "conflict", "not_found"];

// ---- operations ----

interface Operation {
	summary: string;
	description?: string;
	parameters?: string[];
	body?: { id: string; required: boolean };
	ok: { status: 200 | 201 | 204; description: string; schema?: string };
	/** Error codes beyond EVERY_OPERATION. */
	errors?: PublicCode[];
}

const keyOp = (op: Operation): Operation => ({
	...op,
	parameters: ["id", ...(op.parameters ?? [])],
	errors: ["key_not_found", ...(op.errors ?? [])],
});

const clientOp = (op: Operation): Operation => ({
	...op,
	parameters: ["clientId", ...(op.parameters ?? [])],
	errors: ["not_found", ...(op.errors ?? [])],
});

const OPERATIONS: Record<string, Partial<Record<"get" | "post" | "put" | "patch" | "delete", Operation>>> = {
	"/keys": {
		post: {
			summary: "Create a key",
			description: "Defaults: the first API, its first secret type, its first environment, its defaultTier.",
			body: { id: "CreateKeyRequest", required: true },
			ok: { status: 201, description: "Created; `key` is the plaintext, shown this once.", schema: "CreatedKey" },
		},
		get: {
			summary: "List keys, a page at a time",
			description:
				"Without `api`, every API's keys. A cursor is valid only for the listing (the same `api`, or none) that gave it; any other, one edited, or a parameter given twice is 400 invalid_request.",
			parameters: ["apiQuery", "cursor"],
			ok: { status: 200, description: "A page of keys; `cursor` is null on the last page.", schema: "KeyPage" },
		},
	},
	"/key-pairs": {
		post: {
			summary: "Create a secret key and its public companion together",
			description:
				"The companion is answered as `publishable`, or as `identifier` for an API whose public key type is an application identifier. Both share a `pairId`.",
			body: { id: "CreateKeyPairRequest", required: true },
			ok: { status: 201, description: "Created; each `key` is a plaintext, shown this once.", schema: "KeyPair" },
		},
	},
	"/keys/{id}": {
		get: keyOp({ summary: "Show a key", ok: { status: 200, description: "The key", schema: "Key" } }),
		patch: keyOp({
			summary: "Change a key's fields; null clears one",
			description:
				"`scopes` is refused when the API sets keys.immutableScopes. The change reaches every location within KV's propagation time plus the isolate cache's 60 s; to take rights away at once, revoke or rotate.",
			body: { id: "UpdateKeyRequest", required: true },
			ok: { status: 200, description: "The key", schema: "Key" },
		}),
		delete: keyOp({
			summary: "Delete a key; it then reads as invalid_api_key",
			description:
				"Takes no body: an empty one or `{}`; anything else (a field, invalid JSON, a key anywhere, over 256 KiB) is 400 invalid_request and nothing is done.",
			ok: { status: 204, description: "Deleted" },
		}),
	},
	"/keys/{id}/revoke": {
		post: keyOp({
			summary: "Revoke a key, refused on its next request everywhere. Idempotent.",
			description:
				"Takes no body: an empty one or `{}`; anything else (a field, invalid JSON, a key anywhere, over 256 KiB) is 400 invalid_request and nothing is done.",
			ok: { status: 200, description: "The revoked key", schema: "Key" },
		}),
	},
	"/keys/{id}/reveal": {
		post: keyOp({
			summary: "Show a publishable key or an identifier again",
			description:
				"A public key (kind publishable or identifier) is derived from its id under a random root keygate keeps, so it can be shown again; keygate still stores only its hash, and checks the key against it. Takes no body, like revoke. A secret key is 400 invalid_request (shown once, when it is made); a key that works no longer (revoked, expired, past its grace) or that cannot be derived again (made before keygate derived public keys) is 409 conflict. Audited as key.revealed.",
			ok: { status: 200, description: "The key's record with its plaintext `key`", schema: "CreatedKey" },
			errors: ["conflict"],
		}),
	},
	"/keys/{id}/rotate": {
		post: keyOp({
			summary: "Issue a replacement; the old key works until its grace period ends",
			description: `gracePeriodSeconds: 0 to ${MAX_GRACE_SECONDS}, and at most the API's keys.maxRotationGraceSeconds when it sets one (else 400 invalid_request, nothing changed); default the API's keys.rotationGraceSeconds (86400 unless configured). During the grace period the old key's responses carry Deprecation (RFC 9745) and Sunset (RFC 8594).`,
			body: { id: "RotateKeyRequest", required: false },
			ok: { status: 201, description: "The new key with its plaintext `key`, and `previous`, the old record.", schema: "RotatedKey" },
			errors: ["conflict"],
		}),
	},
	"/keys/{id}/usage": {
		get: keyOp({
			summary: "Requests passed and rejected (by reason), and last use, from the key's Durable Object",
			ok: { status: 200, description: "Usage", schema: "Usage" },
		}),
	},
	"/audit": {
		get: {
			summary: "Key-management events and failed admin logins, newest first",
			description:
				"Filters combine. A page holds at most 50 events; with sparse filters it may hold fewer (even none) after scanning 5,000 entries, and its `cursor` goes on from there. A value that is not one of the allowed ones, a parameter given twice, or a cursor this listing did not give is refused (400 invalid_request).",
			parameters: ["keyId", "auditAction", "actorType", "from", "to", "cursor"],
			ok: { status: 200, description: "A page of events; `cursor` is null when no older event can match.", schema: "AuditPage" },
		},
	},
	"/oauth/clients": {
		post: {
			summary: "Register an OAuth client of an API with oauth",
			description:
				"Defaults: the first API with oauth, a confidential client, all of the API's oauth.scopes, its defaultTier, its first environment.",
			body: { id: "CreateOAuthClientRequest", required: true },
			ok: {
				status: 201,
				description: "Created; `secret` is the plaintext, shown this once (null for a public client).",
				schema: "CreatedOAuthClient",
			},
		},
		get: {
			summary: "List an API's OAuth clients",
			parameters: ["apiQuery"],
			ok: { status: 200, description: "Every client of the API; `cursor` is always null.", schema: "OAuthClientPage" },
		},
	},
	"/oauth/clients/{clientId}": {
		get: clientOp({
			summary: "Show an OAuth client (never its secret)",
			ok: { status: 200, description: "The client", schema: "OAuthClient" },
		}),
		delete: clientOp({
			summary: "Delete an OAuth client; its grants are revoked first, so its tokens are refused on their next request",
			description:
				"Takes no body: an empty one or `{}`; anything else (a field, invalid JSON, a key anywhere, over 256 KiB) is 400 invalid_request and nothing is done.",
			ok: { status: 204, description: "Deleted" },
		}),
	},
	"/oauth/clients/{clientId}/rotate-secret": {
		post: clientOp({
			summary: "Issue a new client secret; the old one stops working at once",
			description:
				"Takes no body: an empty one or `{}`; anything else (a field, invalid JSON, a key anywhere, over 256 KiB) is 400 invalid_request and nothing is done.",
			ok: { status: 200, description: "The client with its new plaintext `secret`, shown this once.", schema: "CreatedOAuthClient" },
		}),
	},
	"/oauth/grants": {
		get: {
			summary: "List OAuth grants, of one subject or of one client",
			parameters: ["apiQuery", "subject", "clientIdQuery"],
			ok: { status: 200, description: "The grants; `cursor` is always null.", schema: "OAuthGrantPage" },
		},
	},
	"/oauth/grants/revoke": {
		post: {
			summary: "Revoke a grant, a subject's grants or a client's grants; their tokens are refused on their next request",
			body: { id: "RevokeGrantsRequest", required: true },
			ok: { status: 200, description: "How many live grants were revoked.", schema: "RevokedGrants" },
		},
	},
	"/owners/{owner}": {
		get: {
			summary: "An owner's role (APIs with owners)",
			parameters: ["owner", "apiQuery"],
			ok: { status: 200, description: "The owner's role; `assigned` is false when the default applies.", schema: "Owner" },
		},
		put: {
			summary: "Set an owner's role; every key of the owner has the new rights from its next request",
			parameters: ["owner"],
			body: { id: "OwnerRoleRequest", required: true },
			ok: { status: 200, description: "The owner's role", schema: "Owner" },
		},
	},
	"/portal-sessions": {
		post: {
			summary: "Open a customer portal session for one owner of one API",
			description:
				"The API's backend calls this for a signed-in customer and redirects the customer to `url`. The URL's token is single-use and valid for 5 minutes (stored hashed); opening it starts a 1-hour portal session in which the customer sees and acts on only this owner's keys of this API, within the API's `portal` config block.",
			body: { id: "PortalSessionRequest", required: true },
			ok: { status: 201, description: "Where to send the customer", schema: "PortalSession" },
		},
	},
};

const PARAMETERS: Record<string, Json> = {
	id: { name: "id", in: "path", required: true, schema: { type: "string", pattern: "^key_[0-9A-Za-z]{22}$" } },
	owner: { name: "owner", in: "path", required: true, schema: { type: "string", minLength: 1, maxLength: 200 } },
	apiQuery: { name: "api", in: "query", description: "A configured API's name; default the first.", schema: { type: "string" } },
	cursor: { name: "cursor", in: "query", description: "The previous page's `cursor`.", schema: { type: "string" } },
	keyId: { name: "keyId", in: "query", description: "Only this key's events.", schema: { type: "string" } },
	auditAction: {
		name: "action",
		in: "query",
		description: "Only events of this action.",
		schema: { type: "string", enum: [...AUDIT_ACTIONS] },
	},
	actorType: {
		name: "actorType",
		in: "query",
		description: "Only events whose actor came in this way.",
		schema: { type: "string", enum: [...ACTOR_TYPES] },
	},
	from: {
		name: "from",
		in: "query",
		description: "Only events at or after this: a date (`2026-12-05`, from the start of that UTC day) or an RFC 3339 time.",
		schema: { type: "string" },
	},
	to: {
		name: "to",
		in: "query",
		description:
			"Only events before this: a date (`2026-12-05`, up to the end of that UTC day, inclusive) or an RFC 3339 time (exclusive).",
		schema: { type: "string" },
	},
	clientId: { name: "clientId", in: "path", required: true, schema: { type: "string", pattern: "^client_[0-9A-Za-z]{22}$" } },
	clientIdQuery: { name: "clientId", in: "query", description: "Grants of this client.", schema: { type: "string" } },
	subject: { name: "subject", in: "query", description: "Grants of this user.", schema: { type: "string" } },
	actor: {
		name: "X-Keygate-Actor",
		in: "header",
		description:
			"Who the caller says it is, for the audit log: printable ASCII, at most 100 characters kept; `admin` when absent. A value holding an API key is refused (400).",
		schema: { type: "string" },
	},
};

function operation(op: Operation): Json {
	const out: Json = { summary: op.summary };
	if (op.description) out.description = op.description;
	out.parameters = [...(op.parameters ?? []), "actor"].map((p) => ({ $ref: `#/components/parameters/${p}` }));
	if (op.body) out.requestBody = { required: op.body.required, content: json(ref(op.body.id)) };
	const answers: Json = {
		[op.ok.status]: op.ok.schema
			? { description: op.ok.description, content: json(ref(op.ok.schema)) }
			: { description: op.ok.description },
	};
	for (const code of [...EVERY_OPERATION, ...(op.errors ?? [])]) {
		const status = String(catalogueEntry(code).status);
		if (status in answers) throw new Error(`two answers for status ${status}`);
		answers[status] = { $ref: `#/components/responses/${code}` };
	}
	out.responses = Object.fromEntries(Object.entries(answers).sort(([a], [b]) => Number(a) - Number(b)));
	return out;
}

export function buildOpenApi(): Json {
	const paths: Json = {};
	for (const [path, methods] of Object.entries(OPERATIONS)) {
		const item: Json = {};
		for (const [method, op] of Object.entries(methods)) item[method] = operation(op);
		paths[path] = item;
	}
	return {
		openapi: "3.1.0",
		info: {
			title: "keygate admin API",
			version: "1.0.0",
			description:
				"Key lifecycle for keygate. Generated from the zod schemas in src/admin/contract.ts by scripts/openapi.mjs. Plaintext keys appear only in creation and rotation responses; no input may hold one.",
		},
		servers: [{ url: "/_keygate/v1" }],
		security: [{ adminToken: [] }],
		paths,
		components: {
			securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN secret." } },
			parameters: PARAMETERS,
			responses: Object.fromEntries(ERROR_CODES.map((code) => [code, errorResponse(code)])),
			schemas: { ...convert(requests, "input"), ...convert(responses, "output") },
		},
	};
}
