import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { keyCache, POSITIVE_TTL_MS } from "../../src/keys/cache";
import { sha256Hex } from "../../src/keys/crypto";
import { generateKey } from "../../src/keys/format";
import { kvKey } from "../../src/keys/store";
import { failureThrottle } from "../../src/credentials/brute-force";
import { admin, call, callWithEnv, createKey, expectError, sleep } from "../helpers/gateway";
import { authorityWith, fail, kvPutFailing, kvWith, never } from "../helpers/faults";
import { countingBindings } from "../helpers/counting";
import { type FakeOrigin, fakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("KV faults", () => {
	it("a KV read that fails answers 503 and lets nothing through", async () => {
		const { key } = await createKey();
		keyCache.clear();
		await expectError(await callWithEnv({ KEYS: kvWith("get", fail) }, "/v1/a", { key }), 503, "gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
	});

	it("a KV read that hangs is cut off after a bounded wait, then 503", async () => {
		const { key } = await createKey();
		keyCache.clear();
		const started = Date.now();
		await expectError(await callWithEnv({ KEYS: kvWith("get", never) }, "/v1/a", { key }), 503, "gateway_unavailable");
		const waited = Date.now() - started;
		expect(waited).toBeGreaterThanOrEqual(1_900);
		expect(waited).toBeLessThan(4_000);
		expect(origin.calls).toHaveLength(0);
	});

	it("a key in the isolate cache is served for a short stale period while KV fails, still checked by its Durable Object", async () => {
		const { id, key } = await createKey();
		const hash = await sha256Hex(key);
		const record = await env.KEYS.get(kvKey.byHash(hash), "json");
		// Cached long enough ago to be past freshness, within the stale-if-error period.
		keyCache.set(hash, record as never, Date.now() - POSITIVE_TTL_MS - 1_000);
		expect((await callWithEnv({ KEYS: kvWith("get", fail) }, "/v1/a", { key })).status).toBe(200);
		// Revocation still wins: the Durable Object is asked on every request.
		await admin(`/keys/${id}/revoke`, { method: "POST" });
		await expectError(await callWithEnv({ KEYS: kvWith("get", fail) }, "/v1/a", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(1);
	});
});

describe("Durable Object faults", () => {
	const namespace = (check: () => Promise<unknown>) => ({
		idFromName: (n: string) => env.KEY_AUTHORITY.idFromName(n),
		get: () => ({ check }),
	});

	it("an object that hangs is cut off after a bounded wait: 503 by default", async () => {
		const { key } = await createKey();
		const started = Date.now();
		await expectError(await callWithEnv({ KEY_AUTHORITY: namespace(never) }, "/v1/a", { key }), 503, "gateway_unavailable");
		expect(Date.now() - started).toBeLessThan(5_000);
		expect(origin.calls).toHaveLength(0);
	});

	it("a tier that fails open passes the request uncounted, and says so in a header and the logs", async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].tiers.free.onLimiterError = "open";
		const { key } = await createKey();
		const logs = vi.spyOn(console, "error");
		const res = await callWithEnv({ KEY_AUTHORITY: namespace(fail), KEYGATE_CONFIG: JSON.stringify(config) }, "/v1/a", { key });
		expect(res.status).toBe(200);
		expect(res.headers.get("X-Keygate-Limiter")).toBe("bypassed");
		expect(res.headers.get("X-RateLimit-Limit")).toBeNull();
		expect(logs.mock.calls.some(([line]) => String(line).includes('"event":"limiter_bypassed"'))).toBe(true);
		expect(origin.calls).toHaveLength(1);
		// Nothing was counted: the next call on the real object still has the whole budget.
		const next = await call("/v1/a", { key });
		expect(next.headers.get("X-RateLimit-Remaining")).toBe("999");
	});
});

describe("origin faults", () => {
	it("a slow origin is cut off at originTimeoutMs with 504 origin_timeout, and the request counted once", async () => {
		vi.restoreAllMocks();
		vi.spyOn(globalThis, "fetch").mockImplementation(
			(_input, init) =>
				new Promise((_, reject) => init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")))),
		);
		const config = structuredClone(bundled) as any;
		config.apis[0].originTimeoutMs = 200;
		const { key } = await createKey();
		const res = await callWithEnv({ KEYGATE_CONFIG: JSON.stringify(config) }, "/v1/a", { key });
		const body = await expectError(res, 504, "origin_timeout");
		expect(body.message).toBe("The upstream service did not answer in time.");
		expect(res.headers.get("X-RateLimit-Remaining"), "a counted 504 reports the limits it spent").toBe("999");
		vi.restoreAllMocks();
		fakeOrigin();
		expect((await call("/v1/a", { key })).headers.get("X-RateLimit-Remaining")).toBe("998");
	});

	it("the timeout ends with the origin's headers: a body still streaming past originTimeoutMs is not cut (the signal is never aborted after them)", async () => {
		vi.restoreAllMocks();
		let signal: AbortSignal | undefined;
		vi.spyOn(globalThis, "fetch").mockImplementation(async (_input, init) => {
			signal = init?.signal ?? undefined;
			const body = new ReadableStream({
				async start(controller) {
					controller.enqueue(new TextEncoder().encode('{"a":'));
					await sleep(300);
					// What a runtime that honours an abort after the headers would do to the rest of the body.
					if (signal?.aborted) controller.error(signal.reason);
					else {
						controller.enqueue(new TextEncoder().encode("1}"));
						controller.close();
					}
				},
			});
			return new Response(body, { headers: { "Content-Type": "application/json" } });
		});
		const config = structuredClone(bundled) as any;
		config.apis[0].originTimeoutMs = 100;
		const { key } = await createKey();
		const res = await callWithEnv({ KEYGATE_CONFIG: JSON.stringify(config) }, "/v1/a", { key });
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ a: 1 });
		expect(signal).toBeDefined();
		expect(signal!.aborted).toBe(false);
	});

	it("an origin that breaks off mid-body makes the client's read fail rather than look complete", async () => {
		vi.restoreAllMocks();
		vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
			const body = new ReadableStream({
				start(controller) {
					controller.enqueue(new TextEncoder().encode('{"partial":'));
					controller.error(new Error("connection reset"));
				},
			});
			return new Response(body, { headers: { "Content-Type": "application/json" } });
		});
		const { key } = await createKey();
		const res = await call("/v1/a", { key });
		expect(res.status).toBe(200);
		await expect(res.text()).rejects.toThrow();
	});
});

describe("brute force", () => {
	it("throttles an address after repeated bad keys, before any KV read; its known-good keys still work", async () => {
		failureThrottle.clear();
		const counted = countingBindings();
		const { key } = await createKey();
		const from = { "CF-Connecting-IP": "198.51.100.23" };
		expect((await callWithEnv(counted.bindings, "/v1/a", { key, headers: from })).status).toBe(200);
		for (let i = 0; i < 20; i++) {
			await expectError(
				await callWithEnv(counted.bindings, "/v1/a", { key: generateKey("sk", "live"), headers: from }),
				401,
				"invalid_api_key",
			);
		}
		counted.reset();
		const throttled = await callWithEnv(counted.bindings, "/v1/a", { key: generateKey("sk", "live"), headers: from });
		const body = await expectError(throttled, 429, "rate_limit_exceeded");
		const wait = Number(throttled.headers.get("Retry-After"));
		expect(wait).toBeGreaterThan(0);
		expect(wait).toBeLessThanOrEqual(60);
		expect(body.message).toBe(`Rate limit exceeded. Try again in ${wait} seconds.`);
		expect(counted.counts.kvReads).toBe(0);
		// Another address is not affected, and the good key from the throttled address still passes.
		await expectError(
			await callWithEnv(counted.bindings, "/v1/a", { key: generateKey("sk", "live"), headers: { "CF-Connecting-IP": "203.0.113.5" } }),
			401,
			"invalid_api_key",
		);
		expect((await callWithEnv(counted.bindings, "/v1/a", { key, headers: from })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
	});
});

describe("admin operations interrupted halfway", () => {
	it("a revoke whose KV write fails after the Durable Object was told: 503 naming the step, key already refused, retry completes", async () => {
		const { id, key } = await createKey();
		const failingPuts = kvWith("put", fail);
		const res = await callWithEnv({ KEYS: failingPuts }, `/_keygate/v1/keys/${id}/revoke`, {
			method: "POST",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef" },
		});
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe("updating the key record failed; nothing after it was done. Retrying is safe.");
		await expectError(await call("/v1/a", { key }), 401, "expired_api_key");
		expect(origin.calls).toHaveLength(0);
		const retried = await admin(`/keys/${id}/revoke`, { method: "POST" });
		expect(retried.status).toBe(200);
		expect((await retried.json<{ revokedAt: string | null }>()).revokedAt).not.toBeNull();
	});

	it("a revoke whose Durable Object step fails changes nothing, and says so", async () => {
		const { id, key } = await createKey();
		const broken = { idFromName: (n: string) => env.KEY_AUTHORITY.idFromName(n), get: () => ({ revoke: fail }) };
		const res = await callWithEnv({ KEY_AUTHORITY: broken }, `/_keygate/v1/keys/${id}/revoke`, {
			method: "POST",
			headers: { Authorization: "Bearer test-admin-token-0123456789abcdef" },
		});
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe("revoking the key in its Durable Object failed; nothing after it was done. Retrying is safe.");
		expect((await (await admin(`/keys/${id}`)).json<{ revokedAt: string | null }>()).revokedAt).toBeNull();
		expect((await call("/v1/a", { key })).status).toBe(200);
	});

	it("concurrent revoke and rotate on one key end consistently", async () => {
		for (let round = 0; round < 5; round++) {
			const { id, key } = await createKey();
			const [revoke, rotate] = await Promise.all([
				admin(`/keys/${id}/revoke`, { method: "POST" }),
				admin(`/keys/${id}/rotate`, { method: "POST" }),
			]);
			expect(revoke.status).toBe(200);
			expect([201, 409]).toContain(rotate.status);
			// Whatever the order, the old key is refused now and its record says revoked.
			const before = origin.calls.length;
			await expectError(await call("/v1/a", { key }), 401, "expired_api_key");
			expect(origin.calls).toHaveLength(before);
			const record = await (await admin(`/keys/${id}`)).json<{ revokedAt: string | null }>();
			expect(record.revokedAt).not.toBeNull();
			if (rotate.status === 201) {
				const { key: replacement } = await rotate.json<{ key: string }>();
				expect((await call("/v1/a", { key: replacement })).status).toBe(200);
			}
		}
	});
});

describe("admin writes that fail part-way leave one consistent outcome", () => {
	const AUTH = { Authorization: "Bearer test-admin-token-0123456789abcdef", "Content-Type": "application/json" };
	/** An admin API call on bindings with a fault in them. */
	const adminWith = (bindings: Parameters<typeof callWithEnv>[0], method: string, path: string, body?: unknown) =>
		callWithEnv(bindings, `/_keygate/v1${path}`, { method, headers: AUTH, body: body === undefined ? undefined : JSON.stringify(body) });
	const named = async (name: string) =>
		(await (await admin("/keys?limit=100")).json<{ data: { id: string; name: string }[] }>()).data.filter((k) => k.name === name);
	const auditOf = async (id: string) => (await (await admin(`/audit?keyId=${id}`)).json<{ data: { action: string }[] }>()).data;

	it("a rotation whose grace step took effect but whose answer was lost is finished: 201, the new key works and is audited", async () => {
		const name = `rot-lost-${crypto.randomUUID()}`;
		const { id, key } = await createKey({ name });
		let calls = 0;
		const lost = authorityWith({
			startGrace: async (real, ...args) => {
				calls++;
				if (calls === 1) {
					await real.startGrace!(...args);
					throw new Error("answer lost");
				}
				return real.startGrace!(...args);
			},
		});
		const res = await adminWith({ KEY_AUTHORITY: lost }, "POST", `/keys/${id}/rotate`);
		expect(res.status).toBe(201);
		const { key: replacement, id: newId } = await res.json<{ key: string; id: string }>();
		expect((await call("/v1/a", { key: replacement })).status).toBe(200);
		expect((await call("/v1/a", { key })).status).toBe(200); // the old key's grace period
		const old = await (await admin(`/keys/${id}`)).json<{ replacedBy: string | null }>();
		expect(old.replacedBy).toBe(newId);
		expect((await auditOf(newId)).map((e) => e.action)).toContain("key.created");
		expect((await auditOf(id)).map((e) => e.action)).toContain("key.rotated");
		expect((await named(name)).map((k) => k.id).sort()).toEqual([id, newId].sort());
	});

	it("a rotation whose grace step fails and never took effect leaves no replacement behind, so its retry succeeds", async () => {
		const name = `rot-down-${crypto.randomUUID()}`;
		const { id, key } = await createKey({ name });
		const down = authorityWith({ startGrace: () => fail() });
		const res = await adminWith({ KEY_AUTHORITY: down }, "POST", `/keys/${id}/rotate`);
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe("starting the old key's grace period failed; nothing after it was done. Retrying is safe.");
		expect((await named(name)).map((k) => k.id)).toEqual([id]);
		expect((await call("/v1/a", { key })).status).toBe(200);
		const retried = await admin(`/keys/${id}/rotate`, { method: "POST" });
		expect(retried.status).toBe(201);
		expect(origin.calls).toHaveLength(1);
	});

	it("a rotation whose counts cannot be carried to the replacement leaves no replacement behind and the key as it was", async () => {
		const name = `rot-carry-${crypto.randomUUID()}`;
		const { id, key } = await createKey({ name });
		const down = authorityWith({ carryCountersTo: () => fail() });
		const res = await adminWith({ KEY_AUTHORITY: down }, "POST", `/keys/${id}/rotate`);
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe(
			"carrying the key's rate-limit counts to its replacement failed; nothing after it was done. Retrying is safe.",
		);
		expect((await named(name)).map((k) => k.id)).toEqual([id]);
		expect((await (await admin(`/keys/${id}`)).json<{ replacedBy: string | null }>()).replacedBy).toBeNull();
		expect((await call("/v1/a", { key })).status).toBe(200);
		expect((await admin(`/keys/${id}/rotate`, { method: "POST" })).status).toBe(201);
		expect(origin.calls).toHaveLength(1);
	});

	it("a rotation that cannot take in what the key before it passed (its grace's passes) leaves nothing behind and the key as it was", async () => {
		const name = `rot-line-${crypto.randomUUID()}`;
		const { id } = await createKey({ name });
		const first = await admin(`/keys/${id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 3600 }) });
		const next = await first.json<{ id: string; key: string }>();
		// The first carry asked is from the key before it, into this one.
		const down = authorityWith({ carryCountersTo: () => fail() });
		const res = await adminWith({ KEY_AUTHORITY: down }, "POST", `/keys/${next.id}/rotate`, { gracePeriodSeconds: 0 });
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe("carrying the counts of the key it replaced failed; nothing after it was done. Retrying is safe.");
		expect((await named(name)).map((k) => k.id).sort()).toEqual([id, next.id].sort());
		expect((await (await admin(`/keys/${next.id}`)).json<{ replacedBy: string | null }>()).replacedBy).toBeNull();
		expect((await call("/v1/a", { key: next.key })).status).toBe(200);
		expect((await admin(`/keys/${next.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 0 }) })).status).toBe(201);
		expect(origin.calls).toHaveLength(1);
	});

	it("the replacement's object has the counts and the two-key mark before the replacement exists anywhere (a review: a rotation of it timed before the carry passed the check)", async () => {
		const name = `rot-order-${crypto.randomUUID()}`;
		const { id } = await createKey({ name });
		const seen: string[][] = [];
		const watched = authorityWith({
			carryCountersTo: async (real, ...args) => {
				seen.push((await named(name)).map((k) => k.id));
				return real.carryCountersTo!(...args);
			},
		});
		const res = await adminWith({ KEY_AUTHORITY: watched }, "POST", `/keys/${id}/rotate`, { gracePeriodSeconds: 3600 });
		expect(res.status).toBe(201);
		// The first carry saw only the old key; the second, after the grace started, both.
		expect(seen[0]).toEqual([id]);
		const { id: newId } = await res.json<{ id: string }>();
		await expectError(
			await admin(`/keys/${newId}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 60 }) }),
			409,
			"conflict",
		);
		expect(origin.calls).toHaveLength(0);
	});

	it("what the old key passes between the carry of its counts and its grace step is carried too (a review: 80 passes on a 20/hour key)", async () => {
		// A day's window: a count carried across an hour's edge would start again (see rate-limit.test.ts clearOfHourEdge).
		const { id, key } = await createKey({ rateLimit: { limit: 10, window: 86_400, burst: 1000 } });
		for (let i = 0; i < 4; i++) expect((await call("/v1/a", { key })).status).toBe(200);
		const timed = authorityWith({
			startGrace: async (real, ...args) => {
				// The rest of the window, spent in the gap.
				for (let i = 0; i < 6; i++) expect((await call("/v1/a", { key })).status).toBe(200);
				return real.startGrace!(...args);
			},
		});
		const res = await adminWith({ KEY_AUTHORITY: timed }, "POST", `/keys/${id}/rotate`, { gracePeriodSeconds: 0 });
		expect(res.status).toBe(201);
		const { key: replacement } = await res.json<{ key: string }>();
		const before = origin.calls.length;
		expect((await call("/v1/a", { key: replacement })).status).toBe(429);
		expect(origin.calls).toHaveLength(before);
	});

	it("a rotation whose grace call lands after keygate gave up on it is refused there: the key is never replaced by a removed key (a review)", async () => {
		const name = `rot-late-${crypto.randomUUID()}`;
		const { id, key } = await createKey({ name });
		let late: Promise<unknown> | undefined;
		const slow = authorityWith({
			startGrace: async (real, ...args) => {
				// A timed-out call is not cancelled: this one reaches the object after the admin API answered.
				late ??= sleep(300).then(() => real.startGrace!(...args));
				throw new Error("timed out");
			},
		});
		const res = await adminWith({ KEY_AUTHORITY: slow }, "POST", `/keys/${id}/rotate`);
		const body = await expectError(res, 503, "gateway_unavailable");
		expect(body.message).toBe("starting the old key's grace period failed; nothing after it was done. Retrying is safe.");
		expect(await late).toMatchObject({ ok: false });
		const old = await (await admin(`/keys/${id}`)).json<{ replacedBy: string | null; graceEndsAt: string | null }>();
		expect(old).toMatchObject({ replacedBy: null, graceEndsAt: null });
		expect((await named(name)).map((k) => k.id)).toEqual([id]);
		// As the 503 said: retrying is safe.
		const retried = await admin(`/keys/${id}/rotate`, { method: "POST" });
		expect(retried.status).toBe(201);
		expect((await call("/v1/a", { key: (await retried.json<{ key: string }>()).key })).status).toBe(200);
		expect((await call("/v1/a", { key })).status).toBe(200);
	});

	it("a key pair whose second key cannot be written leaves neither key", async () => {
		const name = `pair-${crypto.randomUUID()}`;
		// Each key is three puts (id, then hash and index): the fourth is the second key's id entry.
		const res = await adminWith({ KEYS: kvPutFailing((_key, n) => n === 4) }, "POST", "/key-pairs", { name, scopes: ["read"] });
		await expectError(res, 503, "gateway_unavailable");
		expect(await named(name)).toEqual([]);
	});

	it("a key whose hash entry cannot be written is not left half-made", async () => {
		const name = `half-${crypto.randomUUID()}`;
		const res = await adminWith({ KEYS: kvPutFailing((key) => key.startsWith("hash:")) }, "POST", "/keys", { name, scopes: ["read"] });
		await expectError(res, 503, "gateway_unavailable");
		expect(await named(name)).toEqual([]);
	});

	it("an update whose hash entry cannot be written is not shown as made: the record and the gateway agree", async () => {
		const { id, key } = await createKey({ scopes: ["read", "write"] });
		const res = await adminWith({ KEYS: kvPutFailing((k) => k.startsWith("hash:")) }, "PATCH", `/keys/${id}`, { scopes: ["read"] });
		await expectError(res, 503, "gateway_unavailable");
		expect((await (await admin(`/keys/${id}`)).json<{ scopes: string[] }>()).scopes).toEqual(["read", "write"]);
		keyCache.clear();
		expect((await call("/v1/a", { key, method: "POST" })).status).toBe(200);
	});
});
