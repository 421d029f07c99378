import type { MiddlewareHandler } from "hono";
import { recordAudit } from "../admin/audit";
import { auditAddress } from "../env";
import { grants } from "../authority/client";
import type { GrantResult } from "../authority/oauth-grants";
import type { CompiledApi } from "../config/load";
import { addressKey, FailureThrottle } from "../credentials/brute-force";
import { secretsEqual, sha256Hex } from "../keys/crypto";
import { clientIp, withAddressBudget, type GatewayContext, type GatewayEnv } from "../pipeline/context";
import { pageNavigation, sameOrigin } from "../ui/security";
import { logEvent } from "../util/log";
import { withTimeout } from "../util/timeout";
import { issueAccessToken, parseAccessToken, verifyAccessToken } from "./access-token";
import { getClient, hashSecret, type StoredClient } from "./clients";
import { newOpaque, parseOpaque, s256 } from "./codes";
import {
	authorizeEndpoint,
	callbackEndpoint,
	callbackPath,
	consentEndpoint,
	consentPath,
	oidcCallbackEndpoint,
	oidcCallbackPath,
} from "./authorize";
import { oauthError, oauthJson } from "./errors";
import { issuerUrl, notAPage, rootOf } from "./pending";
import { readParams } from "./params";

/**
 * keygate as the authorization server of an API whose config has `oauth`: the token
 * endpoint (RFC 6749 §3.2, §4.1.3, §6), revocation (RFC 7009) and metadata (RFC 8414),
 * answered before any key stage. Paths are under the API's path prefix.
 */

/**
 * Bad client credentials and bad grants, per client address (refused before any read once
 * over budget) and per confidential client id (over budget, only the right secret passes;
 * checking it reads the client, so the address budget is what bounds guessing).
 */
export const oauthThrottle = new FailureThrottle();

const KV_TIMEOUT_MS = 2_000;

export function oauthPaths(api: CompiledApi): { token: string; revoke: string; metadata: string; authorize: string } {
	const root = rootOf(api);
	return {
		token: `${root}/oauth/token`,
		revoke: `${root}/oauth/revoke`,
		authorize: `${root}/oauth/authorize`,
		metadata: `${root}/.well-known/oauth-authorization-server`,
	};
}

/**
 * `allow`: the method named in a 405's Allow header; the metadata document also answers HEAD.
 * `page`: a browser page of the sign-in and consent flow, which only a top-level navigation
 * may load (README "Pages the origin serves").
 */
type Endpoint = { allow: "GET" | "POST"; head?: true; page?: true; handle: (c: GatewayContext) => Response | Promise<Response> };

/** Each OAuth API's endpoints by path, built once per loaded config (this stage runs on every request). */
const endpointTables = new WeakMap<CompiledApi, Map<string, Endpoint>>();

function endpointsOf(api: CompiledApi): Map<string, Endpoint> {
	let table = endpointTables.get(api);
	if (!table) {
		const paths = oauthPaths(api);
		table = new Map<string, Endpoint>([
			[paths.metadata, { allow: "GET", head: true, handle: () => metadata(api) }],
			[paths.token, { allow: "POST", handle: tokenEndpoint }],
			[paths.revoke, { allow: "POST", handle: revokeEndpoint }],
			[paths.authorize, { allow: "GET", page: true, handle: authorizeEndpoint }],
			[callbackPath(api), { allow: "GET", page: true, handle: callbackEndpoint }],
			[oidcCallbackPath(api), { allow: "GET", page: true, handle: oidcCallbackEndpoint }],
			[consentPath(api), { allow: "POST", page: true, handle: consentEndpoint }],
		]);
		endpointTables.set(api, table);
	}
	return table;
}

/** Each config's `origin`-mode sign-in pages (`loginPageKey`), and their hosts: the API's own login, when keygate serves its host. */
const loginPageSets = new WeakMap<readonly CompiledApi[], { hosts: Set<string>; pages: Set<string> }>();

function loginPages(apis: readonly CompiledApi[]): { hosts: Set<string>; pages: Set<string> } {
	let found = loginPageSets.get(apis);
	if (!found) {
		found = { hosts: new Set(), pages: new Set() };
		for (const a of apis) {
			const login = a.oauth?.login;
			if (login?.mode !== "origin") continue;
			const u = new URL(login.loginUrl);
			found.hosts.add(loginHost(u.hostname));
			found.pages.add(loginPageKey(u.hostname, u.pathname));
		}
		loginPageSets.set(apis, found);
	}
	return found;
}

/** A segment without its trailing dots and blanks; linear (a regex for it is quadratic on a run of dots). */
function withoutTail(segment: string): string {
	let end = segment.length;
	while (end > 0 && /[.\s]/u.test(segment[end - 1]!)) end--;
	return segment.slice(0, end);
}

/** A host without a trailing dot, in lowercase. */
const loginHost = (hostname: string) => hostname.toLowerCase().replace(/\.$/, "");

/**
 * A sign-in page's address as servers read it loosely (found by a review: `/LOGIN`,
 * `/login/`, `/login.html`, `/login.`, `/login%20` and another port all reached the
 * origin's login unguarded): the host without port or trailing dot; the path decoded,
 * NFKC-folded and lowercased, repeated slashes as one, each segment without trailing dots
 * or blanks or a last format suffix (`.html`, `.json`), and no trailing slash.
 */
export function loginPageKey(hostname: string, pathname: string): string {
	// For every request to a sign-in page's host (often the API's own): the decoding and the fold only when there is something to undo.
	let path = pathname;
	if (path.includes("%"))
		try {
			path = decodeURIComponent(pathname);
		} catch {
			// Not decodable: compared as sent (keygate refuses such paths on API routes anyway).
		}
	if (!/^[\x00-\x7f]*$/.test(path)) path = path.normalize("NFKC");
	const segments = path
		.toLowerCase()
		.split("/")
		.map((segment) => withoutTail(withoutTail(segment).replace(/\.[a-z0-9]{1,10}$/, "")))
		.filter((segment) => segment !== "");
	return `${loginHost(hostname)}/${segments.join("/")}`;
}

/**
 * The API's own sign-in page, served through keygate on a host it answers (the README's
 * `https://api.example.com/login`), is held to the sign-in pages' rules: a page of the
 * origin would otherwise fetch it with the user's session, read from the answer's URL the
 * assertion it redirects to, and finish the consent in a client of its own (found by a
 * probe). Only a navigation reaches it, and its answer sends COOP same-origin, as
 * keygate's own sign-in pages do. (The console's too: a script on the sign-in page could
 * reach a console window it opens; README "Pages the origin serves".)
 */
async function loginPageGuard(c: GatewayContext, next: () => Promise<void>): Promise<Response | undefined> {
	if (!browserPage(c)) return notAPage();
	await next();
	try {
		c.res.headers.set("Cross-Origin-Opener-Policy", "same-origin");
	} catch {
		c.res = new Response(c.res.body, c.res);
		c.res.headers.set("Cross-Origin-Opener-Policy", "same-origin");
	}
	return undefined;
}

/** Stage: the OAuth endpoints of an API that turns OAuth on; every other request passes on. */
export const oauthStage: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const api = c.get("api");
	// Only a request to a sign-in page's host is folded and looked up.
	const login = loginPages(c.get("config").apis);
	const url = c.get("url");
	if (login.hosts.size > 0 && login.hosts.has(loginHost(url.hostname)) && login.pages.has(loginPageKey(url.hostname, url.pathname)))
		return loginPageGuard(c, next);
	if (!api.oauth) return next();
	const endpoint = endpointsOf(api).get(c.get("url").pathname);
	if (!endpoint) return next();
	const allowed = c.req.method === endpoint.allow || (endpoint.head && c.req.method === "HEAD");
	const res = !allowed ? notAllowed(endpoint.allow) : endpoint.page && !browserPage(c) ? notAPage() : await endpoint.handle(c);
	// "Every response includes X-RateLimit-*": here the address's budget of failed client authentications and grants.
	return c.get("api").bruteForce.headers ? withAddressBudget(c, new Response(res.body, res), oauthThrottle, "ip:") : res;
};

/**
 * The sign-in and consent pages share their origin with every page keygate forwards: a
 * script on one of those (an XSS in the API's own HTML) could fetch the consent page, read
 * its ticket and post Allow for its own client, with the user's sign-in and no click (found
 * by a probe). As for the console: a request that says how it was made must be a top-level
 * navigation, and the consent form must come from this origin.
 */
function browserPage(c: GatewayContext): boolean {
	const headers = c.req.raw.headers;
	// A prefetch or prerender the user never sees would run the sign-in and replace one in progress (found by a probe).
	if (headers.has("Sec-Purpose") || headers.get("Purpose") === "prefetch") return false;
	if (!pageNavigation(headers)) return false;
	// A client that says nothing of where the form came from (curl) is served, as for pageNavigation: it holds no browser's sign-in.
	const said = headers.has("Sec-Fetch-Site") || headers.has("Origin");
	return !said || sameOrigin(c.req.method, c.req.url, headers);
}

function notAllowed(allow: string): Response {
	const res = oauthError("invalid_request", `This endpoint accepts only ${allow}.`);
	return new Response(res.body, { status: 405, headers: { ...Object.fromEntries(res.headers), Allow: allow } });
}

function metadata(api: CompiledApi): Response {
	const oauth = api.oauth!;
	const paths = oauthPaths(api);
	return oauthJson({
		issuer: oauth.issuer,
		...(oauth.login ? { authorization_endpoint: issuerUrl(api, paths.authorize) } : {}),
		// RFC 9207: every authorization response carries `iss`.
		authorization_response_iss_parameter_supported: true,
		token_endpoint: issuerUrl(api, paths.token),
		revocation_endpoint: issuerUrl(api, paths.revoke),
		response_types_supported: ["code"],
		grant_types_supported: ["authorization_code", "refresh_token"],
		token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
		revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
		code_challenge_methods_supported: ["S256"],
		scopes_supported: oauth.scopes,
	});
}

type Authenticated = { ok: true; client: StoredClient; params: Map<string, string> } | { ok: false; response: Response };

/** RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64. */
function basicCredentials(header: string | null): { id: string; secret: string } | "invalid" | undefined {
	if (header === null) return undefined;
	const m = /^basic\s+([A-Za-z0-9+/]+=*)\s*$/i.exec(header);
	if (!m) return "invalid";
	try {
		const decoded = atob(m[1]!);
		const colon = decoded.indexOf(":");
		if (colon === -1) return "invalid";
		const form = (s: string) => decodeURIComponent(s.replace(/\+/g, " "));
		return { id: form(decoded.slice(0, colon)), secret: form(decoded.slice(colon + 1)) };
	} catch {
		return "invalid";
	}
}

/**
 * Throttle, parse, authenticate the client: shared by the token and revocation endpoints.
 * The throttle is asked before the body is even read, so a flood of guesses costs no
 * KV read (per address, and per client id once it is known).
 */
async function authenticate(c: GatewayContext): Promise<Authenticated> {
	const api = c.get("api");
	const { maxFailures, windowSeconds } = api.bruteForce;
	const now = Date.now();
	const ip = clientIp(c);
	const blocked = (who: string) => oauthThrottle.blockedFor(who, now, maxFailures);
	// The refusal's X-RateLimit-* describe the budget that refused it (the address's, or the client id's), as a key's 429 does.
	const slowDown = (who: string): Authenticated => {
		const response = oauthError("slow_down", "Too many failed requests. Try again later.", { retryAfter: blocked(who) });
		if (api.bruteForce.headers) {
			const budget = oauthThrottle.budget(who, now, maxFailures, windowSeconds);
			response.headers.set("X-RateLimit-Limit", String(budget.limit));
			response.headers.set("X-RateLimit-Remaining", String(budget.remaining));
			response.headers.set("X-RateLimit-Reset", String(budget.reset));
		}
		return { ok: false, response };
	};
	// The address's entry for this API, as withAddressBudget reads it.
	const address = ip && `ip:${addressKey(api.name, ip)}`;
	if (address && blocked(address) > 0) return slowDown(address);
	const parsed = await readParams(c.req.raw);
	if (!parsed.ok) return { ok: false, response: oauthError("invalid_request", parsed.description) };
	const params = parsed.params;
	const basic = basicCredentials(c.req.header("Authorization") ?? null);
	const realm = api.errors.realm;
	// A client id is public (every authorize URL holds it): its budget never refuses the client's own
	// right secret, or anyone who knows the id could lock the client out (found by a probe). Over
	// budget, every other request naming it gets slow_down, and a public client (no secret) has none.
	let overBudget: string | undefined;
	const fail = (clientId: string | undefined): Authenticated => {
		// The sender's address is charged first, whatever the id's budget, so guesses spread over ids stay bounded (found by a review).
		if (address) oauthThrottle.recordFailure(address, now, windowSeconds);
		if (overBudget) return slowDown(overBudget);
		if (clientId) oauthThrottle.recordFailure(`client:${clientId}`, now, windowSeconds);
		return { ok: false, response: oauthError("invalid_client", "Client authentication failed.", { realm }) };
	};
	if (basic === "invalid") return fail(undefined);
	if (basic && params.has("client_secret"))
		return { ok: false, response: oauthError("invalid_request", "Use one client authentication method, not two.") };
	if (basic && params.has("client_id") && params.get("client_id") !== basic.id)
		return { ok: false, response: oauthError("invalid_request", "client_id does not match the authenticated client.") };
	const clientId = basic?.id ?? params.get("client_id");
	if (!clientId) return fail(undefined);
	if (blocked(`client:${clientId}`) > 0) overBudget = `client:${clientId}`;
	let client: StoredClient | null;
	try {
		client = await withTimeout(getClient(c.env.KEYS, clientId), KV_TIMEOUT_MS, "KV read");
	} catch (e) {
		logEvent("oauth_client_lookup_failed", { error: String(e) });
		return { ok: false, response: oauthError("temporarily_unavailable", "The authorization server cannot answer right now.") };
	}
	if (!client || client.api !== api.name) return fail(clientId);
	const secret = basic?.secret ?? params.get("client_secret");
	if (client.type === "confidential") {
		if (secret === undefined || client.secretHash === null) return fail(clientId);
		if (!(await secretsEqual(await hashSecret(secret), client.secretHash))) return fail(clientId);
	} else if (secret !== undefined) {
		return fail(undefined);
	}
	return { ok: true, client, params };
}

const scopeList = (scope: string) => scope.split(" ").filter((s) => s !== "");

/**
 * A grant keygate revoked itself (RFC 6749 §4.1.2, and the refresh-token reuse rule of the
 * OAuth security BCP): logged, and audited as the system's act so operators can find it.
 */
async function grantRevokedBySystem(c: GatewayContext, api: string, subject: string, clientId: string, reason: string): Promise<void> {
	logEvent("oauth_grant_revoked", { reason, clientId });
	await recordAudit(c.env.KEYS, {
		actor: "keygate",
		actorType: "system",
		action: "oauth.grants_revoked",
		api,
		keyId: null,
		owner: null,
		// Whoever presented the spent code or the superseded refresh token.
		details: { reason, subject, clientId, ip: auditAddress(c.req.raw.headers, c.env) },
	});
}

async function tokenEndpoint(c: GatewayContext): Promise<Response> {
	const auth = await authenticate(c);
	if (!auth.ok) return auth.response;
	const { client, params } = auth;
	const api = c.get("api");
	const oauth = api.oauth!;
	const grantType = params.get("grant_type");
	if (!grantType) return oauthError("invalid_request", "grant_type is required.");
	if (grantType !== "authorization_code" && grantType !== "refresh_token")
		return oauthError("unsupported_grant_type", "Supported: authorization_code and refresh_token.");
	const secret = c.env.SIGNING_SECRET;
	if (!secret) return oauthError("temporarily_unavailable", "The authorization server cannot answer right now.");
	const now = Date.now();
	const ip = clientIp(c);
	// A bad grant counts against the address and, for a confidential client (which proved its secret), its
	// client id; never a public client's id, which anyone may send.
	const invalidGrant = (description: string) => {
		if (client.type === "confidential") oauthThrottle.recordFailure(`client:${client.id}`, now, api.bruteForce.windowSeconds);
		if (ip) oauthThrottle.recordFailure(`ip:${addressKey(api.name, ip)}`, now, api.bruteForce.windowSeconds);
		return oauthError("invalid_grant", description);
	};

	let route: ReturnType<typeof parseOpaque>;
	let result: GrantResult;
	let scopes: string[] | undefined;
	const refreshExpiresAt = now + oauth.refreshTokenTtl * 1000;
	let refreshToken: string;
	try {
		if (grantType === "authorization_code") {
			const code = params.get("code");
			const redirectUri = params.get("redirect_uri");
			if (!code || !redirectUri) return oauthError("invalid_request", "code and redirect_uri are required.");
			route = parseOpaque("code", code);
			if (!route || route.api !== api.name) return invalidGrant("The authorization code is invalid or has expired.");
			const verifier = params.get("code_verifier");
			if (verifier !== undefined && !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier))
				return oauthError("invalid_request", "code_verifier must be 43 to 128 unreserved characters (RFC 7636 §4.1).");
			refreshToken = newOpaque("refresh", route);
			result = await grants(c.env, route.api, route.subject).redeemCode({
				codeHash: await sha256Hex(code),
				clientId: client.id,
				redirectUri,
				verifierChallenge: verifier === undefined ? null : await s256(verifier),
				refreshHash: await sha256Hex(refreshToken),
				refreshExpiresAt,
				now,
			});
			if (!result.ok) {
				if (result.revokedGrant) await grantRevokedBySystem(c, api.name, route.subject, client.id, "code_reuse_or_mismatch");
				return invalidGrant("The authorization code is invalid or has expired.");
			}
		} else {
			const presented = params.get("refresh_token");
			if (!presented) return oauthError("invalid_request", "refresh_token is required.");
			route = parseOpaque("refresh", presented);
			if (!route || route.api !== api.name) return invalidGrant("The refresh token is invalid or has expired.");
			const requested = params.get("scope");
			// RFC 6749 §6: a refresh may narrow the scope, never widen it. The grants object
			// refuses a wider one before it uses the refresh token up, so that token still works.
			scopes = requested === undefined ? undefined : scopeList(requested);
			refreshToken = newOpaque("refresh", route);
			result = await grants(c.env, route.api, route.subject).refresh({
				refreshHash: await sha256Hex(presented),
				clientId: client.id,
				newRefreshHash: await sha256Hex(refreshToken),
				refreshExpiresAt,
				now,
				scopes,
			});
			if (!result.ok) {
				if (result.invalidScope) return oauthError("invalid_scope", "The requested scope exceeds the grant.");
				if (result.revokedGrant) await grantRevokedBySystem(c, api.name, route.subject, client.id, "refresh_token_reuse");
				return invalidGrant("The refresh token is invalid or has expired.");
			}
		}
	} catch (e) {
		logEvent("oauth_grant_store_failed", { error: String(e) });
		return oauthError("temporarily_unavailable", "The authorization server cannot answer right now.");
	}
	const grant = result.grant;
	const granted = scopes ?? grant.scopes;
	const iat = Math.floor(now / 1000);
	const accessToken = await issueAccessToken(secret, {
		api: api.name,
		environment: grant.environment,
		sub: route.subject,
		cid: client.id,
		gid: grant.id,
		scopes: granted,
		tier: grant.tier,
		iat,
		exp: iat + oauth.accessTokenTtl,
	});
	return oauthJson({
		access_token: accessToken,
		token_type: "Bearer",
		expires_in: oauth.accessTokenTtl,
		refresh_token: refreshToken,
		scope: granted.join(" "),
	});
}

/**
 * RFC 7009. Revoking a refresh token or an access token revokes its whole grant (§2.1
 * allows it, and it is what a user who signs a client out expects). An unknown token, or
 * another client's, is answered 200 as well (§2.2), so the endpoint reveals nothing.
 */
async function revokeEndpoint(c: GatewayContext): Promise<Response> {
	const auth = await authenticate(c);
	if (!auth.ok) return auth.response;
	const { client, params } = auth;
	const token = params.get("token");
	if (!token) return oauthError("invalid_request", "token is required.");
	const now = Date.now();
	const api = c.get("api");
	try {
		// Per client, tokens are checked on the client's mirror: a revocation it has not taken is not yet in force for them.
		let mirrored = true;
		const refresh = parseOpaque("refresh", token);
		if (refresh && refresh.api === api.name) {
			mirrored &&= (await grants(c.env, refresh.api, refresh.subject).revokeByRefresh(await sha256Hex(token), client.id, now)).mirrored;
		}
		const access = parseAccessToken(token);
		if (access && c.env.SIGNING_SECRET) {
			// An expired access token still names its grant: revoking it is still meaningful.
			const checked = await verifyAccessToken(c.env.SIGNING_SECRET, access, now);
			const claims = checked.ok ? checked.claims : checked.reason === "expired" ? checked.claims : undefined;
			if (claims && claims.cid === client.id && claims.api === api.name)
				mirrored &&= (await grants(c.env, claims.api, claims.sub).revokeGrants({ grantId: claims.gid }, now)).mirrored;
		}
		if (!mirrored && api.oauth?.rateLimitBy === "client") throw new Error("the client's mirror has not taken the revocation yet");
	} catch (e) {
		logEvent("oauth_revoke_failed", { error: String(e) });
		return oauthError("temporarily_unavailable", "The authorization server cannot answer right now.");
	}
	return new Response(null, { status: 200, headers: { "Cache-Control": "no-store", Pragma: "no-cache" } });
}
