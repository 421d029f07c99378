import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { beforeEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import { grants } from "../../src/authority/client";
import { clearJwksCache } from "../../src/credentials/jwt";
import { s256 } from "../../src/oauth/codes";
import { clearDiscoveryCache } from "../../src/oauth/oidc";
import { gatewayFor } from "../helpers/gateway";
import { createClient, REDIRECT, tokenJson, type Client } from "../helpers/oauth";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

const IDP = "https://idp.example.com";
const CALLBACK = "https://api.example.com/oauth/oidc/callback";
const CLIENT_ID = "keygate-at-idp";
const CLIENT_SECRET = "idp-client-secret-never-in-config";
const config = structuredClone(demo) as any;
config.apis[0].oauth = {
	issuer: "https://api.example.com",
	scopes: ["read", "write"],
	login: {
		mode: "oidc",
		issuer: IDP,
		clientId: CLIENT_ID,
		clientSecretVar: "OIDC_CLIENT_SECRET",
		scopes: ["openid", "profile"],
		clockTolerance: 5,
	},
};
const gw = gatewayFor(config, undefined, { OIDC_CLIENT_SECRET: CLIENT_SECRET });

interface IssuedCode {
	nonce: string;
	challenge: string;
	redirectUri: string;
}

/**
 * The fake OpenID provider: discovery, token endpoint and JWKS on IDP, with what it was
 * asked. `claims`/`sign` let a test make the id_token wrong in one way; `token` the
 * token endpoint's behaviour.
 */
const idp = {
	keys: [] as JWK[],
	signing: undefined as unknown as CryptoKey,
	codes: new Map<string, IssuedCode>(),
	tokenRequests: [] as { headers: Headers; form: URLSearchParams }[],
	discoveryDown: false,
	discoveryIssuer: IDP,
	discoveries: 0,
	token: "ok" as "ok" | "invalid_grant" | "500" | "down",
	claims: {} as Record<string, unknown>,
	sign: undefined as undefined | ((claims: Record<string, unknown>) => Promise<string>),
};

async function idToken(claims: Record<string, unknown>, key: CryptoKey = idp.signing): Promise<string> {
	const now = Math.floor(Date.now() / 1000);
	return new SignJWT({ iss: IDP, aud: CLIENT_ID, iat: now, exp: now + 300, ...claims })
		.setProtectedHeader({ alg: "ES256", kid: "idp-1" })
		.sign(key);
}

async function tokenEndpoint(request: Request): Promise<Response> {
	const form = new URLSearchParams(new TextDecoder().decode(await request.arrayBuffer()));
	idp.tokenRequests.push({ headers: request.headers, form });
	if (idp.token === "down") throw new TypeError("Network connection lost.");
	if (idp.token === "500") return new Response("oops", { status: 500 });
	const issued = idp.codes.get(form.get("code") ?? "");
	idp.codes.delete(form.get("code") ?? "");
	const basic = `Basic ${btoa(`${CLIENT_ID}:${CLIENT_SECRET}`)}`;
	if (
		idp.token === "invalid_grant" ||
		!issued ||
		(request.headers.get("Authorization") !== basic &&
			(form.get("client_id") !== CLIENT_ID || form.get("client_secret") !== CLIENT_SECRET)) ||
		form.get("grant_type") !== "authorization_code" ||
		form.get("redirect_uri") !== issued.redirectUri ||
		(await s256(form.get("code_verifier") ?? "")) !== issued.challenge
	)
		return Response.json({ error: "invalid_grant" }, { status: 400 });
	const claims = { sub: "idp-user", nonce: issued.nonce, ...idp.claims };
	return Response.json({ access_token: "idp-at", token_type: "Bearer", id_token: await (idp.sign ?? idToken)(claims) });
}

beforeEach(async () => {
	clearJwksCache();
	clearDiscoveryCache();
	const pair = await generateKeyPair("ES256", { extractable: true });
	idp.signing = pair.privateKey;
	idp.keys = [{ ...(await exportJWK(pair.publicKey)), kid: "idp-1", alg: "ES256", use: "sig" }];
	idp.codes.clear();
	idp.tokenRequests = [];
	idp.discoveryDown = false;
	idp.discoveryIssuer = IDP;
	idp.discoveries = 0;
	idp.token = "ok";
	idp.claims = {};
	idp.sign = undefined;
	const spy = vi.mocked(globalThis.fetch);
	const originFetch = spy.getMockImplementation()!;
	spy.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		const url = new URL(request.url);
		if (url.origin !== IDP) return originFetch(input, init);
		if (url.pathname === "/.well-known/openid-configuration") {
			idp.discoveries++;
			if (idp.discoveryDown) throw new TypeError("Network connection lost.");
			return Response.json({
				issuer: idp.discoveryIssuer,
				authorization_endpoint: `${IDP}/authorize`,
				token_endpoint: `${IDP}/token`,
				jwks_uri: `${IDP}/jwks`,
			});
		}
		if (url.pathname === "/jwks") return Response.json({ keys: idp.keys });
		if (url.pathname === "/token" && request.method === "POST") return tokenEndpoint(request);
		return new Response("not found", { status: 404 });
	});
});

const cookieOf = (res: Response) => (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;

/** The client's authorization request; returns keygate's redirect to the provider and the cookie. */
async function authorize(client: Client) {
	const res = await gw.call(
		`/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read%20write&state=xyz`,
	);
	expect(res.status, await res.clone().text()).toBe(302);
	return { res, to: new URL(res.headers.get("Location")!), cookie: cookieOf(res) };
}

/** The user signs in at the provider, which sends the browser back to keygate's callback with a code. */
function providerSignsIn(to: URL): string {
	const code = `idp-code-${crypto.randomUUID()}`;
	idp.codes.set(code, {
		nonce: to.searchParams.get("nonce")!,
		challenge: to.searchParams.get("code_challenge")!,
		redirectUri: to.searchParams.get("redirect_uri")!,
	});
	return `${to.searchParams.get("redirect_uri")}?code=${code}&state=${to.searchParams.get("state")}`;
}

const callback = (url: string, cookie?: string) => gw.call(url, cookie ? { headers: { Cookie: cookie } } : {});

/** A refusal: no consent ticket, no code in any redirect, no grant for the subject, and the API origin never called. */
async function noCode(res: Response, status: number, subject = "idp-user") {
	const text = await res.text();
	expect(res.status, text).toBe(status);
	expect(text).not.toContain('name="ticket"');
	const location = res.headers.get("Location");
	if (location) expect(new URL(location).searchParams.get("code"), location).toBeNull();
	expect(await grants(env, "demo", subject).listGrants(), "no grant was recorded").toHaveLength(0);
	expect(origin.calls, "the origin was not called").toHaveLength(0);
}

const consent = (cookie: string, ticket: string) =>
	gw.call("/oauth/consent", {
		method: "POST",
		headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ ticket, decision: "allow" }).toString(),
	});

/** A subject of its own per test, so "no grant" means this test's. */
const uniqueSubject = () => `idp-user-${crypto.randomUUID()}`;

describe("the authorization endpoint with the oidc login", () => {
	it("runs the whole flow: provider redirect with PKCE, state and nonce; callback; consent; code; token; API call", async () => {
		const subject = uniqueSubject();
		idp.claims = { sub: subject };
		const client = await createClient(gw);
		const { res, to, cookie } = await authorize(client);
		expect(res.headers.get("Set-Cookie")).toMatch(/^__Host-kg_oauth=.+; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600$/);
		expect(to.origin + to.pathname).toBe(`${IDP}/authorize`);
		const q = to.searchParams;
		expect(q.get("response_type")).toBe("code");
		expect(q.get("client_id")).toBe(CLIENT_ID);
		expect(q.get("redirect_uri")).toBe(CALLBACK);
		expect(q.get("scope")).toBe("openid profile");
		expect(q.get("code_challenge_method")).toBe("S256");
		expect(q.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(q.get("state")).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(q.get("nonce")).toBeTruthy();
		expect(q.has("code_verifier")).toBe(false);

		const page = await callback(providerSignsIn(to), cookie);
		const html = await page.text();
		expect(page.status, html).toBe(200);
		expect(html).toContain(subject);
		// The code exchange: form-encoded, client_secret_basic, the verifier that matches the challenge.
		expect(idp.tokenRequests).toHaveLength(1);
		const exchange = idp.tokenRequests[0]!;
		expect(exchange.headers.get("Content-Type")).toBe("application/x-www-form-urlencoded");
		expect(await s256(exchange.form.get("code_verifier")!)).toBe(q.get("code_challenge"));
		// The verifier never reached the browser.
		expect(decodeURIComponent(cookie)).not.toContain(exchange.form.get("code_verifier")!);
		expect(atob(cookie.split("=")[1]!.split(".")[0]!.replace(/-/g, "+").replace(/_/g, "/"))).not.toContain(
			exchange.form.get("code_verifier")!,
		);

		const ticket = /name="ticket" value="([^"]+)"/.exec(html)![1]!;
		const allowed = await consent(cookie, ticket);
		expect(allowed.status).toBe(302);
		const back = new URL(allowed.headers.get("Location")!);
		expect(back.origin + back.pathname).toBe(REDIRECT);
		expect(back.searchParams.get("state")).toBe("xyz");
		const token = await tokenJson(gw, {
			grant_type: "authorization_code",
			code: back.searchParams.get("code"),
			client_id: client.id,
			client_secret: client.secret,
			redirect_uri: REDIRECT,
		});
		const tokens = await token.json<{ access_token: string }>();
		expect(token.status, JSON.stringify(tokens)).toBe(200);
		expect(origin.calls).toHaveLength(0);
		const api = await gw.call("/v1/users", { key: tokens.access_token });
		expect(api.status, await api.clone().text()).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.headers.get("X-Keygate-Subject")).toBe(subject);
	});

	it("refuses a replayed callback: the state is single-use", async () => {
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		const url = providerSignsIn(to);
		const first = await callback(url, cookie);
		expect(first.status, await first.text()).toBe(200);
		// The provider would accept its code twice here: keygate must not even ask it.
		const sameCode = new URL(url).searchParams.get("code")!;
		idp.codes.set(sameCode, {
			nonce: to.searchParams.get("nonce")!,
			challenge: to.searchParams.get("code_challenge")!,
			redirectUri: CALLBACK,
		});
		const subject = uniqueSubject();
		idp.claims = { sub: subject };
		await noCode(await callback(url, cookie), 400, subject);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	it("refuses an id_token whose nonce is not the login's", async () => {
		const subject = uniqueSubject();
		idp.claims = { sub: subject, nonce: "someone-elses-nonce" };
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		await noCode(await callback(providerSignsIn(to), cookie), 400, subject);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	it.each([
		["for another audience", { aud: "another-client" }, undefined],
		["expired", { iat: Math.floor(Date.now() / 1000) - 900, exp: Math.floor(Date.now() / 1000) - 600 }, undefined],
		["from another issuer", { iss: "https://evil.example.com" }, undefined],
		["issued in the future", { iat: Math.floor(Date.now() / 1000) + 600, exp: Math.floor(Date.now() / 1000) + 900 }, undefined],
		["issued long ago", { iat: Math.floor(Date.now() / 1000) - 3600 }, undefined],
		["for several audiences, authorized for another party", { aud: [CLIENT_ID, "other-client"], azp: "other-client" }, undefined],
		["whose subject claim is not a plain string", { sub: "user with spaces" }, undefined],
		["with a bad signature", {}, "other-key"],
		["without a nonce", { nonce: undefined }, undefined],
	] as const)("refuses an id_token %s", async (_, claims, key) => {
		const subject = uniqueSubject();
		idp.claims = { sub: subject, ...claims };
		if (key) {
			const other = (await generateKeyPair("ES256")).privateKey;
			idp.sign = (c) => idToken(c, other);
		}
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		await noCode(await callback(providerSignsIn(to), cookie), 400, subject);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	it("refuses a callback without the cookie, or with another login's cookie, and leaves the real login usable", async () => {
		const subject = uniqueSubject();
		idp.claims = { sub: subject };
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		const other = await authorize(client);
		const url = providerSignsIn(to);
		await noCode(await callback(url), 400, subject);
		await noCode(await callback(url, other.cookie), 400, subject);
		await noCode(await callback(url, "__Host-kg_oauth=forged.value"), 400, subject);
		expect(idp.tokenRequests, "the provider was not asked").toHaveLength(0);
		const page = await callback(url, cookie);
		expect(page.status, await page.text()).toBe(200);
	});

	it("refuses a state that is not the one sent, even with the right cookie", async () => {
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		const url = new URL(providerSignsIn(to));
		url.searchParams.set("state", "A".repeat(43));
		await noCode(await callback(url.toString(), cookie), 400);
		expect(idp.tokenRequests).toHaveLength(0);
	});

	it("shows a local error when the provider's token endpoint refuses the code", async () => {
		idp.token = "invalid_grant";
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		await noCode(await callback(providerSignsIn(to), cookie), 400);
		expect(idp.tokenRequests).toHaveLength(1);
	});

	it.each(["500", "down"] as const)("sends temporarily_unavailable to the client when the token endpoint is %s", async (mode) => {
		idp.token = mode;
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		const res = await callback(providerSignsIn(to), cookie);
		expect(res.status, await res.clone().text()).toBe(302);
		const back = new URL(res.headers.get("Location")!);
		expect(back.origin + back.pathname).toBe(REDIRECT);
		expect(back.searchParams.get("error")).toBe("temporarily_unavailable");
		expect(back.searchParams.get("state")).toBe("xyz");
		await noCode(res, 302);
	});

	it("sends temporarily_unavailable to the client when discovery fails at /oauth/authorize", async () => {
		idp.discoveryDown = true;
		const client = await createClient(gw);
		const res = await gw.call(
			`/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&state=xyz`,
		);
		expect(res.status, await res.clone().text()).toBe(302);
		const back = new URL(res.headers.get("Location")!);
		expect(back.origin + back.pathname).toBe(REDIRECT);
		expect(back.searchParams.get("error")).toBe("temporarily_unavailable");
		expect(res.headers.get("Set-Cookie")).toBeNull();
		await noCode(res, 302);
	});

	it("sends access_denied to the client when the provider did not sign the user in", async () => {
		const client = await createClient(gw);
		const { to, cookie } = await authorize(client);
		const res = await callback(`${CALLBACK}?error=access_denied&state=${to.searchParams.get("state")}`, cookie);
		const back = new URL(res.headers.get("Location")!);
		expect(back.searchParams.get("error")).toBe("access_denied");
		expect(back.searchParams.get("state")).toBe("xyz");
		await noCode(res, 302);
		expect(idp.tokenRequests).toHaveLength(0);
	});

	it("logs only an error code the specs define, never the provider's other text (found by a probe: the sender's text reached the log)", async () => {
		const client = await createClient(gw);
		// (A whole key in the query never gets here: keygate refuses it with 401 first.) Any other text:
		const planted = "session=kgs_0123 secret words";
		const logs: string[] = [];
		const spy = vi.spyOn(console, "error").mockImplementation((line: unknown) => void logs.push(String(line)));
		try {
			for (const error of [planted, "access_denied"]) {
				const { to, cookie } = await authorize(client);
				await noCode(await callback(`${CALLBACK}?error=${encodeURIComponent(error)}&state=${to.searchParams.get("state")}`, cookie), 302);
			}
		} finally {
			spy.mockRestore();
		}
		const refused = logs.filter((l) => l.includes("oidc_login_refused"));
		expect(refused).toHaveLength(2);
		expect(refused.join("\n")).not.toContain(planted);
		expect(refused[0]).toContain('"error":"(another value)"');
		expect(refused[1]).toContain('"error":"access_denied"');
	});

	it("does not take the origin login's assertion when the API signs in with OIDC", async () => {
		const client = await createClient(gw);
		const { cookie } = await authorize(client);
		await noCode(await callback("/oauth/callback?assertion=x.y.z", cookie), 400);
	});

	it("does not exchange the code when the client secret's variable is not set", async () => {
		const unset = gatewayFor(config);
		const client = await createClient(unset);
		const start = await unset.call(
			`/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&state=xyz`,
		);
		const to = new URL(start.headers.get("Location")!);
		const res = await unset.call(providerSignsIn(to), { headers: { Cookie: cookieOf(start) } });
		expect(new URL(res.headers.get("Location")!).searchParams.get("error")).toBe("temporarily_unavailable");
		await noCode(res, 302);
		expect(idp.tokenRequests).toHaveLength(0);
	});

	it("refuses a discovery document that names another issuer (OpenID Connect Discovery §4.3)", async () => {
		idp.discoveryIssuer = "https://evil.example.com";
		const client = await createClient(gw);
		const res = await gw.call(
			`/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&state=xyz`,
		);
		expect(res.status, await res.clone().text()).toBe(302);
		expect(new URL(res.headers.get("Location")!).searchParams.get("error")).toBe("temporarily_unavailable");
		await noCode(res, 302);
	});

	it("discovers the provider once per isolate, and not at all with every endpoint configured (client_secret_post)", async () => {
		const client = await createClient(gw);
		await authorize(client);
		await authorize(client);
		expect(idp.discoveries).toBe(1);

		const explicit = structuredClone(config);
		explicit.apis[0].oauth.login = {
			...explicit.apis[0].oauth.login,
			authorizationEndpoint: `${IDP}/authorize`,
			tokenEndpoint: `${IDP}/token`,
			jwksUri: `${IDP}/jwks`,
			tokenEndpointAuthMethod: "client_secret_post",
		};
		clearDiscoveryCache();
		idp.discoveries = 0;
		const direct = gatewayFor(explicit, undefined, { OIDC_CLIENT_SECRET: CLIENT_SECRET });
		const start = await direct.call(
			`/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&state=xyz`,
		);
		const to = new URL(start.headers.get("Location")!);
		const page = await direct.call(providerSignsIn(to), { headers: { Cookie: cookieOf(start) } });
		expect(page.status, await page.text()).toBe(200);
		expect(idp.discoveries).toBe(0);
		const exchange = idp.tokenRequests[0]!;
		expect(exchange.headers.get("Authorization")).toBeNull();
		expect(exchange.form.get("client_id")).toBe(CLIENT_ID);
		expect(exchange.form.get("client_secret")).toBe(CLIENT_SECRET);
	});
});
