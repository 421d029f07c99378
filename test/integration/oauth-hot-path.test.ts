/**
 * What a keygate access token costs on an API route, and that folding the grant check
 * into the counting call (OAuthGrants `spend`) loses none of revocation's guarantees:
 * every revocation path is seen by the next request, limits stay exact per subject,
 * client and pair, and a failing object fails closed.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { clientMirrorSubject } from "../../src/authority/client";
import { keyCache } from "../../src/keys/cache";
import { countingBindings } from "../helpers/counting";
import { fail } from "../helpers/faults";
import { callWithEnv, gatewayFor, type BoundGateway } from "../helpers/gateway";
import { createClient, tokenJson, tokensFor, type Client, type TokenResponse } from "../helpers/oauth";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

type By = "subject" | "client" | "subject+client";

/** The demo config with OAuth on, counting `rateLimitBy`, and the free tier changed by `tier`. */
function configFor(rateLimitBy: By, tier: Record<string, unknown> = {}) {
	const config = structuredClone(demo) as any;
	config.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"], rateLimitBy };
	Object.assign(config.apis[0].tiers.free, tier);
	return config;
}

let counted: ReturnType<typeof countingBindings>;
beforeEach(() => {
	counted = countingBindings();
});

/** A request through keygate running `config`, on the counting bindings (real KV and Durable Objects underneath). */
const countedCall = (config: unknown, key: string, init: RequestInit = {}) =>
	callWithEnv({ ...counted.bindings, KEYGATE_CONFIG: JSON.stringify(config) }, "/v1/users", { ...init, key });

async function cost(n: number, send: () => Promise<Response>, status: number) {
	counted.reset();
	for (let i = 0; i < n; i++) {
		const res = await send();
		expect(res.status, await res.clone().text()).toBe(status);
	}
	return { ...counted.counts };
}

const errorOf = async (res: Response) => ((await res.json()) as { error: string }).error;

/** A token's request refused with `error` (invalid_api_key by default), the origin never called for it. */
async function expectRefused(config: unknown, token: string, error = "invalid_api_key") {
	const before = origin.calls.length;
	expect(await errorOf(await countedCall(config, token))).toBe(error);
	expect(origin.calls.length, "the origin was called for a refused request").toBe(before);
}

let subjects = 0;
const freshSubject = () => `user_hot_${Date.now().toString(36)}_${subjects++}`;

describe("what a warm access token costs", () => {
	it.each(["subject", "subject+client", "client"] as const)(
		"rateLimitBy %s: zero KV reads and exactly one Durable Object call, as a warm key",
		async (by) => {
			const config = configFor(by);
			const gw = gatewayFor(config);
			const { key } = await gw.createKey({ name: "warm", scopes: ["read"] });
			keyCache.clear();
			await countedCall(config, key);
			const keyCost = await cost(10, () => countedCall(config, key), 200);
			expect(keyCost).toEqual({ kvReads: 0, doCalls: 10 });

			const client = await createClient(gw);
			const tokens = await tokensFor(gw, client, { subject: freshSubject(), scopes: ["read"] });
			await countedCall(config, tokens.access_token);
			expect(await cost(10, () => countedCall(config, tokens.access_token), 200)).toEqual(keyCost);
		},
	);

	it("a sharded tier keeps the two calls (grant, then the sharded KeyAuthority), and a revocation is still seen next", async () => {
		const config = configFor("subject", { shards: 2 });
		const gw = gatewayFor(config);
		const subject = freshSubject();
		const tokens = await tokensFor(gw, await createClient(gw), { subject });
		expect(await cost(3, () => countedCall(config, tokens.access_token), 200)).toEqual({ kvReads: 0, doCalls: 6 });
		await gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject }) });
		await expectRefused(config, tokens.access_token);
	});

	it("on a sharded tier, subjects named like another subject's shards (V#1, V#2, V#3) do not spend its budget (found by a probe: 5 of 20 left)", async () => {
		const config = configFor("subject", { limit: 20, window: 3600, burst: 1000, shards: 4 });
		const gw = gatewayFor(config);
		const client = await createClient(gw);
		const victim = freshSubject();
		const passed = async (subject: string) => {
			const { access_token } = await tokensFor(gw, client, { subject, scopes: ["read"] });
			let ok = 0;
			for (let i = 0; i < 30; i++) if ((await countedCall(config, access_token)).status === 200) ok++;
			return ok;
		};
		for (const i of [1, 2, 3]) expect(await passed(`${victim}#${i}`)).toBe(20);
		expect(await passed(victim)).toBe(20);
		expect(await passed(`${victim}%231`), "an escaped spelling is a subject of its own too").toBe(20);
	});

	it("a leased tier counts tokens strictly, in the same one call: exact, and no lease a revoked grant could spend", async () => {
		const config = configFor("subject", { consistency: "leased" });
		const gw = gatewayFor(config);
		const client = await createClient(gw);
		const subject = freshSubject();
		const tokens = await tokensFor(gw, client, { subject });
		expect(await cost(10, () => countedCall(config, tokens.access_token), 200)).toEqual({ kvReads: 0, doCalls: 10 });
		const res = await countedCall(config, tokens.access_token);
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("989");
		await gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject }) });
		await expectRefused(config, tokens.access_token);
	});

	it("a refusal by policy is one call too, and a revoked grant's 401 wins over the 403", async () => {
		const config = configFor("subject");
		const gw = gatewayFor(config);
		const subject = freshSubject();
		const tokens = await tokensFor(gw, await createClient(gw), { subject, scopes: ["read"] });
		const post = () => countedCall(config, tokens.access_token, { method: "POST", body: "{}" });
		expect(await cost(1, post, 403)).toEqual({ kvReads: 0, doCalls: 1 });
		const res = await post();
		expect(res.headers.get("X-RateLimit-Remaining"), "a 403 carries the limits as they stand").toBe("1000");
		await gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject }) });
		expect(await errorOf(await post())).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("revocation is seen by the next request, in every rateLimitBy mode", () => {
	/** A warm token (one request passed), then `revoke`, then its next request. */
	async function afterRevocation(
		by: By,
		revoke: (gw: BoundGateway, client: Client, subject: string, tokens: TokenResponse) => Promise<unknown>,
	) {
		const config = configFor(by);
		const gw = gatewayFor(config);
		const client = await createClient(gw);
		const subject = freshSubject();
		const tokens = await tokensFor(gw, client, { subject });
		expect((await countedCall(config, tokens.access_token)).status).toBe(200);
		await revoke(gw, client, subject, tokens);
		origin.calls.length = 0;
		const res = await countedCall(config, tokens.access_token);
		const text = await res.text();
		expect(res.status, text).toBe(401);
		expect(text).toBe('{\n  "error": "invalid_api_key",\n  "message": "The API key provided is invalid."\n}');
		expect(origin.calls).toHaveLength(0);
	}

	const grantId = async (gw: BoundGateway, subject: string) =>
		(await (await gw.admin(`/oauth/grants?subject=${subject}`)).json<{ data: { id: string }[] }>()).data[0]!.id;

	async function revokeAt(gw: BoundGateway, client: Client, token: string) {
		const res = await gw.call("/oauth/revoke", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ token, client_id: client.id, client_secret: client.secret! }).toString(),
		});
		expect(res.status, await res.clone().text()).toBe(200);
	}

	const revocations = {
		"a revoked grant": async (gw: BoundGateway, _c: Client, subject: string) =>
			gw.admin("/oauth/grants/revoke", {
				method: "POST",
				body: JSON.stringify({ subject, grantId: await grantId(gw, subject) }),
			}),
		"a revoked subject": (gw: BoundGateway, _c: Client, subject: string) =>
			gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject }) }),
		"a deleted client": (gw: BoundGateway, client: Client) => gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" }),
		"RFC 7009 revocation of the refresh token": (gw: BoundGateway, client: Client, _s: string, tokens: TokenResponse) =>
			revokeAt(gw, client, tokens.refresh_token),
		"RFC 7009 revocation of the access token": (gw: BoundGateway, client: Client, _s: string, tokens: TokenResponse) =>
			revokeAt(gw, client, tokens.access_token),
		"a reused refresh token": async (gw: BoundGateway, client: Client, _s: string, tokens: TokenResponse) => {
			const refresh = () =>
				tokenJson(gw, {
					grant_type: "refresh_token",
					refresh_token: tokens.refresh_token,
					client_id: client.id,
					client_secret: client.secret,
				});
			expect((await refresh()).status).toBe(200);
			expect((await refresh()).status).toBe(400); // reuse: the grant is revoked
		},
	};

	for (const by of ["subject", "client", "subject+client"] as const)
		for (const [what, revoke] of Object.entries(revocations)) it(`rateLimitBy ${by}: ${what}`, () => afterRevocation(by, revoke));
});

describe("limits stay exact under concurrency", () => {
	it.each(["subject", "client", "subject+client"] as const)(
		"rateLimitBy %s: 30 concurrent requests on 10 left give exactly 10 passes",
		async (by) => {
			const config = configFor(by, { limit: 10, window: 3600, burst: 1000 });
			const gw = gatewayFor(config);
			const tokens = await tokensFor(gw, await createClient(gw), { subject: freshSubject() });
			const results = await Promise.all(Array.from({ length: 30 }, () => countedCall(config, tokens.access_token)));
			const statuses = results.map((r) => r.status).sort();
			expect(statuses.filter((s) => s === 200)).toHaveLength(10);
			expect(statuses.filter((s) => s === 429)).toHaveLength(20);
			const refused = results.find((r) => r.status === 429)!;
			expect(refused.headers.get("X-RateLimit-Limit")).toBe("10");
			expect(refused.headers.get("X-RateLimit-Remaining")).toBe("0");
			expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
			expect(await errorOf(refused)).toBe("rate_limit_exceeded");
			expect(origin.calls).toHaveLength(10);
		},
	);

	it("counts separate budgets where rateLimitBy says so: one per subject, one per (subject, client) pair", async () => {
		const perPair = configFor("subject+client");
		const gw = gatewayFor(perPair);
		const [a, b] = [await createClient(gw), await createClient(gw)];
		const subject = freshSubject();
		const [ta, tb] = [await tokensFor(gw, a, { subject }), await tokensFor(gw, b, { subject })];
		const remaining = async (config: unknown, t: TokenResponse) =>
			(await countedCall(config, t.access_token)).headers.get("X-RateLimit-Remaining");
		expect([await remaining(perPair, ta), await remaining(perPair, ta), await remaining(perPair, tb)]).toEqual(["999", "998", "999"]);
		// The same subject counted per subject: both clients spend from one budget, kept apart from the pairs'.
		const perSubject = configFor("subject");
		expect([await remaining(perSubject, ta), await remaining(perSubject, tb)]).toEqual(["999", "998"]);
	});
});

describe("failures fail closed", () => {
	const broken = {
		idFromName: (n: string) => env.OAUTH_GRANTS.idFromName(n),
		get: () => ({ spend: fail, check: fail, refusalVerdict: fail }),
	};

	it.each(["closed", "open"] as const)(
		"a grants object that fails answers 503 JSON, even on a tier that fails open (onLimiterError %s)",
		async (onLimiterError) => {
			const config = configFor("subject", { onLimiterError });
			const gw = gatewayFor(config);
			const tokens = await tokensFor(gw, await createClient(gw), { subject: freshSubject(), scopes: ["read"] });
			for (const init of [{}, { method: "POST", body: "{}" }]) {
				const res = await callWithEnv({ OAUTH_GRANTS: broken, KEYGATE_CONFIG: JSON.stringify(config) }, "/v1/users", {
					...init,
					key: tokens.access_token,
				});
				expect(res.status).toBe(503);
				expect(res.headers.get("Content-Type")).toContain("application/json");
				expect(await errorOf(res)).toBe("gateway_unavailable");
			}
			expect(origin.calls).toHaveLength(0);
		},
	);
});

describe("the client's mirror (rateLimitBy client)", () => {
	const mirror = (clientId: string) => env.OAUTH_GRANTS.get(env.OAUTH_GRANTS.idFromName(`demo:${clientMirrorSubject(clientId)}`));
	const subjectObject = (subject: string) => env.OAUTH_GRANTS.get(env.OAUTH_GRANTS.idFromName(`demo:${subject}`));
	const sql = (stub: DurableObjectStub, query: string, ...args: unknown[]) =>
		runInDurableObject(stub, (_o, state: DurableObjectState) => {
			state.storage.sql.exec(query, ...args);
		});
	/** Makes every write to the mirror's grants fail, as a broken or unreachable mirror would; reads still work. */
	const breakMirror = (clientId: string) =>
		sql(
			mirror(clientId),
			`CREATE TRIGGER IF NOT EXISTS no_insert BEFORE INSERT ON grants BEGIN SELECT RAISE(ABORT, 'injected mirror failure'); END;
			CREATE TRIGGER IF NOT EXISTS no_update BEFORE UPDATE ON grants BEGIN SELECT RAISE(ABORT, 'injected mirror failure'); END;`,
		);
	const repairMirror = (clientId: string) => sql(mirror(clientId), "DROP TRIGGER no_insert; DROP TRIGGER no_update;");

	async function warmToken(by: By = "client", tier: Record<string, unknown> = {}) {
		const config = configFor(by, tier);
		const gw = gatewayFor(config);
		const client = await createClient(gw);
		const subject = freshSubject();
		const tokens = await tokensFor(gw, client, { subject });
		const grant = (await (await gw.admin(`/oauth/grants?subject=${subject}`)).json<{ data: { id: string }[] }>()).data[0]!.id;
		expect((await countedCall(config, tokens.access_token)).status).toBe(200);
		return { config, gw, client, subject, tokens, grant };
	}
	const revokeSubject = (gw: BoundGateway, subject: string) =>
		gw.admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject }) });

	it("a grant only ever goes from live to revoked there, whatever order the messages arrive in", async () => {
		const { client, grant } = await warmToken();
		const m = mirror(client.id);
		const [copy] = await m.listGrants();
		expect(copy).toMatchObject({ id: grant, clientId: client.id, revokedAt: null });
		// Live again after revoked (a late message), the revocation repeated, then live once more: revoked throughout.
		await m.replicate([{ ...copy!, revokedAt: 1 }]);
		expect(await m.check(grant)).toBe("revoked");
		await m.replicate([copy!]);
		expect(await m.check(grant)).toBe("revoked");
		await m.replicate([{ ...copy!, revokedAt: 2 }, copy!]);
		expect(await m.check(grant)).toBe("revoked");
		expect((await m.listGrants()).find((g) => g.id === grant)?.revokedAt, "the first revocation's time is kept").toBe(1);
	});

	it("two subjects of one client spend one budget", async () => {
		const config = configFor("client", { limit: 3, window: 3600, burst: 1000 });
		const gw = gatewayFor(config);
		const client = await createClient(gw);
		const [a, b] = [await tokensFor(gw, client, { subject: freshSubject() }), await tokensFor(gw, client, { subject: freshSubject() })];
		const statuses = [];
		for (const t of [a, b, a, b]) statuses.push((await countedCall(config, t.access_token)).status);
		expect(statuses).toEqual([200, 200, 200, 429]);
		expect(origin.calls).toHaveLength(3);
	});

	it("a grant the mirror has not heard of is decided by its subject's object, which sends it: live passes (then one call again), revoked is refused", async () => {
		const { config, subject, client, tokens, grant } = await warmToken();
		await sql(mirror(client.id), "DELETE FROM grants WHERE id = ?", grant);
		// The mirror's spend, the subject's resend, the mirror's spend again.
		expect(await cost(1, () => countedCall(config, tokens.access_token), 200)).toEqual({ kvReads: 0, doCalls: 3 });
		expect(await cost(3, () => countedCall(config, tokens.access_token), 200)).toEqual({ kvReads: 0, doCalls: 3 });
		// Revoked in the subject's object and unknown to the mirror (a lost message): refused.
		await sql(subjectObject(subject), "UPDATE grants SET revoked_at = 1 WHERE id = ?", grant);
		await sql(mirror(client.id), "DELETE FROM grants WHERE id = ?", grant);
		origin.calls.length = 0;
		const refused = await countedCall(config, tokens.access_token);
		expect(refused.status).toBe(401);
		expect(await errorOf(refused)).toBe("invalid_api_key");
		expect(origin.calls).toHaveLength(0);
	});

	it("a revocation the mirror cannot take: recorded and audited, answered 503 until the alarm delivers it; a repeat then confirms it", async () => {
		const { config, gw, client, subject, tokens } = await warmToken();
		await breakMirror(client.id);
		const res = await revokeSubject(gw, subject);
		expect(res.status).toBe(503);
		const body = await res.json<{ error: string; message: string }>();
		expect(body.error).toBe("gateway_unavailable");
		expect(body.message).toContain("mirror");
		const audit = await (await gw.admin("/audit?action=oauth.grants_revoked")).json<{ data: { details: Record<string, unknown> }[] }>();
		expect(audit.data.find((e) => e.details.subject === subject)?.details.revoked).toBe(1);
		// The window the 503 warns of: the mirror still holds the grant live.
		expect((await countedCall(config, tokens.access_token)).status).toBe(200);
		// The RFC 7009 endpoint says the same.
		const rfc = await gw.call("/oauth/revoke", {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ token: tokens.refresh_token, client_id: client.id, client_secret: client.secret! }).toString(),
		});
		expect(rfc.status).toBe(503);
		expect(((await rfc.json()) as { error: string }).error).toBe("temporarily_unavailable");
		await repairMirror(client.id);
		expect(await runDurableObjectAlarm(subjectObject(subject))).toBe(true);
		origin.calls.length = 0;
		await expectRefused(config, tokens.access_token);
		expect(origin.calls).toHaveLength(0);
		const again = await revokeSubject(gw, subject);
		expect(again.status).toBe(200);
		expect(await again.json()).toEqual({ revoked: 0 });
	});

	it("per subject, a mirror that cannot take a revocation does not hold it up: 200, and refused from the next request", async () => {
		const { config, gw, client, subject, tokens } = await warmToken("subject");
		await breakMirror(client.id);
		expect((await revokeSubject(gw, subject)).status).toBe(200);
		await expectRefused(config, tokens.access_token);
		await repairMirror(client.id);
	});

	it("one client's broken mirror does not fail the revocation of another client's grant of the same subject", async () => {
		const config = configFor("client");
		const gw = gatewayFor(config);
		const [a, b] = [await createClient(gw), await createClient(gw)];
		const subject = freshSubject();
		const ta = await tokensFor(gw, a, { subject });
		await tokensFor(gw, b, { subject });
		const grants = (await (await gw.admin(`/oauth/grants?subject=${subject}`)).json<{ data: { id: string; clientId: string }[] }>()).data;
		await breakMirror(b.id);
		const res = await gw.admin("/oauth/grants/revoke", {
			method: "POST",
			body: JSON.stringify({ subject, grantId: grants.find((g) => g.clientId === a.id)!.id }),
		});
		expect(res.status, await res.clone().text()).toBe(200);
		await expectRefused(config, ta.access_token);
		await repairMirror(b.id);
	});

	it("a mirror that cannot take a resend: 503 each time, and the outbox holds one row for the grant, not one per request", async () => {
		const { config, client, subject, tokens, grant } = await warmToken();
		await sql(mirror(client.id), "DELETE FROM grants WHERE id = ?", grant);
		await breakMirror(client.id);
		for (let i = 0; i < 5; i++) await expectRefused(config, tokens.access_token, "gateway_unavailable");
		await runInDurableObject(subjectObject(subject), (_o, state: DurableObjectState) => {
			expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM mirror_sends WHERE grant_id = ?", grant).one().n).toBe(1);
		});
		await repairMirror(client.id);
		expect((await countedCall(config, tokens.access_token)).status).toBe(200);
	});

	it("per subject, a mirror that cannot take a client's deletion holds nothing up", async () => {
		const { config, gw, client, tokens } = await warmToken("subject");
		await breakMirror(client.id);
		expect((await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" })).status).toBe(204);
		await expectRefused(config, tokens.access_token);
		await repairMirror(client.id);
	});

	it("a sharded tier counted per client checks the grant on the mirror too: a deleted client's grant is refused there", async () => {
		const { config, gw, client, subject, tokens } = await warmToken("client", { shards: 2 });
		await env.KEYS.delete(`oauth-client-subjects:${client.id}:${subject}`);
		expect((await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" })).status).toBe(204);
		await expectRefused(config, tokens.access_token);
	});

	it("deleting a client refuses every grant of it in the mirror, also one the KV index of subjects has not caught up with", async () => {
		const { config, gw, client, subject, tokens, grant } = await warmToken();
		// As if the index entry were not yet visible here: the subject's object is never told.
		await env.KEYS.delete(`oauth-client-subjects:${client.id}:${subject}`);
		expect((await gw.admin(`/oauth/clients/${client.id}`, { method: "DELETE" })).status).toBe(204);
		expect(await subjectObject(subject).check(grant)).toBe("ok");
		await expectRefused(config, tokens.access_token);
		// Nor can the fallback bring it back once the mirror has forgotten it.
		await sql(mirror(client.id), "DELETE FROM grants WHERE id = ?", grant);
		await expectRefused(config, tokens.access_token);
	});
});
