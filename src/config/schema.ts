import * as z from "zod/mini";
import en from "zod/v4/locales/en.js";
import { ADMIN_ONLY_CODES, ALL_PUBLIC_CODES } from "../errors/catalogue";
import { ERROR_STYLES } from "../errors/render";
import { PATH_PATTERN, PATH_PATTERN_GRAMMAR, patternProblem } from "./pattern";
import { compileRoutes, findRoute } from "./routes";

/** The longest rotation grace keygate takes, in a config or a request: 30 days. */
export const MAX_GRACE_SECONDS = 30 * 86_400;

/**
 * The declarative config, defined once: `parseConfig` validates against it and
 * `scripts/schema.mjs` publishes it as `keygate.schema.json` for editors.
 *
 * Written with zod/mini, the tree-shakable build: the same validation and messages as
 * classic zod at about a twentieth of the bundle (cold starts pay for every byte).
 */
z.config(en());

/**
 * Attaches JSON Schema keywords (a description, or a rule such as `minProperties` that a
 * zod refinement enforces but cannot publish) to a copy of `schema`, so the published
 * JSON Schema carries them for editors. A copy: `name` is shared by many fields, and
 * metadata on the shared object would reach every one of them.
 */
export function jsonSchema<T extends z.ZodMiniType>(schema: T, keywords: Record<string, unknown>): T {
	const copy = schema.clone() as T;
	z.globalRegistry.add(copy, { ...z.globalRegistry.get(schema), ...keywords });
	return copy;
}

/** Attaches a description, which the published JSON Schema carries for editors. */
export function doc<T extends z.ZodMiniType>(schema: T, description: string): T {
	return jsonSchema(schema, { description });
}

export const int = (min: number, max?: number) =>
	max === undefined ? z.int().check(z.minimum(min)) : z.int().check(z.minimum(min), z.maximum(max));
export const text = (min = 1, max = 10_000) => z.string().check(z.minLength(min), z.maxLength(max));
const strings = (min = 0) => z.array(text()).check(z.minLength(min));

const name = z.string().check(z.regex(/^[a-z][a-z0-9]{0,23}$/, "lowercase letters and digits, starting with a letter, at most 24"));
/** Printable ASCII without quotes or backslashes: safe in a header value and a quoted-string. */
const headerSafe = (max: number) =>
	z.string().check(z.regex(/^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/, "printable ASCII without quotes or backslashes"), z.maxLength(max));
const token = z.string().check(z.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "an HTTP token such as a header name"));
/** The public codes errors.overrides may name: the catalogue's, less the admin API's own. */
export const PUBLIC_CODES: string[] = ALL_PUBLIC_CODES.filter((c) => !ADMIN_ONLY_CODES.includes(c));
/** A record with at least one entry: refused by keygate, and `minProperties: 1` for editors. */
const nonEmptyRecord = <T extends z.ZodMiniType>(value: T, what: string) =>
	jsonSchema(z.record(name, value).check(z.refine((r: unknown) => Object.keys(r as object).length > 0, `at least one ${what}`)), {
		minProperties: 1,
	});

/** JWT `alg`s keygate accepts from identity providers: asymmetric only (never `none`, never HMAC). Default RS256 and ES256. */
const ASYMMETRIC_ALGORITHMS = z._default(
	z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"])).check(z.minLength(1)),
	["RS256", "ES256"],
);

const hostName = z.string().check(z.regex(/^[a-z0-9.-]+$/, "a lowercase host name, without a port"));

const limitFields = {
	limit: doc(z.nullable(int(1)), "Requests per window; null means unlimited."),
	window: doc(z._default(int(1, 31_536_000), 3600), "Window length in seconds."),
	burst: doc(int(1), "Requests per second."),
};

/** A bucket of its own (an endpoint category, a route): counted on the key's object, never sharded by itself. */
const BucketSchema = z.strictObject(limitFields);

const rateLimitFields = {
	...limitFields,
	shards: doc(z._default(int(1, 64), 1), "Split this limit over N Durable Objects, for keys beyond ~1,000 requests/s (docs/scaling.md)."),
	// Optional rather than defaulted: key records stored before these fields existed lack
	// them, and effectiveLimits reads absent as strict / 1000 ms.
	consistency: doc(
		z.optional(z.enum(["strict", "leased"])),
		'How requests are counted (README: Consistency). "strict" (default): one call to the key\'s Durable Object per request. "leased": isolates spend tokens leased from it in batches, ≤ leaseMs at a time.',
	),
	leaseMs: doc(
		z.optional(int(1, 1000)),
		"Leased mode: the longest a lease lives (ms, default 1000), and so the longest a revoked, deleted or expired key can still pass in an isolate holding one.",
	),
};

const sharesFit = z.superRefine((r: { burst: number; limit: number | null; shards: number }, ctx) => {
	if (r.burst < r.shards || (r.limit !== null && r.limit < r.shards)) {
		ctx.issues.push({ code: "custom", input: r, path: ["shards"], message: "burst and limit must each be at least shards" });
	}
});

export const RateLimitSchema = z.strictObject(rateLimitFields).check(sharesFit);

const TierSchema = z
	.strictObject({
		...rateLimitFields,
		categories: doc(
			z._default(z.record(name, BucketSchema), {}),
			"Per-plan, per-endpoint-category limits: a bucket per key for each category routes name.",
		),
		onLimiterError: doc(
			z._default(z.enum(["closed", "open"]), "closed"),
			"When the key's Durable Object fails or hangs: refuse with 503 (closed), or pass without counting, marked by X-Keygate-Limiter: bypassed (open).",
		),
	})
	.check(sharesFit);

const CredentialSchema = z.discriminatedUnion("in", [
	doc(
		z.strictObject({
			in: z.literal("authorization"),
			scheme: z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9-]*$/, "an HTTP auth scheme token such as Bearer or ApiKey")),
		}),
		"Authorization: <scheme> <key>",
	),
	doc(
		z.strictObject({ in: z.literal("header"), name: z.string().check(z.regex(/^[A-Za-z0-9-]+$/, "an HTTP header name")) }),
		"<name>: <key>",
	),
]);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
const methods = z.array(z.enum(METHODS)).check(z.minLength(1));

const RouteSchema = z.strictObject({
	methods: doc(z.optional(methods), "Methods this rule covers; all when absent."),
	path: doc(
		z.string().check(
			z.regex(PATH_PATTERN, PATH_PATTERN_GRAMMAR),
			z.superRefine((path, ctx) => {
				const problem = patternProblem(path);
				if (problem) ctx.issues.push({ code: "custom", input: path, message: problem });
			}),
		),
		"Path pattern: literal segments, * alone for exactly one segment, ** alone as the last segment for the rest of the path (README: Route patterns).",
	),
	public: doc(z._default(z.boolean(), false), "No key needed; the request is passed through as is."),
	scopes: doc(z._default(strings(), []), "Scopes the key must all hold."),
	cost: doc(z._default(int(1), 1), "How much of the key's budget one request spends."),
	rateLimit: doc(
		z.optional(BucketSchema),
		"A limit of its own for this rule, counted per key on top of the key's limit (used when the tier sets none for the rule's category).",
	),
	category: doc(
		z.optional(name),
		"An endpoint category: rules with the same category share one per-key bucket, limited per tier by tiers.<tier>.categories.",
	),
});

const KeyTypeSchema = z.strictObject({
	kind: doc(
		z.enum(["secret", "publishable", "identifier"]),
		"identifier: a public id (e.g. an application identifier) that authorizes nothing on its own.",
	),
	readOnly: doc(z._default(z.boolean(), false), "Keys of this type may only GET, HEAD and OPTIONS."),
});

/** Whether keys of `tier` may be made and work in `environment` (`environments.<env>.tiers`; absent: every tier). */
export function tierOpenIn(
	api: { environments: Record<string, { tiers?: readonly string[] }> },
	environment: string,
	tier: string,
): boolean {
	const open = api.environments[environment]?.tiers;
	return !open || open.includes(tier);
}

const EnvironmentSchema = z.strictObject({
	origin: doc(z.url({ protocol: /^https?$/ }), "Base URL requests for keys of this environment go to."),
	hosts: doc(z.optional(z.array(hostName).check(z.minLength(1))), "If set, keys of this environment are accepted only on these hosts."),
	label: doc(
		z.optional(text(1, 60)),
		'What the console and the portal call this environment, beside its name (e.g. "Production" for live, as an API\'s page says).',
	),
	tiers: doc(
		z.optional(z.array(name).check(z.minLength(1))),
		"If set, only keys of these tiers may be made in this environment or work in it (e.g. Novu's custom environments, on Team and Enterprise plans only); each one of tiers.",
	),
});

const ErrorOverrideSchema = z.strictObject({ code: z.optional(text()), message: z.optional(text()) });

const ApiSchema = z
	.strictObject({
		name,
		match: z._default(
			z.strictObject({
				hosts: doc(
					z.optional(z.array(hostName).check(z.minLength(1))),
					"Host names this API answers on; any when absent. On the same path prefix, an API that names the host wins over one that answers on any host.",
				),
				pathPrefix: doc(z._default(z.string().check(z.regex(/^\//, "a path starting with /")), "/"), "Path prefix this API answers on."),
			}),
			{ pathPrefix: "/" },
		),
		environments: doc(
			nonEmptyRecord(EnvironmentSchema, "environment"),
			"Key environments (the middle part of a key) and where each one's requests go.",
		),
		credentials: doc(
			z._default(z.array(CredentialSchema).check(z.minLength(1)), [{ in: "authorization", scheme: "Bearer" }]),
			"Where a key is accepted, in order.",
		),
		keyTypes: doc(nonEmptyRecord(KeyTypeSchema, "key type"), "Key type prefixes (the first part of a key)."),
		routes: doc(z._default(z.array(RouteSchema), []), "First match wins."),
		originTimeoutMs: doc(
			z._default(int(100, 600_000), 30_000),
			"How long to wait for the origin's response headers before answering 504 origin_timeout.",
		),
		bruteForce: doc(
			z._default(
				z.strictObject({
					maxFailures: doc(z._default(int(1), 20), "Failed credentials from one client IP within the window."),
					windowSeconds: z._default(int(1, 3600), 60),
					headers: doc(
						z._default(z.boolean(), false),
						"Send X-RateLimit-* on 401s, on refusals made before the key is known, and on the OAuth endpoints' answers: this client address's failed-credential budget (limit = maxFailures, remaining, reset = window end).",
					),
				}),
				{ maxFailures: 20, windowSeconds: 60, headers: false },
			),
			"Past maxFailures, unknown keys from that IP get 429 without a KV read until the window ends.",
		),
		unmatchedRoutes: doc(
			z._default(z.enum(["authenticate", "deny"]), "authenticate"),
			"A request no route matches: any valid key passes (authenticate) or it is refused (deny).",
		),
		signing: doc(
			z._default(
				z.strictObject({
					maxBodyBytes: doc(
						z._default(int(0, 16 * 1024 * 1024), 1024 * 1024),
						"Request bodies up to this size are read whole, and their Content-Digest is signed; larger ones stream through unsigned. Also the largest form POST keygate forwards (it must be read whole to be checked for a _method field).",
					),
				}),
				{ maxBodyBytes: 1024 * 1024 },
			),
			"The identity signature sent to the origin (README: Verifying identity headers).",
		),
		methodOverride: doc(
			z._default(z.enum(["strip", "honor"]), "strip"),
			"X-HTTP-Method-Override, X-Method-Override, X-HTTP-Method and ?_method: removed before forwarding (strip), or taken as the request's method for routes and policy and forwarded (honor).",
		),
		tiers: nonEmptyRecord(TierSchema, "tier"),
		defaultTier: doc(
			name,
			"Tier for keys created without one; must be one of tiers (JSON Schema cannot say so: `npm run config:check` does).",
		),
		errors: z._default(
			z.strictObject({
				style: z._default(z.enum(ERROR_STYLES), "default"),
				realm: z._default(headerSafe(100), "keygate"),
				// Names are checked in the API's refinement below, with a message listing the codes;
				// editors get the same list, from the same source, as an enum of property names.
				overrides: z._default(jsonSchema(z.record(z.string(), ErrorOverrideSchema), { propertyNames: { enum: PUBLIC_CODES } }), {}),
			}),
			{ style: "default", realm: "keygate", overrides: {} },
		),
		keys: z._default(
			z.strictObject({
				rotationGraceSeconds: doc(z._default(int(0, MAX_GRACE_SECONDS), 86_400), "Default grace period of a rotation."),
				maxRotationGraceSeconds: doc(
					z.optional(int(0, MAX_GRACE_SECONDS)),
					"The longest grace a rotation may have, through the admin API, the CLI, the console and the portal alike; absent = 30 days. 0: a rotated key dies at once (Novu's 'invalidated immediately').",
				),
				immutableScopes: doc(z._default(z.boolean(), false), "Refuse scope changes after creation."),
			}),
			{ rotationGraceSeconds: 86_400, immutableScopes: false },
		),
		owners: doc(
			z.optional(
				z.strictObject({
					roles: nonEmptyRecord(
						z.strictObject({
							scopes: doc(z.optional(strings()), 'Scopes the role holds; ["*"] or absent = all.'),
							methods: doc(z.optional(methods), "Methods the role may use; absent = all."),
						}),
						"role",
					),
					defaultRole: doc(name, "Role of an owner keygate has no role for."),
				}),
			),
			"Keys inherit their owner's rights: effective rights are the key's scopes limited by its owner's current role.",
		),
		oauth: doc(
			z.optional(
				z.strictObject({
					issuer: doc(
						z.url({ protocol: /^https?$/ }),
						"This API's authorization server identifier (RFC 8414 `issuer`), e.g. https://api.example.com.",
					),
					scopes: doc(strings(1), "Scopes a client may request and a grant may hold."),
					accessTokenTtl: doc(z._default(int(1, 86_400), 3600), "Lifetime of an access token, in seconds."),
					refreshTokenTtl: doc(z._default(int(1, 365 * 86_400), 30 * 86_400), "Lifetime of a refresh token, in seconds."),
					codeTtl: doc(
						z._default(int(1, 600), 600),
						"Lifetime of an authorization code, in seconds (RFC 6749 §4.1.2: at most 10 minutes).",
					),
					login: doc(
						z.optional(
							z.discriminatedUnion("mode", [
								z.strictObject({
									mode: doc(z._default(z.literal("origin"), "origin"), "origin: the API signs its users in (README: OAuth 2.0, Login)."),
									loginUrl: doc(
										z.url({ protocol: /^https?$/ }),
										"Where keygate sends the user's browser with a signed 5-minute `request`; the API answers with a signed `assertion`.",
									),
								}),
								z.strictObject({
									mode: doc(
										z.literal("oidc"),
										"oidc: an OpenID provider signs the users in (README: OAuth 2.0, Login with OpenID Connect).",
									),
									issuer: doc(z.url({ protocol: /^https?$/ }), "The OpenID provider's issuer, compared exactly with the id_token's `iss`."),
									clientId: doc(text(1, 500), "keygate's client id at the provider; the id_token's `aud` must hold it."),
									clientSecretVar: doc(
										z.optional(
											z.string().check(z.regex(/^[A-Z][A-Z0-9_]{0,63}$/, "an environment variable name such as OIDC_CLIENT_SECRET")),
										),
										"Name of the Worker secret holding the client secret (never the secret itself); absent: a public client (PKCE only).",
									),
									tokenEndpointAuthMethod: doc(
										z._default(z.enum(["client_secret_basic", "client_secret_post"]), "client_secret_basic"),
										"How the client secret is sent to the token endpoint.",
									),
									authorizationEndpoint: doc(
										z.optional(z.url({ protocol: /^https?$/ })),
										"Absent: discovered from `<issuer>/.well-known/openid-configuration`.",
									),
									tokenEndpoint: doc(
										z.optional(z.url({ protocol: /^https?$/ })),
										"Absent: discovered from `<issuer>/.well-known/openid-configuration`.",
									),
									jwksUri: doc(
										z.optional(z.url({ protocol: /^https?$/ })),
										"Absent: discovered from `<issuer>/.well-known/openid-configuration` (cached per isolate).",
									),
									scopes: doc(
										z._default(z.array(text(1, 200)).check(z.minLength(1)), ["openid"]),
										"Scopes asked of the provider; `openid` is always sent.",
									),
									subjectClaim: doc(z._default(text(1, 100), "sub"), "The id_token claim naming the user."),
									algorithms: doc(ASYMMETRIC_ALGORITHMS, "Accepted id_token `alg` values (never `none` or HMAC)."),
									clockTolerance: doc(z._default(int(0, 300), 30), "Skew allowed on the id_token's `exp` and `iat`, in seconds."),
								}),
							]),
						),
						"How the authorization endpoint signs a user in; absent: /oauth/authorize answers 400 (tokens are still accepted).",
					),
					externalIssuers: doc(
						z._default(
							z.array(
								z.strictObject({
									issuer: doc(text(1, 2000), "The `iss` these tokens carry, compared exactly."),
									jwksUri: doc(
										z.url({ protocol: /^https?$/ }),
										"The identity provider's JWKS; cached per isolate, refetched once for an unknown `kid`.",
									),
									audience: doc(
										z.union([text(1, 2000), z.array(text(1, 2000)).check(z.minLength(1))]),
										"Accepted `aud` values (required: a token for another audience is refused).",
									),
									algorithms: doc(
										ASYMMETRIC_ALGORITHMS,
										"Accepted `alg` values (never `none` or HMAC: a public key must not double as a shared secret).",
									),
									clockTolerance: doc(z._default(int(0, 300), 30), "Skew allowed on `exp` and `nbf`, in seconds."),
									scopeClaim: doc(z._default(text(1, 100), "scope"), "Claim holding the scopes: a space-delimited string or an array."),
									subjectClaim: doc(z._default(text(1, 100), "sub"), "Claim naming the user."),
									tierClaim: doc(z.optional(text(1, 100)), "Claim naming the tier; absent or not one of tiers: defaultTier."),
									typ: doc(
										z.optional(text(1, 100)),
										"The `typ` header a token must carry (RFC 9068: `at+jwt`), so an ID token for the same audience is refused; absent: not checked.",
									),
								}),
							),
							[],
						),
						"Identity providers whose access tokens (JWTs) this API accepts beside keys and keygate's own tokens.",
					),
					rateLimitBy: doc(
						z._default(z.enum(["subject", "client", "subject+client"]), "subject"),
						"Whose budget an access token spends: its user's (subject), its client's, or one per user and client.",
					),
				}),
			),
			"OAuth 2.0: keygate as the authorization server of this API, its access tokens accepted beside keys (README: OAuth 2.0).",
		),
		portal: doc(
			z.optional(
				z.strictObject({
					title: doc(z._default(text(1, 100), "API keys"), "The customer portal's heading."),
					labels: z._default(
						z.strictObject({
							generate: z._default(text(1, 60), "Generate new key"),
							pair: z._default(text(1, 60), "Create Key Pair"),
							rotate: doc(
								z._default(text(1, 60), "Rotate"),
								"The rotate action's word (its link, page and button), e.g. Novu's \"Regenerate\".",
							),
							rotated: doc(z._default(text(1, 60), "Key rotated"), "The heading of the page a rotation lands on."),
						}),
						{ generate: "Generate new key", pair: "Create Key Pair", rotate: "Rotate", rotated: "Key rotated" },
					),
					keyTypes: doc(
						z.optional(z.array(name).check(z.minLength(1))),
						"Key types customers may generate (each one of keyTypes); absent = every secret and publishable type.",
					),
					environments: doc(z.optional(z.array(name).check(z.minLength(1))), "Environments customers may generate keys in; absent = all."),
					scopes: doc(z._default(z.array(text(1, 100)), []), "Scopes customers may give their keys."),
					pairs: doc(z._default(z.boolean(), false), "Offer the pair button (the API needs a publishable or identifier type)."),
					singles: doc(
						z._default(z.boolean(), true),
						"Offer the single-key button. false (with pairs): customers create key pairs only, as Novala's dashboard does.",
					),
					maxKeysPerOwner: doc(z._default(int(1, 1000), 10), "Live (not revoked or expired) keys one owner may hold."),
					rotationGraceSeconds: doc(
						z.optional(int(0, MAX_GRACE_SECONDS)),
						"The rotation grace preselected in the portal; default keys.rotationGraceSeconds.",
					),
					rotationGraceChoices: doc(
						z.optional(z.array(int(0, MAX_GRACE_SECONDS)).check(z.minLength(1), z.maxLength(10))),
						"The rotation graces (seconds) the portal offers, the preselected one always among them; absent = Immediately, 1 hour, 24 hours and 7 days. [0]: the old key dies at once, as Novu's dashboard says.",
					),
					samplePath: doc(
						z.optional(
							text(1, 2000).check(
								z.regex(
									/^\/[A-Za-z0-9._~:@,+=\/-]*$/,
									"a path starting with /, of letters, digits and - . _ ~ : @ , + = / only (no query, no %-escape; nothing a shell reads)",
								),
							),
						),
						"The path of the GET the curl line under a new key calls (console and portal), and whose route's scopes the generate forms tick; starts with / and with match.pathPrefix. Absent: the first keyed GET route, its wildcards filled in.",
					),
				}),
			),
			"The customer key portal (/_keygate/portal/): what a customer of this API may do with its own keys.",
		),
		cors: z.optional(
			z.strictObject({
				allowOrigins: doc(strings(1), 'Origins allowed, or ["*"].'),
				keyTypes: doc(
					z.array(name),
					"Key types whose responses carry CORS headers; each must be one of the API's keyTypes (checked by `npm run config:check`), and publishable, not secret.",
				),
				allowHeaders: doc(
					z.optional(z.array(token)),
					"Request headers a browser may send; default: Content-Type and the API's credential headers.",
				),
				maxAge: z._default(int(0), 600),
			}),
		),
	})
	.check(
		z.superRefine((api, ctx) => {
			const issue = (path: (string | number)[], message: string) => ctx.issues.push({ code: "custom", input: api, path, message });
			// Object.hasOwn, not `in`: a name such as "constructor" must not match Object.prototype.
			if (!Object.hasOwn(api.tiers, api.defaultTier)) issue(["defaultTier"], `"${api.defaultTier}" is not one of tiers`);
			if (api.owners && !Object.hasOwn(api.owners.roles, api.owners.defaultRole))
				issue(["owners", "defaultRole"], `"${api.owners.defaultRole}" is not one of owners.roles`);
			for (const [i, t] of (api.portal?.keyTypes ?? []).entries()) {
				if (!Object.hasOwn(api.keyTypes, t)) issue(["portal", "keyTypes", i], `"${t}" is not one of keyTypes`);
				else if (api.keyTypes[t]!.kind === "identifier")
					issue(["portal", "keyTypes", i], `"${t}" is an identifier; customers get it with a pair`);
			}
			for (const [env, e] of Object.entries(api.environments))
				for (const [i, t] of (e.tiers ?? []).entries())
					if (!Object.hasOwn(api.tiers, t)) issue(["environments", env, "tiers", i], `"${t}" is not one of tiers`);
			if (api.portal && !api.portal.singles && !api.portal.pairs)
				issue(["portal", "singles"], "false with pairs false leaves the portal nothing to create: set pairs to true, or singles to true");
			const maxGrace = api.keys.maxRotationGraceSeconds;
			if (maxGrace !== undefined) {
				const over = (seconds: number) => `${seconds} s is longer than keys.maxRotationGraceSeconds (${maxGrace} s)`;
				// Its default (86400) counts too: say so, or a config that never wrote the field is refused in words it never used (a review).
				if (api.keys.rotationGraceSeconds > maxGrace)
					issue(
						["keys", "rotationGraceSeconds"],
						`${over(api.keys.rotationGraceSeconds)}; it is 86400 when not set: set it to at most ${maxGrace}`,
					);
				if (api.portal?.rotationGraceSeconds !== undefined && api.portal.rotationGraceSeconds > maxGrace)
					issue(["portal", "rotationGraceSeconds"], over(api.portal.rotationGraceSeconds));
				for (const [i, g] of (api.portal?.rotationGraceChoices ?? []).entries())
					if (g > maxGrace) issue(["portal", "rotationGraceChoices", i], over(g));
			}
			const sample = api.portal?.samplePath;
			const prefix = api.match.pathPrefix.endsWith("/") ? api.match.pathPrefix : `${api.match.pathPrefix}/`;
			// On a segment boundary: "/apix/…" is not under "/api" (a second review).
			if (sample !== undefined && sample !== api.match.pathPrefix && !sample.startsWith(prefix))
				issue(["portal", "samplePath"], `must start with match.pathPrefix "${api.match.pathPrefix}" (as written, in its case)`);
			if (sample !== undefined) {
				// No "." at all: curl and the gateway read "." and ".." segments away (a peer's suite), and `/v1/admin.json` is
				// `/v1/admin` to Rails and Spring, whose rule keygate holds the call to as well (a later probe): either way the
				// line would call a rule whose scopes the form did not tick. No "//" either.
				if (sample.includes(".") || sample.includes("//"))
					issue(["portal", "samplePath"], 'must not hold a "." or an empty segment ("//")');
				// And a keyed rule must cover it where a path no rule covers answers 403 to every key (a seed-page pass).
				else {
					let rule: ReturnType<typeof findRoute> | null;
					try {
						rule = findRoute(compileRoutes(api.routes), "GET", sample);
					} catch {
						rule = null; // a bad pattern is reported on its own rule
					}
					// Under "authenticate" any key passes a path no rule covers (Nuvion, whose routes are all its owners' roles).
					if (rule === undefined && api.unmatchedRoutes === "deny")
						issue(["portal", "samplePath"], 'no route rule covers GET of this path, and unmatchedRoutes is "deny"');
					else if (rule?.public) issue(["portal", "samplePath"], "covers a public route, which needs no key");
				}
			}
			for (const [i, e] of (api.portal?.environments ?? []).entries())
				if (!Object.hasOwn(api.environments, e)) issue(["portal", "environments", i], `"${e}" is not one of environments`);
			for (const [i, t] of (api.cors?.keyTypes ?? []).entries())
				if (!Object.hasOwn(api.keyTypes, t)) issue(["cors", "keyTypes", i], `"${t}" is not one of keyTypes`);
			for (const code of Object.keys(api.errors.overrides)) {
				if (!PUBLIC_CODES.includes(code))
					issue(["errors", "overrides", code], `"${code}" is not a public error code (${PUBLIC_CODES.join(", ")})`);
			}
			for (const [i, r] of api.routes.entries()) {
				for (const [tierName, tier] of Object.entries(api.tiers)) {
					const limits = [
						tier,
						...(r.category && Object.hasOwn(tier.categories, r.category) ? [tier.categories[r.category]!] : []),
						...(r.rateLimit ? [r.rateLimit] : []),
					];
					const room = Math.min(...limits.map((l) => Math.min(l.burst, l.limit ?? Infinity) / tier.shards));
					if (r.cost > room)
						issue(["routes", i, "cost"], `${r.cost} can never fit tier "${tierName}" (at most ${Math.floor(room)} per request)`);
				}
			}
			if (Object.keys(api.keyTypes).length > 0 && !Object.values(api.keyTypes).some((t) => t.kind === "secret")) {
				issue(["keyTypes"], "at least one key type of kind secret");
			}
		}),
	);

/** A path prefix as requests are matched against it: without trailing slashes (`/v1/` and `/v1` are one prefix). */
export function prefixKey(prefix: string): string {
	return prefix.replace(/\/+$/, "") || "/";
}

/**
 * Why two APIs' `match` would tie, or undefined. A request is given to the API with the
 * longest path prefix, then to one that names its host over one that answers on any host
 * (load.ts `selectApi`); two APIs still equal on both would leave one unreachable.
 */
function matchTie(a: { hosts?: string[]; pathPrefix: string }, b: { hosts?: string[]; pathPrefix: string }): string | undefined {
	// Prefixes match requests case-insensitively (load.ts pathHasPrefix): `/V1` and `/v1` are one.
	if (prefixKey(a.pathPrefix).toLowerCase() !== prefixKey(b.pathPrefix).toLowerCase()) return undefined;
	if (!a.hosts && !b.hosts) return "for any host";
	if (!a.hosts || !b.hosts) return undefined;
	const shared = a.hosts.filter((h) => b.hosts!.includes(h));
	return shared.length > 0 ? `for host ${shared.map((h) => `"${h}"`).join(", ")}` : undefined;
}

export const ConfigSchema = z.strictObject({
	$schema: z.optional(z.string()),
	admin: doc(
		z.optional(
			z.strictObject({
				access: doc(
					z.optional(
						z.strictObject({
							teamDomain: doc(
								z.string().check(z.regex(/^[a-z0-9-]+\.cloudflareaccess\.com$/, "<team>.cloudflareaccess.com")),
								"Your Cloudflare Access team domain, e.g. example.cloudflareaccess.com.",
							),
							audience: doc(text(1, 200), "The Access application's audience (AUD) tag."),
						}),
					),
					"Sign in to the console with Cloudflare Access: a valid Cf-Access-Jwt-Assertion signs the request in as its email.",
				),
			}),
		),
		"The operator console.",
	),
	apis: doc(
		z.array(ApiSchema),
		"The APIs this deployment fronts. Names must be unique, and no two may answer on the same host and path prefix (checked by `npm run config:check`).",
	).check(
		z.minLength(1),
		z.superRefine((apis, ctx) => {
			const seen = new Set<string>();
			for (const [i, a] of apis.entries()) {
				if (seen.has(a.name))
					ctx.issues.push({ code: "custom", input: apis, path: [i, "name"], message: `duplicate API name "${a.name}"` });
				seen.add(a.name);
			}
			for (const [j, b] of apis.entries()) {
				for (const [i, a] of apis.slice(0, j).entries()) {
					const tie = matchTie(a.match, b.match);
					if (tie)
						ctx.issues.push({
							code: "custom",
							input: apis,
							path: [j, "match"],
							message: `API "${b.name}" and API "${a.name}" (apis[${i}]) both answer on path prefix "${prefixKey(a.match.pathPrefix)}" ${tie}, so one of them could never be reached; give them different match.hosts or match.pathPrefix`,
						});
				}
			}
		}),
	),
});

export type Config = z.output<typeof ConfigSchema>;
export type ApiConfig = Config["apis"][number];
export type RateLimit = z.output<typeof RateLimitSchema>;
export type Tier = z.output<typeof TierSchema>;
export type RouteRule = ApiConfig["routes"][number];
export type CredentialSource = ApiConfig["credentials"][number];
