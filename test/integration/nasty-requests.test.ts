/**
 * A corpus of nasty requests, each through the real Worker on real KV and Durable
 * Objects, only the origin faked: oversized, non-ASCII and control-byte credentials,
 * several credentials at once, keys in the query string, mixed-case schemes, path
 * tricks, forged identity and forwarding headers, hop-by-hop headers, huge bodies; then
 * enumeration (unknown, deleted and other-API keys answer byte for byte alike) and the
 * admin token's constant-time comparison.
 *
 * The number of requests sent is printed once as `NASTY_REQUESTS_TRIED=<n>`.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { findRoute } from "../../src/config/routes";
import { keyCache } from "../../src/keys/cache";
import { generateKey } from "../../src/keys/format";
import { failureThrottle } from "../../src/credentials/brute-force";
import { TEST_ADMIN_TOKEN } from "../constants";
import { countingBindings } from "../helpers/counting";
import { admin, call, callWithEnv, createKey, gatewayFor, type CreatedKey, badChecksum } from "../helpers/gateway";
import { expectDocumented, originView, sha256 } from "../helpers/hostile";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

let sent = 0;
afterAll(() => {
	console.log(`NASTY_REQUESTS_TRIED=${sent}`);
});

/** A request through the real Worker entry point (counted). */
function send(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
	sent++;
	return call(path, init);
}
/** A request to app.fetch with some bindings replaced (counted). */
function sendWithEnv(
	overrides: Parameters<typeof callWithEnv>[0],
	path: string,
	init: RequestInit & { key?: string } = {},
): Promise<Response> {
	sent++;
	return callWithEnv(overrides, path, init);
}

const origin = useFakeOrigin();

const UNLIMITED = { limit: null, window: 3600, burst: 1_000_000 };
const INVALID = { 401: ["invalid_api_key"] } as const;
const MISSING = { 401: ["missing_api_key"] } as const;

let full: CreatedKey; // read, write
let readOnly: CreatedKey; // read
let noScopes: CreatedKey; // none
beforeAll(async () => {
	full = await createKey({ scopes: ["read", "write"], rateLimit: UNLIMITED });
	readOnly = await createKey({ scopes: ["read"], rateLimit: UNLIMITED });
	noScopes = await createKey({ scopes: [], rateLimit: UNLIMITED });
});

/** Asserts a refusal: the documented error, the origin never called, and no KV read when `noKv`. */
async function expectRefused(res: Response, allowed: Parameters<typeof expectDocumented>[1], what: string, before = origin.calls.length) {
	const body = await expectDocumented(res, allowed, what);
	expect(origin.calls.length, `${what}: the origin was called`).toBe(before);
	return body;
}

// ---------------------------------------------------------------------------------
describe("oversized credentials", () => {
	const SIZES = [
		["16 KB", 16 * 1024],
		["1 MB", 1024 * 1024],
	] as const;

	it.each(SIZES)("a %s credential is refused (invalid_api_key) before any KV read, in every place", async (_label, size) => {
		const counted = countingBindings();
		const big = "A".repeat(size);
		const values: [string, Record<string, string>][] = [
			["Authorization: Bearer <big>", { Authorization: `Bearer ${big}` }],
			["Authorization: Bearer <key><big>", { Authorization: `Bearer ${full.key}${big}` }],
			["Authorization: <big> (no scheme)", { Authorization: big }],
			["X-API-Key: <big>", { "X-API-Key": big }],
		];
		for (const [what, headers] of values) {
			counted.reset();
			await expectRefused(await sendWithEnv(counted.bindings, "/v1/things", { headers }), INVALID, what);
			expect(counted.counts.kvReads, what).toBe(0);
			expect(counted.counts.doCalls, what).toBe(0);
		}
	});

	it.each(SIZES)("a %s admin token is refused with 401 invalid_admin_token", async (_label, size) => {
		const res = await send("/_keygate/v1/keys", { headers: { Authorization: `Bearer ${"t".repeat(size)}` } });
		await expectRefused(res, { 401: ["invalid_admin_token"] }, "big admin token");
	});

	it("a 1 MB header of another name does not disturb a valid key", async () => {
		const res = await send("/v1/things", { key: full.key, headers: { "X-Big": "b".repeat(1024 * 1024) } });
		expect(res.status).toBe(200);
		expect(origin.calls.at(-1)!.headers.get("X-Big")?.length).toBe(1024 * 1024);
	});
});

// ---------------------------------------------------------------------------------
describe("non-ASCII and control bytes", () => {
	const swapLast = (key: string, c: string) => key.slice(0, -1) + c;
	const cases = (): [string, string][] => [
		["a non-ASCII character in place of the last one", `Bearer ${swapLast(full.key, "é")}`],
		["a non-ASCII key body", `Bearer sk_live_${"é".repeat(49)}`],
		["a zero-width space after the key", `Bearer ${full.key}\u200b`],
		["a zero-width space before the key", `Bearer \u200b${full.key}`],
		["a right-to-left override inside the key", `Bearer ${full.key.slice(0, 10)}\u202e${full.key.slice(10)}`],
		["a full-width scheme", `Ｂｅａｒｅｒ ${full.key}`],
		["a Cyrillic look-alike scheme", `Веаrer ${full.key}`],
		["an emoji", `Bearer ${full.key}🔑`],
		["a control byte after the key", `Bearer ${full.key}\u0001`],
		["a control byte inside the key", `Bearer ${full.key.slice(0, 12)}\u0007${full.key.slice(12)}`],
		["DEL inside the key", `Bearer ${full.key.slice(0, 12)}\u007f${full.key.slice(12)}`],
		["an escape sequence before the key", `Bearer \u001b[31m${full.key}`],
		["a vertical tab as the separator", `Bearer\u000b${full.key}`],
		["a tab as the separator", `Bearer\t${full.key}`],
		["no separator", `Bearer${full.key}`],
		["a colon after the scheme", `Bearer: ${full.key}`],
		["Latin-1 bytes", `Bearer ${full.key.slice(0, 20)}\u00ff\u00fe${full.key.slice(22)}`],
	];

	it("every such credential is refused as invalid_api_key, and never reaches the origin", async () => {
		for (const [what, authorization] of cases()) {
			await expectRefused(await send("/v1/things", { headers: { Authorization: authorization } }), INVALID, what);
			// The same bytes (less the scheme) in X-API-Key, unless that leaves just the key itself.
			const value = authorization.slice(authorization.indexOf(" ") + 1);
			if (value.trim() !== full.key)
				await expectRefused(await send("/v1/things", { headers: { "X-API-Key": value } }), INVALID, `X-API-Key: ${what}`);
		}
	});

	it("NUL, CR and LF cannot be put in a header at all (the runtime refuses them before keygate runs)", () => {
		for (const c of ["\u0000", "\r", "\n", "\r\nX-Injected: 1"]) {
			expect(() => new Headers({ Authorization: `Bearer ${full.key}${c}x` }), JSON.stringify(c)).toThrow(TypeError);
		}
	});
});

// ---------------------------------------------------------------------------------
describe("several credentials", () => {
	it("two Authorization headers (Headers.append twice) are refused, whatever they hold", async () => {
		const other = generateKey("sk", "live");
		const pairs: [string, string][] = [
			[full.key, full.key],
			[full.key, readOnly.key],
			[full.key, other],
			[other, full.key],
			["garbage", full.key],
		];
		for (const [a, b] of pairs) {
			const headers = new Headers();
			headers.append("Authorization", `Bearer ${a}`);
			headers.append("Authorization", `Bearer ${b}`);
			await expectRefused(await send("/v1/things", { headers }), INVALID, `Authorization twice: ${a.slice(0, 12)}, ${b.slice(0, 12)}`);
		}
	});

	it("two X-API-Key headers are refused, even with the same valid key twice", async () => {
		const headers = new Headers();
		headers.append("X-API-Key", full.key);
		headers.append("X-API-Key", full.key);
		await expectRefused(await send("/v1/things", { headers }), INVALID, "X-API-Key twice");
	});

	it("the first accepted place decides: a bad Bearer credential is refused even with a valid X-API-Key", async () => {
		await expectRefused(
			await send("/v1/things", { headers: { Authorization: "Bearer garbage", "X-API-Key": full.key } }),
			INVALID,
			"bad Bearer + good X-API-Key",
		);
	});

	it("a valid Bearer key with another key in X-API-Key authenticates as the Bearer key only, and neither reaches the origin", async () => {
		const res = await send("/v1/things", { headers: { Authorization: `Bearer ${readOnly.key}`, "X-API-Key": full.key } });
		expect(res.status).toBe(200);
		const seen = origin.calls.at(-1)!;
		expect(seen.headers.get("X-Keygate-Key-Id")).toBe(readOnly.id);
		expect(seen.headers.has("authorization")).toBe(false);
		expect(seen.headers.has("x-api-key")).toBe(false);
	});

	it("documented as is: an Authorization header of a scheme this API does not accept is skipped when X-API-Key holds a valid key (and is not forwarded)", async () => {
		const res = await send("/v1/things", { headers: { Authorization: "Basic dXNlcjpwYXNz", "X-API-Key": full.key } });
		expect(res.status).toBe(200);
		expect(origin.calls.at(-1)!.headers.has("authorization")).toBe(false);
	});
});

// ---------------------------------------------------------------------------------
describe("keys in the query string", () => {
	const NAMES = ["api_key", "key", "apikey", "api-key", "access_token", "token", "X-API-Key"];

	it("are never accepted: missing_api_key, no KV read, no origin call", async () => {
		const counted = countingBindings();
		for (const name of NAMES) {
			counted.reset();
			await expectRefused(await sendWithEnv(counted.bindings, `/v1/things?${name}=${full.key}`), MISSING, `?${name}=<valid key>`);
			expect(counted.counts.kvReads, name).toBe(0);
		}
		await expectRefused(await send(`/v1/things?api_key=Bearer%20${full.key}`), MISSING, "?api_key=Bearer <valid key>");
		await expectRefused(await send(`/v1/things?${full.key}`), MISSING, "?<valid key>");
		// Even beside a valid key in the header: the request is refused rather than forwarded with a key in its URL.
		await expectRefused(await send(`/v1/things?api_key=${full.key}`, { key: readOnly.key }), MISSING, "header key and ?api_key=");
	});

	it("are never forwarded to the origin: not beside a header key, not its own key, not on a public route", async () => {
		const leaks: string[] = [];
		const check = async (what: string, path: string, init: RequestInit & { key?: string }, secret: string) => {
			const before = origin.calls.length;
			const res = await send(path, init);
			await res.text();
			const seen = origin.calls.slice(before);
			for (const s of seen) {
				const forwarded = decodeURIComponent(s.url.href);
				if (forwarded.includes(secret))
					leaks.push(`${what}: ${res.status}, the origin got ${s.url.pathname}${s.url.search.replace(secret, "<KEY>")}`);
			}
		};
		await check("?api_key=<another valid key> beside a header key", `/v1/things?api_key=${full.key}`, { key: readOnly.key }, full.key);
		await check(
			"?key=<its own key> beside the same key in the header",
			`/v1/things?x=1&key=${readOnly.key}`,
			{ key: readOnly.key },
			readOnly.key,
		);
		await check("?api_key=<valid key> on the public route", `/health?api_key=${full.key}`, {}, full.key);
		expect(leaks, "a plaintext key in a query string reached the origin").toEqual([]);
	});
});

// ---------------------------------------------------------------------------------
describe("mixed-case schemes and spacing", () => {
	it.each(["Bearer", "bearer", "BEARER", "bEaReR", "BeArEr"])(
		"%s <key> passes (RFC 9110 §11.1: schemes are case-insensitive)",
		async (scheme) => {
			expect((await send("/v1/things", { headers: { Authorization: `${scheme} ${full.key}` } })).status).toBe(200);
		},
	);

	it("extra spaces after the scheme and the header name's case do not matter", async () => {
		expect((await send("/v1/things", { headers: { Authorization: `Bearer    ${full.key}` } })).status).toBe(200);
		expect((await send("/v1/things", { headers: { "x-api-key": full.key } })).status).toBe(200);
		expect((await send("/v1/things", { headers: { "X-API-KEY": full.key } })).status).toBe(200);
	});

	it.each(["bEaReR garbage", "bEaReR", "BEARER  ", "bearer sk_live_", "Bearerx " + "k"])(
		"%j is refused as invalid_api_key",
		async (authorization) => {
			await expectRefused(await send("/v1/things", { headers: { Authorization: authorization } }), INVALID, authorization);
		},
	);
});

// ---------------------------------------------------------------------------------
describe("path tricks", () => {
	const compiled = parseConfig(bundled);
	if (!compiled.ok) throw new Error(compiled.error);
	const table = compiled.value.apis[0]!.routeTable;

	/** The scopes the origin's reading of the path it got would need (demo config). */
	const needed = (method: string, pathname: string) => findRoute(table, method, originView(pathname))?.scopes ?? [];

	it.each([
		// [path, method, key, allowed]
		["/v1/../_keygate/v1/keys", "GET", "full", { 401: ["invalid_admin_token"] }],
		["/v1/%2e%2e/_keygate/v1/keys", "POST", "full", { 401: ["invalid_admin_token"] }],
		["/v1/%2E%2E/%2e%2e/_keygate/v1/keys", "GET", "none", { 401: ["missing_api_key", "invalid_admin_token"] }],
		["/%2e%2e/v1/x", "GET", "none", MISSING],
		["/%2e%2e/v1/x", "GET", "noScopes", { 403: ["insufficient_permissions"] }],
		["/v1/%2F..%2Fadmin", "GET", "noScopes", { 400: ["invalid_request"] }],
		["/v1/%2F..%2Fadmin", "POST", "readOnly", { 400: ["invalid_request"] }],
		["/v1/a%5C..%5Cadmin", "GET", "full", { 400: ["invalid_request"] }],
		["/health/../v1/secret", "GET", "none", MISSING],
		["/health/%2e%2e/v1/secret", "GET", "none", MISSING],
		["/health/.%2E/v1/secret", "GET", "none", MISSING],
		["/health%2F..%2Fv1%2Fsecret", "GET", "none", { 400: ["invalid_request"] }],
		["/health/..;/v1/secret", "GET", "none", { 400: ["invalid_request"] }],
		["/health\\..\\v1\\secret", "GET", "none", MISSING],
		["/health/", "GET", "none", MISSING],
		["/HEALTH", "GET", "none", MISSING],
		["/health;x", "GET", "none", { 400: ["invalid_request"] }],
		["/v1/Things", "DELETE", "readOnly", { 403: ["insufficient_permissions"] }],
		["/v1/things/", "POST", "readOnly", { 403: ["insufficient_permissions"] }],
		["/v1/%74hings", "PUT", "readOnly", { 403: ["insufficient_permissions"] }],
		["/V1/things", "GET", "noScopes", { 403: ["insufficient_permissions"] }],
		["/health", "POST", "none", MISSING],
		["/_keygate/../_keygate/v2/keys", "GET", "full", { 404: ["not_found"] }],
	] as const)("%s (%s, key: %s) is refused", async (path, method, who, allowed) => {
		const key = who === "full" ? full.key : who === "readOnly" ? readOnly.key : who === "noScopes" ? noScopes.key : undefined;
		await expectRefused(await send(path, { method, key, body: method === "POST" ? "{}" : undefined }), allowed, `${method} ${path}`);
	});

	it("an encoded slash or backslash is refused with 400 before any key work, whatever the key", async () => {
		const before = origin.calls.length;
		for (const path of ["/v1/%2F..%2Fadmin", "/v1/a%2fb", "/v1/a%5cb"]) {
			const body = await expectRefused(await send(path, { key: full.key }), { 400: ["invalid_request"] }, path);
			expect(body.message).toBe("The request path contains an encoded slash or backslash, or a ';'.");
		}
		expect(origin.calls).toHaveLength(before);
	});

	it("repeated slashes are collapsed: //health is the public route, forwarded as /health", async () => {
		expect((await send("//health")).status).toBe(200);
		expect(origin.calls.at(-1)!.url.pathname).toBe("/health");
	});

	it("a key without a scope never reaches a route needing it through repeated slashes (//v1//x)", async () => {
		const bypasses: string[] = [];
		const attempts: [string, string, CreatedKey, string[]][] = [
			["//v1//x", "GET", noScopes, []],
			["//v1/x", "GET", noScopes, []],
			["///v1/x", "DELETE", noScopes, []],
			["//v1//x", "POST", readOnly, ["read"]],
			["/\\v1/x", "PUT", readOnly, ["read"]],
		];
		for (const [path, method, key, held] of attempts) {
			const before = origin.calls.length;
			const res = await send(path, { method, key: key.key, body: method === "GET" || method === "DELETE" ? undefined : "{}" });
			await res.text();
			for (const seen of origin.calls.slice(before)) {
				const missing = needed(method, seen.url.pathname).filter((s) => !held.includes(s));
				if (missing.length > 0)
					bypasses.push(
						`${method} ${path} with scopes [${held}] -> ${res.status}; the origin got ${seen.url.pathname} (read as ${originView(seen.url.pathname)}, which needs ${missing})`,
					);
			}
		}
		expect(bypasses).toEqual([]);
	});

	it("no unauthenticated request reaches a non-public route through any of these tricks", async () => {
		for (const path of [
			"/health/../v1/secret",
			"/health/%2e%2e/v1/secret",
			"//health/../v1/x",
			"/health//../v1/x",
			"/%2e%2e/health/../v1",
			"/./health/./../v1",
		]) {
			const before = origin.calls.length;
			const res = await send(path);
			await res.text();
			for (const seen of origin.calls.slice(before)) expect(originView(seen.url.pathname), path).toBe("/health");
		}
	});
});

// ---------------------------------------------------------------------------------
describe("forged identity and forwarding headers", () => {
	it("no client-sent X-Keygate-* reaches the origin as sent, in any case, even replayed from a real request", async () => {
		await send("/v1/real", { key: full.key });
		const real = origin.calls.at(-1)!.headers;
		const forged: [string, string][] = [
			["X-KEYGATE-KEY-ID", full.id],
			["x-keygate-scopes", "read,write,admin"],
			["X-Keygate-Owner", "root"],
			["X-Keygate-Environment", "live"],
			["X-Keygate-Service", "billing"],
			["X-Keygate-Signature", real.get("X-Keygate-Signature")!],
			["X-Keygate-Limiter", "bypassed"],
			["X-Keygate-Anything", "x"],
		];
		const headers = new Headers(forged);
		// Authenticated as the read-only key: the forged values are for `full`.
		expect((await send("/v1/real", { key: readOnly.key, headers })).status).toBe(200);
		const seen = origin.calls.at(-1)!.headers;
		expect(seen.get("X-Keygate-Key-Id")).toBe(readOnly.id);
		expect(seen.get("X-Keygate-Scopes")).toBe("read");
		expect(seen.get("X-Keygate-Owner")).toBe("");
		expect(seen.get("X-Keygate-Service")).toBe("");
		expect(seen.get("X-Keygate-Signature")).not.toBe(real.get("X-Keygate-Signature"));
		expect(seen.has("X-Keygate-Limiter")).toBe(false);
		expect(seen.has("X-Keygate-Anything")).toBe(false);
		// And on the public route none survive at all.
		expect((await send("/health", { headers })).status).toBe(200);
		expect([...origin.calls.at(-1)!.headers.keys()].filter((h) => h.startsWith("x-keygate-"))).toEqual([]);
	});

	it("X-Forwarded-For and friends are forwarded as sent and never trusted: the IP allowlist reads only CF-Connecting-IP", async () => {
		const pinned = await createKey({ scopes: ["read"], ipAllowlist: ["203.0.113.7"], rateLimit: UNLIMITED });
		const spoof = {
			"X-Forwarded-For": "203.0.113.7",
			"X-Real-IP": "203.0.113.7",
			Forwarded: "for=203.0.113.7",
			"True-Client-IP": "203.0.113.7",
		};
		await expectRefused(
			await send("/v1/x", { key: pinned.key, headers: spoof }),
			{ 403: ["insufficient_permissions"] },
			"spoofed XFF, no CF-Connecting-IP",
		);
		await expectRefused(
			await send("/v1/x", { key: pinned.key, headers: { ...spoof, "CF-Connecting-IP": "198.51.100.1" } }),
			{ 403: ["insufficient_permissions"] },
			"spoofed XFF, other CF-Connecting-IP",
		);
		const res = await send("/v1/x", {
			key: pinned.key,
			headers: { "CF-Connecting-IP": "203.0.113.7", "X-Forwarded-For": "10.0.0.1, 192.0.2.9" },
		});
		expect(res.status).toBe(200);
		// Documented behaviour: keygate passes X-Forwarded-For through unchanged (it neither appends nor strips); origins must not trust it.
		expect(origin.calls.at(-1)!.headers.get("X-Forwarded-For")).toBe("10.0.0.1, 192.0.2.9");
	});

	it("rotating X-Forwarded-For does not escape the brute-force throttle, which counts by CF-Connecting-IP", async () => {
		failureThrottle.clear();
		for (let i = 0; i < 20; i++) {
			await expectRefused(
				await send("/v1/x", {
					key: generateKey("sk", "live"),
					headers: { "CF-Connecting-IP": "198.51.100.77", "X-Forwarded-For": `192.0.2.${i}` },
				}),
				INVALID,
				`guess ${i}`,
			);
		}
		await expectRefused(
			await send("/v1/x", {
				key: generateKey("sk", "live"),
				headers: { "CF-Connecting-IP": "198.51.100.77", "X-Forwarded-For": "192.0.2.200" },
			}),
			{ 429: ["rate_limit_exceeded"] },
			"guess 21",
		);
		failureThrottle.clear();
	});
});

// ---------------------------------------------------------------------------------
describe("hop-by-hop and Connection-listed headers", () => {
	it("are removed before the origin, including whatever Connection names; keygate's own identity headers survive", async () => {
		const headers = {
			Connection: "keep-alive, X-Secret-Hop, X-Keygate-Key-Id, Authorization, X-Other-Hop",
			"X-Secret-Hop": "1",
			"X-Other-Hop": "2",
			"Keep-Alive": "timeout=5",
			TE: "trailers",
			Trailer: "X-Checksum",
			Upgrade: "websocket",
			"Proxy-Connection": "keep-alive",
			"Proxy-Authorization": "Basic eDp5",
			"X-Kept": "yes",
		};
		expect((await send("/v1/x", { key: full.key, headers })).status).toBe(200);
		const seen = origin.calls.at(-1)!.headers;
		for (const name of [
			"connection",
			"x-secret-hop",
			"x-other-hop",
			"keep-alive",
			"te",
			"trailer",
			"upgrade",
			"proxy-connection",
			"proxy-authorization",
			"authorization",
		]) {
			expect(seen.has(name), name).toBe(false);
		}
		expect(seen.get("X-Kept")).toBe("yes");
		expect(seen.get("X-Keygate-Key-Id")).toBe(full.id);
	});

	it("hop-by-hop headers in the origin's answer are removed before the client", async () => {
		vi.restoreAllMocks();
		vi.spyOn(globalThis, "fetch").mockImplementation(
			async () =>
				new Response("ok", { headers: { Connection: "X-Internal", "X-Internal": "secret", "Keep-Alive": "timeout=5", "X-Public": "1" } }),
		);
		const res = await send("/v1/x", { key: full.key });
		expect(res.status).toBe(200);
		expect(res.headers.has("X-Internal")).toBe(false);
		expect(res.headers.has("Keep-Alive")).toBe(false);
		expect(res.headers.get("X-Public")).toBe("1");
	});

	it("a Connection header naming something that is not a header name is not a 5xx (client side and origin side)", async () => {
		const failures: string[] = [];
		for (const value of ["a b", "(x)", "close, x y", "@", "x=1", "ä"]) {
			for (const [what, path, key] of [
				["key", "/v1/x", full.key],
				["public", "/health", undefined],
			] as const) {
				const res = await send(path, { key, headers: { Connection: value } });
				const text = await res.text();
				if (res.status !== 200) failures.push(`Connection: ${value} (${what}) -> ${res.status} ${JSON.parse(text).error}`);
			}
		}
		vi.restoreAllMocks();
		vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("ok", { headers: { Connection: "x y" } }));
		const res = await send("/v1/x", { key: full.key });
		if (res.status !== 200)
			failures.push(`origin answered Connection: x y -> ${res.status} ${(await res.json<{ error: string }>()).error}`);
		expect(failures).toEqual([]);
	});
});

// ---------------------------------------------------------------------------------
describe("huge bodies", () => {
	const MB = 1024 * 1024;
	/** Deterministic ASCII: text() round-trips it byte for byte. */
	const asciiBody = (size: number) => {
		const unit = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";
		let s = unit;
		while (s.length < size) s += s;
		return s.slice(0, size);
	};

	/** A body that is produced only as it is read, counting the chunks pulled. */
	function countedStream(chunks: number, chunkSize = 64 * 1024) {
		const state = { pulled: 0 };
		const chunk = new TextEncoder().encode(asciiBody(chunkSize));
		const stream = new ReadableStream<Uint8Array>(
			{
				pull(controller) {
					if (state.pulled >= chunks) return controller.close();
					state.pulled++;
					controller.enqueue(chunk);
				},
			},
			{ highWaterMark: 0 },
		);
		return { stream, state, total: chunks * chunkSize, sha: sha256(asciiBody(chunkSize).repeat(chunks)) };
	}

	it("5 MB with a valid write key passes and arrives intact (length and SHA-256 at the origin)", async () => {
		const body = asciiBody(5 * MB);
		const res = await send("/v1/upload", { key: full.key, method: "POST", body, headers: { "Content-Type": "application/octet-stream" } });
		expect(res.status).toBe(200);
		const seen = origin.calls.at(-1)!;
		expect(seen.body.length).toBe(5 * MB);
		expect(await sha256(seen.body)).toBe(await sha256(body));
	});

	it("is streamed past the signing limit: the origin is called once 1 MiB is read (to sign it, were it smaller), not 5 MB, and gets all of it", async () => {
		const { stream, state, total, sha } = countedStream(80); // 5 MB
		vi.restoreAllMocks();
		let pulledWhenCalled = -1;
		let received = "";
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init);
			pulledWhenCalled = state.pulled;
			received = await request.text();
			return new Response("ok");
		});
		// Typed: a form POST (or an untyped one, which Rack reads as a form) too large to check for _method is refused instead (hardening.test.ts).
		const res = await sendWithEnv({}, "/v1/upload", {
			key: full.key,
			method: "POST",
			body: stream,
			duplex: "half",
			headers: { "Content-Type": "application/octet-stream" },
		} as RequestInit);
		expect(res.status).toBe(200);
		expect(pulledWhenCalled).toBeGreaterThanOrEqual(0);
		// Read up to signing.maxBodyBytes (1 MiB = 16 chunks of 64 KiB) to digest it, then streamed: never the whole 5 MB.
		expect(pulledWhenCalled).toBeLessThanOrEqual(16 + 2);
		expect(received.length).toBe(total);
		expect(await sha256(received)).toBe(await sha);
	});

	it.each([
		["no key", undefined, "/v1/upload", MISSING],
		["a garbage key", "garbage", "/v1/upload", INVALID],
		["an unknown key", generateKey("sk", "live"), "/v1/upload", INVALID],
		["a key without the write scope", "readOnly", "/v1/upload", { 403: ["insufficient_permissions"] }],
		["no admin token", "admin-none", "/_keygate/v1/keys", { 401: ["invalid_admin_token"] }],
	] as const)("5 MB with %s is refused without reading the body", async (_what, who, path, allowed) => {
		const { stream, state } = countedStream(80);
		const key = who === "readOnly" ? readOnly.key : who === "admin-none" ? undefined : who;
		const res = await sendWithEnv({}, path, { key, method: "POST", body: stream, duplex: "half" } as RequestInit);
		await expectRefused(res, allowed, _what);
		expect(state.pulled, "chunks read").toBeLessThanOrEqual(1);
	});
});

// ---------------------------------------------------------------------------------
describe("enumeration: unknown, deleted and other-API keys answer byte for byte alike", () => {
	/** Everything a client sees, except Date. */
	async function snapshot(res: Response) {
		const headers = [...res.headers].filter(([name]) => name !== "date").sort(([a], [b]) => a.localeCompare(b));
		return { status: res.status, headers, body: await res.text() };
	}

	it("through the Worker with the bundled config", async () => {
		const deleted = await createKey();
		expect((await send("/v1/things", { key: deleted.key })).status).toBe(200);
		expect((await admin(`/keys/${deleted.id}`, { method: "DELETE" })).status).toBe(204);
		const reference = await snapshot(await send("/v1/things", { key: generateKey("sk", "live") }));
		expect(reference.status).toBe(401);
		const variants: [string, RequestInit & { key?: string }][] = [
			["deleted (record still in the isolate cache)", { key: deleted.key }],
			["unknown, in X-API-Key", { headers: { "X-API-Key": generateKey("sk", "live") } }],
			["bad checksum", { key: badChecksum(generateKey("sk", "live")) }],
			["unknown type", { key: generateKey("nvp", "live") }],
			["unknown environment", { key: generateKey("sk", "staging") }],
			["malformed", { key: "sk_live_nope" }],
			["wrong scheme", { headers: { Authorization: `Basic ${btoa("user:pass")}` } }],
		];
		for (const [what, init] of variants) expect(await snapshot(await send("/v1/things", init)), what).toEqual(reference);
		keyCache.clear();
		expect(await snapshot(await send("/v1/things", { key: deleted.key })), "deleted (after the isolate forgot it)").toEqual(reference);
	});

	it("on a deployment with two APIs: another API's key, a deleted key of this API and an unknown key", async () => {
		const two = structuredClone(bundled) as any;
		// The other API's routes are the demo's (under /v1/): /other/things is unmatched, and any valid key of that API reaches it.
		two.apis.push({ ...structuredClone(bundled.apis[0]), name: "other", match: { pathPrefix: "/other" }, unmatchedRoutes: "authenticate" });
		const gateway = gatewayFor(two);
		const sendTwo = (init: RequestInit & { key?: string }) => {
			sent++;
			return gateway.call("/other/things", init);
		};
		const demoKey = await gateway.createKey({ name: "demo key", scopes: ["read"] });
		const otherKey = await gateway.createKey({ name: "other key", api: "other", scopes: ["read"] });
		expect((await sendTwo({ key: otherKey.key })).status).toBe(200);
		expect((await gateway.admin(`/keys/${otherKey.id}`, { method: "DELETE" })).status).toBe(204);
		const reference = await snapshot(await sendTwo({ key: generateKey("sk", "live") }));
		expect(reference.status).toBe(401);
		expect(await snapshot(await sendTwo({ key: demoKey.key })), "another API's key").toEqual(reference);
		expect(await snapshot(await sendTwo({ key: otherKey.key })), "deleted, cached record").toEqual(reference);
		keyCache.clear();
		expect(await snapshot(await sendTwo({ key: otherKey.key })), "deleted, after the isolate forgot it").toEqual(reference);
		expect(await snapshot(await sendTwo({ key: demoKey.key })), "another API's key, from KV").toEqual(reference);
		expect(origin.calls.filter((c) => c.url.pathname.startsWith("/other"))).toHaveLength(1);
	});
});

describe("the admin token is compared in constant time", () => {
	it("every admin request with a token goes through secretsEqual: SHA-256 of both, then crypto.subtle.timingSafeEqual on equal-length digests", async () => {
		const compare = vi.spyOn(crypto.subtle, "timingSafeEqual");
		const tokens = [
			["the right token", TEST_ADMIN_TOKEN, 200],
			["a wrong token of another length", "short", 401],
			["a prefix of the right token", TEST_ADMIN_TOKEN.slice(0, -1), 401],
			["the right token plus one character", TEST_ADMIN_TOKEN + "x", 401],
			["the right length, one character off", TEST_ADMIN_TOKEN.slice(0, -1) + "X", 401],
			["a 1 MB token", "t".repeat(1024 * 1024), 401],
		] as const;
		for (const [what, token, status] of tokens) {
			compare.mockClear();
			sent++;
			const res = await admin("/keys", {}, token);
			expect(res.status, what).toBe(status);
			await res.text();
			expect(compare, what).toHaveBeenCalledTimes(1);
			const [a, b] = compare.mock.calls[0]! as unknown as [ArrayBuffer, ArrayBuffer];
			expect([a.byteLength, b.byteLength], what).toEqual([32, 32]);
		}
	});
});
