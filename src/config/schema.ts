import { z } from "zod";

/**
 * The declarative config, defined once: `parseConfig` validates against it and
 * `scripts/schema.mjs` publishes it as `keygate.schema.json` for editors.
 */

const name = z.string().regex(/^[a-z][a-z0-9]{0,23}$/, "lowercase letters and digits, starting with a letter, at most 24");

const rateLimitFields = {
		limit: z.number().int().positive().nullable().describe("Requests per window; null means unlimited."),
		window: z.number().int().positive().max(31_536_000).default(3600).describe("Window length in seconds."),
		burst: z.number().int().positive().describe("Requests per second."),
		shards: z
			.number()
			.int()
			.min(1)
			.max(64)
			.default(1)
			.describe("Split this limit over N Durable Objects, for keys beyond ~1,000 requests/s (docs/scaling.md)."),
};

const sharesFit: [(r: { burst: number; limit: number | null; shards: number }) => boolean, { message: string; path: string[] }] = [
	(r) => r.burst >= r.shards && (r.limit === null || r.limit >= r.shards),
	{ message: "burst and limit must each be at least shards", path: ["shards"] },
];

export const RateLimitSchema = z
	.object(rateLimitFields)
	.strict()
	.refine(...sharesFit);

const TierSchema = z
	.object({
		...rateLimitFields,
		categories: z
			.record(name, RateLimitSchema)
			.default({})
			.describe("Per-plan, per-endpoint-category limits: a bucket per key for each category routes name."),
		onLimiterError: z
			.enum(["closed", "open"])
			.default("closed")
			.describe(
				"When the key's Durable Object fails or hangs: refuse with 503 (closed), or pass without counting, marked by X-Keygate-Limiter: bypassed (open).",
			),
	})
	.strict()
	.refine(...sharesFit);

const CredentialSchema = z.discriminatedUnion("in", [
	z
		.object({
			in: z.literal("authorization"),
			scheme: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/, "an HTTP auth scheme token such as Bearer or ApiKey"),
		})
		.strict()
		.describe("Authorization: <scheme> <key>"),
	z
		.object({
			in: z.literal("header"),
			name: z.string().regex(/^[A-Za-z0-9-]+$/, "an HTTP header name"),
		})
		.strict()
		.describe("<name>: <key>"),
]);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

const RouteSchema = z
	.object({
		methods: z.array(z.enum(METHODS)).min(1).optional().describe("Methods this rule covers; all when absent."),
		path: z
			.string()
			.regex(/^\//, "a path pattern starting with /")
			.describe("Path pattern: literal segments, * for one segment, ** for any rest."),
		public: z.boolean().default(false).describe("No key needed; the request is passed through as is."),
		scopes: z.array(z.string().min(1)).default([]).describe("Scopes the key must all hold."),
		cost: z.number().int().positive().default(1).describe("How much of the key's budget one request spends."),
		rateLimit: RateLimitSchema.optional().describe(
			"A limit of its own for this rule, counted per key on top of the key's limit (used when the tier sets none for the rule's category).",
		),
		category: name
			.optional()
			.describe("An endpoint category: rules with the same category share one per-key bucket, limited per tier by tiers.<tier>.categories."),
	})
	.strict();

const KeyTypeSchema = z
	.object({
		kind: z
			.enum(["secret", "publishable", "identifier"])
			.describe("identifier: a public id (e.g. an application identifier) that authorizes nothing on its own."),
		readOnly: z.boolean().default(false).describe("Keys of this type may only GET, HEAD and OPTIONS."),
	})
	.strict();

const EnvironmentSchema = z
	.object({
		origin: z.url({ protocol: /^https?$/ }).describe("Base URL requests for keys of this environment go to."),
		hosts: z
			.array(z.string().min(1))
			.optional()
			.describe("If set, keys of this environment are accepted only on these hosts."),
	})
	.strict();

export const ERROR_STYLES = ["default", "nested", "minimal", "problem"] as const;

const ErrorOverrideSchema = z
	.object({
		code: z.string().min(1).optional(),
		message: z.string().min(1).optional(),
	})
	.strict();

const ApiSchema = z
	.object({
		name,
		match: z
			.object({
				hosts: z.array(z.string().min(1)).optional().describe("Host names this API answers on; any when absent."),
				pathPrefix: z.string().regex(/^\//).default("/").describe("Path prefix this API answers on."),
			})
			.strict()
			.default({ pathPrefix: "/" }),
		environments: z
			.record(name, EnvironmentSchema)
			.refine((r) => Object.keys(r).length > 0, "at least one environment")
			.describe("Key environments (the middle part of a key) and where each one's requests go."),
		credentials: z
			.array(CredentialSchema)
			.min(1)
			.default([{ in: "authorization", scheme: "Bearer" }])
			.describe("Where a key is accepted, in order."),
		keyTypes: z
			.record(name, KeyTypeSchema)
			.refine((r) => Object.keys(r).length > 0, "at least one key type")
			.describe("Key type prefixes (the first part of a key)."),
		routes: z.array(RouteSchema).default([]).describe("First match wins."),
		originTimeoutMs: z
			.number()
			.int()
			.min(100)
			.max(600_000)
			.default(30_000)
			.describe("How long to wait for the origin's response headers before answering 504 origin_timeout."),
		bruteForce: z
			.object({
				maxFailures: z.number().int().positive().default(20).describe("Failed credentials from one client IP within the window."),
				windowSeconds: z.number().int().positive().max(3600).default(60),
			})
			.strict()
			.default({ maxFailures: 20, windowSeconds: 60 })
			.describe("Past maxFailures, unknown keys from that IP get 429 without a KV read until the window ends."),
		unmatchedRoutes: z
			.enum(["authenticate", "deny"])
			.default("authenticate")
			.describe("A request no route matches: any valid key passes (authenticate) or it is refused (deny)."),
		tiers: z.record(name, TierSchema).refine((r) => Object.keys(r).length > 0, "at least one tier"),
		defaultTier: name,
		errors: z
			.object({
				style: z.enum(ERROR_STYLES).default("default"),
				realm: z.string().min(1).default("keygate"),
				overrides: z.record(z.string(), ErrorOverrideSchema).default({}),
			})
			.strict()
			.default({ style: "default", realm: "keygate", overrides: {} }),
		keys: z
			.object({
				rotationGraceSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400).describe("Default grace period of a rotation."),
				immutableScopes: z.boolean().default(false).describe("Refuse scope changes after creation."),
			})
			.strict()
			.default({ rotationGraceSeconds: 86_400, immutableScopes: false }),
		owners: z
			.object({
				roles: z
					.record(
						name,
						z
							.object({
								scopes: z.array(z.string().min(1)).optional().describe('Scopes the role holds; ["*"] or absent = all.'),
								methods: z.array(z.enum(METHODS)).min(1).optional().describe("Methods the role may use; absent = all."),
							})
							.strict(),
					)
					.refine((r) => Object.keys(r).length > 0, "at least one role"),
				defaultRole: name.describe("Role of an owner keygate has no role for."),
			})
			.strict()
			.optional()
			.describe("Keys inherit their owner's rights: effective rights are the key's scopes limited by its owner's current role."),
		cors: z
			.object({
				allowOrigins: z.array(z.string().min(1)).min(1).describe('Origins allowed, or ["*"].'),
				keyTypes: z.array(name).describe("Key types whose responses carry CORS headers."),
				allowHeaders: z.array(z.string()).default(["Authorization", "Content-Type"]),
				maxAge: z.number().int().nonnegative().default(600),
			})
			.strict()
			.optional(),
	})
	.strict()
	.superRefine((api, ctx) => {
		if (!(api.defaultTier in api.tiers)) {
			ctx.addIssue({ code: "custom", path: ["defaultTier"], message: `"${api.defaultTier}" is not one of tiers` });
		}
		if (api.owners && !(api.owners.defaultRole in api.owners.roles)) {
			ctx.addIssue({ code: "custom", path: ["owners", "defaultRole"], message: `"${api.owners.defaultRole}" is not one of owners.roles` });
		}
		for (const [i, t] of (api.cors?.keyTypes ?? []).entries()) {
			if (!(t in api.keyTypes)) {
				ctx.addIssue({ code: "custom", path: ["cors", "keyTypes", i], message: `"${t}" is not one of keyTypes` });
			}
		}
		if (!Object.values(api.keyTypes).some((t) => t.kind === "secret") && Object.keys(api.keyTypes).length > 0) {
			ctx.addIssue({ code: "custom", path: ["keyTypes"], message: "at least one key type of kind secret" });
		}
	});

export const ConfigSchema = z
	.object({
		$schema: z.string().optional(),
		apis: z
			.array(ApiSchema)
			.min(1)
			.superRefine((apis, ctx) => {
				const seen = new Set<string>();
				for (const [i, a] of apis.entries()) {
					if (seen.has(a.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate API name "${a.name}"` });
					seen.add(a.name);
				}
			}),
	})
	.strict();

export type Config = z.output<typeof ConfigSchema>;
export type ApiConfig = Config["apis"][number];
export type RateLimit = z.output<typeof RateLimitSchema>;
export type Tier = z.output<typeof TierSchema>;
export type RouteRule = ApiConfig["routes"][number];
export type CredentialSource = ApiConfig["credentials"][number];
export type ErrorStyle = (typeof ERROR_STYLES)[number];
