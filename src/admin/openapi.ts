/** OpenAPI 3.1 description of the admin API, served at /_keygate/v1/openapi.json. */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json(ref("Error")) });
const idParam = { name: "id", in: "path", required: true, schema: { type: "string" } };
const standardErrors = {
	"401": error("Missing or wrong admin token (invalid_admin_token)."),
	"503": error("KV, a Durable Object or the config failed (gateway_unavailable). Retrying is safe."),
};

const rateLimit = {
	type: "object",
	required: ["limit", "burst"],
	additionalProperties: false,
	properties: {
		limit: { type: ["integer", "null"], minimum: 1, description: "Requests per window; null = unlimited." },
		window: { type: "integer", minimum: 1, default: 3600, description: "Seconds." },
		burst: { type: "integer", minimum: 1, description: "Requests per second." },
		shards: { type: "integer", minimum: 1, maximum: 64, default: 1, description: "Split over N Durable Objects (docs/scaling.md)." },
	},
};

const createFields = {
	api: { type: "string", description: "Configured API name; default the first." },
	name: { type: "string", minLength: 1, maxLength: 200 },
	environment: { type: "string", description: "Default: the API's first environment." },
	scopes: { type: "array", items: { type: "string" }, maxItems: 100 },
	tier: { type: "string", description: "Default: the API's defaultTier." },
	rateLimit,
	expiresAt: { type: "string", format: "date-time" },
	ipAllowlist: { type: "array", items: { type: "string", description: "IPv4/IPv6 address or CIDR." } },
	owner: { type: "string" },
	service: { type: "string", description: "The service or integration using the key, for audit." },
	metadata: { type: "object", description: "At most 4096 bytes as JSON." },
};

const nullable = (schema: Record<string, unknown>) => ({ oneOf: [schema, { type: "null" }] });

const keyRecord = {
	type: "object",
	properties: {
		id: { type: "string" },
		api: { type: "string" },
		name: { type: "string" },
		type: { type: "string" },
		kind: { enum: ["secret", "publishable", "identifier"] },
		environment: { type: "string" },
		start: { type: "string", description: "Type, environment and 4 characters of the key." },
		scopes: { type: "array", items: { type: "string" } },
		tier: { type: "string" },
		rateLimit: { oneOf: [rateLimit, { type: "null" }] },
		owner: { type: ["string", "null"] },
		service: { type: ["string", "null"] },
		ipAllowlist: { type: ["array", "null"], items: { type: "string" } },
		metadata: { type: ["object", "null"] },
		pairId: { type: ["string", "null"] },
		createdAt: { type: "string", format: "date-time" },
		expiresAt: { type: ["string", "null"], format: "date-time" },
		revokedAt: { type: ["string", "null"], format: "date-time" },
		rotatedAt: { type: ["string", "null"], format: "date-time" },
		replacedBy: { type: ["string", "null"] },
		graceEndsAt: { type: ["string", "null"], format: "date-time" },
	},
};

export const openApiDocument = {
	openapi: "3.1.0",
	info: {
		title: "keygate admin API",
		version: "1.0.0",
		description: "Key lifecycle for keygate. Plaintext keys appear only in creation and rotation responses.",
	},
	servers: [{ url: "/_keygate/v1" }],
	security: [{ adminToken: [] }],
	paths: {
		"/keys": {
			post: {
				summary: "Create a key",
				requestBody: {
					required: true,
					content: json({
						type: "object",
						required: ["name"],
						additionalProperties: false,
						properties: { ...createFields, type: { type: "string" } },
					}),
				},
				responses: {
					"201": { description: "Created; `key` is the plaintext, shown this once.", content: json(ref("CreatedKey")) },
					"400": error("Invalid body (invalid_request); the message names the field."),
					...standardErrors,
				},
			},
			get: {
				summary: "List keys",
				parameters: [
					{ name: "api", in: "query", schema: { type: "string" } },
					{ name: "cursor", in: "query", schema: { type: "string" } },
				],
				responses: {
					"200": {
						description: "A page of keys",
						content: json({
							type: "object",
							properties: { data: { type: "array", items: ref("Key") }, cursor: { type: ["string", "null"] } },
						}),
					},
					...standardErrors,
				},
			},
		},
		"/key-pairs": {
			post: {
				summary: "Create a publishable and a secret key together",
				requestBody: {
					required: true,
					content: json({ type: "object", required: ["name"], additionalProperties: false, properties: createFields }),
				},
				responses: {
					"201": {
						description: "Created",
						content: json({ type: "object", properties: { publishable: ref("CreatedKey"), secret: ref("CreatedKey") } }),
					},
					"400": error("Invalid body"),
					...standardErrors,
				},
			},
		},
		"/keys/{id}": {
			get: {
				summary: "Show a key",
				parameters: [idParam],
				responses: { "200": { description: "The key", content: json(ref("Key")) }, "404": error("key_not_found"), ...standardErrors },
			},
			delete: {
				summary: "Delete a key; it then reads as invalid_api_key",
				parameters: [idParam],
				responses: { "204": { description: "Deleted" }, "404": error("key_not_found"), ...standardErrors },
			},
			patch: {
				summary: "Change a key's fields; null clears one. Scopes are refused when the API sets keys.immutableScopes.",
				parameters: [idParam],
				requestBody: {
					required: true,
					content: json({
						type: "object",
						additionalProperties: false,
						minProperties: 1,
						properties: {
							name: createFields.name,
							scopes: createFields.scopes,
							tier: createFields.tier,
							rateLimit: nullable(rateLimit),
							expiresAt: nullable(createFields.expiresAt),
							ipAllowlist: nullable(createFields.ipAllowlist),
							owner: nullable(createFields.owner),
							service: nullable(createFields.service),
							metadata: nullable(createFields.metadata),
						},
					}),
				},
				responses: {
					"200": { description: "The key", content: json(ref("Key")) },
					"400": error("Invalid body"),
					"404": error("key_not_found"),
					...standardErrors,
				},
			},
		},
		"/keys/{id}/revoke": {
			post: {
				summary: "Revoke a key, effective on the next request everywhere",
				parameters: [idParam],
				responses: { "200": { description: "Revoked", content: json(ref("Key")) }, "404": error("key_not_found"), ...standardErrors },
			},
		},
		"/keys/{id}/rotate": {
			post: {
				summary: "Issue a replacement; the old key works until the grace period ends",
				parameters: [idParam],
				requestBody: {
					required: false,
					content: json({
						type: "object",
						additionalProperties: false,
						properties: { gracePeriodSeconds: { type: "integer", minimum: 0, default: 86400 } },
					}),
				},
				responses: {
					"201": { description: "The new key, with `previous` the old record", content: json(ref("CreatedKey")) },
					"404": error("key_not_found"),
					"409": error("Revoked, expired or already rotated (conflict)"),
					...standardErrors,
				},
			},
		},
		"/audit": {
			get: {
				summary: "Key-management events, newest first",
				parameters: [
					{ name: "keyId", in: "query", schema: { type: "string" } },
					{ name: "cursor", in: "query", schema: { type: "string" } },
				],
				responses: {
					"200": { description: "A page of events: {data: [{id, at, actor, action, api, keyId, owner, details}], cursor}" },
					...standardErrors,
				},
			},
		},
		"/owners/{owner}": {
			get: {
				summary: "An owner's role (APIs with owners)",
				parameters: [
					{ name: "owner", in: "path", required: true, schema: { type: "string" } },
					{ name: "api", in: "query", schema: { type: "string" } },
				],
				responses: { "200": { description: "{owner, api, role, assigned}" }, "400": error("The API has no owners"), ...standardErrors },
			},
			put: {
				summary: "Set an owner's role; all the owner's keys have the new rights from their next request",
				parameters: [{ name: "owner", in: "path", required: true, schema: { type: "string" } }],
				requestBody: {
					required: true,
					content: json({
						type: "object",
						required: ["role"],
						additionalProperties: false,
						properties: { api: { type: "string" }, role: { type: "string" } },
					}),
				},
				responses: {
					"200": { description: "{owner, api, role, assigned}" },
					"400": error("Unknown role or API without owners"),
					...standardErrors,
				},
			},
		},
		"/keys/{id}/usage": {
			get: {
				summary: "Requests passed and rejected by reason, and last use",
				parameters: [idParam],
				responses: { "200": { description: "Usage" }, "404": error("key_not_found"), ...standardErrors },
			},
		},
	},
	components: {
		securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "The ADMIN_TOKEN secret." } },
		schemas: {
			Key: keyRecord,
			CreatedKey: {
				allOf: [keyRecord, { type: "object", properties: { key: { type: "string", description: "The plaintext key. Shown once." } } }],
			},
			Error: { type: "object", properties: { error: { type: "string" }, message: { type: "string" } } },
		},
	},
} as const;
