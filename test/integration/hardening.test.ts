import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import rest from "../../examples/generic-rest/keygate.config.json";
import { addressKey, failureThrottle } from "../../src/credentials/brute-force";
import { COOKIE as OAUTH_COOKIE } from "../../src/oauth/pending";
import { KEYGATE_COOKIE_PREFIX } from "../../src/pipeline/proxy";
import { call, callWithEnv, createKey, gatewayFor } from "../helpers/gateway";
import { useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();
const demoApi = demo.apis[0]!;

describe("method overrides (issue 11 item 1)", () => {
	const OVERRIDES: [string, RequestInit, string][] = [
		["X-HTTP-Method-Override", { headers: { "X-HTTP-Method-Override": "DELETE" } }, "/v1/things/1"],
		["X-Method-Override", { headers: { "X-Method-Override": "DELETE" } }, "/v1/things/1"],
		["X-HTTP-Method", { headers: { "X-HTTP-Method": "DELETE" } }, "/v1/things/1"],
		["X_HTTP_Method_Override", { headers: { X_HTTP_Method_Override: "DELETE" } }, "/v1/things/1"],
		["?_method=DELETE", {}, "/v1/things/1?a=1&_method=DELETE&b=%20x"],
		["?_method[]=DELETE", {}, "/v1/things/1?a=1&_method%5B%5D=DELETE&b=%20x"],
		// Names PHP registers as _method (found by a probe: they reached the origin).
		["?.method=DELETE", {}, "/v1/things/1?a=1&.method=DELETE&b=%20x"],
		["?[method=DELETE", {}, "/v1/things/1?a=1&%5Bmethod=DELETE&b=%20x"],
		["? _method=DELETE", {}, "/v1/things/1?a=1&%20_method=DELETE&b=%20x"],
		["?+.method[x]=DELETE", {}, "/v1/things/1?a=1&+.method%5Bx%5D=DELETE&b=%20x"],
		// Found by a review: PHP ends a name at NUL; and a bad escape must not keep the parameter from being stripped.
		["?_method%00=DELETE", {}, "/v1/things/1?a=1&_method%00x=DELETE&b=%20x"],
		["?%5Fmethod[%ZZ]=DELETE", {}, "/v1/things/1?a=1&%5Fmethod[%ZZ]=DELETE&b=%20x"],
		// The query and bodies share one name rule (isOverrideName): qs reads [_method] as _method.
		["?[_method]=DELETE", {}, "/v1/things/1?a=1&%5B_method%5D=DELETE&b=%20x"],
		// Rack 2, Go before 1.17 and Python before 3.9.2 split a query at ';' too (found by a probe: it reached the origin).
		["?a=1;_method=DELETE", {}, "/v1/things/1?a=1;_method=DELETE&b=%20x"],
	];

	it.each(OVERRIDES)("by default %s is stripped: a read-only key's GET reaches the origin as a plain GET", async (_name, init, path) => {
		const { key } = await createKey({ type: "pk", scopes: ["read"] });
		const res = await call(path, { ...init, key });
		expect(res.status).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.method).toBe("GET");
		for (const name of seen.headers.keys()) expect(name.replace(/_/g, "-")).not.toMatch(/method/);
		expect(seen.url.searchParams.has("_method")).toBe(false);
		if (path.includes("?")) expect(seen.url.search).toBe("?a=1&b=%20x"); // every other byte of the query kept
	});

	const honoring = {
		apis: [
			{ ...demoApi, methodOverride: "honor", routes: [{ methods: ["DELETE"], path: "/v1/**", scopes: ["admin"] }, ...demoApi.routes] },
		],
	};

	it.each(OVERRIDES)(
		"with methodOverride: honor, %s on a GET is refused: an override is honoured only on a POST, as origins apply it",
		async (_name, init, path) => {
			const gw = gatewayFor(honoring);
			const { key } = await gw.createKey({ name: "pk", type: "pk", scopes: ["read", "admin"] });
			const res = await gw.call(path, { ...init, key });
			expect(res.status).toBe(400);
			expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
			expect(origin.calls).toHaveLength(0);
		},
	);

	it.each(OVERRIDES)(
		"with methodOverride: honor, %s on a POST is the method policy decides on: a read-only key is refused",
		async (_name, init, path) => {
			const gw = gatewayFor(honoring);
			const { key } = await gw.createKey({ name: "pk", type: "pk", scopes: ["read", "admin"] });
			const res = await gw.call(path, { ...init, key, method: "POST" });
			expect(res.status).toBe(403);
			expect(origin.calls).toHaveLength(0);
		},
	);

	// An origin that reads only some spellings (Express's method-override reads X-HTTP-Method-Override alone) acts on the POST.
	const TO_GET: [string, RequestInit, string][] = [
		["X-HTTP-Method-Override", { headers: { "X-HTTP-Method-Override": "GET" } }, "/v1/orders"],
		["X-Method-Override", { headers: { "X-Method-Override": "GET" } }, "/v1/orders"],
		["X-HTTP-Method", { headers: { "X-HTTP-Method": "GET" } }, "/v1/orders"],
		["?_method=GET", {}, "/v1/orders?_method=GET"],
	];

	it.each(TO_GET)("with honor, a POST whose %s says GET must be allowed as a POST too", async (_name, init, path) => {
		const gw = gatewayFor(honoring);
		const readOnly = await gw.createKey({ name: "pk", type: "pk", scopes: ["read", "write"] });
		const reader = await gw.createKey({ name: "r", scopes: ["read"] });
		const writer = await gw.createKey({ name: "w", scopes: ["read", "write"] });
		expect((await gw.call(path, { ...init, key: readOnly.key, method: "POST", body: "amount=100" })).status).toBe(403);
		expect((await gw.call(path, { ...init, key: reader.key, method: "POST", body: "amount=100" })).status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		expect((await gw.call(path, { ...init, key: writer.key, method: "POST", body: "amount=100" })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.method).toBe("POST");
	});

	it("with honor, a POST to a public GET route whose override says GET still needs a key", async () => {
		const gw = gatewayFor(honoring);
		const res = await gw.call("/health", { method: "POST", headers: { "X-HTTP-Method-Override": "GET" }, body: "x" });
		expect(res.status).toBe(401);
		expect(origin.calls).toHaveLength(0);
		// Without the override, the public GET still needs none.
		expect((await gw.call("/health")).status).toBe(200);
	});

	it("with honor, the route rule of the override's method applies, and the override is forwarded when allowed", async () => {
		const gw = gatewayFor(honoring);
		const writer = await gw.createKey({ name: "w", scopes: ["read", "write"] });
		const admin = await gw.createKey({ name: "a", scopes: ["read", "write", "admin"] });
		const headers = { "X-HTTP-Method-Override": "DELETE" };
		expect((await gw.call("/v1/things/1", { key: writer.key, method: "POST", headers })).status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		expect((await gw.call("/v1/things/1", { key: admin.key, method: "POST", headers })).status).toBe(200);
		expect(origin.calls[0]!.headers.get("X-HTTP-Method-Override")).toBe("DELETE");
	});

	it("with honor, overrides that disagree or name no method are refused", async () => {
		const gw = gatewayFor(honoring);
		const { key } = await gw.createKey({ name: "a", scopes: ["read", "write", "admin"] });
		const mixed = await gw.call("/v1/x?_method=GET", { key, method: "POST", headers: { "X-HTTP-Method-Override": "DELETE" } });
		expect(mixed.status).toBe(400);
		const junk = await gw.call("/v1/x", { key, method: "POST", headers: { "X-HTTP-Method-Override": "PURGE" } });
		expect(junk.status).toBe(400);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("a method override in a form body (found by a review: Rails, Laravel and Symfony read _method from a POST form)", () => {
	const FORM = "application/x-www-form-urlencoded";
	const multipart = (name: string, value: string) => {
		const boundary = "----kgboundary";
		const body = `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n--${boundary}--\r\n`;
		return { body, type: `multipart/form-data; boundary=${boundary}` };
	};

	it.each([
		["urlencoded _method", FORM, "title=x&_method=DELETE"],
		["urlencoded .method (PHP)", FORM, "title=x&.method=DELETE"],
		["urlencoded %5Fmethod", FORM, "%5Fmethod=PUT&title=x"],
		["urlencoded _method[]", `${FORM}; charset=UTF-8`, "_method%5B%5D=DELETE"],
		["urlencoded, with a second type after a comma (a repeated Content-Type)", `${FORM.toUpperCase()}, text/plain`, "_method=DELETE"],
		["body with no Content-Type (Rack reads it as a form)", "", "_method=DELETE"],
		// Found by the last probe: each of these reached the origin.
		["urlencoded with a type cut at a space", `${FORM} text/plain`, "_method=DELETE"],
		["urlencoded split at ';' (Rack 2)", FORM, "a=1;_method=DELETE"],
		[
			"multipart header folded onto the next line",
			"multipart/form-data; boundary=XX",
			'--XX\r\nContent-Disposition: form-data;\r\n name="_method"\r\n\r\nDELETE\r\n--XX--\r\n',
		],
		[
			"multipart with two names (frameworks take the last)",
			"multipart/form-data, boundary=XX",
			'--XX\r\nContent-Disposition: form-data; name="a"; name="_method"\r\n\r\nDELETE\r\n--XX--\r\n',
		],
		[
			"multipart single-quoted, no space after the colon",
			"multipart/form-data; boundary=XX",
			"--XX\r\nContent-Disposition:name='_method'\r\n\r\nDELETE\r\n--XX--\r\n",
		],
		[
			"multipart/mixed (Rack parses every multipart type)",
			"multipart/mixed; boundary=XX",
			'--XX\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--XX--\r\n',
		],
		["multipart _method", multipart("_method", "DELETE").type, multipart("_method", "DELETE").body],
		// Found by a further probe: each of these reached the origin.
		[
			"multipart part named by Content-ID (Rack)",
			"multipart/form-data; boundary=XB",
			"--XB\r\nContent-ID: _method\r\n\r\nDELETE\r\n--XB--\r\n",
		],
		[
			"multipart name with a backslash escape (Rack)",
			"multipart/form-data; boundary=XB",
			'--XB\r\nContent-Disposition: form-data; name="_\\method"\r\n\r\nDELETE\r\n--XB--\r\n',
		],
		[
			"multipart with an unclosed quote before the real header",
			"multipart/form-data; boundary=XB",
			'name="\r\n--XB\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--XB--\r\n',
		],
		["urlencoded [_method] (Rack 2, qs)", FORM, "[_method]=DELETE"],
		["urlencoded _method] (Rack 2)", FORM, "_method%5D=DELETE"],
		[
			"multipart [_method]",
			"multipart/form-data; boundary=XB",
			'--XB\r\nContent-Disposition: form-data; name="[_method]"\r\n\r\nDELETE\r\n--XB--\r\n',
		],
		["JSON (Laravel)", "application/json", '{"_method":"DELETE"}'],
		["JSON with an escaped key", "application/vnd.api+json", '{"\\u005fmethod":"DELETE"}'],
		["JSON by a type Laravel reads as JSON", "text/plain;x=/json", '{"[_method]":"DELETE"}'],
		["multipart [method", multipart("[method", "DELETE").type, multipart("[method", "DELETE").body],
	])("a POST whose %s is refused 400 and never reaches the origin", async (_name, type, body) => {
		const { key } = await createKey({ scopes: ["read", "write"] });
		// Bytes, not a string, when there is no type: a string body would be given text/plain.
		const init = type ? { headers: { "Content-Type": type }, body } : { body: new TextEncoder().encode(body) };
		const res = await call("/v1/things/1", { key, method: "POST", ...init });
		expect(res.status).toBe(400);
		const json = (await res.json()) as { error: string; message: string };
		expect(json.error).toBe("invalid_request");
		expect(json.message).toMatch(/_method field in a (form|JSON) body/);
		expect(origin.calls).toHaveLength(0);
	});

	it("form POSTs without one, a PUT form, and a JSON body naming _method pass with their bodies unchanged", async () => {
		const { key } = await createKey({ scopes: ["read", "write"] });
		const plain = multipart("title", "hello");
		const sent: [string, string, string][] = [
			["POST", FORM, "title=x&method=DELETE&a%5Fb=1"],
			["POST", plain.type, plain.body],
			["PUT", FORM, "_method=DELETE"],
			["POST", "application/json", '{"data":{"_method":"DELETE"},"method":"x"}'],
		];
		for (const [method, type, body] of sent) {
			const res = await call("/v1/things/1", { key, method, headers: { "Content-Type": type }, body });
			expect(res.status, `${method} ${type}`).toBe(200);
			expect(origin.calls.at(-1)!.body).toBe(body);
			expect(origin.calls.at(-1)!.method).toBe(method);
		}
	});

	it("a compressed form POST is refused: its fields cannot be read, and Express's body-parser would inflate them", async () => {
		const { key } = await createKey({ scopes: ["read", "write"] });
		const gz = new Uint8Array(
			await new Response(new Blob(["_method=DELETE"]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer(),
		);
		const res = await call("/v1/things/1", {
			key,
			method: "POST",
			headers: { "Content-Type": FORM, "Content-Encoding": "gzip" },
			body: gz,
		});
		expect(res.status).toBe(400);
		expect(((await res.json()) as { message: string }).message).toContain("Content-Encoding");
		expect(origin.calls).toHaveLength(0);
	});

	it("a form POST too large to read (over signing.maxBodyBytes) is refused, not forwarded unchecked; other bodies that large still stream", async () => {
		const small = { apis: [{ ...demoApi, signing: { maxBodyBytes: 64 } }] };
		const gw = gatewayFor(small);
		const { key } = await gw.createKey({ name: "k", scopes: ["read", "write"] });
		const padded = `title=${"x".repeat(200)}&_method=DELETE`;
		const res = await gw.call("/v1/things/1", { key, method: "POST", headers: { "Content-Type": FORM }, body: padded });
		expect(res.status).toBe(400);
		expect(((await res.json()) as { message: string }).message).toContain("signing.maxBodyBytes");
		expect(origin.calls).toHaveLength(0);
		const big = "y".repeat(200);
		const ok = await gw.call("/v1/things/1", { key, method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: big });
		expect(ok.status).toBe(200);
		expect(origin.calls.at(-1)!.body).toBe(big);
	});
});

describe("headers in other spellings (issue 11 item 2)", () => {
	const forged = {
		X_Keygate_Key_Id: "key_victim",
		X_Keygate_Scopes: "admin",
		"x-keygate_owner": "root",
		X_API_Key: "not-a-key-but-a-credential-header",
		X_Keygate_Auth: "oauth",
		X_Keygate_Subject: "admin@victim",
	};

	it("identity and credential headers spelled with _ never reach the origin, on key routes and public routes", async () => {
		const { id, key } = await createKey();
		expect((await call("/v1/a", { key, headers: forged })).status).toBe(200);
		expect((await call("/health", { headers: forged })).status).toBe(200);
		const [keyed, open] = origin.calls;
		for (const seen of [keyed!, open!]) {
			const names = [...seen.headers.keys()].map((n) => n.toLowerCase().replace(/_/g, "-"));
			expect(
				names.filter(
					(n) =>
						n.startsWith("x-keygate-") &&
						![
							"x-keygate-key-id",
							"x-keygate-environment",
							"x-keygate-scopes",
							"x-keygate-owner",
							"x-keygate-service",
							"x-keygate-signature",
							"x-keygate-request-id",
							"x-keygate-auth",
							"x-keygate-subject",
							"x-keygate-client-id",
						].includes(n),
				),
			).toEqual([]);
			expect(names).not.toContain("x-api-key");
			expect([...seen.headers.keys()].some((n) => n.includes("_"))).toBe(false);
		}
		expect(keyed!.headers.get("X-Keygate-Key-Id")).toBe(id);
		expect(keyed!.headers.get("X-Keygate-Scopes")).toBe("read,write");
		expect(keyed!.headers.get("X-Keygate-Auth")).toBe("key");
		expect(keyed!.headers.get("X-Keygate-Subject") ?? "").toBe("");
		expect(open!.headers.get("X-Keygate-Auth") ?? "").not.toBe("oauth");
		expect(open!.headers.get("X-Keygate-Subject") ?? "").toBe("");
	});
});

describe("a key in the path (issue 11 item 3)", () => {
	it.each([
		["as a segment", (k: string) => `/v1/echo/${k}`],
		["inside a segment", (k: string) => `/v1/echo/prefix-${k}.json`],
		["with _ percent-encoded", (k: string) => `/v1/echo/${k.replace(/_/g, "%5F")}`],
		["on a public route's prefix", (k: string) => `/health/${k}`],
	])("%s is refused like a key in the query (401 missing_api_key), never forwarded", async (_what, pathFor) => {
		const { key } = await createKey();
		const res = await call(pathFor(key), { key });
		expect(res.status).toBe(401);
		expect(((await res.json()) as { error: string }).error).toBe("missing_api_key");
		const anonymous = await call(pathFor(key));
		expect(anonymous.status).toBe(401);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("the admin namespace under other spellings (issue 11 item 4)", () => {
	it.each([
		"//_keygate/v1/keys",
		"/_KEYGATE/v1/keys",
		"/_keygate./v1/keys",
		"/%5Fkeygate/v1/keys",
		"/_keygate%2e/v1/keys",
		"/_Keygate%20/v1/keys",
		"/_keygate",
	])("%s with a valid key is answered by the admin namespace, never the origin", async (path) => {
		const { key } = await createKey();
		const res = await call(path, { key });
		const body = (await res.json()) as { error: string };
		// 404, or the admin API's own 401 where the router decodes the spelling to the real path.
		expect([404, 401]).toContain(res.status);
		expect(body.error).toBe(res.status === 404 ? "not_found" : "invalid_admin_token");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("the admin namespace cut where a server might stop reading the segment", () => {
	// Under a catch-all keyed rule these would be forwarded if they were not known as the admin namespace.
	const catchAll = structuredClone(demo) as any;
	catchAll.apis[0].routes = [{ path: "/**" }];
	const gw = gatewayFor(catchAll);
	it.each([
		"/_keygate%00/v1/keys",
		"/_keygate%E2%80%8B/v1/keys",
		"/_keygate%3B/v1/keys",
		"/_keygate%23/v1/keys",
		"/_keygate%3F/v1/keys",
		"/%EF%BC%BFkeygate/v1/keys",
		"/_keygate;x/v1/keys",
	])("%s with a valid key is 404 not_found, never the origin", async (path) => {
		const { key } = await gw.createKey({ name: "cut" });
		const res = await gw.call(path, { key });
		expect(res.status).toBe(404);
		expect(((await res.json()) as { error: string }).error).toBe("not_found");
		expect(origin.calls).toHaveLength(0);
		// The same key on an ordinary path passes: the rule is a catch-all.
		expect((await gw.call("/v1/keygate", { key })).status).toBe(200);
	});
});

describe("the client's address outside Cloudflare (issue 11 item 9)", () => {
	it("with KEYGATE_CLIENT_ADDRESS=local a client-sent CF-Connecting-IP is ignored: it cannot pass an IP allowlist", async () => {
		const { key } = await createKey({ ipAllowlist: ["203.0.113.0/24"] });
		const spoof = { "CF-Connecting-IP": "203.0.113.9" };
		const local = await callWithEnv({ KEYGATE_CLIENT_ADDRESS: "local" }, "/v1/a", { key, headers: spoof });
		expect(local.status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		// On Cloudflare (the default) the edge sets the header, so it is trusted.
		expect((await call("/v1/a", { key, headers: spoof })).status).toBe(200);
	});

	it("with KEYGATE_CLIENT_ADDRESS=local, rotating the header does not escape the failed-credential throttle", async () => {
		failureThrottle.clear();
		const gw = { KEYGATE_CLIENT_ADDRESS: "local" };
		for (let i = 0; i < 25; i++) {
			const res = await callWithEnv(gw, "/v1/a", { key: `sk_live_${"x".repeat(49)}`, headers: { "CF-Connecting-IP": `198.51.100.${i}` } });
			expect(res.status).toBe(401);
		}
		// All counted against one address (the loopback one): garbage keys are refused before any lookup,
		// and the attempts after the 20th are 429s.
		expect(failureThrottle.budget(addressKey("demo", "127.0.0.1"), Date.now(), 20, 60).remaining).toBe(0);
		expect(origin.calls).toHaveLength(0);
		failureThrottle.clear();
	});
});

describe("X-RateLimit-* on 401s, for APIs that ask (issue 11 item 16)", () => {
	const config = { apis: [{ ...rest.apis[0]!, bruteForce: { maxFailures: 5, windowSeconds: 60, headers: true } }] };
	const base = "https://api.example.com";

	it("a 401 reports the client address's failed-credential budget: limit, remaining after this failure, reset", async () => {
		failureThrottle.clear();
		const gw = gatewayFor(config, base);
		const ip = { "CF-Connecting-IP": "192.0.2.77" };
		const now = Math.floor(Date.now() / 1000);
		const missing = await gw.call("/v1/users/me", { headers: ip });
		expect(missing.status).toBe(401);
		expect(missing.headers.get("X-RateLimit-Limit")).toBe("5");
		expect(missing.headers.get("X-RateLimit-Remaining")).toBe("5"); // no credential is not a failed one
		const remaining: string[] = [];
		for (let i = 0; i < 3; i++) {
			const res = await gw.call("/v1/users/me", { key: "garbage", headers: ip });
			expect(res.status).toBe(401);
			remaining.push(res.headers.get("X-RateLimit-Remaining")!);
			const reset = Number(res.headers.get("X-RateLimit-Reset"));
			expect(reset).toBeGreaterThanOrEqual(now + 59);
			expect(reset).toBeLessThanOrEqual(now + 61);
		}
		expect(remaining).toEqual(["4", "3", "2"]);
		expect(origin.calls).toHaveLength(0);
		failureThrottle.clear();
	});

	it("each API counts its own budget: bad keys sent to one API leave another's untouched (found by a peer's suite)", async () => {
		failureThrottle.clear();
		const two = {
			apis: [
				{ ...config.apis[0]!, name: "one", match: { hosts: ["one.example.com"] } },
				{
					...config.apis[0]!,
					name: "two",
					match: { hosts: ["two.example.com"] },
					bruteForce: { maxFailures: 3, windowSeconds: 30, headers: true },
				},
			],
		};
		const one = gatewayFor(two, "https://one.example.com");
		const other = gatewayFor(two, "https://two.example.com");
		const ip = { "CF-Connecting-IP": "192.0.2.78" };
		for (let i = 0; i < 4; i++) expect((await one.call("/v1/users/me", { key: "garbage", headers: ip })).status).toBe(401);
		const res = await other.call("/v1/users/me", { key: "garbage", headers: ip });
		expect(res.headers.get("X-RateLimit-Limit")).toBe("3");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("2");
		// Its own window, 30 s, not the other API's 60 s.
		expect(Number(res.headers.get("X-RateLimit-Reset"))).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 31);
		expect((await one.call("/v1/users/me", { key: "garbage", headers: ip })).headers.get("X-RateLimit-Remaining")).toBe("0");
		expect(origin.calls).toHaveLength(0);
		failureThrottle.clear();
	});

	it("an IPv6 client is counted by its /64: spreading bad keys over one subscriber's addresses gets one budget (found by a probe)", async () => {
		failureThrottle.clear();
		const gw = gatewayFor(config, base);
		const remaining: string[] = [];
		for (let i = 1; i <= 6; i++) {
			const res = await gw.call("/v1/users/me", { key: "garbage", headers: { "CF-Connecting-IP": `2001:db8:1:2::${i.toString(16)}` } });
			remaining.push(res.headers.get("X-RateLimit-Remaining")!);
		}
		expect(remaining).toEqual(["4", "3", "2", "1", "0", "0"]);
		// Another /64 has its own budget; IPv4 addresses are each their own.
		const other = await gw.call("/v1/users/me", { key: "garbage", headers: { "CF-Connecting-IP": "2001:db8:1:3::1" } });
		expect(other.headers.get("X-RateLimit-Remaining")).toBe("4");
		expect(origin.calls).toHaveLength(0);
		failureThrottle.clear();
	});

	it("so do a refusal made before the key is known (a 400 for the path) and every OAuth endpoint's answer", async () => {
		failureThrottle.clear();
		const gw = gatewayFor(config, base);
		const ip = { "CF-Connecting-IP": "192.0.2.79" };
		const { key } = await gw.createKey({ name: "a", scopes: ["read"] });
		const answers = [
			await gw.call("/v1/users%2Fme", { key, headers: ip }),
			await gw.call("/v1/users;me", { key, headers: ip }),
			await gw.call("/.well-known/oauth-authorization-server", { headers: ip }),
			await gw.call("/oauth/token", {
				method: "POST",
				headers: { ...ip, "Content-Type": "application/json" },
				body: JSON.stringify({
					grant_type: "authorization_code",
					code: "x",
					client_id: "client_x",
					client_secret: "y",
					redirect_uri: "http://127.0.0.1:9999/cb",
				}),
			}),
		];
		expect(answers.map((r) => r.status)).toEqual([400, 400, 200, 401]);
		for (const res of answers) {
			expect(res.headers.get("X-RateLimit-Limit")).toBe("5");
			expect(Number(res.headers.get("X-RateLimit-Remaining"))).toBeGreaterThanOrEqual(0);
			expect(Number(res.headers.get("X-RateLimit-Reset"))).toBeGreaterThan(Date.now() / 1000);
		}
		// The key's own answer still reports the key's limits, not the address's.
		const ok = await gw.call("/v1/users/me", { key, headers: ip });
		expect(ok.status).toBe(200);
		expect(ok.headers.get("X-RateLimit-Limit")).toBe("1000");
		expect(origin.calls).toHaveLength(1);
		failureThrottle.clear();
	});

	it("an API that does not ask sends none on a 401", async () => {
		const res = await call("/v1/a", { key: "garbage", headers: { "CF-Connecting-IP": "192.0.2.78" } });
		expect(res.status).toBe(401);
		expect(res.headers.has("X-RateLimit-Limit")).toBe(false);
	});
});

describe("a connection the origin closed before answering (issue 11 item 17)", () => {
	/** An origin whose first `failures` attempts fail like a keep-alive connection closed under the request. */
	function flakyOrigin(failures: number) {
		vi.restoreAllMocks();
		const attempts: { method: string; body: string }[] = [];
		vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init);
			attempts.push({ method: request.method, body: request.body ? await request.text() : "" });
			if (attempts.length <= failures) throw new TypeError("Network connection lost.");
			return new Response("ok");
		});
		return attempts;
	}

	it.each(["GET", "HEAD", "OPTIONS"])("a %s is retried once and answered", async (method) => {
		const { key } = await createKey();
		const attempts = flakyOrigin(1);
		const res = await call("/v1/a", { key, method });
		expect(res.status).toBe(200);
		expect(attempts.map((a) => a.method)).toEqual([method, method]);
	});

	it("never twice: a second failure is 502", async () => {
		const { key } = await createKey();
		const attempts = flakyOrigin(2);
		expect((await call("/v1/a", { key })).status).toBe(502);
		expect(attempts).toHaveLength(2);
	});

	it.each(["POST", "PUT", "PATCH", "DELETE"])("a %s with a body is never retried: the origin may have read it", async (method) => {
		const { key } = await createKey();
		const attempts = flakyOrigin(1);
		expect((await call("/v1/a", { key, method, body: "once" })).status).toBe(502);
		expect(attempts).toHaveLength(1);
	});
});

void env;

describe("what the client gets back (issue 11 item 20)", () => {
	it.each([
		["identity bytes with a Content-Length", {}, new TextEncoder().encode('{"plain":true}')],
		["gzip bytes the origin encoded", { "Content-Encoding": "gzip" }, new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 4, 5])],
	])("keygate passes %s through unchanged: same bytes, same encoding header", async (_what, extra, bytes) => {
		const { key } = await createKey();
		vi.restoreAllMocks();
		vi.spyOn(globalThis, "fetch").mockImplementation(
			async () =>
				new Response(bytes, { headers: { "Content-Type": "application/json", "Content-Length": String(bytes.length), ...extra } }),
		);
		const res = await call("/v1/a", { key });
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Encoding")).toBe((extra as Record<string, string>)["Content-Encoding"] ?? null);
		expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes);
	});
});

describe("found by an attacker's probe over HTTP (stop 20)", () => {
	it("a client's Content-Digest never reaches the origin, on a public route either", async () => {
		const res = await call("/health", { headers: { "Content-Digest": "sha-256=:AAAA:" } });
		expect(res.status).toBe(200);
		expect(origin.calls[0]!.headers.has("Content-Digest")).toBe(false);
	});

	it.each(["/_keygate/ui/keys/key_x/revoke", "/_keygate/portal/keys"])(
		"without a session, %s answers as to any sessionless POST: the body is not read first",
		async (path) => {
			const headers = { "Sec-Fetch-Site": "same-origin" };
			const plain = await call(path, {
				method: "POST",
				body: "a=1",
				headers: { ...headers, "Content-Type": "application/x-www-form-urlencoded" },
			});
			const broken = await call(path, { method: "POST", body: "x", headers: { ...headers, "Content-Type": "multipart/form-data" } });
			expect(plain.status).not.toBe(400);
			expect(broken.status).toBe(plain.status);
			expect(origin.calls).toHaveLength(0);
		},
	);

	it("a key glued to other text or percent-encoded is scrubbed from headers and refused in the query", async () => {
		const { key } = await createKey();
		const res = await call("/v1/a", { key, headers: { "X-B": `x${key}`, "X-C": key.replace(/_/g, "%5F"), "X-D": "kept" } });
		expect(res.status).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.headers.has("X-B")).toBe(false);
		expect(seen.headers.has("X-C")).toBe(false);
		expect(seen.headers.get("X-D")).toBe("kept");
		const inQuery = await call(`/v1/a?k=x${key}`, { key });
		expect(inQuery.status).toBe(401); // as any key in the query (key_in_query)
		expect(origin.calls).toHaveLength(1);
	});

	it("an origin answering with an interim status (as a forwarded Expect made a Node origin do) is a 502, not a 503", async () => {
		const { key } = await createKey();
		// A Response cannot be built with a 1xx status; this is what fetch handed back when it happened.
		const spy = vi.spyOn(globalThis, "fetch").mockResolvedValue({ status: 100, body: null, headers: new Headers() } as unknown as Response);
		const res = await call("/v1/upload", { key, method: "POST", body: "x" });
		spy.mockRestore();
		expect(res.status).toBe(502);
		expect(((await res.json()) as { error: string }).error).toBe("origin_unavailable");
	});

	it("Expect is answered by keygate, never forwarded (an origin's interim 100 would come back as the answer)", async () => {
		const { key } = await createKey();
		const res = await call("/v1/upload", { key, method: "POST", body: "x", headers: { Expect: "100-continue" } });
		expect(res.status).toBe(200);
		expect(origin.calls[0]!.headers.has("Expect")).toBe(false);
	});

	it.each([
		["/_keygate/ui/login", "the console's sign-in"],
		["/_keygate/portal/enter", "the portal's entry"],
	])("a form body that cannot be read at %s (%s) is a 400 that changes nothing, not a 503", async (path) => {
		const before = (await env.KEYS.list()).keys.length;
		const res = await call(path, {
			method: "POST",
			body: "x",
			headers: { "Content-Type": "multipart/form-data", "Sec-Fetch-Site": "same-origin" },
		});
		expect(res.status).toBe(400);
		expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
		expect((await env.KEYS.list()).keys.length).toBe(before);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("found by an attacker's probe over HTTP (stop 23)", () => {
	const SESSION = `__Host-kg_session=kgs_${"A1b2C3d4E5".repeat(4)}abcd`;
	const PORTAL = `__Host-kg_portal=kgps_${"Z9y8X7w6V5".repeat(4)}wxyz`;

	it("keygate's own console and portal cookies never reach the origin; the origin's other cookies do, on public and keyed routes", async () => {
		const { key } = await createKey();
		await call("/health", { headers: { Cookie: `${SESSION}; theme=dark; ${PORTAL}` } });
		await call("/v1/a", { key, headers: { Cookie: `theme=dark; ${SESSION}` } });
		await call("/health", { headers: { Cookie: SESSION } });
		expect(origin.calls.map((c) => c.headers.get("Cookie"))).toEqual(["theme=dark", "theme=dark", null]);
		// Two Cookie lines arrive joined by ", ": the second line's keygate cookie is not part of the first's last pair (a regression pass).
		await call("/health", {
			headers: [
				["Cookie", "a=1"],
				["Cookie", "__Host-kg_portal=kgps_FAKE; b=2"],
			],
		});
		expect(origin.calls[3]!.headers.get("Cookie")).toBe("a=1; b=2");
		// A comma inside another cookie's value is that value's (a review).
		await call("/health", { headers: { Cookie: `prefs=a,b; ${SESSION}; theme=dark` } });
		expect(origin.calls[4]!.headers.get("Cookie")).toBe("prefs=a,b; theme=dark");
	});

	it("the pending OAuth sign-in cookie is keygate's too: never forwarded, and an origin cannot plant it (found by a probe, stop 26)", async () => {
		expect(OAUTH_COOKIE.startsWith(KEYGATE_COOKIE_PREFIX)).toBe(true);
		await call("/health", { headers: { Cookie: `${OAUTH_COOKIE}=sealed.mac; other=1` } });
		expect(origin.calls[0]!.headers.get("Cookie")).toBe("other=1");
		vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
			const headers = new Headers();
			headers.append("Set-Cookie", `${OAUTH_COOKIE}=evil; Path=/; Secure; HttpOnly`);
			headers.append("Set-Cookie", "theme=dark; Path=/");
			return new Response("{}", { headers });
		});
		expect((await call("/health")).headers.getSetCookie()).toEqual(["theme=dark; Path=/"]);
	});

	it("a console session or portal token in any other header is scrubbed, and in the query or path refused", async () => {
		const { key } = await createKey();
		const token = SESSION.split("=")[1]!;
		await call("/v1/a", { key, headers: { "X-Debug": `session ${token}` } });
		expect(origin.calls[0]!.headers.has("X-Debug")).toBe(false);
		expect((await call(`/health?s=${token}`)).status).toBe(401);
		expect((await call(`/v1/echo/${PORTAL.split("=")[1]}`, { key })).status).toBe(401);
		expect(origin.calls).toHaveLength(1);
	});

	it("an origin cannot set or clear keygate's cookies; its own Set-Cookie lines pass", async () => {
		vi.spyOn(globalThis, "fetch").mockImplementation(async () => {
			const headers = new Headers();
			headers.append("Set-Cookie", "__Host-kg_session=planted; Path=/; Secure");
			headers.append("Set-Cookie", "theme=dark; Path=/");
			headers.append("Set-Cookie", "__Host-kg_portal=; Max-Age=0; Path=/; Secure");
			return new Response("{}", { headers });
		});
		const res = await call("/health");
		expect(res.headers.getSetCookie()).toEqual(["theme=dark; Path=/"]);
	});

	it("with cors configured, the origin's own CORS fields never reach a page: a secret key's answer is unreadable cross-site, and a granted one carries no credentials", async () => {
		vi.spyOn(globalThis, "fetch").mockImplementation(
			async () =>
				new Response("{}", {
					headers: {
						"Access-Control-Allow-Origin": "*",
						"Access-Control-Allow-Credentials": "true",
						"Access-Control-Expose-Headers": "X-Secret",
					},
				}),
		);
		const sk = await createKey({ type: "sk" });
		const pk = await createKey({ type: "pk" });
		const headers = { Origin: "https://evil.example" };
		const secret = await call("/v1/a", { key: sk.key, headers });
		expect(secret.status).toBe(200);
		for (const name of ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"])
			expect(secret.headers.get(name), name).toBeNull();
		const publishable = await call("/v1/a", { key: pk.key, headers });
		expect(publishable.headers.get("Access-Control-Allow-Origin")).toBe("https://evil.example");
		expect(publishable.headers.get("Access-Control-Allow-Credentials")).toBeNull();
		expect(publishable.headers.get("Access-Control-Expose-Headers")).not.toContain("X-Secret");
		const open = await call("/health", { headers });
		expect(open.headers.get("Access-Control-Allow-Credentials")).toBeNull();
	});

	describe("choosing the API: case and format suffixes do not move a request to another API", () => {
		const two = {
			apis: [
				{ ...demoApi, name: "main", routes: [...demoApi.routes, { methods: ["GET"], path: "/docs/**", public: true }] },
				{
					...demoApi,
					name: "adm",
					match: { pathPrefix: "/internal" },
					routes: [{ path: "/internal/**", scopes: ["admin"] }],
					oauth: undefined,
				},
			],
		};
		const gw = gatewayFor(two);

		it("/Internal/users and /INTERNAL/users belong to the /internal API: a main key is refused there", async () => {
			const reader = await gw.createKey({ api: "main", name: "reader", scopes: ["read"] });
			for (const path of ["/internal/users", "/Internal/users", "/INTERNAL/users"])
				expect((await gw.call(path, { key: reader.key })).status, path).toBe(401);
			expect(origin.calls).toHaveLength(0);
		});

		it("/internal.json and /internal%2Eusers, whose twins belong to another API, are 400 ambiguous_path", async () => {
			const reader = await gw.createKey({ api: "main", name: "reader", scopes: ["read"] });
			for (const path of ["/internal.json", "/internal%2Eusers", "/Internal.json"]) {
				const res = await gw.call(path, { key: reader.key });
				expect(res.status, path).toBe(400);
				expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
			}
			// A suffix inside one API is that API's business.
			expect((await gw.call("/v1/users/jane.doe", { key: reader.key })).status).toBe(200);
			expect(origin.calls).toHaveLength(1);
		});

		it("/%C4%B1nternal/users (a dotless ı, `I` uppercased) and a full-width ｉ belong to the /internal API's path too: 400 (stop 24's probe)", async () => {
			const reader = await gw.createKey({ api: "main", name: "reader", scopes: ["read"] });
			for (const path of ["/%C4%B1nternal/users", "/%EF%BD%89nternal/users"]) {
				const res = await gw.call(path, { key: reader.key });
				expect(res.status, path).toBe(400);
				expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
			}
			expect(origin.calls).toHaveLength(0);
		});

		it("a public path that an origin decoding twice reads as the /internal API's is 400, with or without a key (found by a probe: forwarded with no key)", async () => {
			const reader = await gw.createKey({ api: "main", name: "reader", scopes: ["read"] });
			for (const path of ["/docs/%252e%252e/%2569nternal/x", "/docs/%252e%252e/internal/x", "/docs/%252e%252e/internal%252ejson"])
				for (const key of [undefined, reader.key]) {
					const res = await gw.call(path, { key });
					expect(res.status, path).toBe(400);
					expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
				}
			expect(origin.calls).toHaveLength(0);
		});
	});
});
