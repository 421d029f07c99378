import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { base64url, issueAccessToken } from "../../src/oauth/access-token";
import { TEST_SIGNING_SECRET } from "../constants";
import { gatewayFor, sleep } from "../helpers/gateway";
import { verifyIdentity } from "../helpers/identity";
import { createClient, tokensFor } from "../helpers/oauth";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

const withOAuth = (oauth: Record<string, unknown> = {}) => {
	const config = structuredClone(demo) as any;
	config.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"], ...oauth };
	return config;
};
const gw = gatewayFor(withOAuth());

const EXPIRED_BODY = '{\n  "error": "token_expired",\n  "message": "The access token has expired."\n}';
const INVALID_BODY = '{\n  "error": "invalid_api_key",\n  "message": "The API key provided is invalid."\n}';

async function expectRefused(res: Response, status: number, body: string): Promise<void> {
	const text = await res.text();
	expect(res.status, text).toBe(status);
	expect(text).toBe(body);
	expect(res.headers.get("Cache-Control")).toBe("no-store");
	expect(origin.calls, "the origin was not called").toHaveLength(0);
}

describe("an access token on the API's routes", () => {
	it("passes as the same Principal a key yields: rate-limit headers, and signed identity headers saying oauth, subject and client", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client, { subject: "user_42", scopes: ["read"] });
		const res = await gw.call("/v1/users?x=1", { key: tokens.access_token, headers: { "X-Echo": tokens.access_token } });
		expect(res.status, await res.clone().text()).toBe(200);
		expect(res.headers.get("X-RateLimit-Limit")).toBe("1000");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("999");
		const seen = origin.calls[0]!;
		expect(seen.headers.get("Authorization")).toBeNull();
		expect(seen.headers.get("X-Echo"), "a token in any header is scrubbed").toBeNull();
		expect(seen.headers.get("X-Keygate-Auth")).toBe("oauth");
		expect(seen.headers.get("X-Keygate-Subject")).toBe("user_42");
		expect(seen.headers.get("X-Keygate-Client-Id")).toBe(client.id);
		expect(seen.headers.get("X-Keygate-Key-Id")).toMatch(/^grant_/);
		expect(seen.headers.get("X-Keygate-Scopes")).toBe("read");
		expect(await verifyIdentity(seen), "the origin can verify the signed identity").toBe(true);
	});

	it("answers a token short of the route's scope with the API's 403 and an insufficient_scope challenge", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client, { scopes: ["read"] });
		const res = await gw.call("/v1/users", { method: "POST", key: tokens.access_token, body: "{}" });
		const text = await res.text();
		expect(res.status, text).toBe(403);
		expect(JSON.parse(text).error).toBe("insufficient_permissions");
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate", error="insufficient_scope", scope="write"');
		expect(origin.calls).toHaveLength(0);
	});

	it("answers a genuine expired token (2 s TTL from config, real time) with seed 004's body and an RFC 6750 challenge", async () => {
		const short = gatewayFor(withOAuth({ accessTokenTtl: 2 }));
		const client = await createClient(short);
		const tokens = await tokensFor(short, client);
		expect(tokens.expires_in).toBe(2);
		expect((await short.call("/v1/users", { key: tokens.access_token })).status).toBe(200);
		origin.calls.length = 0;
		await sleep(2100);
		const res = await short.call("/v1/users", { key: tokens.access_token });
		expect(res.headers.get("WWW-Authenticate")).toBe(
			'Bearer realm="keygate", error="invalid_token", error_description="The access token has expired."',
		);
		await expectRefused(res, 401, EXPIRED_BODY);
	});

	it("answers a forged token invalid_api_key, even one whose claims say it expired", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client);
		const flipped = tokens.access_token.slice(0, -2) + (tokens.access_token.endsWith("AA") ? "BB" : "AA");
		await expectRefused(await gw.call("/v1/users", { key: flipped }), 401, INVALID_BODY);
		const now = Math.floor(Date.now() / 1000);
		const claims = { api: "demo", environment: "live", sub: "user_1", cid: client.id, gid: "grant_x", scopes: ["read"], tier: "free" };
		const payload = base64url(new TextEncoder().encode(JSON.stringify({ ...claims, iat: now - 7200, exp: now - 3600 })));
		const forgedExpired = `kgat_${payload}.${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
		await expectRefused(await gw.call("/v1/users", { key: forgedExpired }), 401, INVALID_BODY);
		// Signed under another secret: just as forged.
		const otherSecret = await issueAccessToken("another-secret", { ...claims, iat: now, exp: now + 60 });
		await expectRefused(await gw.call("/v1/users", { key: otherSecret }), 401, INVALID_BODY);
	});

	it("answers a genuine token of an unknown grant invalid_api_key", async () => {
		const now = Math.floor(Date.now() / 1000);
		const token = await issueAccessToken(TEST_SIGNING_SECRET, {
			api: "demo",
			environment: "live",
			sub: "nobody",
			cid: "client_x",
			gid: "grant_unknown",
			scopes: ["read"],
			tier: "free",
			iat: now,
			exp: now + 60,
		});
		await expectRefused(await gw.call("/v1/users", { key: token }), 401, INVALID_BODY);
	});

	it("answers a token on an API without oauth invalid_api_key, and no credential missing_api_key", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client);
		const noOAuth = structuredClone(demo) as any;
		delete noOAuth.apis[0].oauth;
		await expectRefused(await gatewayFor(noOAuth).call("/v1/users", { key: tokens.access_token }), 401, INVALID_BODY);
		const res = await gw.call("/v1/users");
		expect(res.status).toBe(401);
		expect((await res.json<{ error: string }>()).error).toBe("missing_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses a token in the query string or the path, before the origin", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client);
		expect((await gw.call(`/v1/users?access_token=${tokens.access_token}`)).status).toBe(401);
		expect((await gw.call(`/v1/users/${tokens.access_token}`)).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});

	it("never lets a refresh token or a client secret reach the origin, in a header or a URL", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client);
		const res = await gw.call("/v1/users", {
			key: tokens.access_token,
			headers: { "X-Refresh": `rt=${tokens.refresh_token}`, "X-Secret": client.secret! },
		});
		expect(res.status).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.headers.get("X-Refresh")).toBeNull();
		expect(seen.headers.get("X-Secret")).toBeNull();
		origin.calls.length = 0;
		expect((await gw.call(`/v1/users?refresh=${tokens.refresh_token}`, { key: tokens.access_token })).status).toBe(401);
		expect((await gw.call(`/v1/users?s=${client.secret}`, { key: tokens.access_token })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});

	it("counts a subject's tokens from two clients on one budget (rateLimitBy: subject)", async () => {
		const a = await createClient(gw);
		const b = await createClient(gw);
		const ta = await tokensFor(gw, a, { subject: "user_budget" });
		const tb = await tokensFor(gw, b, { subject: "user_budget" });
		expect((await gw.call("/v1/users", { key: ta.access_token })).headers.get("X-RateLimit-Remaining")).toBe("999");
		expect((await gw.call("/v1/users", { key: tb.access_token })).headers.get("X-RateLimit-Remaining")).toBe("998");
	});

	it("counts per client when rateLimitBy is client", async () => {
		const byClient = gatewayFor(withOAuth({ rateLimitBy: "client" }));
		const client = await createClient(byClient);
		const t1 = await tokensFor(byClient, client, { subject: "user_c1" });
		const t2 = await tokensFor(byClient, client, { subject: "user_c2" });
		expect((await byClient.call("/v1/users", { key: t1.access_token })).headers.get("X-RateLimit-Remaining")).toBe("999");
		expect((await byClient.call("/v1/users", { key: t2.access_token })).headers.get("X-RateLimit-Remaining")).toBe("998");
	});
});
