import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { gatewayFor, sleep } from "../helpers/gateway";
import { basic, codeFor, createClient, REDIRECT, tokenForm, tokenJson, tokensFor, type Client, type TokenResponse } from "../helpers/oauth";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

const config = structuredClone(demo) as any;
config.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"] };
const gw = gatewayFor(config);

const body = async (res: Response) => {
	const text = await res.text();
	return { status: res.status, text, json: text ? JSON.parse(text) : undefined, headers: res.headers };
};

/** seed 004's token request: a code redeemed with a JSON body and client_secret_post; `over` changes or adds fields. */
const redeemCode = (client: Client, code: string, over: Record<string, unknown> = {}) =>
	tokenJson(gw, {
		grant_type: "authorization_code",
		code,
		client_id: client.id,
		client_secret: client.secret,
		redirect_uri: REDIRECT,
		...over,
	});

describe("the token endpoint (RFC 6749 §4.1.3)", () => {
	it("exchanges a code for tokens with a JSON body and client_secret_post, as seed 004 shows", async () => {
		const client = await createClient(gw);
		const code = await codeFor(client.id);
		const res = await body(await redeemCode(client, code));
		expect(res.status, res.text).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		expect(res.json).toMatchObject({ token_type: "Bearer", expires_in: 3600, scope: "read write" });
		expect(res.json.access_token).toMatch(/^kgat_/);
		expect(res.json.refresh_token).toMatch(/^kgrt_/);
		expect(origin.calls).toHaveLength(0);
	});

	it("exchanges a code with a form body and client_secret_basic", async () => {
		const client = await createClient(gw);
		const code = await codeFor(client.id);
		const res = await body(
			await tokenForm(
				gw,
				{ grant_type: "authorization_code", code, redirect_uri: REDIRECT },
				{ Authorization: basic(client.id, client.secret!) },
			),
		);
		expect(res.status, res.text).toBe(200);
		expect(res.json.scope).toBe("read write");
	});

	it.each([
		["a wrong secret", (id: string) => ({ client_id: id, client_secret: "kgcs_" + "A".repeat(43) })],
		["no secret for a confidential client", (id: string) => ({ client_id: id })],
		["an unknown client", () => ({ client_id: "client_0000000000000000000000", client_secret: "x" })],
	])("answers 401 invalid_client with a Basic challenge for %s", async (_name, auth) => {
		const client = await createClient(gw);
		const code = await codeFor(client.id);
		const res = await body(await tokenJson(gw, { grant_type: "authorization_code", code, redirect_uri: REDIRECT, ...auth(client.id) }));
		expect(res.status, res.text).toBe(401);
		expect(res.json.error).toBe("invalid_client");
		expect(res.headers.get("WWW-Authenticate")).toBe('Basic realm="keygate"');
		expect(res.headers.get("Cache-Control")).toBe("no-store");
	});

	it.each([
		["another media type", { "Content-Type": "text/plain" }, "grant_type=authorization_code"],
		[
			"a repeated form parameter",
			{ "Content-Type": "application/x-www-form-urlencoded" },
			"grant_type=refresh_token&grant_type=refresh_token",
		],
		["a repeated JSON member", { "Content-Type": "application/json" }, '{"grant_type":"a","grant_type":"b"}'],
		// Found by a probe: the same name, once escaped; and one spaced before its colon.
		["a repeated JSON member, escaped", { "Content-Type": "application/json" }, '{"client_id":"A","client\\u005fid":"B"}'],
		[
			"a repeated JSON member, spaced",
			{ "Content-Type": "application/json" },
			'{"grant_type" : "a", "x":"grant_type:", "grant_type"\n:"b"}',
		],
		["a non-string JSON value", { "Content-Type": "application/json" }, '{"grant_type":["authorization_code"]}'],
		["a body over 16 KiB", { "Content-Type": "application/json" }, JSON.stringify({ grant_type: "x".repeat(17 * 1024) })],
	])("refuses %s as invalid_request", async (_name, headers, payload) => {
		const res = await body(await gw.call("/oauth/token", { method: "POST", headers, body: payload }));
		expect(res.status, res.text).toBe(400);
		expect(res.json.error).toBe("invalid_request");
	});

	it("a name quoted inside a value is no repeated member", async () => {
		const payload = '{"grant_type":"password","note":"\\"grant_type\\": 1"}';
		const res = await body(
			await gw.call("/oauth/token", { method: "POST", headers: { "Content-Type": "application/json" }, body: payload }),
		);
		expect(res.json.error, res.text).toBe("invalid_client");
		expect(origin.calls).toHaveLength(0);
	});

	it("binds the code to its client and redirect_uri, and verifies PKCE (RFC 7636)", async () => {
		const client = await createClient(gw);
		const other = await createClient(gw);
		const verifier = "v".repeat(43);
		const send = (code: string, extra: Record<string, unknown>) => redeemCode(client, code, extra);
		expect((await body(await send(await codeFor(client.id, { redirectUri: "https://app.example/other" }), {}))).json.error).toBe(
			"invalid_grant",
		);
		const foreign = await codeFor(other.id);
		expect((await body(await send(foreign, {}))).json.error).toBe("invalid_grant");
		expect((await body(await send(await codeFor(client.id, { verifier }), { code_verifier: "w".repeat(43) }))).json.error).toBe(
			"invalid_grant",
		);
		expect((await body(await send(await codeFor(client.id, { verifier }), {}))).json.error).toBe("invalid_grant");
		expect((await body(await send(await codeFor(client.id), { code_verifier: verifier }))).json.error).toBe("invalid_grant");
		expect((await body(await send(await codeFor(client.id, { verifier }), { code_verifier: verifier }))).status).toBe(200);
	});

	it("lets a public client redeem with PKCE and no secret", async () => {
		const client = await createClient(gw, { type: "public" });
		expect(client.secret).toBeNull();
		const verifier = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJK";
		const code = await codeFor(client.id, { verifier });
		const res = await body(
			await tokenForm(gw, {
				grant_type: "authorization_code",
				code,
				client_id: client.id,
				redirect_uri: REDIRECT,
				code_verifier: verifier,
			}),
		);
		expect(res.status, res.text).toBe(200);
	});

	it("of 20 concurrent redemptions of one code, exactly one succeeds", async () => {
		const client = await createClient(gw);
		const code = await codeFor(client.id);
		const results = await Promise.all(Array.from({ length: 20 }, () => redeemCode(client, code).then(body)));
		expect(results.filter((r) => r.status === 200)).toHaveLength(1);
		expect(results.filter((r) => r.status === 400 && r.json.error === "invalid_grant")).toHaveLength(19);
	});

	it("answers a replayed code invalid_grant and revokes the grant, so its access token is refused next", async () => {
		const client = await createClient(gw);
		const code = await codeFor(client.id);
		const redeem = () => redeemCode(client, code).then(body);
		const first = await redeem();
		expect(first.status).toBe(200);
		expect((await body(await gw.call("/v1/users", { key: first.json.access_token }))).status).toBe(200);
		const replay = await redeem();
		expect(replay.json.error).toBe("invalid_grant");
		origin.calls.length = 0;
		const after = await body(await gw.call("/v1/users", { key: first.json.access_token }));
		expect(after.status, after.text).toBe(401);
		expect(after.json.error).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses a code past its lifetime (invalid_grant)", async () => {
		const client = await createClient(gw);
		const code = await codeFor(client.id, { codeTtl: 1 });
		await sleep(1100);
		const res = await body(await redeemCode(client, code));
		expect(res.json.error).toBe("invalid_grant");
	});

	it("answers an unknown grant_type unsupported_grant_type", async () => {
		const client = await createClient(gw);
		const res = await body(await tokenJson(gw, { grant_type: "password", client_id: client.id, client_secret: client.secret }));
		expect(res.json.error).toBe("unsupported_grant_type");
	});

	it("throttles an address that keeps failing client authentication, before any read", async () => {
		const ip = "203.0.113.77";
		for (let i = 0; i < 20; i++) {
			const r = await tokenJson(
				gw,
				{ grant_type: "authorization_code", client_id: `client_${String(i).padStart(22, "9")}`, client_secret: "x" },
				{ "CF-Connecting-IP": ip },
			);
			expect(r.status).toBe(401);
		}
		const res = await body(await tokenJson(gw, { grant_type: "authorization_code" }, { "CF-Connecting-IP": ip }));
		expect(res.status, res.text).toBe(429);
		expect(res.json.error).toBe("slow_down");
		expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
	});
});

describe("the token endpoint's X-RateLimit-* with bruteForce.headers (found by a conformance check: they described a budget bad grants never touched)", () => {
	const counted = structuredClone(config);
	counted.apis[0].bruteForce = { maxFailures: 5, windowSeconds: 60, headers: true };
	const gwc = gatewayFor(counted);

	it("a bad grant spends the address's budget, and the 429 that ends it reports the budget that refused it", async () => {
		const client = await createClient(gwc);
		const ip = "198.51.100.31";
		const badGrant = () =>
			tokenJson(
				gwc,
				{ grant_type: "authorization_code", code: "kgac_bad", client_id: client.id, client_secret: client.secret, redirect_uri: REDIRECT },
				{ "CF-Connecting-IP": ip },
			).then(body);
		for (let i = 1; i <= 5; i++) {
			const res = await badGrant();
			expect(res.json.error).toBe("invalid_grant");
			expect(res.headers.get("X-RateLimit-Limit")).toBe("5");
			expect(res.headers.get("X-RateLimit-Remaining")).toBe(String(5 - i));
		}
		const res = await badGrant();
		expect(res.status, res.text).toBe(429);
		expect(res.json.error).toBe("slow_down");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("0");
		const retryAfter = Number(res.headers.get("Retry-After"));
		const reset = Number(res.headers.get("X-RateLimit-Reset"));
		expect(retryAfter).toBeGreaterThan(0);
		expect(Math.abs(reset - Math.floor(Date.now() / 1000) - retryAfter)).toBeLessThanOrEqual(1);
		expect(origin.calls).toHaveLength(0);
	});

	it("a client id over its budget from a fresh address is refused with the client's budget, not the address's full one", async () => {
		const client = await createClient(gwc);
		const guess = (ip: string) =>
			tokenJson(
				gwc,
				{ grant_type: "authorization_code", code: "kgac_bad", client_id: client.id, client_secret: "wrong", redirect_uri: REDIRECT },
				{ "CF-Connecting-IP": ip },
			).then(body);
		for (let i = 0; i < 5; i++) expect((await guess(`198.51.100.${40 + i}`)).status).toBe(401);
		const res = await guess("198.51.100.99");
		expect(res.status, res.text).toBe(429);
		expect(res.json.error).toBe("slow_down");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("0");
		expect(origin.calls).toHaveLength(0);
	});

	it("guesses at an id over its budget still spend the sender's address budget (found by a review)", async () => {
		const target = await createClient(gwc);
		const other = await createClient(gwc);
		const guess = (clientId: string, secret: string, ip: string) =>
			tokenJson(
				gwc,
				{ grant_type: "refresh_token", refresh_token: "x", client_id: clientId, client_secret: secret },
				{ "CF-Connecting-IP": ip },
			).then(body);
		for (let i = 0; i < 5; i++) await guess(target.id, "wrong", `198.51.100.${120 + i}`);
		const fresh = "198.51.100.150";
		for (let i = 0; i < 5; i++) expect((await guess(target.id, "wrong", fresh)).status).toBe(429);
		// That address is now over its own budget: even another client's right secret from it waits.
		const res = await guess(other.id, other.secret!, fresh);
		expect(res.status, res.text).toBe(429);
		expect(res.json.error).toBe("slow_down");
		expect(origin.calls).toHaveLength(0);
	});

	it("knowing a client id is not enough to lock the client out: its right secret, and a public client, still get tokens (found by a probe)", async () => {
		const client = await createClient(gwc);
		for (let i = 0; i < 8; i++)
			await tokenJson(
				gwc,
				{ grant_type: "refresh_token", refresh_token: "x", client_id: client.id, client_secret: "wrong" },
				{ "CF-Connecting-IP": `198.51.100.${60 + i}` },
			);
		const code = await codeFor(client.id, { codeTtl: 60 });
		const own = await body(await redeemCode(client, code));
		expect(own.status, own.text).toBe(200);
		// A public client has no secret to prove: bad grants and secrets sent with its id count against the addresses only.
		const open = await createClient(gwc, { type: "public" });
		for (let i = 0; i < 8; i++) {
			await tokenJson(
				gwc,
				{ grant_type: "authorization_code", code: "kgac_bad", client_id: open.id, redirect_uri: REDIRECT, code_verifier: "v".repeat(43) },
				{
					"CF-Connecting-IP": `198.51.100.${70 + i}`,
				},
			);
			await tokenJson(
				gwc,
				{ grant_type: "refresh_token", refresh_token: "x", client_id: open.id, client_secret: "x" },
				{
					"CF-Connecting-IP": `198.51.100.${80 + i}`,
				},
			);
		}
		const verifier = "w".repeat(43);
		const openCode = await codeFor(open.id, { verifier });
		const tokens = await body(
			await tokenJson(gwc, {
				grant_type: "authorization_code",
				code: openCode,
				client_id: open.id,
				redirect_uri: REDIRECT,
				code_verifier: verifier,
			}),
		);
		expect(tokens.status, tokens.text).toBe(200);
		expect(tokens.json.access_token).toMatch(/^kgat_/);
	});
});

describe("refresh tokens (RFC 6749 §6)", () => {
	const refresh = (client: { id: string; secret: string | null }, token: string, extra: Record<string, string> = {}) =>
		tokenJson(gw, { grant_type: "refresh_token", refresh_token: token, client_id: client.id, client_secret: client.secret, ...extra }).then(
			body,
		);

	it("rotates: the new pair works, and may narrow the scope but not widen it", async () => {
		const client = await createClient(gw);
		const first = await tokensFor(gw, client, { scopes: ["read"] });
		const next = await refresh(client, first.refresh_token);
		expect(next.status, next.text).toBe(200);
		expect(next.json.refresh_token).not.toBe(first.refresh_token);
		expect((await gw.call("/v1/users", { key: next.json.access_token })).status).toBe(200);
		expect((await refresh(client, next.json.refresh_token, { scope: "read write" })).json.error).toBe("invalid_scope");
	});

	it("a refresh refused for a wider scope uses nothing up: the same refresh token and the access token still work (found by a probe)", async () => {
		const client = await createClient(gw);
		const first = await tokensFor(gw, client, { scopes: ["read"] });
		const wide = await refresh(client, first.refresh_token, { scope: "read write" });
		expect(wide.status, wide.text).toBe(400);
		expect(wide.json.error).toBe("invalid_scope");
		expect((await gw.call("/v1/users", { key: first.access_token })).status).toBe(200);
		const again = await refresh(client, first.refresh_token);
		expect(again.status, again.text).toBe(200);
		expect((await gw.call("/v1/users", { key: again.json.access_token })).status).toBe(200);
		// A narrower scope is still granted.
		expect((await refresh(client, again.json.refresh_token, { scope: "read" })).status).toBe(200);
	});

	it("revokes the whole grant when a superseded refresh token is used again", async () => {
		const client = await createClient(gw);
		const first = await tokensFor(gw, client);
		const second = await refresh(client, first.refresh_token);
		expect(second.status).toBe(200);
		const reuse = await refresh(client, first.refresh_token);
		expect(reuse.json.error).toBe("invalid_grant");
		// keygate revoked the grant itself: the audit log says so, as the system's act.
		const audit = await (
			await gw.admin(`/audit?actorType=system&action=oauth.grants_revoked`)
		).json<{ data: { actor: string; details: Record<string, unknown> }[] }>();
		expect(audit.data.filter((e) => e.details.clientId === client.id)).toEqual([
			expect.objectContaining({
				actor: "keygate",
				details: expect.objectContaining({ reason: "refresh_token_reuse", clientId: client.id, ip: null }),
			}),
		]);
		// Both families are dead: the rotated refresh token and its access token.
		expect((await refresh(client, second.json.refresh_token)).json.error).toBe("invalid_grant");
		origin.calls.length = 0;
		expect((await body(await gw.call("/v1/users", { key: second.json.access_token }))).json.error).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("never leaves two live token families after 20 concurrent refreshes", async () => {
		const client = await createClient(gw);
		const first = await tokensFor(gw, client);
		const results = await Promise.all(Array.from({ length: 20 }, () => refresh(client, first.refresh_token)));
		// The grants object takes them one at a time: the first rotates the token, each later one presents a superseded token.
		const won = results.filter((r) => r.status === 200) as { json: TokenResponse }[];
		expect(won).toHaveLength(1);
		expect(results.filter((r) => r.json?.error === "invalid_grant")).toHaveLength(19);
		// A superseded token presented revokes the grant: the winner's family is dead too.
		expect((await refresh(client, won[0]!.json.refresh_token)).json.error).toBe("invalid_grant");
		origin.calls.length = 0;
		expect((await body(await gw.call("/v1/users", { key: won[0]!.json.access_token }))).json.error).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses another client's refresh token", async () => {
		const client = await createClient(gw);
		const other = await createClient(gw);
		const first = await tokensFor(gw, client);
		expect((await refresh(other, first.refresh_token)).json.error).toBe("invalid_grant");
	});
});

describe("revocation (RFC 7009) and metadata (RFC 8414)", () => {
	it.each(["refresh_token", "access_token"] as const)("revoking the %s revokes the grant, seen by the next request", async (which) => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client);
		expect((await gw.call("/v1/users", { key: tokens.access_token })).status).toBe(200);
		const res = await gw.call("/oauth/revoke", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${client.id}:${client.secret}`)}` },
			body: new URLSearchParams({ token: tokens[which] }).toString(),
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		origin.calls.length = 0;
		expect((await body(await gw.call("/v1/users", { key: tokens.access_token }))).json.error).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("answers 200 for an unknown token, revealing nothing", async () => {
		const client = await createClient(gw);
		const res = await gw.call("/oauth/revoke", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({ token: "nonsense", client_id: client.id, client_secret: client.secret }),
		});
		expect(res.status).toBe(200);
	});

	it("publishes the authorization server metadata", async () => {
		const res = await gw.call("/.well-known/oauth-authorization-server");
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({
			issuer: "https://api.example.com",
			token_endpoint: "https://api.example.com/oauth/token",
			revocation_endpoint: "https://api.example.com/oauth/revoke",
			code_challenge_methods_supported: ["S256"],
			grant_types_supported: ["authorization_code", "refresh_token"],
		});
	});

	it("leaves /oauth/* to the origin's routes on an API without oauth", async () => {
		const noOAuth = structuredClone(demo) as any;
		delete noOAuth.apis[0].oauth;
		const plain = gatewayFor(noOAuth);
		const res = await plain.call("/oauth/token", { method: "POST", body: "{}" });
		expect(res.status).toBe(401); // an ordinary API path there: no key, no entry
		expect(origin.calls).toHaveLength(0);
	});
});

describe("deleting a client or revoking a subject through the admin API", () => {
	it("refuses the client's tokens on their next request", async () => {
		const client = await createClient(gw);
		const tokens = await tokensFor(gw, client, { subject: "user_del" });
		expect((await gw.call("/v1/users", { key: tokens.access_token })).status).toBe(200);
		const del = await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" });
		expect(del.status).toBe(204);
		const audit = await (await gw.admin("/audit")).json<{ data: { action: string; details: Record<string, unknown> }[] }>();
		expect(audit.data.find((e) => e.action === "oauth.client_deleted")?.details).toMatchObject({ clientId: client.id, grantsRevoked: 1 });
		origin.calls.length = 0;
		expect((await body(await gw.call("/v1/users", { key: tokens.access_token }))).json.error).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("revokes every grant of a subject, and lists them", async () => {
		const a = await createClient(gw);
		const b = await createClient(gw);
		const ta = await tokensFor(gw, a, { subject: "user_rev" });
		const tb = await tokensFor(gw, b, { subject: "user_rev" });
		const listed = await (
			await gw.admin("/oauth/grants?subject=user_rev")
		).json<{ data: { clientId: string; revokedAt: string | null }[] }>();
		expect(
			listed.data
				.filter((g) => g.revokedAt === null)
				.map((g) => g.clientId)
				.sort(),
		).toEqual([a.id, b.id].sort());
		const res = await gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject: "user_rev" }) });
		expect(await res.json()).toEqual({ revoked: 2 });
		for (const t of [ta, tb]) expect((await gw.call("/v1/users", { key: t.access_token })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});

	it("audits client and grant changes without secrets", async () => {
		const client = await createClient(gw);
		await gw.admin(`/oauth/clients/${client.id}/rotate-secret`, { method: "POST" });
		const audit = await (await gw.admin("/audit")).text();
		expect(audit).toContain("oauth.client_created");
		expect(audit).toContain("oauth.client_secret_rotated");
		expect(audit).not.toContain("kgcs_");
	});
});

describe("a client secret", () => {
	it("stops working at once when rotated", async () => {
		const client = await createClient(gw);
		const rotated = await (await gw.admin(`/oauth/clients/${client.id}/rotate-secret`, { method: "POST" })).json<{ secret: string }>();
		const code = await codeFor(client.id);
		const old = await redeemCode(client, code);
		expect(old.status).toBe(401);
		const code2 = await codeFor(client.id);
		const fresh = await redeemCode(client, code2, { client_secret: rotated.secret });
		expect(fresh.status).toBe(200);
	});
});

describe("pruning a subject's grants object", () => {
	it("a new code deletes the rows of grants none of whose refresh tokens is live; a grant someone still refreshes keeps its spent code and superseded token", async () => {
		const client = await createClient(gw);
		const subject = `user_prune_${crypto.randomUUID().slice(0, 8)}`;
		await tokensFor(gw, client, { subject });
		const object = env.OAUTH_GRANTS.get(env.OAUTH_GRANTS.idFromName(`demo:${subject}`));
		const day = 86_400_000;
		const now = Date.now();
		await runInDurableObject(object, (_o, state: DurableObjectState) => {
			const sql = state.storage.sql;
			const live = sql.exec<{ id: string }>("SELECT id FROM grants").one().id;
			// The live grant (its refresh token from the flow is unexpired): a stolen, superseded token and an old code.
			sql.exec("INSERT INTO refresh_tokens VALUES ('superseded-of-live', ?, ?, 1)", live, now - 1000);
			sql.exec("INSERT INTO codes VALUES ('old-code-of-live', ?, 'c', 'r', NULL, ?, 1)", live, now - day - 1000);
			// A grant whose every refresh token has expired: nothing of it can be used.
			sql.exec("INSERT INTO refresh_tokens VALUES ('expired-of-dead', 'grant_dead', ?, NULL)", now - 1000);
			sql.exec("INSERT INTO codes VALUES ('old-code-of-dead', 'grant_dead', 'c', 'r', NULL, ?, 1)", now - day - 1000);
			sql.exec("INSERT INTO codes VALUES ('recent-code-of-dead', 'grant_dead', 'c', 'r', NULL, ?, 1)", now - 60_000);
		});
		await tokensFor(gw, client, { subject });
		await runInDurableObject(object, (_o, state: DurableObjectState) => {
			const sql = state.storage.sql;
			const codes = sql
				.exec<{ hash: string }>("SELECT hash FROM codes")
				.toArray()
				.map((r) => r.hash);
			expect(codes).toEqual(expect.arrayContaining(["old-code-of-live", "recent-code-of-dead"]));
			expect(codes).not.toContain("old-code-of-dead");
			const refresh = sql
				.exec<{ hash: string }>("SELECT hash FROM refresh_tokens")
				.toArray()
				.map((r) => r.hash);
			expect(refresh).toContain("superseded-of-live");
			expect(refresh).not.toContain("expired-of-dead");
			expect(sql.exec("SELECT COUNT(*) AS n FROM grants").one().n).toBe(2);
		});
	});
});
