import { z } from "zod";
import { RateLimitSchema } from "../config/schema";
import { parseCidr } from "../pipeline/ip";

const MAX_METADATA_BYTES = 4096;

const common = {
	api: z.string().min(1).optional(),
	name: z.string().min(1).max(200),
	environment: z.string().min(1).optional(),
	scopes: z.array(z.string().min(1).max(100).regex(/^[^\s,]+$/, "a scope has no spaces or commas")).max(100).optional(),
	tier: z.string().min(1).optional(),
	rateLimit: RateLimitSchema.optional(),
	expiresAt: z.iso
		.datetime({ offset: true })
		.refine((s) => Date.parse(s) > Date.now(), "must be in the future")
		.optional(),
	ipAllowlist: z
		.array(z.string().refine((s) => parseCidr(s) !== undefined, "an IPv4 or IPv6 address or CIDR range"))
		.min(1)
		.max(100)
		.optional(),
	owner: z.string().min(1).max(200).regex(/^[^\s:]+$/, "no spaces or colons").optional(),
	service: z.string().min(1).max(200).optional(),
	metadata: z
		.record(z.string(), z.unknown())
		.refine((m) => JSON.stringify(m).length <= MAX_METADATA_BYTES, `at most ${MAX_METADATA_BYTES} bytes as JSON`)
		.optional(),
};

export const CreateKeyBody = z.object({ ...common, type: z.string().min(1).optional() }).strict();
export const CreatePairBody = z.object(common).strict();
/** PATCH: each field replaces the stored one; null clears it. */
export const UpdateKeyBody = z
	.object({
		name: common.name.optional(),
		scopes: common.scopes.unwrap().optional(),
		tier: common.tier.unwrap().optional(),
		rateLimit: RateLimitSchema.nullable().optional(),
		expiresAt: common.expiresAt.unwrap().nullable().optional(),
		ipAllowlist: common.ipAllowlist.unwrap().nullable().optional(),
		owner: common.owner.unwrap().nullable().optional(),
		service: common.service.unwrap().nullable().optional(),
		metadata: common.metadata.unwrap().nullable().optional(),
	})
	.strict()
	.refine((b) => Object.keys(b).length > 0, "at least one field to change");

export const OwnerRoleBody = z.object({ api: z.string().min(1).optional(), role: z.string().min(1) }).strict();

export const RotateBody = z
	.object({ gracePeriodSeconds: z.number().int().min(0).max(30 * 86_400).optional() })
	.strict();

export type CreateKeyInput = z.output<typeof CreateKeyBody>;
export type CreatePairInput = z.output<typeof CreatePairBody>;
export type UpdateKeyInput = z.output<typeof UpdateKeyBody>;
