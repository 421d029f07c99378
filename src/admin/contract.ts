import * as z from "zod/mini";
import { doc, int, MAX_GRACE_SECONDS, RateLimitSchema, text } from "../config/schema";
import { KeyRecordSchema, OWNER_ID_CHARS, SCOPE_TOKEN } from "../keys/record";
import { parseCidr } from "../util/ip";

/**
 * The admin API's contract, written once. The routes validate request bodies with these
 * schemas; the response types are `z.output` of the response schemas; and
 * `scripts/openapi.mjs` generates the served OpenAPI document (src/admin/openapi.json)
 * from both, which `npm test` then checks against every admin response the tests see.
 * The response schemas are only types and documentation in the Worker: they are never run
 * there, so the bundle tree-shakes them away.
 */

export const MAX_METADATA_BYTES = 4096;
/** The longest rotation grace anywhere (a config's, a request's): defined with the config schema, which bounds its own by it. */
export { MAX_GRACE_SECONDS };
/** Wrong admin tokens from one client address within the window before it gets 429 (auth.ts). */
export const ADMIN_MAX_FAILURES = 10;
export const ADMIN_FAILURE_WINDOW_SECONDS = 60;

// ---- requests ----

// A blank name would leave a key with no visible name: an empty link in the list, nothing to type to delete it.
// Blank also counts invisible and blank-looking characters (U+200B, U+2800, U+3164, …), which `trim` keeps.
// `+`, not `*`: the empty name is minLength's to refuse, said once (a browser QA pass read "at least 1 character; must not be blank").
const BLANK = /^[\p{White_Space}\p{Cf}\u2800\u3164\u115F\u1160\uFFA0]+$/u;
const name = text(1, 200).check(z.refine((s) => !BLANK.test(s), "must not be blank"));
// Scope tokens (keys/record.ts): X-Keygate-Scopes joins them with a comma.
const scopes = z
	.array(text(1, 100).check(z.regex(SCOPE_TOKEN, "a scope is printable ASCII with no spaces, commas, quotes or backslashes")))
	.check(z.maxLength(100));
const expiresAt = doc(
	z.iso.datetime({ offset: true }).check(z.refine((s) => Date.parse(s) > Date.now(), "must be in the future")),
	"Must be in the future.",
);
const ipAllowlist = z
	.array(
		doc(
			z.string().check(z.refine((s) => parseCidr(s) !== undefined, "an IPv4 or IPv6 address or CIDR range")),
			"An IPv4 or IPv6 address or CIDR range.",
		),
	)
	.check(z.minLength(1), z.maxLength(100));
// Both travel to the origin as header values: printable ASCII only.
// OWNER_ID's characters (keys/record.ts); its length is text's, so a long id gets one message, not two.
const owner = text(1, 200).check(z.regex(OWNER_ID_CHARS, "printable ASCII, no spaces or colons"));
const service = doc(
	text(1, 200).check(z.regex(/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/, "printable ASCII, not starting or ending with a space")),
	"The service or integration using the key, for audit.",
);
const metadata = doc(
	z
		.record(z.string(), z.unknown())
		.check(z.refine((m) => JSON.stringify(m).length <= MAX_METADATA_BYTES, `at most ${MAX_METADATA_BYTES} bytes as JSON`)),
	`At most ${MAX_METADATA_BYTES} bytes as JSON.`,
);

const common = {
	api: z.optional(doc(text(), "A configured API's name; default the first.")),
	name,
	environment: z.optional(doc(text(), "One of the API's environments; default its first.")),
	scopes: z.optional(scopes),
	tier: z.optional(doc(text(), "One of the API's tiers; default its defaultTier.")),
	rateLimit: z.optional(RateLimitSchema),
	expiresAt: z.optional(expiresAt),
	ipAllowlist: z.optional(ipAllowlist),
	owner: z.optional(owner),
	service: z.optional(service),
	metadata: z.optional(metadata),
};

export const CreateKeyBody = z.strictObject({
	...common,
	type: z.optional(doc(text(), "One of the API's key types; default its first secret type.")),
});
export const CreatePairBody = z.strictObject(common);

/** PATCH: each field replaces the stored one; null clears it. */
export const UpdateKeyBody = z
	.strictObject({
		name: z.optional(name),
		scopes: z.optional(scopes),
		tier: z.optional(text()),
		rateLimit: z.optional(z.nullable(RateLimitSchema)),
		expiresAt: z.optional(z.nullable(expiresAt)),
		ipAllowlist: z.optional(z.nullable(ipAllowlist)),
		owner: z.optional(z.nullable(owner)),
		service: z.optional(z.nullable(service)),
		metadata: z.optional(z.nullable(metadata)),
	})
	.check(z.refine((b) => Object.keys(b).length > 0, "at least one field to change"));
// The refine above, said in JSON Schema for the document.
z.globalRegistry.add(UpdateKeyBody, { minProperties: 1 });

export const OwnerRoleBody = z.strictObject({ api: common.api, role: doc(text(), "One of the API's owners.roles.") });

/**
 * The body of an operation that takes none (revoke, delete, rotate-secret): empty or `{}`.
 * Anything else is refused before the operation acts, as every admin input is (a probe:
 * revoke and delete acted on bodies holding a key, invalid JSON, or 3 MB).
 */
export const NoBody = z.strictObject({});

export const RotateBody = z.strictObject({
	gracePeriodSeconds: z.optional(
		doc(
			int(0, MAX_GRACE_SECONDS),
			"How long the old key keeps working, at most the API's keys.maxRotationGraceSeconds when set; default the API's keys.rotationGraceSeconds.",
		),
	),
});

const redirectUri = doc(
	text(1, 2000).check(
		z.refine((s) => {
			try {
				// Compared character for character, so only a form a browser sends back as written: no
				// spaces or control characters, no user:password@, `scheme://host` (found by a probe).
				if (/[\s\x00-\x1f\x7f\\]/.test(s) || !/^https?:\/\/[^/?#@]+(?:[/?]|$)/i.test(s)) return false;
				const u = new URL(s);
				// RFC 6749 §3.1.2: absolute, no fragment. Plain http only for loopback (RFC 8252 §7.3).
				if (u.hash !== "" || s.includes("#") || u.username !== "" || u.password !== "") return false;
				if (u.protocol === "https:") return true;
				return u.protocol === "http:" && (u.hostname === "127.0.0.1" || u.hostname === "[::1]" || u.hostname === "localhost");
			} catch {
				return false;
			}
		}, "an absolute https URL without a fragment, user name, spaces or control characters (http only for loopback)"),
	),
	"Compared exactly, character for character, at the authorization and token endpoints.",
);

export const CreateOAuthClientBody = z.strictObject({
	api: common.api,
	name,
	redirectUris: z.array(redirectUri).check(z.minLength(1), z.maxLength(20)),
	type: z.optional(
		doc(z.enum(["confidential", "public"]), "confidential (default): authenticates with a secret. public: no secret, PKCE required."),
	),
	scopes: z.optional(doc(scopes, "Scopes the client may be granted; each one of the API's oauth.scopes. Default all of them.")),
	tier: common.tier,
	environment: common.environment,
});

export const RevokeGrantsBody = z
	.strictObject({
		api: common.api,
		subject: z.optional(doc(owner, "The user whose grants to revoke.")),
		clientId: z.optional(doc(text(1, 64), "The client whose grants to revoke.")),
		grantId: z.optional(doc(text(1, 64), "One grant (with subject).")),
	})
	.check(z.refine((b) => b.subject !== undefined || b.clientId !== undefined, "subject or clientId is required"));

/** GET /oauth/grants's subject, checked as the revocation body's, so both refuse it in the same words. */
export const GrantsSubject = z.object({ subject: z.optional(owner) });

/** Where a portal customer may be sent back: https, or http on a loopback host for local development. */
export function returnUrlOk(value: string): boolean {
	let url: URL;
	try {
		url = new URL(value);
	} catch {
		return false;
	}
	if (url.username || url.password) return false;
	return url.protocol === "https:" || (url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname));
}

export const PortalSessionBody = z.strictObject({
	api: common.api,
	owner: doc(owner, "The customer whose keys the portal shows: only this owner's keys of this API."),
	returnUrl: z.optional(
		doc(
			text(1, 2000).check(z.refine(returnUrlOk, "an https URL (or http on localhost)")),
			"Shown in the portal as a link back to your app; https (or http on localhost) only.",
		),
	),
	tier: z.optional(
		doc(
			text(1, 100),
			"The tier every key made in this session gets (the customer's plan), one of the API's tiers; absent: its defaultTier. The portal offers only the environments open to it (environments.<env>.tiers).",
		),
	),
});

export type CreateKeyInput = z.output<typeof CreateKeyBody>;
export type CreateOAuthClientInput = z.output<typeof CreateOAuthClientBody>;
export type RevokeGrantsInput = z.output<typeof RevokeGrantsBody>;
export type UpdateKeyInput = z.output<typeof UpdateKeyBody>;

// ---- responses ----

export { KeyRecordSchema };
const time = () => z.iso.datetime({ offset: true });

/** A record plus `key`, the plaintext, shown this once. */
export const CreatedKeySchema = z.extend(KeyRecordSchema, { key: z.string() });

/** The secret key and its public companion: `publishable` or `identifier`, whichever type the API has. */
export const KeyPairSchema = z.union([
	z.strictObject({ publishable: CreatedKeySchema, secret: CreatedKeySchema }),
	z.strictObject({ identifier: CreatedKeySchema, secret: CreatedKeySchema }),
]);

/** The replacement key plus `previous`, the old record with `replacedBy` and `graceEndsAt` set. */
export const RotatedKeySchema = z.extend(CreatedKeySchema, { previous: KeyRecordSchema });

const page = <T extends z.ZodMiniType>(item: T) => z.strictObject({ data: z.array(item), cursor: z.nullable(z.string()) });

export const KeyPageSchema = page(KeyRecordSchema);

export const UsageSchema = z.strictObject({
	id: z.string(),
	passed: doc(int(0), "Requests passed, all shards added up."),
	rejected: doc(z.record(z.string(), int(0)), "Refused requests by internal reason (rate_limited, revoked, missing_scope, …)."),
	lastUsedAt: z.nullable(time()),
	history: doc(
		z.array(
			z.strictObject({
				hourStart: doc(time(), "Start of the UTC hour."),
				passed: int(0),
				rejected: doc(z.record(z.string(), int(0)), "Refused requests in this hour by internal reason."),
			}),
		),
		"Requests per UTC hour over the last 30 days (720 hours), oldest first, all shards added up; hours without requests are left out.",
	),
	limits: doc(
		z.nullable(
			z.strictObject({
				limit: doc(z.nullable(int(1)), "Requests per window; null means unlimited."),
				window: doc(int(1), "Window length in seconds."),
				burst: doc(int(1), "Requests per second."),
				shards: doc(int(1), "Durable Objects the limits are split over."),
			}),
		),
		"The key's own limits as the gateway counts them now (its rateLimit, else its tier's; limits/effective.ts), or null when its tier has left the config.",
	),
});

export const AUDIT_ACTIONS = [
	"key.created",
	"key.rotated",
	"key.revoked",
	"key.deleted",
	"key.updated",
	"key.revealed",
	"owner.role_set",
	"oauth.client_created",
	"oauth.client_secret_rotated",
	"oauth.client_deleted",
	"oauth.grants_revoked",
	"admin.auth_failed",
] as const;

/**
 * How the actor came in: the admin API's bearer token (and the CLI), a console session
 * (the token login or Cloudflare Access), a portal session (an API's customer), or keygate
 * itself (an OAuth grant revoked because a code was replayed or a refresh token reused).
 */
export const ACTOR_TYPES = ["token", "console", "portal", "system"] as const;

export const AuditEventSchema = z.strictObject({
	id: z.string(),
	at: time(),
	actor: doc(
		z.string(),
		"The admin request's X-Keygate-Actor (admin when absent); console, or the Cloudflare Access email, for the console; portal:<owner> for the portal; keygate for the system; unauthenticated for a wrong admin token.",
	),
	actorType: doc(
		z.enum(ACTOR_TYPES),
		"How the actor came in: token (the admin API or the CLI), console, portal, or system (keygate itself). A wrong admin token is token, or console from the console's sign-in form.",
	),
	action: z.enum(AUDIT_ACTIONS),
	api: doc(z.nullable(z.string()), "null when no API is concerned (a wrong admin token)."),
	keyId: z.nullable(z.string()),
	owner: z.nullable(z.string()),
	details: z.record(z.string(), z.unknown()),
});

export const AuditPageSchema = page(AuditEventSchema);

export const OwnerSchema = z.strictObject({
	owner: z.string(),
	api: z.string(),
	role: z.string(),
	assigned: doc(z.boolean(), "False when keygate has no role for the owner and the default applies."),
});

export const OAuthClientSchema = z.strictObject({
	id: z.string(),
	api: z.string(),
	name: z.string(),
	redirectUris: z.array(z.string()),
	type: z.enum(["confidential", "public"]),
	scopes: z.array(z.string()),
	tier: z.string(),
	environment: z.string(),
	createdAt: time(),
	secretRotatedAt: z.nullable(time()),
});

/** A client plus `secret`, the plaintext, shown this once (null for a public client). */
export const CreatedOAuthClientSchema = z.extend(OAuthClientSchema, { secret: z.nullable(z.string()) });
export const OAuthClientPageSchema = page(OAuthClientSchema);

export const OAuthGrantSchema = z.strictObject({
	id: z.string(),
	subject: z.string(),
	clientId: z.string(),
	scopes: z.array(z.string()),
	environment: z.string(),
	tier: z.string(),
	createdAt: time(),
	revokedAt: z.nullable(time()),
});
export const OAuthGrantPageSchema = page(OAuthGrantSchema);
export const RevokedGrantsSchema = z.strictObject({ revoked: doc(int(0), "Grants that were live and are now revoked.") });

export const PortalSessionSchema = z.strictObject({
	url: doc(z.string(), "Send the customer here. It holds a single-use token, valid for 5 minutes."),
	expiresAt: time(),
});

export const ErrorBodySchema = z.strictObject({ error: z.string(), message: z.string() });

export type CreatedKeyView = z.output<typeof CreatedKeySchema>;
export type KeyPairView = z.output<typeof KeyPairSchema>;
export type RotatedKeyView = z.output<typeof RotatedKeySchema>;
export type KeyPage = z.output<typeof KeyPageSchema>;
export type UsageView = z.output<typeof UsageSchema>;
export type AuditEvent = z.output<typeof AuditEventSchema>;
export type AuditPage = z.output<typeof AuditPageSchema>;
export type OwnerView = z.output<typeof OwnerSchema>;
export type OAuthClientView = z.output<typeof OAuthClientSchema>;
export type CreatedOAuthClientView = z.output<typeof CreatedOAuthClientSchema>;
export type OAuthGrantView = z.output<typeof OAuthGrantSchema>;
export type PortalSessionView = z.output<typeof PortalSessionSchema>;
