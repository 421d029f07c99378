import { afterEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import { createKey, gatewayFor } from "../helpers/gateway";
import { createClient, tokensFor } from "../helpers/oauth";
import { fakeOrigin } from "../helpers/origin";

afterEach(() => vi.restoreAllMocks());

function demoWith(rules: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
	return { apis: [{ ...demo.apis[0]!, ...extra, routes: [...rules, ...demo.apis[0]!.routes] }] };
}

describe("route patterns that would open more than they say (issue 11, items 12 and 13)", () => {
	it("a public rule with ** in the middle is refused at load: GET /v1/private/data with no key never reaches the origin", async () => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith([{ methods: ["GET"], path: "/v1/**/health", public: true }]));
		for (const path of ["/v1/private/data", "/v1/health", "/v1/x/health"]) {
			const res = await gw.call(path);
			expect(res.status).toBe(503);
			expect(await res.json()).toMatchObject({ error: "gateway_unavailable" });
		}
		expect(origin.calls).toHaveLength(0);
	});

	it.each(["/v1/users/:id", "/v1/(users|accounts)", "/v1/users/{id}"])(
		"%s with scope admin is refused at load, so a key without admin gets no 200 under unmatchedRoutes: authenticate",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read", "write"] });
			const gw = gatewayFor(demoWith([{ path, scopes: ["admin"] }]));
			const res = await gw.call("/v1/users/7", { key: key.key });
			expect(res.status).toBe(503);
			expect(origin.calls).toHaveLength(0);
		},
	);
});

describe("a format suffix does not move a request to a laxer rule (Rails' (.:format), Spring's suffix match)", () => {
	const rules = [{ path: "/v1/admin/**", scopes: ["admin"] }];

	it.each(["/v1/admin.json", "/v1/ADMIN.json", "/v1/admin.json/", "/v1/admin.x.json", "/v1/admin.tar.gz"])(
		"GET %s with a read-only key is 403 like /v1/admin, and the origin is never called",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read"] });
			const gw = gatewayFor(demoWith(rules));
			const plain = await gw.call("/v1/admin", { key: key.key });
			expect(plain.status).toBe(403);
			const res = await gw.call(path, { key: key.key });
			expect(res.status).toBe(403);
			expect(await res.json()).toMatchObject({ error: "insufficient_permissions" });
			expect(origin.calls).toHaveLength(0);
		},
	);

	it("a key holding both rules' scopes passes, and the origin gets the path as sent", async () => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read", "admin"] });
		const gw = gatewayFor(demoWith(rules));
		const res = await gw.call("/v1/admin.json?x=1", { key: key.key });
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(new URL(origin.calls[0]!.url).pathname).toBe("/v1/admin.json");
	});

	it("a dot that starts a segment, or a suffix whose twin matches no rule, changes nothing", async () => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read"] });
		const gw = gatewayFor(demoWith([{ methods: ["GET"], path: "/v1/report.pdf", scopes: ["read"] }, ...rules]));
		expect((await gw.call("/v1/.admin", { key: key.key })).status).toBe(200);
		expect((await gw.call("/v1/users/jane.doe", { key: key.key })).status).toBe(200);
		expect((await gw.call("/v1/report.pdf", { key: key.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(3);
	});

	it("an exact public rule stays public even when its format-less twin needs a key", async () => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith([{ methods: ["GET"], path: "/v1/openapi.json", public: true }]));
		const res = await gw.call("/v1/openapi.json");
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		// Its twin, /v1/openapi, needs a key, and so does any other suffix of it.
		expect((await gw.call("/v1/openapi.yaml")).status).toBe(401);
		expect(origin.calls).toHaveLength(1);
	});

	it.each([
		[
			[
				{ path: "/docs/internal/**", scopes: ["admin"] },
				{ methods: ["GET"], path: "/docs/**", public: true },
			],
			"/docs/internal",
		],
		[
			[
				{ path: "/v1/admin", scopes: ["admin"] },
				{ methods: ["GET"], path: "/v1/*", public: true },
			],
			"/v1/admin",
		],
	])("under a public wildcard rule, a suffix does not open a keyed path: %j (found by a review)", async (extra, keyed) => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith(extra));
		const read = await createKey({ scopes: ["read"] });
		const admin = await createKey({ scopes: ["read", "admin"] });
		expect((await gw.call(keyed)).status).toBe(401);
		expect((await gw.call(`${keyed}.json`)).status, "no key").toBe(401);
		expect((await gw.call(`${keyed}.json`, { key: read.key })).status, "short of admin").toBe(403);
		expect(origin.calls).toHaveLength(0);
		expect((await gw.call(`${keyed}.json`, { key: admin.key })).status).toBe(200);
		// The public rule's other paths stay public, suffix or not.
		const open = keyed.replace(/[^/]+$/, "guide");
		expect((await gw.call(`${open}.json`)).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
	});

	it("a key that the literal path's rule allows (write on /v1/**) is still held to the twin's admin rule", async () => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read", "write"] });
		const gw = gatewayFor(demoWith(rules));
		const res = await gw.call("/v1/admin.json", { key: key.key, method: "DELETE" });
		expect(res.status).toBe(403);
		expect((await gw.call("/v1/other.json", { key: key.key, method: "DELETE" })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
	});

	it("an access token short of the twin's scope is told that scope in its insufficient_scope challenge", async () => {
		const origin = fakeOrigin();
		const config = demoWith(rules) as any;
		config.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"] };
		const gw = gatewayFor(config);
		const tokens = await tokensFor(gw, await createClient(gw), { scopes: ["read", "write"] });
		const res = await gw.call("/v1/admin.json", { key: tokens.access_token });
		expect(res.status).toBe(403);
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="keygate", error="insufficient_scope", scope="admin"');
		expect(origin.calls).toHaveLength(0);
	});
});

describe("a Unicode letter does not move a request to a laxer rule (a router that folds case or NFKC; found by an attacker probe)", () => {
	const rules = [{ path: "/v1/keys/**", scopes: ["admin"] }];

	// The Kelvin sign is `k` to JavaScript's toLowerCase (find-my-way's caseSensitive: false), `ı` and `ſ` are `i` and
	// `s` to an upper-then-lower comparison (Java's equalsIgnoreCase), and full-width `ｋ` is `k` after NFKC.
	// A segment of format characters alone (found by a probe) is nothing after NFKC: `/v1/keys/123` once slashes collapse.
	it.each([
		"/v1/%E2%84%AAeys/123",
		"/v1/%e2%84%aaEYS/123",
		"/v1/keyſ/123",
		"/v1/%EF%BD%8Beys/123",
		"/v1/k%C2%ADeys/123",
		"/v1/%E2%80%8B/keys/123",
		"/v1/%C2%AD/%E2%80%8B/keys/123",
	])("GET %s with a read-only key is 403 like /v1/keys/123, and the origin is never called", async (path) => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read"] });
		const gw = gatewayFor(demoWith(rules));
		expect((await gw.call("/v1/keys/123", { key: key.key })).status).toBe(403);
		const res = await gw.call(path, { key: key.key });
		expect(res.status).toBe(403);
		expect(await res.json()).toMatchObject({ error: "insufficient_permissions" });
		expect(origin.calls).toHaveLength(0);
	});

	// Stop 24's review: one bad byte hid the rest; JavaScript lowercases İ to i and a combining dot; ASCII escapes were decoded.
	it.each(["/v1/%E2%84%AAeys/123/%FF", "/v1/%E2%84%AAeys/%C0%AF", "/v1/%C4%B0nternal/1", "/v1/%C3%A4rzte/1"])(
		"GET %s with a read-only key is held to the admin rule too, and the origin is never called",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read"] });
			const gw = gatewayFor(
				demoWith([...rules, { path: "/v1/internal/**", scopes: ["admin"] }, { path: "/v1/%C3%84rzte/**", scopes: ["admin"] }]),
			);
			const res = await gw.call(path, { key: key.key });
			// Overlong UTF-8 (`%C0%AF`) is refused outright since stop 27: 400 rather than the admin rule's 403.
			expect(res.status).toBe(path.includes("%C0") ? 400 : 403);
			expect(origin.calls).toHaveLength(0);
		},
	);

	it.each(["/v1/%E2%80%A5/keys", "/v1/keys%EF%BC%9Fx", "/v1/keys%EF%BC%9B1/x", "/v1/%EF%BC%8E/keys"])(
		"GET %s, whose non-ASCII character folds into path syntax (.., ?, ;, a dot segment), is 400 and never forwarded",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read", "admin"] });
			const res = await gatewayFor(demoWith(rules)).call(path, { key: key.key });
			expect(res.status).toBe(400);
			expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
			expect(origin.calls).toHaveLength(0);
		},
	);

	it("a path whose non-ASCII letters fold to nothing else, and a key with both rules' scopes, pass as sent", async () => {
		const origin = fakeOrigin();
		const reader = await createKey({ scopes: ["read"] });
		const admin = await createKey({ scopes: ["read", "admin"] });
		const gw = gatewayFor(demoWith(rules));
		expect((await gw.call("/v1/users/J%C3%BCrgen", { key: reader.key })).status).toBe(200);
		expect((await gw.call("/v1/%E2%84%AAeys/123", { key: admin.key })).status).toBe(200);
		expect(origin.calls.map((c) => new URL(c.url).pathname)).toEqual(["/v1/users/J%C3%BCrgen", "/v1/%E2%84%AAeys/123"]);
	});
});

describe("paths that loose servers read as another (found by a probe)", () => {
	const rules = [
		{ path: "/v1/admin/**", scopes: ["admin"] },
		{ methods: ["GET"], path: "/docs/**", public: true },
	];

	/** `path` is 400 invalid_request with no key and with a read and write key, and the origin never sees it; the bodies. */
	async function refusedAsAmbiguous(path: string): Promise<{ error: string; message: string }[]> {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read", "write"] });
		const gw = gatewayFor(demoWith(rules));
		const bodies: { error: string; message: string }[] = [];
		for (const res of [await gw.call(path), await gw.call(path, { key: key.key })]) {
			expect(res.status, path).toBe(400);
			const body = (await res.json()) as { error: string; message: string };
			expect(body.error).toBe("invalid_request");
			bodies.push(body);
		}
		expect(origin.calls).toHaveLength(0);
		return bodies;
	}

	// Windows and IIS drop a name's trailing dots and blanks; C string handling ends at NUL.
	it.each([
		"/v1/admin./x",
		"/v1/admin%20/x",
		"/v1/admin%09/x",
		"/v1/admin%C2%A0/x",
		"/v1/admin.%20./x",
		"/v1/admin/x%00.json",
		"/v1/admin%00/x",
		// The same readings of the path decoded once more (found by a review): an origin may decode twice and trim.
		"/v1/admin%2520/x",
		"/v1/admin%252e/x",
		"/v1/admin%2500/x",
		"/v1/admin%2509/x",
		"/v1/admin%252e%252e/x",
		// Decoded twice, the path goes through every reading the path itself does (found by a probe: each was 200).
		"/v1/%2561dmin/x",
		"/v1/admin%252ejson",
		"/v1/adm%25C4%25B1n/x",
		// Every blank Java's trim, JavaScript's trim or Python's strip drops (found by a probe), and an encoded `;`.
		"/v1/admin%0a/x",
		"/v1/admin%0D/x",
		"/v1/admin%0b/x",
		"/v1/admin%0c/x",
		"/v1/admin%1f/x",
		"/v1/admin%E3%80%80/x",
		"/v1/admin%E2%80%8A/x",
		"/v1/admin%EF%BB%BF/x",
		"/v1/admin%3bx/y",
		"/v1/admin%253bx/y",
		// Leading blanks too, a folded blank, and a cut then trimmed (found by a probe and a review: each was 200).
		"/v1/%20admin/x",
		"/v1/%09admin/x",
		"/v1/%E3%80%80admin/x",
		"/v1/%EF%BD%81dmin%E3%80%80/x",
		"/v1/%EF%BD%81dmin%C2%A0/x",
		"/v1/%EF%BC%A1dmin%E2%80%83/x",
		"/v1/admin%20%00x/y",
		"/v1/admin%20%3Bx/y",
		// Decoded thrice (found by a probe).
		"/v1/x/%25252e%25252e/admin/x",
	])("GET %s with a read and write key is 403 like /v1/admin/x, and the origin is never called", async (path) => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read", "write"] });
		const gw = gatewayFor(demoWith(rules));
		const res = await gw.call(path, { key: key.key });
		expect(res.status, path).toBe(403);
		expect(origin.calls).toHaveLength(0);
	});

	// An origin that decodes twice reads `%252e%252e` as `..`.
	it.each([
		"/docs/%252e%252e/v1/admin/x",
		"/docs/.%252e/v1/admin/x",
		"/docs/x%252f..%252f..%252fv1/admin/x",
		"/docs/%252e%252e/v1/admin./x",
		"/docs/%252e%252e/v1/admin%00/x",
		// With another character encoded twice too (found by a probe: each was forwarded with no key).
		"/docs/%252e%252e/v%2531/admin/x",
		"/docs/%252e%252e/%2576%2531/admin/x",
		"/docs/%252e%252e/v1/admin%252ejson",
		"/docs/%252e%252e/v1/%2561dmin%2520/x",
		"/docs/%25252e%25252e/v1/admin/x",
	])("GET %s on a public route needs a key, as /v1/admin/x does", async (path) => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith(rules));
		const res = await gw.call(path);
		expect(res.status, path).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});

	it.each(["/docs/%2%65%2%65/v1/admin/x", "/v1/%%36%31dmin/x", "/docs/x%%32%66..%%32%66v1/x", "/v1/x/%2%65%2%65/admin/y", "/v1/x%"])(
		"GET %s, with a percent sign that starts no escape, is 400 with or without a key and never forwarded (found by a probe: decoding its neighbours made a new escape)",
		async (path) => {
			for (const body of await refusedAsAmbiguous(path))
				expect(body.message).toBe("The request path has a % that starts no escape (two hex digits must follow it).");
		},
	);

	// Found by a third probe: each reached the origin with no key, or a read key reached what it should not.
	it.each([
		"/docs/..%3B/v1/admin/x",
		"/docs/..%20/v1/admin/x",
		"/docs/%20../v1/admin/x",
		"/docs/..%09/v1/admin/x",
		"/docs/%2e%2e%C2%A0/v1/admin/x",
		"/docs/..%2520/v1/admin/x",
		"/docs/%252%2565%252%2565/v1/admin/x",
		"/docs/%25%2532%2565%25%2532%2565/v1/admin/x",
		"/v1/admin%253F/x",
		"/v1/admin%2523/x",
	])(
		"GET %s, which a loose or twice-decoding server reads with a dot segment or a new escape, is 400 and never forwarded",
		async (path) => {
			await refusedAsAmbiguous(path);
		},
	);

	it.each(["/v1/admin.json%00/x", "/v1/admin.json%2500/x", "/v1/%20/admin/x", "/v1/%E3%80%80/admin/x", "/v1/%256%2531dmin/x"])(
		"GET %s with a read and write key is refused as /v1/admin/x is (or as ambiguous), and never forwarded",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read", "write"] });
			const res = await gatewayFor(demoWith(rules)).call(path, { key: key.key });
			expect([400, 403], path).toContain(res.status);
			expect(origin.calls).toHaveLength(0);
		},
	);

	// Found by a fourth probe: a slash made by decoding, merged before the dots are resolved (Go, Node, Python, nginx), and
	// an empty segment a `%3B` cut leaves.
	it.each([
		["/docs/%252F%252e%252e/v1/admin/x", undefined],
		["/docs/x%252F%252F%252e%252e/%252e%252e/v1/admin/x", undefined],
		["/docs/%255C%252e%252e/v1/admin/x", undefined],
		["/docs/%25252F%25252e%25252e/v1/admin/x", undefined],
		["/docs/%2520/%252e%252e/v1/admin/x", undefined],
		["/docs/%3B/%252e%252e/v1/admin/x", undefined],
		["/v1/x%252F/%252e%252e/admin/x", "read"],
		["/v1/%3B/admin/x", "read"],
		["/v1/%3Bjsessionid=1/admin/x", "read"],
		["/v1/%253B/admin/x", "read"],
		["/docs/%C0%AE%C0%AE/v1/admin/x", undefined],
		["/docs/%E0%80%AE%E0%80%AE/v1/admin/x", undefined],
		["/v1/admin%c0%ae/x", "read"],
	])("GET %s (key scopes: %s) is refused, never forwarded", async (path, scope) => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith(rules));
		const key = scope ? (await createKey({ scopes: [scope] })).key : undefined;
		const res = await gw.call(path, { key });
		expect([400, 401, 403], `${path}: ${res.status}`).toContain(res.status);
		expect(origin.calls).toHaveLength(0);
	});

	it("a twice-decoded path that no rule lists needs a key, and unmatchedRoutes deny refuses it (found by a probe: /docs/%252e%252e/v2/x passed with no key)", async () => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read", "write"] });
		const gw = gatewayFor(demoWith([{ methods: ["GET"], path: "/docs/**", public: true }], { unmatchedRoutes: "deny" }));
		expect((await gw.call("/docs/%252e%252e/v2/x")).status).toBe(401);
		expect((await gw.call("/v1/%252e%252e/v2/x", { key: key.key })).status).toBe(403);
		const authenticating = demoWith([{ methods: ["GET"], path: "/docs/**", public: true }], { unmatchedRoutes: "authenticate" });
		expect((await gatewayFor(authenticating).call("/docs/%252e%252e/v2/x")).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});

	it("paths with dots and spaces that lead nowhere stricter pass as before", async () => {
		const origin = fakeOrigin();
		const key = await createKey({ scopes: ["read"] });
		const gw = gatewayFor(demoWith(rules));
		// Ordinary names, encoded percent signs (once, twice) and other characters among them (a probe's list).
		const ordinary = [
			"/v1/users/J.%20R.",
			"/v1/files/report.",
			"/docs/a%2520b",
			"/v1/admin.json.bak/x",
			"/v1/files/archive.tar.gz",
			"/v1/versions/1.2.3",
			"/v1/files/.hidden",
			"/v1/offers/50%25off",
			"/v1/offers/50%2525off",
			"/v1/codes/%25zz",
			"/v1/tags/c%23",
			"/v1/users/J%C3%BCrgen",
			"/v1/cities/%C4%B0stanbul",
			"/v1/words/wait%E2%80%A6",
		];
		for (const path of ordinary) {
			const res = await gw.call(path, { key: key.key });
			expect(res.status, path).toBe(200);
		}
		expect((await gw.call("/docs/%252e%252e/docs/x")).status).toBe(200);
		expect(origin.calls).toHaveLength(ordinary.length + 1);
	});
});
