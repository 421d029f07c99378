import * as z from "zod/mini";
import { int, RateLimitSchema, text } from "../config/schema";
import { parseCidr } from "../util/ip";

const MAX_METADATA_BYTES = 4096;

const name = text(1, 200);
const scopes = z.array(text(1, 100).check(z.regex(/^[^\s,]+$/, "a scope has no spaces or commas"))).check(z.maxLength(100));
const expiresAt = z.iso.datetime({ offset: true }).check(z.refine((s) => Date.parse(s) > Date.now(), "must be in the future"));
const ipAllowlist = z
	.array(z.string().check(z.refine((s) => parseCidr(s) !== undefined, "an IPv4 or IPv6 address or CIDR range")))
	.check(z.minLength(1), z.maxLength(100));
// Both travel to the origin as header values: printable ASCII only.
const owner = text(1, 200).check(z.regex(/^[\x21-\x39\x3b-\x7e]+$/, "printable ASCII, no spaces or colons"));
const service = text(1, 200).check(z.regex(/^[\x20-\x7e]+$/, "printable ASCII"));
const metadata = z
	.record(z.string(), z.unknown())
	.check(z.refine((m) => JSON.stringify(m).length <= MAX_METADATA_BYTES, `at most ${MAX_METADATA_BYTES} bytes as JSON`));

const common = {
	api: z.optional(text()),
	name,
	environment: z.optional(text()),
	scopes: z.optional(scopes),
	tier: z.optional(text()),
	rateLimit: z.optional(RateLimitSchema),
	expiresAt: z.optional(expiresAt),
	ipAllowlist: z.optional(ipAllowlist),
	owner: z.optional(owner),
	service: z.optional(service),
	metadata: z.optional(metadata),
};

export const CreateKeyBody = z.strictObject({ ...common, type: z.optional(text()) });
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

export const OwnerRoleBody = z.strictObject({ api: z.optional(text()), role: text() });

export const RotateBody = z.strictObject({ gracePeriodSeconds: z.optional(int(0, 30 * 86_400)) });

export type CreateKeyInput = z.output<typeof CreateKeyBody>;
export type UpdateKeyInput = z.output<typeof UpdateKeyBody>;
