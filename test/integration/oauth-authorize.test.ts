import { decodeJwt, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { TEST_SIGNING_SECRET } from "../constants";
import { gatewayFor } from "../helpers/gateway";
import { createClient, REDIRECT, tokenJson } from "../helpers/oauth";
import { useFakeOrigin } from "../helpers/origin";
import { fail, kvWith, never } from "../helpers/faults";

const origin = useFakeOrigin();

const LOGIN = "https://login.example.com/login";
const config = structuredClone(demo) as any;
config.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read", "write"], login: { loginUrl: LOGIN } };
const gw = gatewayFor(config);
const secret = new TextEncoder().encode(TEST_SIGNING_SECRET);

/** What the API's login page does once its user signed in: an HS256 assertion for keygate. */
async function assertion(request: string, sub = "user_1", over: { exp?: number; iat?: number; nonce?: string; aud?: string } = {}) {
	const { nonce } = decodeJwt(request) as { nonce: string };
	const now = Math.floor(Date.now() / 1000);
	return new SignJWT({ nonce: over.nonce ?? nonce })
		.setProtectedHeader({ alg: "HS256" })
		.setIssuer("https://login.example.com")
		.setAudience(over.aud ?? "https://api.example.com")
		.setSubject(sub)
		.setIssuedAt(over.iat ?? now)
		.setExpirationTime(over.exp ?? now + 60)
		.sign(secret);
}

const cookieOf = (res: Response) => (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;

async function authorize(query: string) {
	const res = await gw.call(`/oauth/authorize?${query}`);
	return res;
}

/** Authorize, sign in, and show the consent page: returns the page, its ticket and the cookie. */
async function toConsent(clientId: string, extra = "", sub = "user_1") {
	const res = await authorize(
		`client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read%20write&state=xyz${extra}`,
	);
	expect(res.status, await res.clone().text()).toBe(302);
	const login = new URL(res.headers.get("Location")!);
	expect(login.origin + login.pathname).toBe(LOGIN);
	const cookie = cookieOf(res);
	expect(res.headers.get("Set-Cookie")).toMatch(/^__Host-kg_oauth=.+; Path=\/; Secure; HttpOnly; SameSite=Lax; Max-Age=600$/);
	const request = login.searchParams.get("request")!;
	const signed = await assertion(request, sub);
	const page = await gw.call(`/oauth/callback?assertion=${signed}`, { headers: { Cookie: cookie } });
	const html = await page.text();
	const ticket = /name="ticket" value="([^"]+)"/.exec(html)?.[1];
	return { page, html, ticket, cookie, request };
}

/** An error redirect back to the client (RFC 6749 §4.1.2.1): its `error`, and its description when given; never a code. */
function expectErrorRedirect(res: Response, error: string, description?: string): URLSearchParams {
	expect(res.status).toBe(302);
	const back = new URL(res.headers.get("Location")!);
	expect(back.origin + back.pathname).toBe(REDIRECT);
	expect(back.searchParams.get("error")).toBe(error);
	if (description !== undefined) expect(back.searchParams.get("error_description")).toBe(description);
	expect(back.searchParams.get("code")).toBeNull();
	return back.searchParams;
}

const consent = (cookie: string, ticket: string, decision: string) =>
	gw.call("/oauth/consent", {
		method: "POST",
		headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ ticket, decision }).toString(),
	});

describe("the consent form's body", () => {
	it("sent chunked, it is read up to its 16 KiB cap, never whole: an endless one is refused (found by a review: 40 MiB read into memory)", async () => {
		const client = await createClient(gw);
		const { cookie } = await toConsent(client.id);
		let pulled = 0;
		const endless = new ReadableStream<Uint8Array>({
			pull(controller) {
				pulled += 65_536;
				controller.enqueue(new TextEncoder().encode("a".repeat(65_536)));
			},
		});
		const res = await gw.call("/oauth/consent", {
			method: "POST",
			headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
			body: endless,
		});
		expect(res.status).toBe(400);
		expect(await res.text()).toContain("Unexpected form.");
		expect(pulled).toBeLessThan(64 * 1024 * 1024);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("the authorization endpoint with the origin login", () => {
	it("runs the whole flow: authorize, sign in at the API, consent, code, token, API call", async () => {
		const client = await createClient(gw);
		const { page, html, ticket, cookie } = await toConsent(client.id);
		expect(page.status, html).toBe(200);
		expect(page.headers.get("Content-Security-Policy")).toContain("frame-ancestors 'none'");
		// A window a page of the origin opens here gets no handle; the form's POST carries a real Origin (found by a review).
		expect(page.headers.get("Cross-Origin-Opener-Policy")).toBe("same-origin");
		expect(page.headers.get("Referrer-Policy")).toBe("same-origin");
		expect(page.headers.get("Cache-Control")).toBe("no-store");
		expect(html).toContain("Test app");
		expect(html).toContain("app.example");
		expect(html).toContain("<li>read</li><li>write</li>");
		const res = await consent(cookie, ticket!, "allow");
		expect(res.status).toBe(302);
		const back = new URL(res.headers.get("Location")!);
		expect(back.origin + back.pathname).toBe(REDIRECT);
		expect(back.searchParams.get("state")).toBe("xyz");
		expect(back.searchParams.get("iss")).toBe("https://api.example.com");
		const code = back.searchParams.get("code")!;
		const token = await tokenJson(gw, {
			grant_type: "authorization_code",
			code,
			client_id: client.id,
			client_secret: client.secret,
			redirect_uri: REDIRECT,
		});
		const tokens = await token.json<{ access_token: string; scope: string }>();
		expect(token.status).toBe(200);
		expect(tokens.scope).toBe("read write");
		expect((await gw.call("/v1/users", { key: tokens.access_token })).status).toBe(200);
		// The same consent again: the login's nonce is spent, so no second code.
		expect((await consent(cookie, ticket!, "allow")).status).toBe(400);
		// Back to the consent page once Allow cleared the cookie: says the sign-in is finished, not "took too long" (a browser QA pass).
		const again = await gw.call(`/oauth/callback?assertion=x`);
		expect(again.status).toBe(400);
		expect(await again.text()).toContain("This sign-in is no longer open: it was already finished");
		expect(origin.calls.filter((call) => new URL(call.url).pathname.startsWith("/oauth"))).toHaveLength(0);
	});

	it("accepts scope=read+write as read and write", async () => {
		const client = await createClient(gw);
		const { html } = await toConsent(client.id);
		expect(html).toContain("<li>read</li><li>write</li>");
		const res = await authorize(`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read+write`);
		expect(res.status).toBe(302);
	});

	it("redirects access_denied when the user denies", async () => {
		const client = await createClient(gw);
		const { ticket, cookie } = await toConsent(client.id);
		const res = await consent(cookie, ticket!, "deny");
		const back = new URL(res.headers.get("Location")!);
		expect(back.searchParams.get("error")).toBe("access_denied");
		expect(back.searchParams.get("state")).toBe("xyz");
		expect(back.searchParams.get("code")).toBeNull();
	});

	it("a script on a page the origin serves can neither load the sign-in and consent pages nor post Allow (found by a probe)", async () => {
		const client = await createClient(gw);
		const query = `client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read&state=s`;
		const script = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty" };
		const navigation = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" };
		const fetched = await gw.call(`/oauth/authorize?${query}`, { headers: script });
		expect(fetched.status).toBe(403);
		expect(fetched.headers.get("Set-Cookie")).toBeNull();
		expect(await fetched.text()).toContain("not from a script or inside a frame");
		// Node's fetch (Sec-Fetch-Mode: cors, no Sec-Fetch-Dest) is a client like curl: served (found by the end-to-end test).
		expect((await gw.call(`/oauth/authorize?${query}`, { headers: { "Sec-Fetch-Mode": "cors" } })).status).toBe(302);
		// The browser's own navigation is served, from another site too (the client's page links here).
		expect((await gw.call(`/oauth/authorize?${query}`, { headers: { ...navigation, "Sec-Fetch-Site": "cross-site" } })).status).toBe(302);
		const { ticket, cookie } = await toConsent(client.id);
		for (const headers of [script, { ...navigation, "Sec-Fetch-Dest": "iframe" }]) {
			const page = await gw.call(`/oauth/callback?assertion=x`, { headers: { ...headers, Cookie: cookie } });
			expect(page.status).toBe(403);
			expect(await page.text()).not.toContain("ticket");
		}
		const post = (headers: Record<string, string>) =>
			gw.call("/oauth/consent", {
				method: "POST",
				headers: { ...headers, Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({ ticket: ticket!, decision: "allow" }).toString(),
			});
		for (const headers of [script, { ...navigation, "Sec-Fetch-Site": "same-site" }, { Origin: "https://docs.example.com" }]) {
			const res = await post(headers);
			expect(res.status).toBe(403);
			expect(res.headers.get("Location")).toBeNull();
		}
		// Nothing was spent: the form the user sees, posted by the browser, still gives the code.
		const allowed = await post(navigation);
		expect(allowed.status).toBe(302);
		expect(new URL(allowed.headers.get("Location")!).searchParams.get("code")).toMatch(/^kgac_/);
		expect(origin.calls).toHaveLength(0);
	});

	it("the API's own sign-in page on keygate's host is held to the same rules: a page's script cannot fetch it for the assertion (found by a probe)", async () => {
		const sameHost = structuredClone(demo) as any;
		sameHost.apis[0].routes = [{ methods: ["GET", "POST"], path: "/login", public: true }, ...sameHost.apis[0].routes];
		sameHost.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read"], login: { loginUrl: "https://api.example.com/login" } };
		const own = gatewayFor(sameHost);
		const script = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty" };
		const fetched = await own.call("/login?request=r", { headers: script });
		expect(fetched.status).toBe(403);
		for (const headers of [
			{ ...script, "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe" },
			{ "Sec-Purpose": "prefetch" },
		] as Record<string, string>[])
			expect((await own.call("/login?request=r", { headers })).status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		// The browser's navigation reaches the origin's login, whose page gets COOP same-origin.
		const page = await own.call("/login?request=r", {
			headers: { "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" },
		});
		expect(page.status).toBe(200);
		expect(page.headers.get("Cross-Origin-Opener-Policy")).toBe("same-origin");
		expect(origin.calls).toHaveLength(1);
		// Other paths are not the sign-in page.
		expect((await own.call("/health", { headers: script })).status).toBe(200);
	});

	it("the sign-in page guard reads the path as loose servers do: case, trailing slash, dots, blanks, format suffix, another port (found by a review)", async () => {
		const sameHost = structuredClone(demo) as any;
		// A public catch-all, so nothing but the guard stands between a spelling and the origin's login.
		sameHost.apis[0].routes = [{ path: "/**", public: true }];
		sameHost.apis[0].oauth = { issuer: "https://api.example.com", scopes: ["read"], login: { loginUrl: "https://api.example.com/login" } };
		const own = gatewayFor(sameHost);
		const script = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty" };
		for (const path of ["/LOGIN", "/login/", "/login.html", "/login.", "/login%20", "/%4C%4F%47%49%4E", "//login", "/login?x=1"]) {
			const res = await own.call(path, { headers: script });
			expect(res.status, path).toBe(403);
		}
		const other = gatewayFor(sameHost, "https://api.example.com:8443");
		expect((await other.call("/login", { headers: script })).status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		// A page of its own, not the sign-in page: served.
		expect((await own.call("/login-help", { headers: script })).status).toBe(200);
		expect((await own.call("/assets/login.css", { headers: script })).status).toBe(200);
	});

	for (const [what, kv] of [
		["fails", () => kvWith("get", fail)],
		["hangs", () => kvWith("get", never)],
	] as const)
		it(`Allow while KV ${what}: redirects with temporarily_unavailable within a bounded wait, issues no code (a review)`, async () => {
			const client = await createClient(gw);
			const { cookie, ticket } = await toConsent(client.id);
			const broken = gatewayFor(config, undefined, { KEYS: kv() } as never);
			const started = Date.now();
			const res = await broken.call("/oauth/consent", {
				method: "POST",
				headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({ ticket: ticket!, decision: "allow" }).toString(),
			});
			expect(Date.now() - started).toBeLessThan(4_000);
			expect(expectErrorRedirect(res, "temporarily_unavailable").get("state")).toBe("xyz");
			expect(origin.calls).toHaveLength(0);
		}, 10_000);

	it("refuses a state too long to carry through sign-in before the sign-in, with an error redirect (a probe)", async () => {
		const client = await createClient(gw);
		const long = "a".repeat(1025);
		const res = await authorize(
			`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read&state=${long}`,
		);
		expectErrorRedirect(res, "invalid_request", "state is longer than 1024 characters.");
		expect(res.headers.get("Set-Cookie")).toBeNull();
		// 1024 characters still go through, and their cookie fits a browser's 4 KB.
		const ok = await authorize(
			`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read&state=${long.slice(1)}`,
		);
		expect(new URL(ok.headers.get("Location")!).origin + new URL(ok.headers.get("Location")!).pathname).toBe(LOGIN);
		expect(ok.headers.get("Set-Cookie")!.length).toBeLessThan(4_000);
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses a state under the cap whose cookie would still be too big (multi-byte or escaped characters), before sign-in (a review)", async () => {
		const client = await createClient(gw);
		for (const state of ["中".repeat(1024), "\u0001".repeat(1024)]) {
			const res = await authorize(
				`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read&state=${encodeURIComponent(state)}`,
			);
			expectErrorRedirect(
				res,
				"invalid_request",
				"The authorization request is too long to carry through sign-in: shorten state (or register a shorter redirect_uri).",
			);
			expect(res.headers.get("Set-Cookie")).toBeNull();
		}
		// 300 such characters still fit, and go on to the sign-in.
		const fits = await authorize(
			`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read&state=${encodeURIComponent("中".repeat(300))}`,
		);
		expect(new URL(fits.headers.get("Location")!).origin).toBe(new URL(LOGIN).origin);
		expect(fits.headers.get("Set-Cookie")!.split(";")[0]!.length).toBeLessThanOrEqual(3_900);
		expect(origin.calls).toHaveLength(0);
	});

	it("refuses the consent form without this browser's cookie (CSRF)", async () => {
		const client = await createClient(gw);
		const { ticket } = await toConsent(client.id);
		const other = await toConsent(client.id);
		expect((await consent(other.cookie, ticket!, "allow")).status).toBe(400);
		expect((await consent("", ticket!, "allow")).status).toBe(400);
	});

	it("escapes the client's name on the consent page", async () => {
		const client = await createClient(gw, { name: `<script>alert("x")</script>` });
		const { html } = await toConsent(client.id);
		expect(html).not.toContain("<script>");
		expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;");
	});

	it.each([
		[
			"an unknown client",
			(id: string) => `client_id=client_0000000000000000000000&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&x=${id}`,
		],
		[
			"a redirect URI that is not an exact match",
			(id: string) => `client_id=${id}&redirect_uri=${encodeURIComponent(REDIRECT + "/")}&response_type=code`,
		],
		[
			"a repeated parameter",
			(id: string) => `client_id=${id}&client_id=${id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code`,
		],
	])("answers %s with a local 400 page, never a redirect", async (_name, query) => {
		const client = await createClient(gw);
		const res = await authorize(query(client.id));
		expect(res.status).toBe(400);
		expect(res.headers.get("Location")).toBeNull();
		expect(res.headers.get("Content-Type")).toBe("text/html; charset=utf-8");
		expect(origin.calls).toHaveLength(0);
	});

	it.each([
		["unsupported_response_type", "&response_type=token"],
		["invalid_scope", "&response_type=code&scope=admin"],
		["invalid_request", "&response_type=code&code_challenge=" + "a".repeat(43) + "&code_challenge_method=plain"],
	])("redirects %s back to the client with state and iss", async (error, extra) => {
		const client = await createClient(gw);
		const res = await authorize(`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&state=s1${extra}`);
		expect(res.status).toBe(302);
		const back = new URL(res.headers.get("Location")!);
		expect(back.searchParams.get("error")).toBe(error);
		expect(back.searchParams.get("state")).toBe("s1");
		expect(back.searchParams.get("iss")).toBe("https://api.example.com");
	});

	it("requires PKCE of a public client", async () => {
		const client = await createClient(gw, { type: "public" });
		const res = await authorize(`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code`);
		expect(new URL(res.headers.get("Location")!).searchParams.get("error")).toBe("invalid_request");
	});

	it("refuses a subject that is not printable ASCII without spaces or colons", async () => {
		const client = await createClient(gw);
		const res = await authorize(`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code`);
		const request = new URL(res.headers.get("Location")!).searchParams.get("request")!;
		const page = await gw.call(`/oauth/callback?assertion=${await assertion(request, "user one")}`, { headers: { Cookie: cookieOf(res) } });
		expect(page.status).toBe(400);
	});

	it.each([
		["a wrong nonce", { nonce: "nonce_other" }],
		["a wrong audience", { aud: "https://evil.example" }],
		["an expired assertion", { iat: Math.floor(Date.now() / 1000) - 200, exp: Math.floor(Date.now() / 1000) - 100 }],
		["an assertion living longer than 2 minutes", { exp: Math.floor(Date.now() / 1000) + 600 }],
	])("refuses the sign-in with %s", async (_name, over) => {
		const client = await createClient(gw);
		const res = await authorize(`client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code`);
		const request = new URL(res.headers.get("Location")!).searchParams.get("request")!;
		const page = await gw.call(`/oauth/callback?assertion=${await assertion(request, "user_1", over)}`, {
			headers: { Cookie: cookieOf(res) },
		});
		expect(page.status).toBe(400);
		expect(await page.text()).not.toContain("ticket");
	});
});
