import type { Authority } from "../authority/client";
import { returnUrlOk } from "../admin/contract";
import { randomId, sha256Hex } from "../keys/crypto";
import { seal, unseal } from "../oauth/pending";

/**
 * Customer portal sessions, in two steps. The API's backend asks for an entry token
 * (POST /_keygate/v1/portal-sessions) and sends its customer to a URL holding it; opening
 * that URL trades the token, once, for a portal session cookie. Both are random, and KV
 * holds only their SHA-256.
 *
 * KV layout:
 *   portal-entry:<sha256 of the entry token>     -> PortalGrant JSON, expirationTtl 300 (5 min)
 *   portal-session:<sha256 of the session token> -> PortalGrant JSON, expirationTtl 3600 (1 h)
 *
 * Single use: KV has no compare-and-delete, so the entry is spent in its owner's Durable
 * Object (OwnerRoles.spendPortalEntry), which answers true once, whichever location asks
 * first; the KV entry is then deleted. A redemption in a location KV has not reached yet
 * finds nothing and is refused (the customer opens the link again). The token is 262
 * random bits, lives 5 minutes, and travels only to the customer it was made for.
 */
export const PORTAL_COOKIE = "__Host-kg_portal";
export const ENTRY_TTL_SECONDS = 300;
export const PORTAL_SESSION_SECONDS = 3600;

export interface PortalGrant {
	api: string;
	owner: string;
	returnUrl: string | null;
	/** The tier keys made in this session get (the customer's plan, as the API's backend said); absent: the API's defaultTier. */
	tier?: string;
	/** Unix ms after which the grant is void (KV's TTL is the backstop, not the check). */
	expiresAt: number;
}

const token = (prefix: string) => randomId(prefix) + randomId("").slice(1);
const TOKEN = (prefix: string) => new RegExp(`^${prefix}_[0-9A-Za-z]{44}$`);

export async function issueEntry(
	kv: KVNamespace,
	grant: Omit<PortalGrant, "expiresAt">,
	now = Date.now(),
): Promise<{ token: string; expiresAt: number }> {
	const t = token("kgpe");
	const expiresAt = now + ENTRY_TTL_SECONDS * 1000;
	await kv.put(`portal-entry:${await sha256Hex(t)}`, JSON.stringify({ ...grant, expiresAt }), { expirationTtl: ENTRY_TTL_SECONDS });
	return { token: t, expiresAt };
}

/** The entry token's grant, consumed: a second redemption finds nothing. Unknown, used and expired tokens are alike. */
export async function redeemEntry(
	kv: KVNamespace,
	owners: Pick<Authority, "spendPortalEntry">,
	entry: string,
	now = Date.now(),
): Promise<PortalGrant | null> {
	if (!TOKEN("kgpe").test(entry)) return null;
	const hash = await sha256Hex(entry);
	const name = `portal-entry:${hash}`;
	const grant = await kv.get<PortalGrant>(name, "json");
	if (!grant || grant.expiresAt <= now) return null;
	// The one-time decision, atomic across locations; a failure here throws (no session).
	const first = await owners.spendPortalEntry(grant.api, grant.owner, hash, grant.expiresAt, now);
	await kv.delete(name);
	return first ? grant : null;
}

export async function openPortalSession(kv: KVNamespace, grant: PortalGrant, now = Date.now()): Promise<string> {
	const t = token("kgps");
	const session: PortalGrant = { ...grant, expiresAt: now + PORTAL_SESSION_SECONDS * 1000 };
	await kv.put(`portal-session:${await sha256Hex(t)}`, JSON.stringify(session), { expirationTtl: PORTAL_SESSION_SECONDS });
	return t;
}

export async function readPortalSession(kv: KVNamespace, session: string, now = Date.now()): Promise<PortalGrant | null> {
	if (!TOKEN("kgps").test(session)) return null;
	const grant = await kv.get<PortalGrant>(`portal-session:${await sha256Hex(session)}`, "json");
	return grant && grant.expiresAt > now ? grant : null;
}

export async function closePortalSession(kv: KVNamespace, session: string): Promise<void> {
	if (TOKEN("kgps").test(session)) await kv.delete(`portal-session:${await sha256Hex(session)}`);
}

/**
 * The way back to the app once a session is gone (a browser QA pass: "Session ended", "Not signed in" and "Link not
 * valid" were dead ends, the session's `returnUrl` gone with it). Not a credential: the return address, set at entry
 * beside the session, for 30 days, sealed under ADMIN_TOKEN (oauth/pending.ts `seal`), so a page the origin serves on
 * this host (which may write cookies here) cannot plant a link of its own on keygate's pages.
 */
export const PORTAL_BACK_COOKIE = "__Host-kg_portal_back";
const BACK_SECONDS = 30 * 86_400;
const BACK_PURPOSE = "portal way back";

export async function backCookie(secret: string, url: string, now = Date.now()): Promise<string> {
	const sealed = await seal(secret, BACK_PURPOSE, { url, exp: Math.floor(now / 1000) + BACK_SECONDS });
	return `${PORTAL_BACK_COOKIE}=${sealed}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${BACK_SECONDS}`;
}

export const clearedBackCookie = `${PORTAL_BACK_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;

/** The app's address from a way-back cookie keygate set and that has not expired, or null (absent, altered, not https). */
export async function readBack(secret: string, raw: string | undefined, now = Date.now()): Promise<string | null> {
	const back = await unseal<{ url: unknown; exp: number }>(secret, BACK_PURPOSE, raw, now);
	return typeof back?.url === "string" && returnUrlOk(back.url) ? back.url : null;
}
