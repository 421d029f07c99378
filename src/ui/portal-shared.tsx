/**
 * What the portal's page files share: the portal's Hono environment, its page frame, the
 * customer's own keys, what the customer may choose, and the key limit.
 */
import { tierOpenIn } from "../config/schema";
import type { Context } from "hono";
import { AdminError, getOwner, KEY_ID, showKey, type Services } from "../admin/service";
import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import type { KeyRecord } from "../keys/record";
import { logEvent } from "../util/log";
import { ownerKeys } from "./data";
import { Page } from "./layout";
import type { PortalGrant } from "./portal-session";
import { keyStatus, offeredGraces } from "./present";

export type Portal = NonNullable<CompiledApi["portal"]>;
export type PortalEnv = {
	Bindings: Bindings;
	Variables: { services: Services; grant: PortalGrant; api: CompiledApi & { portal: Portal }; sessionToken: string };
};

export const page = (c: Context<PortalEnv>, title: string, body: unknown, status: 200 | 400 | 403 | 404 | 409 | 503 = 200) =>
	c.html(
		<Page title={title} portal={{ title: c.var.api.portal.title, returnUrl: c.var.grant.returnUrl }} here={c.req.path}>
			{body as never}
		</Page>,
		status,
	);

/** The customer's own key, or the same "not found" as for a key that does not exist. */
export async function ownKey(c: Context<PortalEnv>): Promise<KeyRecord> {
	const id = c.req.param("id") ?? "";
	const missing = new AdminError("key_not_found", "No key with that id exists.");
	if (!KEY_ID.test(id)) throw missing;
	const k = await showKey(c.var.services, id).catch((e) => {
		throw e instanceof AdminError && e.reason === "key_not_found" ? missing : e;
	});
	if (k.api !== c.var.grant.api || k.owner !== c.var.grant.owner) throw missing;
	return k;
}

export async function ownKeys(c: Context<PortalEnv>): Promise<KeyRecord[]> {
	const all = await ownerKeys(c.var.services, c.var.api.name, c.var.grant.owner);
	return all.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
}

/** What this customer may choose: the portal block, and for APIs whose keys inherit their owner's rights, no more than the role. */
export async function allowed(c: Context<PortalEnv>) {
	const api = c.var.api;
	const p = api.portal;
	const types =
		p.keyTypes ??
		Object.entries(api.keyTypes)
			.filter(([, t]) => t.kind !== "identifier")
			.map(([t]) => t);
	// The session's tier (the customer's plan) decides which environments open to some tiers only are offered.
	const tier = c.var.grant.tier ?? api.defaultTier;
	const environments = (p.environments ?? Object.keys(api.environments)).filter((e) => tierOpenIn(api, e, tier));
	let scopes = p.scopes;
	// The methods the owner's role limits every key to, whatever its scopes: said beside the scopes, or a
	// read-only customer ticks "write" and gets a key that cannot write (found by a browser QA pass).
	let methods: string[] | undefined;
	if (api.owners) {
		const role = (await getOwner(c.var.services, c.var.grant.owner, api.name)).role;
		const held = api.owners.roles[role]?.scopes;
		if (held && !held.includes("*")) scopes = scopes.filter((s) => held.includes(s));
		methods = api.owners.roles[role]?.methods;
	}
	const pairs = p.pairs && Object.values(api.keyTypes).some((t) => t.kind !== "secret");
	// Pairs only (Novala's "Create Key Pair"; a seed-page pass): unless no pair can be made, then single keys after all.
	const singles = p.singles || !pairs;
	return {
		types,
		environments,
		scopes,
		methods,
		pairs,
		singles,
		/** The create action's name: the single-key button's, or the pair's where a portal makes pairs only. */
		createLabel: singles ? p.labels.generate : p.labels.pair,
		...rotationOffer(api),
	};
}

/** The rotation graces the portal offers and the one preselected: the config alone (no owner's role, no call). */
export function rotationOffer(api: CompiledApi & { portal: Portal }): { grace: number; graces: number[] | undefined } {
	return {
		grace: api.portal.rotationGraceSeconds ?? api.keys.rotationGraceSeconds,
		graces: offeredGraces(api.portal.rotationGraceChoices, api.keys.maxRotationGraceSeconds),
	};
}

/** A key that still authenticates: active, expiring soon, or the old key of a rotation in its grace. */
export function live(k: KeyRecord, now: number): boolean {
	const w = keyStatus(k, now).word;
	return w === "active" || w === "soon" || w === "rotating";
}

/**
 * The keys that take a place under maxKeysPerOwner: every live key, except an application identifier (Novu's
 * `app_…`, its kind as the config says now) beside a live key of its pair. It authenticates nothing, so a Novu
 * pair takes one place (found by a seed-page pass: a Novu customer got half the stated number); once its pair's
 * secret is gone it counts, or revoking secrets would leave identifiers piling up without a bound (a review).
 */
export function counted(api: CompiledApi, keys: KeyRecord[], now: number): KeyRecord[] {
	const identifier = (k: KeyRecord) => (api.keyTypes[k.type]?.kind ?? k.kind) === "identifier";
	const pairs = new Set(keys.filter((k) => !identifier(k) && live(k, now) && k.pairId !== null).map((k) => k.pairId));
	return keys.filter((k) => live(k, now) && !(identifier(k) && pairs.has(k.pairId)));
}

/**
 * Makes `want` keys within the owner's `maxKeysPerOwner`, decided in the owner's Durable
 * Object one call at a time: concurrent calls cannot all read the same count. Returns
 * null when there is no room. If the object cannot be reached, nothing is made (503).
 */
export async function withinLimit<T>(
	c: Context<PortalEnv>,
	want: number,
	make: () => Promise<{ made: T; ids: string[] }>,
	listed?: KeyRecord[],
): Promise<T | null> {
	const now = Date.now();
	const mine = listed ?? (await ownKeys(c));
	const { owner } = c.var.grant;
	const owners = c.var.services.authority;
	const api = c.var.api;
	const slot = await owners.reservePortalKeys(
		api.name,
		owner,
		counted(api, mine, now).map((k) => k.id),
		mine.map((k) => k.id),
		want,
		api.portal.maxKeysPerOwner,
		now,
	);
	if (slot === null) return null;
	let ids: string[] = [];
	try {
		const result = await make();
		ids = result.ids;
		return result.made;
	} finally {
		// A failed create frees its slot; one that settles late only holds it until PENDING_MS.
		// If this fails the slot still counts the keys until PENDING_MS, so the limit errs on the strict side.
		await owners
			.settlePortalKeys(api.name, owner, slot, ids, Date.now())
			.catch((e: unknown) => logEvent("portal_slot_settle_failed", { owner, error: String(e) }));
	}
}

/** The places a new pair takes under maxKeysPerOwner: a publishable key authenticates (counted); an identifier beside its live secret does not (counted()). */
export const pairPlaces = (api: CompiledApi): 1 | 2 =>
	Object.values(api.keyTypes).find((t) => t.kind !== "secret")?.kind === "publishable" ? 2 : 1;
