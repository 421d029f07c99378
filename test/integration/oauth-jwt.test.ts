import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import { beforeEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import { clearJwksCache } from "../../src/credentials/jwt";
import { gatewayFor } from "../helpers/gateway";
import { verifyIdentity } from "../helpers/identity";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

const ISSUER = "https://idp.example.com/";
const JWKS_URI = "https://idp.example.com/.well-known/jwks.json";
const config = structuredClone(demo) as any;
config.apis[0].oauth = {
	issuer: "https://api.example.com",
	scopes: ["read", "write"],
	externalIssuers: [{ issuer: ISSUER, jwksUri: JWKS_URI, audience: "https://api.example.com", tierClaim: "plan", clockTolerance: 5 }],
};
const gw = gatewayFor(config);

/** The fake identity provider: its JWKS, served on JWKS_URI, and how often it was fetched. */
const idp = { keys: [] as JWK[], fetches: 0, down: false };
let signing: CryptoKey;

async function rotateKey(kid: string): Promise<void> {
	const pair = await generateKeyPair("ES256", { extractable: true });
	signing = pair.privateKey;
	idp.keys.push({ ...(await exportJWK(pair.publicKey)), kid, alg: "ES256", use: "sig" });
	currentKid = kid;
}
let currentKid = "";

beforeEach(async () => {
	clearJwksCache();
	idp.keys = [];
	idp.fetches = 0;
	idp.down = false;
	await rotateKey("k1");
	// Wrap the fake origin: the JWKS URL is the identity provider, everything else the origin.
	const spy = vi.mocked(globalThis.fetch);
	const originFetch = spy.getMockImplementation()!;
	spy.mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const url = new Request(input, init).url;
		if (url === JWKS_URI) {
			idp.fetches++;
			if (idp.down) throw new TypeError("Network connection lost.");
			return Response.json({ keys: idp.keys });
		}
		return originFetch(input, init);
	});
});

function token(
	claims: Record<string, unknown> = {},
	opts: { kid?: string; exp?: number; aud?: string; iss?: string; key?: CryptoKey; sub?: string; typ?: string } = {},
) {
	const now = Math.floor(Date.now() / 1000);
	return new SignJWT({ scope: "read write", azp: "partner-app", ...claims })
		.setProtectedHeader({ alg: "ES256", kid: opts.kid ?? currentKid, ...(opts.typ ? { typ: opts.typ } : {}) })
		.setIssuer(opts.iss ?? ISSUER)
		.setAudience(opts.aud ?? "https://api.example.com")
		.setSubject(opts.sub ?? "idp-user-7")
		.setIssuedAt(now)
		.setExpirationTime(opts.exp ?? now + 300)
		.sign(opts.key ?? signing);
}

const INVALID = '{\n  "error": "invalid_api_key",\n  "message": "The API key provided is invalid."\n}';

async function refused(res: Response, status: number, body?: string) {
	const text = await res.text();
	expect(res.status, text).toBe(status);
	if (body) expect(text).toBe(body);
	expect(origin.calls, "the origin was not called").toHaveLength(0);
}

describe("external JWTs (oauth.externalIssuers)", () => {
	it("a subject with outer spaces is refused, a client id with them dropped: HTTP would trim it into another's (found by a probe and a review)", async () => {
		await refused(await gw.call("/v1/users", { key: await token({}, { sub: "idp-user-7 " }) }), 401, INVALID);
		await refused(await gw.call("/v1/users", { key: await token({}, { sub: " idp-user-7" }) }), 401, INVALID);
		const res = await gw.call("/v1/users", { key: await token({ azp: " partner-app  " }) });
		expect(res.status, await res.clone().text()).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.headers.get("X-Keygate-Client-Id")).toBe("");
		// The JWT's subject is never presented as a key's id.
		expect(seen.headers.get("X-Keygate-Key-Id")).toBe("jwt:idp-user-7");
		expect(await verifyIdentity(seen)).toBe(true);
	});

	it("passes a valid token as a jwt Principal: scopes, tier claim, limits and signed identity headers", async () => {
		const res = await gw.call("/v1/users", { key: await token({ plan: "pro" }) });
		expect(res.status, await res.clone().text()).toBe(200);
		expect(res.headers.get("X-RateLimit-Limit")).toBe("10000");
		const seen = origin.calls[0]!;
		expect(seen.headers.get("X-Keygate-Auth")).toBe("jwt");
		expect(seen.headers.get("X-Keygate-Subject")).toBe("idp-user-7");
		expect(seen.headers.get("X-Keygate-Client-Id")).toBe("partner-app");
		// The JWT's subject is never presented as a key's id.
		expect(seen.headers.get("X-Keygate-Key-Id")).toBe("jwt:idp-user-7");
		expect(seen.headers.get("X-Keygate-Scopes")).toBe("read,write");
		expect(seen.headers.get("Authorization")).toBeNull();
	});

	it("answers a genuine expired token token_expired, and a forged expired one invalid_api_key", async () => {
		const past = Math.floor(Date.now() / 1000) - 60;
		const res = await gw.call("/v1/users", { key: await token({}, { exp: past }) });
		expect(res.headers.get("WWW-Authenticate")).toContain('error_description="The access token has expired."');
		await refused(res, 401, '{\n  "error": "token_expired",\n  "message": "The access token has expired."\n}');
		const stranger = (await generateKeyPair("ES256")).privateKey;
		await refused(await gw.call("/v1/users", { key: await token({}, { exp: past, key: stranger }) }), 401, INVALID);
	});

	it.each([
		["another audience", { aud: "https://other.example" }],
		["an unknown issuer", { iss: "https://evil.example/" }],
	])("answers a token for %s invalid_api_key", async (_name, opts) => {
		await refused(await gw.call("/v1/users", { key: await token({}, opts) }), 401, INVALID);
	});

	it("checks `typ` only where the issuer names one: then an ID token (or an untyped JWT) for the same audience is refused (a probe)", async () => {
		// Without `typ` in the config, any typ passes (as before).
		for (const typ of [undefined, "JWT", "id_token"]) {
			origin.calls.length = 0;
			const res = await gw.call("/v1/users", { key: await token({}, { typ }) });
			expect(res.status, `${typ}: ${await res.clone().text()}`).toBe(200);
		}
		const typed = structuredClone(config);
		typed.apis[0].oauth.externalIssuers[0].typ = "at+jwt";
		const strict = gatewayFor(typed);
		for (const typ of [undefined, "JWT", "id_token", "at+jwt2"]) {
			origin.calls.length = 0;
			await refused(await strict.call("/v1/users", { key: await token({}, { typ }) }), 401, INVALID);
		}
		// RFC 7515 §4.1.9: `application/` may be left out, and media types match without case.
		for (const typ of ["at+jwt", "application/at+jwt", "AT+JWT"]) {
			origin.calls.length = 0;
			const res = await strict.call("/v1/users", { key: await token({}, { typ }) });
			expect(res.status, `${typ}: ${await res.clone().text()}`).toBe(200);
			expect(origin.calls[0]!.headers.get("X-Keygate-Auth")).toBe("jwt");
		}
	});

	it("refuses alg none and HS256 (not in the algorithm allowlist)", async () => {
		const none = `${btoa(JSON.stringify({ alg: "none" })).replace(/=+$/, "")}.${btoa(JSON.stringify({ iss: ISSUER, sub: "x", aud: "https://api.example.com", exp: 9999999999 })).replace(/=+$/, "")}.`;
		await refused(await gw.call("/v1/users", { key: none }), 401, INVALID);
		const hs = await new SignJWT({ sub: "x" })
			.setProtectedHeader({ alg: "HS256" })
			.setIssuer(ISSUER)
			.setAudience("https://api.example.com")
			.setExpirationTime("5m")
			.sign(new TextEncoder().encode("guessable"));
		await refused(await gw.call("/v1/users", { key: hs }), 401, INVALID);
	});

	it("drops a claimed scope that is no scope token: a comma cannot add a scope in X-Keygate-Scopes, a control character cannot fail the request (attacker probe)", async () => {
		for (const scope of [["read", "write,admin"], "read write,admin", ["read", "x\r\ny"], ["read", "a\u0000b", 7, "read"]]) {
			origin.calls.length = 0;
			const res = await gw.call("/v1/users", { key: await token({ scope }) });
			expect(res.status, JSON.stringify(scope)).toBe(200);
			expect(origin.calls[0]!.headers.get("X-Keygate-Scopes"), JSON.stringify(scope)).toBe(
				Array.isArray(scope) && scope.length === 4 ? "read,read" : "read",
			);
		}
		// And what was dropped grants nothing: a write needs `write`, which "write,admin" is not.
		origin.calls.length = 0;
		const res = await gw.call("/v1/users", { method: "POST", body: "{}", key: await token({ scope: "read write,admin" }) });
		await refused(res, 403);
	});

	it("answers a token short of scope with 403 and insufficient_scope", async () => {
		const res = await gw.call("/v1/users", { method: "POST", body: "{}", key: await token({ scope: "read" }) });
		expect(res.headers.get("WWW-Authenticate")).toContain('error="insufficient_scope"');
		await refused(res, 403);
	});

	it("caches the JWKS per isolate, and refetches once for an unknown kid (key rotation)", async () => {
		expect((await gw.call("/v1/users", { key: await token() })).status).toBe(200);
		expect((await gw.call("/v1/users", { key: await token() })).status).toBe(200);
		expect(idp.fetches).toBe(1);
		await rotateKey("k2");
		expect((await gw.call("/v1/users", { key: await token() })).status).toBe(200);
		expect(idp.fetches).toBe(2);
		// A kid nobody publishes: within the cooldown, no further fetch, and the token is invalid.
		origin.calls.length = 0;
		await refused(await gw.call("/v1/users", { key: await token({}, { kid: "k-unknown" }) }), 401, INVALID);
		expect(idp.fetches).toBe(2);
	});

	it("answers 503 gateway_unavailable when the JWKS is unreachable and nothing is cached", async () => {
		idp.down = true;
		const res = await gw.call("/v1/users", { key: await token() });
		expect((await res.clone().json<{ error: string }>()).error).toBe("gateway_unavailable");
		await refused(res, 503);
	});

	it("asks a JWKS that failed at most once per 5 s: a stream of tokens naming its issuer is not a stream of fetches (found by a probe: 30 for 30)", async () => {
		idp.down = true;
		const now = Date.now();
		vi.spyOn(Date, "now").mockReturnValue(now);
		for (let i = 0; i < 30; i++) expect((await gw.call("/v1/users", { key: await token() })).status).toBe(503);
		expect(idp.fetches).toBe(1);
		// Back up, and 5 s on: the next request fetches, and passes.
		idp.down = false;
		vi.spyOn(Date, "now").mockReturnValue(now + 5_001);
		expect((await gw.call("/v1/users", { key: await token() })).status).toBe(200);
		expect(idp.fetches).toBe(2);
		expect(origin.calls).toHaveLength(1);
	});
});

describe("an accepted issuer's JWT outside the credential header (issue 11 items 2 and 3, for every credential kind)", () => {
	// Each request also carries a valid credential, so only the stray JWT can be the reason it is refused.
	it.each([
		["in the path", (jwt: string) => `/v1/echo/${jwt}`],
		["inside a path segment", (jwt: string) => `/v1/echo/token-${jwt}.json`],
		["in the query", (jwt: string) => `/v1/echo?t=${jwt}`],
	])("%s is refused (401 missing_api_key) and never forwarded", async (_where, pathFor) => {
		const res = await gw.call(pathFor(await token()), { key: await token() });
		expect(((await res.clone().json()) as { error: string }).error).toBe("missing_api_key");
		await refused(res, 401);
	});

	it("of an issuer the API does not accept, in the path, is the origin's business", async () => {
		const theirs = await token({}, { iss: "https://sso.partner.example/" });
		expect((await gw.call(`/v1/echo/${theirs}`, { key: await token() })).status).toBe(200);
		expect(origin.calls[0]!.url.pathname).toBe(`/v1/echo/${theirs}`);
	});

	it("in another header is stripped before the origin; a JWT of an issuer the API does not accept is forwarded", async () => {
		const ours = await token();
		const theirs = await token({}, { iss: "https://sso.partner.example/" });
		const res = await gw.call("/v1/users", { key: await token(), headers: { "X-Upstream-Token": ours, "X-Partner-Assertion": theirs } });
		expect(res.status, await res.clone().text()).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.headers.get("X-Upstream-Token")).toBeNull();
		expect(seen.headers.get("X-Partner-Assertion")).toBe(theirs);
		expect([...seen.headers.values()].join("\n")).not.toContain(ours);
	});
});

describe("several issuers: the same sub from two is two callers (found by a probe: the origin saw one)", () => {
	const OTHER = "https://idp-b.example.com/";
	const both = structuredClone(config);
	both.apis[0].oauth.externalIssuers = [
		...config.apis[0].oauth.externalIssuers,
		{ issuer: OTHER, jwksUri: JWKS_URI, audience: "https://api.example.com", clockTolerance: 5 },
	];
	const two = gatewayFor(both);

	it("X-Keygate-Key-Id and X-Keygate-Subject name the issuer (percent-encoded) before the subject, signed as ever", async () => {
		for (const iss of [ISSUER, OTHER]) {
			const res = await two.call("/v1/users", { key: await token({}, { iss }) });
			expect(res.status, await res.clone().text()).toBe(200);
		}
		const [a, b] = origin.calls;
		expect(a!.headers.get("X-Keygate-Key-Id")).toBe("jwt:https%3A%2F%2Fidp.example.com%2F:idp-user-7");
		expect(a!.headers.get("X-Keygate-Subject")).toBe("https%3A%2F%2Fidp.example.com%2F:idp-user-7");
		expect(b!.headers.get("X-Keygate-Key-Id")).toBe("jwt:https%3A%2F%2Fidp-b.example.com%2F:idp-user-7");
		expect(b!.headers.get("X-Keygate-Subject")).toBe("https%3A%2F%2Fidp-b.example.com%2F:idp-user-7");
		expect(await verifyIdentity(a!)).toBe(true);
		expect(await verifyIdentity(b!)).toBe(true);
	});
});
