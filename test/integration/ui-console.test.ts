/**
 * The operator console (issue 14): sign-in and sessions, the headers and CSRF refusals on
 * every UI response, and the key flows, on real KV and Durable Objects through the real
 * Worker. Only the origin is faked. The plaintext of a key appears in exactly one answer:
 * the POST that made it.
 */
import novuConfig from "../../examples/novu/keygate.config.json";
import bundled from "../../keygate.config.json";
import { generateKey } from "../../src/keys/format";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { adminFailures } from "../../src/admin/auth";
import { ADMIN_MAX_FAILURES } from "../../src/admin/contract";
import { SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from "../../src/ui/session";
import { CSS_PATH, JS_PATH } from "../../src/ui/static";
import { TEST_ADMIN_TOKEN } from "../constants";
import { admin, call, createKey, gatewayFor } from "../helpers/gateway";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";
import { shownKeys, signIn, ui, UI } from "../helpers/ui";

let origin: FakeOrigin;
beforeEach(() => {
	origin = fakeOrigin();
});
afterEach(() => {
	adminFailures.clear();
	vi.useRealTimers();
	vi.restoreAllMocks();
});

const CSP =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function expectUiHeaders(res: Response, cache = "no-store"): void {
	expect(res.headers.get("Content-Security-Policy")).toBe(CSP);
	expect(res.headers.get("Referrer-Policy")).toBe("same-origin");
	expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
	expect(res.headers.get("Cache-Control")).toBe(cache);
}

async function kvDump(): Promise<string> {
	const names = (await env.KEYS.list()).keys.map((k) => k.name);
	const values = await Promise.all(names.map((n) => env.KEYS.get(n)));
	return names.join("\n") + "\n" + values.join("\n");
}

/** Generates a key through the console; returns the plaintext and the page it came in. */
async function generate(cookie: string, form: Record<string, string | string[]> = {}) {
	const res = await ui(`${UI}/apis/demo/keys`, {
		cookie,
		form: { name: "console key", scopes: ["read", "write"], expiry: "never", kind: "single", ...form },
	});
	const html = await res.text();
	expect(res.status, html).toBe(200);
	const keys = shownKeys(html);
	expect(keys.length, html).toBeGreaterThan(0);
	return { res, html, key: keys[0]!, keys };
}

async function showName(id: string): Promise<string> {
	return (await (await admin(`/keys/${id}`)).json<{ name: string }>()).name;
}

async function idOf(key: string): Promise<string> {
	const res = await call("/v1/hello", { key });
	expect(res.status, await res.clone().text()).toBe(200);
	return origin.calls.at(-1)!.headers.get("X-Keygate-Key-Id")!;
}

describe("no admin token", () => {
	it.each([`${UI}/`, `${UI}/login`, `${UI}/keys/x`, CSS_PATH])("%s is 404 when ADMIN_TOKEN is not set", async (path) => {
		const res = await ui(path, { bindings: { ADMIN_TOKEN: undefined } });
		expect(res.status).toBe(404);
		const post = await ui(`${UI}/login`, { form: { token: "" }, bindings: { ADMIN_TOKEN: undefined } });
		expect(post.status).toBe(404);
		expect(post.headers.get("Set-Cookie")).toBeNull();
	});
});

describe("signing in", () => {
	it("a wrong token is refused, audited with the address only, and never echoed; no cookie is set", async () => {
		const guess = `guess-${crypto.randomUUID()}`;
		const res = await ui(`${UI}/login`, {
			form: { token: guess },
			headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "198.51.100.40" },
		});
		const html = await res.text();
		expect(res.status).toBe(401);
		expect(html).not.toContain(guess);
		expect(html).toContain("That is not the admin token.");
		expect(res.headers.get("Set-Cookie")).toBeNull();
		expectUiHeaders(res);
		const audit = await (await admin("/audit")).json<{ data: { action: string; details: Record<string, unknown> }[] }>();
		expect(audit.data[0]).toMatchObject({ action: "admin.auth_failed", details: { ip: "198.51.100.40", via: "console" } });
		expect(JSON.stringify(audit)).not.toContain(guess);
	});

	it(`after ${ADMIN_MAX_FAILURES} wrong tokens from one address, even the right token is refused (429) and no session opens`, async () => {
		const headers = { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "198.51.100.41" };
		for (let i = 0; i < ADMIN_MAX_FAILURES; i++)
			expect((await ui(`${UI}/login`, { form: { token: `no-${i}` }, headers })).status).toBe(401);
		const res = await ui(`${UI}/login`, { form: { token: TEST_ADMIN_TOKEN }, headers });
		expect(res.status).toBe(429);
		expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
		expect(res.headers.get("Set-Cookie")).toBeNull();
	});

	it("the right token sets __Host-kg_session HttpOnly, Secure, SameSite=Strict, Path=/; the token is in no cookie, page or KV value", async () => {
		const res = await ui(`${UI}/login`, { form: { token: TEST_ADMIN_TOKEN }, headers: { "Sec-Fetch-Site": "same-origin" } });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe(`${UI}/`);
		expectUiHeaders(res);
		const set = res.headers.get("Set-Cookie")!;
		expect(set).toMatch(
			/^__Host-kg_session=kgs_[0-9A-Za-z]{44}; Path=\/; Secure; HttpOnly; SameSite=Strict; Priority=High; Max-Age=28800$/,
		);
		expect(set).not.toContain(TEST_ADMIN_TOKEN);
		const cookie = set.split(";")[0]!;
		const home = await ui(`${UI}/`, { cookie });
		const html = await home.text();
		expect(home.status, html).toBe(200);
		expect(html).toContain("Keys of demo");
		expect(html).not.toContain(TEST_ADMIN_TOKEN);
		const dump = await kvDump();
		expect(dump).not.toContain(TEST_ADMIN_TOKEN);
		// Only the session token's hash is stored.
		expect(dump).not.toContain(cookie.split("=")[1]!);
		expect(dump).toMatch(/ui-session:[0-9a-f]{64}/);
	});

	it("the sign-in page is a standards-mode page (it starts with a doctype) named the keygate console", async () => {
		const html = await (await ui(`${UI}/login`)).text();
		expect(html.startsWith("<!doctype html><html")).toBe(true);
		expect(html).toContain("<strong>keygate console</strong>");
	});

	it("signed in, an address that names nothing is a 404 page, not the gateway's JSON (found in a browser: axe flagged the JSON)", async () => {
		const cookie = await signIn();
		for (const path of [`${UI}/apis/nope/keys`, `${UI}/apis/nope/keys/new`, `${UI}/apis/demo/key`, `${UI}/nothing`]) {
			const res = await ui(path, { cookie });
			const html = await res.text();
			expect(res.status, path).toBe(404);
			expect(res.headers.get("Content-Type"), path).toMatch(/^text\/html/);
			expect(html.startsWith('<!doctype html><html lang="en">'), path).toBe(true);
			expect(html, path).toContain("<h1>Not found</h1>");
		}
	});

	it("pages name a data: icon (no request for /favicon.ico through the gateway), and the revoke dialog focuses Cancel", async () => {
		const html = await (await ui(`${UI}/login`)).text();
		expect(html).toContain('<link rel="icon" href="data:,"/>');
		const cookie = await signIn();
		const { id } = await createKey({ name: "dialog" });
		const page = await (await ui(`${UI}/keys/${id}`, { cookie })).text();
		expect(page).toMatch(/<button type="button" data-close="" autofocus="">\s*Cancel/);
	});

	it("when storage fails, a page says nothing was changed (503), not the gateway's JSON", async () => {
		const cookie = await signIn();
		const fail = () => Promise.reject(new Error("KV down"));
		const broken = { get: fail, list: fail, put: fail, delete: fail, getWithMetadata: fail };
		vi.spyOn(console, "error").mockImplementation(() => {});
		const res = await ui(`${UI}/apis/demo/keys`, { cookie, bindings: { KEYS: broken } });
		const html = await res.text();
		expect(res.status, html).toBe(503);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(html.startsWith("<!doctype html>")).toBe(true);
		expect(html).toContain("nothing was changed");
		expect(res.headers.get("Cache-Control")).toContain("no-store");
	});

	it("with an invalid config a signed-in page is the console's 503 page, and an unknown asset a 404 page, never the gateway's JSON (found by probes)", async () => {
		const cookie = await signIn();
		const broken = await ui(`${UI}/`, { cookie, bindings: { ...env, KEYGATE_CONFIG: "{not json" } });
		expect(broken.status).toBe(503);
		expect(broken.headers.get("Content-Type")).toMatch(/^text\/html/);
		const said = await broken.text();
		expect(said).toContain("Not available right now");
		// It names the cause, and offers no link back to the same 503 (found by a browser QA pass).
		expect(said).toContain("configuration (KEYGATE_CONFIG) is invalid");
		expect(said).toContain("npm run config:check");
		expect(said).not.toContain(">Back<");
		const asset = await ui(`${UI}/static/nope.css`);
		expect(asset.status).toBe(404);
		expect(asset.headers.get("Content-Type")).toMatch(/^text\/html/);
		expect(await asset.text()).toContain("There is no page at this address.");
	});

	it("without a session every page sends you to the sign-in page, which comes back to it (found by a browser QA pass)", async () => {
		for (const path of [`${UI}/`, `${UI}/apis/demo/keys`, `${UI}/audit?action=key.created`, `${UI}/keys/key_0123456789012345678901`]) {
			const res = await ui(path);
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).toBe(path === `${UI}/` ? `${UI}/login` : `${UI}/login?next=${encodeURIComponent(path)}`);
			expectUiHeaders(res);
		}
		const login = await (await ui(`${UI}/login?next=${encodeURIComponent(`${UI}/audit?action=key.created`)}`)).text();
		expect(login).toContain(`name="next" value="${UI}/audit?action=key.created"`);
		expect(login).not.toContain("session ended");
		// An address elsewhere is never where sign-in goes on to.
		expect(await (await ui(`${UI}/login?next=${encodeURIComponent("https://evil.example/")}`)).text()).not.toContain('name="next"');
		const signedIn = await ui(`${UI}/login`, {
			form: { token: TEST_ADMIN_TOKEN, next: `${UI}/audit?action=key.created` },
			headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "192.0.2.12" },
		});
		expect(signedIn.headers.get("Location")).toBe(`${UI}/audit?action=key.created`);
		const forged = await ui(`${UI}/`, { cookie: "__Host-kg_session=kgs_" + "A".repeat(44) });
		expect(forged.status).toBe(303);
	});
});

describe("sessions", () => {
	it("end after 30 minutes idle", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const cookie = await signIn();
		vi.setSystemTime(Date.now() + SESSION_IDLE_MS - 60_000);
		expect((await ui(`${UI}/`, { cookie })).status).toBe(200);
		// Activity moved the idle clock: another 29 minutes is fine.
		vi.setSystemTime(Date.now() + SESSION_IDLE_MS - 60_000);
		expect((await ui(`${UI}/`, { cookie })).status).toBe(200);
		vi.setSystemTime(Date.now() + SESSION_IDLE_MS + 1);
		const res = await ui(`${UI}/`, { cookie });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe(`${UI}/login?ended=1&next=${encodeURIComponent(`${UI}/`)}`);
	});

	it("a session that ended says so on the sign-in page, which then goes back to where the operator was; never elsewhere (found by a browser QA pass)", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const cookie = await signIn();
		vi.setSystemTime(Date.now() + SESSION_IDLE_MS + 1);
		const where = `${UI}/apis/demo/keys?status=revoked`;
		const res = await ui(where, { cookie });
		const location = res.headers.get("Location")!;
		expect(location).toBe(`${UI}/login?ended=1&next=${encodeURIComponent(where)}`);
		const login = await (await ui(location)).text();
		expect(login).toContain("Your session ended.");
		expect(login).toContain(`name="next" value="${where.replace("&", "&amp;")}"`);
		const back = await ui(`${UI}/login`, { form: { token: TEST_ADMIN_TOKEN, next: where } });
		expect(back.status).toBe(303);
		expect(back.headers.get("Location")).toBe(where);
		// Only a console address, and never one holding a key.
		const key = (await createKey()).key;
		for (const next of [
			"https://evil.example/",
			"//evil.example/",
			`${UI}//evil.example`,
			`${UI}/../x`,
			`${UI}/%2e%2e/x`,
			`${UI}/apis/demo/keys?q=${key}`,
		]) {
			const res = await ui(`${UI}/login`, { form: { token: TEST_ADMIN_TOKEN, next } });
			expect(res.headers.get("Location"), next).toBe(`${UI}/`);
			expect(await (await ui(`${UI}/login?ended=1&next=${encodeURIComponent(next)}`)).text()).not.toContain(key);
		}
	});

	it("a hand-made address with a key in its path, or in sign-in's next, is answered with a 303 away from it (a browser QA pass)", async () => {
		const cookie = await signIn();
		const { key } = await createKey();
		// Every character of the body percent-encoded, then a malformed sequence, which once stopped the decoding (a review).
		const encoded = [...key.slice(8, -6)].map((ch) => `%${ch.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
		for (const path of [
			`${UI}/keys/${key}`,
			`${UI}/keys/${key.slice(8).toLowerCase()}`,
			`${UI}/keys/${encoded}/%FF`,
			`${UI}/keys/${encoded.replaceAll("%", "%25")}`,
		]) {
			const res = await ui(path, { cookie });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).toBe(`${UI}/`);
		}
		const { id } = await createKey();
		for (const [path, to, session] of [
			[`${UI}/login?next=${encodeURIComponent(`${UI}/apis/demo/keys?q=${key}`)}`, `${UI}/login`, undefined],
			[`${UI}/login?ended=1&sent=1&next=${encodeURIComponent(`${UI}/keys/${key.slice(8, -6)}`)}`, `${UI}/login?ended=1&sent=1`, undefined],
			// Every `next`, not the first only; and any other parameter, on any page (a review).
			[`${UI}/login?next=${encodeURIComponent(`${UI}/`)}&next=${key}`, `${UI}/login?next=${encodeURIComponent(`${UI}/`)}`, undefined],
			[`${UI}/login?x=${key}`, `${UI}/login`, undefined],
			[`${UI}/keys/${id}?x=${key.slice(0, -6)}&done=revoked`, `${UI}/keys/${id}?done=revoked`, cookie],
			[`${UI}/nothing?k=${key}`, `${UI}/nothing`, cookie],
		] as const) {
			const res = await ui(path, { cookie: session });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).toBe(to);
		}
		// The pages that look a pasted search up themselves check a repeated field, and owners every other field (a probe:
		// `q=&q=<key>` got a page whose "Next page" link held the key).
		for (const path of [
			`${UI}/apis/demo/keys?q=&q=${key}`,
			`${UI}/apis/demo/keys?q=foo&q=${key.slice(0, -6)}`,
			`${UI}/audit?keyId=x&keyId=${key}`,
			`${UI}/owners?api=${key}`,
			`${UI}/owners?x=${key}`,
			`${UI}/owners?owner=a&owner=${key}`,
		]) {
			const res = await ui(path, { cookie });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).not.toContain(key.slice(10, 40));
		}
		// An API with no list to look the key up in, the audit export, a key percent-encoded twice and cut short, a
		// cursor that is base64url JSON holding a key (a second review).
		const twice = [...key.slice(0, -6)].map((ch) => `%25${ch.charCodeAt(0).toString(16).padStart(2, "0")}`).join("");
		const b64url = (o: unknown) => btoa(JSON.stringify(o)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
		const forged = b64url({ k: key });
		// A third review: a key cut short in a cursor's fields, and a cursor on a page that reads none.
		const cutInCursor = b64url({ p: "audit", c: null, a: key.slice(0, -6), k: "x" });
		for (const path of [
			`${UI}/apis/nope/keys?q=${key}`,
			`${UI}/apis/nope/keys?x=${key}`,
			`${UI}/audit.json?keyId=${key}`,
			`${UI}/audit.json?x=${key}`,
			`${UI}/audit?x=${twice}`,
			`${UI}/apis/demo/keys?q=${twice}`,
			`${UI}/audit?cursor=${forged}`,
			`${UI}/audit?cursor=${cutInCursor}`,
			`${UI}/audit.json?cursor=${cutInCursor}`,
			`${UI}/keys/${id}?cursor=${cutInCursor}`,
			`${UI}/login?next=${encodeURIComponent(`${UI}/audit?cursor=${cutInCursor}`)}`,
		]) {
			const res = await ui(path, { cookie });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).not.toContain(key.slice(10, 40));
			expect(res.headers.get("Location")).not.toContain(forged);
			// Decoded twice, as the twice-encoded key was sent (a review: the raw Location alone could keep it encoded).
			const decoded = decodeURIComponent(decodeURIComponent(res.headers.get("Location")!));
			expect(decoded).not.toContain(cutInCursor);
			expect(decoded).not.toContain(key.slice(10, 40));
		}
		// An export asked for with a key in it goes to the audit page's notice, not to a download of everything (a browser pass).
		const exported = await ui(`${UI}/audit.json?keyId=${key}&action=key.created`, { cookie });
		expect(exported.headers.get("Location")).toBe(`${UI}/audit?action=key.created&pasted=1`);
		// Without a key, the same addresses are pages as before.
		expect((await ui(`${UI}/apis/nope/keys?q=foo`, { cookie })).status).toBe(404);
		expect((await ui(`${UI}/audit.json?action=key.created`, { cookie })).status).toBe(200);
		expect((await ui(`${UI}/apis/demo/keys?q=&q=foo`, { cookie })).status).toBe(200);
		expect((await ui(`${UI}/login?next=${encodeURIComponent(`${UI}/audit`)}`)).status).toBe(200);
		expect((await ui(`${UI}/keys/key_doesnotexist`, { cookie })).status).toBe(404);
	});

	it("end 8 hours after sign-in, however active", async () => {
		vi.useFakeTimers({ toFake: ["Date"] });
		const cookie = await signIn();
		const start = Date.now();
		for (let t = 20 * 60_000; t < SESSION_ABSOLUTE_MS; t += 20 * 60_000) {
			vi.setSystemTime(start + t);
			expect((await ui(`${UI}/`, { cookie })).status, `at ${t / 60_000} min`).toBe(200);
		}
		vi.setSystemTime(start + SESSION_ABSOLUTE_MS);
		expect((await ui(`${UI}/`, { cookie })).status).toBe(303);
	});

	it("sign-out ends the session at once", async () => {
		const cookie = await signIn();
		expect((await ui(`${UI}/`, { cookie })).status, "the session works before sign-out").toBe(200);
		const out = await ui(`${UI}/logout`, { cookie, form: {} });
		expect(out.status).toBe(303);
		expect(out.headers.get("Set-Cookie")).toMatch(/^__Host-kg_session=; .*Max-Age=0$/);
		expect((await ui(`${UI}/`, { cookie })).status).toBe(303);
		// Signing out again, the session already gone (another tab), is a plain sign-out, not "a form was not sent" (a browser QA pass).
		const again = await ui(`${UI}/logout`, { cookie, form: {} });
		expect(again.status).toBe(303);
		expect(again.headers.get("Location")).toBe(`${UI}/login?out=1`);
		expect(out.headers.get("Location")).toBe(`${UI}/login?out=1`);
		expect(await (await ui(`${UI}/login?out=1`)).text()).toContain('<p role="status">You have signed out.</p>');
	});

	it("a wrong admin token marks the field and points it at the message", async () => {
		const html = await (
			await ui(`${UI}/login`, {
				form: { token: "not-the-token" },
				headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "192.0.2.13" },
			})
		).text();
		expect(html).toMatch(/<input type="password" name="token"[^>]*aria-invalid="true" aria-describedby="form-error"/);
		expect(html).toContain('id="form-error"');
	});

	it("changing ADMIN_TOKEN ends every session", async () => {
		const cookie = await signIn();
		expect((await ui(`${UI}/`, { cookie })).status).toBe(200);
		const res = await ui(`${UI}/`, { cookie, bindings: { ADMIN_TOKEN: "a-new-admin-token-after-rotation" } });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toMatch(new RegExp(`^${UI}/login\\?ended=1`));
	});

	it("the session cookie never authorises the JSON admin API", async () => {
		const cookie = await signIn();
		const res = await call("/_keygate/v1/keys", { headers: { Cookie: cookie } });
		expect(res.status).toBe(401);
	});
});

describe("headers", () => {
	it("every UI response carries the CSP, same-origin referrers, nosniff and no-store; assets are cached for a year", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		for (const path of [
			`${UI}/login`,
			`${UI}/`,
			`${UI}/apis/demo/keys`,
			`${UI}/apis/demo/keys/new`,
			`${UI}/keys/${id}`,
			`${UI}/audit`,
			`${UI}/owners`,
			`${UI}/nope`,
		]) {
			const res = await ui(path, { cookie });
			expectUiHeaders(res);
		}
		for (const [path, type] of [
			[CSS_PATH, "text/css; charset=utf-8"],
			[JS_PATH, "text/javascript; charset=utf-8"],
		] as const) {
			const res = await ui(path);
			expect(res.status).toBe(200);
			expect(res.headers.get("Content-Type")).toBe(type);
			expectUiHeaders(res, "public, max-age=31536000, immutable");
		}
		expect(CSS_PATH).toMatch(/^\/_keygate\/ui\/static\/[0-9a-f]{16}\.css$/);
		expect((await ui(`${UI}/static/0000000000000000.css`)).status).toBe(404);
	});
});

describe("CSRF", () => {
	const attempts: [string, Record<string, string>][] = [
		["no Sec-Fetch-Site and no Origin", {}],
		["Sec-Fetch-Site: cross-site", { "Sec-Fetch-Site": "cross-site" }],
		["Sec-Fetch-Site: same-site", { "Sec-Fetch-Site": "same-site" }],
		["another Origin", { Origin: "https://evil.example" }],
		["Origin: null", { Origin: "null" }],
	];

	it.each(attempts)("a generate post with %s is 403 and writes nothing", async (_label, headers) => {
		const cookie = await signIn();
		const before = await kvDump();
		const res = await ui(`${UI}/apis/demo/keys`, { cookie, headers, form: { name: "csrf", expiry: "never", kind: "single" } });
		expect(res.status).toBe(403);
		expectUiHeaders(res);
		expect(await kvDump()).toBe(before);
	});

	it("a script of a page the origin serves (same origin, but no navigation) can neither post nor read a page; the browser's own navigation can (found by a probe)", async () => {
		const cookie = await signIn();
		const before = await kvDump();
		const fetched = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty" };
		const posted = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			headers: fetched,
			form: { name: "planted", scopes: ["write"], expiry: "never", kind: "single" },
		});
		expect(posted.status).toBe(403);
		expect(shownKeys(await posted.text())).toEqual([]);
		expect(await kvDump()).toBe(before);
		expect((await ui(`${UI}/`, { cookie, headers: { ...fetched, "Sec-Fetch-Mode": "same-origin" } })).status).toBe(403);
		expect((await ui(`${UI}/`, { cookie, headers: { "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe" } })).status).toBe(403);
		const page = await ui(`${UI}/`, {
			cookie,
			headers: { "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" },
		});
		expect(page.status).toBe(200);
		expect(page.headers.get("Cross-Origin-Opener-Policy")).toBe("same-origin");
		const navigated = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" };
		const made = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			headers: navigated,
			form: { name: "by hand", scopes: ["read"], expiry: "never", kind: "single" },
		});
		expect(made.status).toBe(200);
		expect(shownKeys(await made.text())).toHaveLength(1);
		// Node's fetch sends Sec-Fetch-Mode: cors and no Sec-Fetch-Dest: a client like curl, not a page (no browser omits Dest).
		expect((await ui(`${UI}/`, { cookie, headers: { "Sec-Fetch-Mode": "cors" } })).status).toBe(200);
	});

	it("a form from a page opened before signing in again (another tab) is refused with a way back to that page, not a dead end (a browser QA pass)", async () => {
		const earlier = await signIn();
		const staleToken = /<meta name="kg-form" content="([0-9a-f]{64})"/.exec(
			await (await ui(`${UI}/apis/demo/keys/new`, { cookie: earlier })).text(),
		)![1]!;
		const now = await signIn();
		const before = await kvDump();
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie: now,
			headers: { "Sec-Fetch-Site": "same-origin", Referer: `https://api.example.com${UI}/apis/demo/keys/new` },
			form: { name: "stale", expiry: "never", kind: "single", kg_form: staleToken },
		});
		const html = await res.text();
		expect(res.status).toBe(403);
		expect(html).toContain("in your current session (a page opened before you last signed in counts as another), so nothing was changed.");
		expect(html).toContain(`<a href="${UI}/apis/demo/keys/new">Open the page again</a>`);
		expect(html).toContain('<nav aria-label="Main">');
		expect(await kvDump()).toBe(before);
		// A Referer outside the console leads home, never elsewhere.
		const away = await ui(`${UI}/apis/demo/keys`, {
			cookie: now,
			headers: { "Sec-Fetch-Site": "same-origin", Referer: "https://api.example.com/v1/hello" },
			form: { name: "stale", expiry: "never", kind: "single", kg_form: staleToken },
		});
		expect(await away.text()).toContain(`<a href="${UI}/">Back to the APIs</a>`);
	});

	it("a form without the session's form token, or with another's, is 403 and writes nothing: a page the origin serves can submit a form, not read the token (found by a review)", async () => {
		const cookie = await signIn();
		const other = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		const before = await kvDump();
		const navigated = { "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document" };
		const otherToken = /<meta name="kg-form" content="([0-9a-f]{64})"/.exec(await (await ui(`${UI}/`, { cookie: other })).text())![1]!;
		// `kg_form: []` sends no token at all (the helper adds the right one only when the form names none).
		for (const kg_form of [[], "", otherToken, "0".repeat(64)]) {
			const res = await ui(`${UI}/apis/demo/keys`, {
				cookie,
				headers: navigated,
				form: { name: "planted", expiry: "never", kind: "single", kg_form },
			});
			expect(res.status, String(kg_form)).toBe(403);
			expect(await res.text()).toContain("This form was not sent from a page of this console");
			expect((await ui(`${UI}/keys/${id}/revoke`, { cookie, headers: navigated, form: { kg_form } })).status).toBe(403);
		}
		expect(await kvDump()).toBe(before);
		expect((await call("/v1/hello", { key })).status).toBe(200);
		// Every POST form of a page carries this session's token, and the page's meta holds it for the script.
		const page = await (await ui(`${UI}/keys/${id}`, { cookie })).text();
		const own = /<meta name="kg-form" content="([0-9a-f]{64})"/.exec(page)![1]!;
		expect(own).not.toBe(otherToken);
		const forms = page.match(/<form\b[^>]*method="post"[^>]*>/g)!;
		expect(forms.length).toBeGreaterThan(1);
		expect(page.match(new RegExp(`<input type="hidden" name="kg_form" value="${own}"/>`, "g"))).toHaveLength(forms.length);
	});

	it.each(attempts)("a revoke post with %s is 403 and the key keeps working", async (_label, headers) => {
		const cookie = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		expect((await ui(`${UI}/keys/${id}/revoke`, { cookie, headers, form: {} })).status).toBe(403);
		expect((await call("/v1/hello", { key })).status).toBe(200);
	});

	it("a sign-in post from another site is refused before the token is looked at", async () => {
		const res = await ui(`${UI}/login`, { form: { token: TEST_ADMIN_TOKEN }, headers: { "Sec-Fetch-Site": "cross-site" } });
		expect(res.status).toBe(403);
		expect(res.headers.get("Set-Cookie")).toBeNull();
	});

	it("a same-origin Origin header is enough when Sec-Fetch-Site is absent", async () => {
		const cookie = await signIn();
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			headers: { Origin: "https://api.example.com" },
			form: { name: "via origin", expiry: "never", kind: "single", scopes: "read" },
		});
		expect(res.status).toBe(200);
		expect(shownKeys(await res.text())).toHaveLength(1);
	});
});

describe("keys", () => {
	it("a generated key is shown once, in the POST's answer, works through the gateway, and no GET, KV value or audit entry holds it", async () => {
		const cookie = await signIn();
		const { html, key, res } = await generate(cookie, { name: "shown once" });
		expectUiHeaders(res);
		expect(html).toContain("I&#39;ve saved this key");
		expect(html).toContain(`curl -H &quot;Authorization: Bearer ${key}&quot; https://api.example.com/v1/hello`);
		const masked = `sk_live_…${key.slice(-4)}`;
		const unused = await (await ui(`${UI}/apis/demo/keys?q=${encodeURIComponent(masked)}`, { cookie })).text();
		expect(unused).toMatch(/shown once[\s\S]*Never used/);
		const id = await idOf(key);
		const pages = [
			`${UI}/`,
			`${UI}/apis/demo/keys`,
			`${UI}/apis/demo/keys?q=shown`,
			`${UI}/keys/${id}`,
			`${UI}/keys/${id}/rotate`,
			`${UI}/keys/${id}/revoke`,
			`${UI}/keys/${id}/delete`,
			`${UI}/audit`,
			`${UI}/audit.json`,
		];
		for (const path of pages) {
			const page = await ui(path, { cookie });
			const text = await page.text();
			expect(page.status, path).toBe(200);
			expect(text, path).not.toContain(key);
			expect(text, path).not.toContain(key.slice(-20));
		}
		const list = await (await ui(`${UI}/apis/demo/keys?q=shown`, { cookie })).text();
		expect(list).toContain(masked);
		expect(list).not.toContain("Never used");
		expect(await kvDump()).not.toContain(key);
		const audit = await (await admin("/audit")).text();
		expect(audit).not.toContain(key);
	});

	it("the list searches by name, id and prefix, filters by status and environment, and says Active / Revoked / Expires soon", async () => {
		const cookie = await signIn();
		const tag = crypto.randomUUID().slice(0, 8);
		const a = await generate(cookie, { name: `alpha-${tag}` });
		// "Expires soon" is within 3 days; a 7-day key is not "soon" at birth (stop 24's browser QA pass).
		const inTwoDays = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
		const b = await generate(cookie, { name: `beta-${tag}`, environment: "test", expiry: "custom", expiresOn: inTwoDays });
		const c = await generate(cookie, { name: `gamma-${tag}` });
		const idC = await idOf(c.key);
		expect((await ui(`${UI}/keys/${idC}/revoke`, { cookie, form: {} })).status).toBe(303);
		const page = async (q: string) => (await ui(`${UI}/apis/demo/keys?${q}`, { cookie })).text();
		const all = await page(`q=${tag}`);
		expect(all).toContain(`alpha-${tag}`);
		expect(all).toMatch(new RegExp(`beta-${tag}[\\s\\S]*?Expires soon`));
		expect(all).toMatch(new RegExp(`gamma-${tag}[\\s\\S]*?Revoked`));
		const byPrefix = await page(`q=${encodeURIComponent(`sk_live_…${a.key.slice(-4)}`)}`);
		expect(byPrefix).toContain(`alpha-${tag}`);
		const revoked = await page(`q=${tag}&status=revoked`);
		expect(revoked).toContain(`gamma-${tag}`);
		expect(revoked).not.toContain(`alpha-${tag}`);
		const test = await page(`q=${tag}&environment=test`);
		expect(test).toContain(`beta-${tag}`);
		expect(test).not.toContain(`alpha-${tag}`);
		const byId = await page(`q=${idC}`);
		expect(byId).toContain(`gamma-${tag}`);
		expect(byId).not.toContain(`alpha-${tag}`);
		expect(b.key.startsWith("sk_test_")).toBe(true);
	});

	it("a whole key pasted into the search or the audit log's key id is never echoed: its key's page or events, else a notice (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const a = await generate(cookie, { name: `pasted-${crypto.randomUUID().slice(0, 8)}` });
		const id = await idOf(a.key);
		const q = encodeURIComponent(a.key);
		// Without the page's script: a GET. It leads to the key, so the key leaves the address at once.
		const get = await ui(`${UI}/apis/demo/keys?q=${q}&status=`, { cookie });
		expect(get.status).toBe(303);
		expect(get.headers.get("Location")).toBe(`${UI}/keys/${id}`);
		// With it: a POST to find-key, which never puts the key in an address.
		const post = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/apis/demo/keys`)}`, { cookie, form: { q: a.key, status: "" } });
		expect(post.status).toBe(303);
		expect(post.headers.get("Location")).toBe(`${UI}/keys/${id}`);
		const audit = await ui(`${UI}/audit?keyId=${q}&action=`, { cookie });
		expect(audit.status).toBe(303);
		expect(audit.headers.get("Location")).toBe(`${UI}/audit?keyId=${id}&action=`);
		const auditPost = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/audit`)}`, { cookie, form: { keyId: a.key } });
		expect(auditPost.headers.get("Location")).toBe(`${UI}/audit?keyId=${id}`);
		// A well-formed key that exists nowhere, one with a typo, or one behind its scheme: away from the address that held it, to a notice.
		const unknown = generateKey("sk", "live");
		const typo = `${a.key.slice(0, -3)}${a.key.endsWith("xyz") ? "abc" : "xyz"}`;
		for (const [path, to] of [
			[`${UI}/apis/demo/keys?q=${unknown}&status=`, `${UI}/apis/demo/keys?status=&pasted=1`],
			[`${UI}/apis/demo/keys?q=${typo}`, `${UI}/apis/demo/keys?pasted=1`],
			[`${UI}/audit?keyId=${unknown}`, `${UI}/audit?pasted=1`],
		] as const) {
			const res = await ui(path, { cookie });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).toBe(to);
			const html = await (await ui(to, { cookie })).text();
			expect(html).toContain("That was a whole API key, not a search");
			expect(html).not.toContain(unknown.slice(-20));
			expect(html).not.toContain(typo.slice(-20));
		}
		// A key cut short (its checksum characters lost, or its prefix left off): its checksum can be computed
		// again, so it is a key all the same (a browser QA pass rebuilt one from the address bar).
		for (const short of [a.key.slice(0, -6), a.key.slice(0, -1), a.key.slice("sk_live_".length, -4)]) {
			for (const [path, to] of [
				[`${UI}/apis/demo/keys?q=${short}&status=`, `${UI}/apis/demo/keys?status=&pasted=1`],
				[`${UI}/audit?keyId=${short}`, `${UI}/audit?pasted=1`],
			] as const) {
				const res = await ui(path, { cookie });
				expect(res.status, path).toBe(303);
				expect(res.headers.get("Location")).toBe(to);
			}
			const found = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/apis/demo/keys`)}`, { cookie, form: { q: short } });
			expect(found.headers.get("Location")).toBe(`${UI}/apis/demo/keys?pasted=1`);
		}
		// Nor in any other audit filter, nor in the address sign-in goes back to (a second probe).
		for (const name of ["from", "to", "action"]) {
			for (const value of [a.key, a.key.slice(0, -6)]) {
				const res = await ui(`${UI}/audit?${name}=${encodeURIComponent(value)}&actorType=token`, { cookie });
				expect(res.status, `${name}=${value.length}`).toBe(303);
				expect(res.headers.get("Location")).toBe(`${UI}/audit?actorType=token&pasted=1`);
			}
		}
		for (const value of [a.key, a.key.slice(0, -6)]) {
			const signIn = await ui(`${UI}/login?next=${encodeURIComponent(`${UI}/apis/demo/keys?q=${value}`)}`);
			expect(await signIn.text()).not.toContain(value.slice(10, 40));
			const away = await ui(`${UI}/apis/demo/keys?q=${value}`);
			expect(away.headers.get("Location")).toBe(`${UI}/login`);
		}
		// A search of a key's start (its `start`, as lists show it) is still a search, and so are long ids
		// in one case (a review: an owner id that is a UUID without dashes could not be looked up).
		const start = await ui(`${UI}/apis/demo/keys?q=${a.key.slice(0, 12)}`, { cookie });
		expect(start.status).toBe(200);
		const hex = "0123456789abcdef0123456789abcdef";
		// Any other parameter holding a key leaves the address too: the list's links copy every parameter (a review).
		for (const value of [a.key, a.key.slice(0, -6)]) {
			const res = await ui(`${UI}/apis/demo/keys?zzz=${value}&status=active`, { cookie });
			expect(res.status).toBe(303);
			expect(res.headers.get("Location")).toBe(`${UI}/apis/demo/keys?status=active&pasted=1`);
		}
		const searched = await ui(`${UI}/apis/demo/keys?q=${hex}`, { cookie });
		expect(searched.status).toBe(200);
		expect(await searched.text()).toContain(`value="${hex}"`);
		expect((await ui(`${UI}/owners?owner=${hex}`, { cookie })).status).toBe(200);
		const bearer = await ui(`${UI}/apis/demo/keys?q=${encodeURIComponent(`Bearer ${a.key}`)}`, { cookie });
		expect(bearer.headers.get("Location")).toBe(`${UI}/keys/${id}`);
		const back = await ui(`${UI}/find-key?back=${encodeURIComponent(`${UI}/audit`)}`, { cookie, form: { keyId: unknown } });
		expect(back.headers.get("Location")).toBe(`${UI}/audit?pasted=1`);
		const noticed = await ui(`${UI}/audit?pasted=1`, { cookie });
		const html = await noticed.text();
		expect(html).toContain("That was a whole API key, not a search");
		// It says what the field takes, and that the events it lists are every key's (found by a browser QA pass: it said none were listed).
		expect(html).toMatch(/Key id takes a key(&#39;|')s id \(key_…\)/);
		expect(html).toContain("The events below are not filtered by key.");
		expect(html).not.toContain("No events are listed");
		expect(noticed.status).toBe(200);
		// `back` never leaves the console.
		const away = await ui(`${UI}/find-key?back=${encodeURIComponent("https://evil.example/")}`, { cookie, form: { q: unknown } });
		expect(away.headers.get("Location")).toBe(`${UI}/?pasted=1`);
	});

	it("a new key's form ticks the scopes its curl line's route needs, and that line (no stray slash) works as shown (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		expect(form).toMatch(/<input type="checkbox" name="scopes" value="read" checked="?"?\s*\/?>/);
		expect(form).not.toMatch(/value="write" checked/);
		// A read-only type says so where it is chosen: its scopes cannot make it write (found by a browser QA pass).
		expect(form).toContain("pk (publishable, read-only)");
		expect(form).toContain("sk (secret)");
		const res = await ui(`${UI}/apis/demo/keys`, { cookie, form: { name: "as shown", scopes: ["read"], expiry: "never", kind: "single" } });
		const html = await res.text();
		const line =
			/curl -H &quot;Authorization: Bearer ([^&]+)&quot; (\S+?)<\/code>/.exec(html) ??
			/curl -H "Authorization: Bearer ([^"]+)" (\S+?)<\/code>/.exec(html);
		expect(line, html).not.toBeNull();
		// The page that shows the key restates what was made (found by a browser QA pass).
		expect(html).toMatch(
			/Settings: as shown, sk \(secret\), \w+, tier free; scopes read;\s+expires <span class="muted">never<\/span>; IP allowlist any address\./,
		);
		const url = new URL(line![2]!);
		expect(url.pathname).toBe("/v1/hello");
		expect((await call(url.pathname, { key: line![1]! })).status).toBe(200);
	});

	it("the curl line says when the key shown cannot pass it: a scope its route needs, or an IP allowlist (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const lacking = await generate(cookie, { name: "writes only", scopes: ["write"] });
		expect(lacking.html).toContain("This call needs the scope read, which this key does not have: it gets 403.");
		expect((await call("/v1/hello", { key: lacking.key })).status).toBe(403);
		const fenced = await generate(cookie, { name: "fenced", scopes: ["read"], ipAllowlist: "10.1.2.3" });
		expect(fenced.html).toContain("This key is accepted only from 10.1.2.3: from anywhere else the call gets 403.");
		expect(fenced.html).not.toContain("This call needs the scope");
		const works = await generate(cookie, { name: "works as shown", scopes: ["read"] });
		expect(works.html).not.toContain("it gets 403");
		expect(works.html).not.toContain("This key is accepted only from");
		expect((await call("/v1/hello", { key: works.key })).status).toBe(200);
	});

	it("the curl line puts the key where the API takes it (Novu: Authorization: ApiKey), and says an identifier authorizes nothing alone (found by a review)", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novuConfig) };
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const res = await ui(`${UI}/apis/novu/keys`, {
			cookie,
			bindings,
			form: { name: "novu pair", environment: "production", expiry: "never", kind: "pair" },
		});
		const html = await res.text();
		expect(res.status, html).toBe(200);
		const [secret, identifier] = shownKeys(html);
		expect(secret).toMatch(/^sk_production_/);
		expect(identifier).toMatch(/^app_production_/);
		expect(html).toMatch(new RegExp(`curl -H (?:&quot;|")Authorization: ApiKey ${secret}(?:&quot;|")`));
		expect(html).not.toContain("Authorization: Bearer");
		expect(html).toContain("This is an identifier: it names the application beside its secret key and authorizes nothing alone");
		// No line to try with it: it could only get 401 (a browser QA pass). The secret key's line is the page's only one.
		expect(html.match(/curl -H/g)).toHaveLength(1);
		expect(html).not.toMatch(new RegExp(`ApiKey ${identifier}`));
		expect(html).not.toContain("401");
	});

	it("an API with a portal offers Owner in the generate form: the key it makes is the customer's (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		expect(form).toContain('name="owner"');
		const made = await (
			await ui(`${UI}/apis/demo/keys`, {
				cookie,
				form: { name: "for a customer", scopes: ["read"], expiry: "never", kind: "single", owner: "cust_qa" },
			})
		).text();
		expect(made).toContain("; owner cust_qa.");
		const listed = await admin("/keys?owner=cust_qa");
		expect(((await listed.json()) as { data: { name: string }[] }).data.map((k) => k.name)).toContain("for a customer");
	});

	it("revoke and delete say what they did on the page they lead to; a refused delete keeps saying what deleting does (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const a = await generate(cookie, { name: `done-${crypto.randomUUID().slice(0, 8)}` });
		const id = await idOf(a.key);
		const revoked = await ui(`${UI}/keys/${id}/revoke`, { cookie, form: {} });
		expect(revoked.headers.get("Location")).toBe(`${UI}/keys/${id}?done=revoked`);
		expect(await (await ui(revoked.headers.get("Location")!, { cookie })).text()).toContain("Revoked: requests with");
		const refused = await (await ui(`${UI}/keys/${id}/delete`, { cookie, form: { confirm: "not the name" } })).text();
		// Revoked, it gets 401 already: not "from the next request" (a browser QA pass).
		expect(refused).toContain("already get 401; the key disappears from every list.");
		expect(refused).not.toContain("from the next request");
		const deleted = await ui(`${UI}/keys/${id}/delete`, { cookie, form: { confirm: await showName(id) } });
		expect(deleted.headers.get("Location")).toBe(`${UI}/apis/demo/keys?done=deleted`);
		expect(await (await ui(deleted.headers.get("Location")!, { cookie })).text()).toContain("The key was deleted");
	});

	it("keys.maxRotationGraceSeconds: the rotate form offers no longer grace, and one sent anyway is refused with nothing changed (Novu's 0; a seed-page pass)", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novuConfig) };
		const gw = gatewayFor(novuConfig as never);
		const made = await gw.admin("/keys", { method: "POST", body: JSON.stringify({ name: "regenerated", environment: "development" }) });
		expect(made.status).toBe(201);
		const { id } = await made.json<{ id: string }>();
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const form = await (await ui(`${UI}/keys/${id}/rotate`, { cookie, bindings })).text();
		expect(form.match(/name="grace"/g)).toHaveLength(1);
		expect(form).toContain('<input type="hidden" name="grace" value="0"/>');
		expect(form).toContain("The old key stops working at once: it gets 401 from the next request.");
		const refused = await ui(`${UI}/keys/${id}/rotate`, { cookie, bindings, form: { grace: "3600" } });
		const refusedHtml = await refused.text();
		expect(refused.status).toBe(400);
		// In the page's words, on the form again with what it offers (a review: it was the admin API's wording on an error page).
		expect(refusedHtml).toContain("Not rotated: this API&#39;s keys are rotated only Immediately.");
		expect(refusedHtml).not.toContain("gracePeriodSeconds");
		expect(refusedHtml).toContain('<input type="hidden" name="grace" value="0"/>');
		expect(shownKeys(refusedHtml)).toEqual([]);
		expect(await (await gw.admin(`/keys/${id}`)).json()).toMatchObject({ replacedBy: null });
		// The bundled API, capped at an hour: Immediately and 1 hour, not 24 hours or 7 days.
		const capped = structuredClone(bundled) as any;
		capped.apis[0].keys = { rotationGraceSeconds: 3600, maxRotationGraceSeconds: 3600 };
		const cappedBindings = { KEYGATE_CONFIG: JSON.stringify(capped) };
		const own = await gatewayFor(capped).createKey({ name: "capped", scopes: ["read"] });
		const cappedForm = await (
			await ui(`${UI}/keys/${own.id}/rotate`, { cookie: await signIn(TEST_ADMIN_TOKEN, cappedBindings), bindings: cappedBindings })
		).text();
		expect([...cappedForm.matchAll(/name="grace" value="(\d+)"/g)].map((m) => m[1])).toEqual(["0", "3600"]);
		// Past the cap while the line is also busy: the cap decides, as in the admin API (400, not the two-key rule's 409; a review).
		const cappedCookie = await signIn(TEST_ADMIN_TOKEN, cappedBindings);
		const first = await ui(`${UI}/keys/${own.id}/rotate`, { cookie: cappedCookie, bindings: cappedBindings, form: { grace: "3600" } });
		expect(first.status).toBe(200);
		const successor = (await (await gatewayFor(capped).admin(`/keys/${own.id}`)).json<{ replacedBy: string }>()).replacedBy;
		const tooLong = await ui(`${UI}/keys/${successor}/rotate`, {
			cookie: cappedCookie,
			bindings: cappedBindings,
			form: { grace: "86400" },
		});
		expect(tooLong.status).toBe(400);
		expect(await tooLong.text()).toContain("Not rotated: on this API the old key is kept for at most 1 hour after a rotation.");
	});

	it("an identifier's successor, while the old identifier's grace runs, is refused a graced rotation in an identifier's words (stop 32)", async () => {
		// Novu's identifiers, with graces allowed (Novu's own config allows none).
		const graced = structuredClone(novuConfig) as any;
		delete graced.apis[0].keys.maxRotationGraceSeconds;
		const bindings = { KEYGATE_CONFIG: JSON.stringify(graced) };
		const gw = gatewayFor(graced);
		const made = await gw.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ name: "graced pair", environment: "development" }),
		});
		expect(made.status).toBe(201);
		const { identifier } = await made.json<{ identifier: { id: string } }>();
		const rotated = await gw.admin(`/keys/${identifier.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 3600 }) });
		expect(rotated.status).toBe(201);
		const successor = (await rotated.json<{ id: string }>()).id;
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const refused = await ui(`${UI}/keys/${successor}/rotate`, { cookie, bindings, form: { grace: "3600" } });
		const html = await refused.text();
		expect(refused.status).toBe(409);
		expect(html).toContain("Not rotated: the identifier this one replaced is marked revoked only from");
		expect(html).toContain("so that a line holds no more than two at once.");
		expect(html).not.toMatch(/still works|keys of one line/);
		expect(shownKeys(html)).toEqual([]);
	});

	it("an application identifier's revoke and delete pages promise no 401: it authorizes nothing alone (found by a seed-page pass)", async () => {
		const bindings = { KEYGATE_CONFIG: JSON.stringify(novuConfig) };
		const gw = gatewayFor(novuConfig as never);
		const made = await gw.admin("/key-pairs", { method: "POST", body: JSON.stringify({ name: "pair", environment: "development" }) });
		expect(made.status).toBe(201);
		const { secret, identifier } = await made.json<{ secret: { id: string }; identifier: { id: string; pairId: string } }>();
		const pairOf = identifier.pairId;
		const cookie = await signIn(TEST_ADMIN_TOKEN, bindings);
		const unchanged = "authorizes nothing alone: requests that send it beside a secret key pass as before.";
		for (const action of ["revoke", "delete", "rotate"]) {
			const page = await (await ui(`${UI}/keys/${identifier.id}/${action}`, { cookie, bindings })).text();
			expect(page, action).not.toContain("401");
			if (action === "rotate") {
				// Novu offers no grace: said as a fact, with no one-choice question (a seed-page pass).
				expect(page).toContain("The old one is marked revoked at once.");
				expect(page).toContain('<input type="hidden" name="grace" value="0"/>');
				expect(page).not.toContain("keep working");
			} else {
				expect(page).toContain(unchanged);
				// Its buttons and the delete page's label name an identifier too (a browser QA pass).
				expect(page).toContain(action === "revoke" ? "Revoke identifier" : "Delete identifier");
				if (action === "delete") expect(page).toContain("Type the identifier&#39;s name");
			}
			expect(await (await ui(`${UI}/keys/${secret.id}/${action}`, { cookie, bindings })).text()).toMatch(/gets? 401 from the next request/);
		}
		// What was done says the same: a rotation, a revoke, a delete (a review: they promised a cut-off).
		const rotated = await (await ui(`${UI}/keys/${identifier.id}/rotate`, { cookie, bindings, form: { grace: "0" } })).text();
		expect(rotated).toContain("is marked revoked now.");
		expect(rotated).toContain(unchanged);
		// Shown as what it is; and the identifier it replaced, no longer working, offers no revoke form (a browser pass).
		expect(rotated).toContain("Your new application identifier");
		const stale = await (await ui(`${UI}/keys/${identifier.id}/revoke`, { cookie, bindings })).text();
		expect(stale).toContain("Nothing to do: this identifier was replaced and its grace period has ended, so it is marked revoked.");
		expect(stale).toContain("The identifier that replaced it</a>.");
		expect(stale).not.toContain(`action="/_keygate/ui/keys/${identifier.id}/revoke"`);
		expect(await (await ui(`${UI}/keys/${identifier.id}`, { cookie, bindings })).text()).not.toContain(`/keys/${identifier.id}/revoke"`);
		const listed = await (
			await gw.admin("/keys?api=novu")
		).json<{ data: { id: string; kind: string; pairId: string | null; revokedAt: string | null }[] }>();
		const next = listed.data.find(
			(k) => k.kind === "identifier" && k.pairId === pairOf && k.id !== identifier.id && k.revokedAt === null,
		)!.id;
		const revoked = await ui(`${UI}/keys/${next}/revoke`, { cookie, bindings, form: {} });
		const notice = await (await ui(revoked.headers.get("Location")!, { cookie, bindings })).text();
		expect(notice).toContain("is marked revoked.");
		expect(notice).toContain(unchanged);
		const deleted = await ui(`${UI}/keys/${next}/delete`, { cookie, bindings, form: { confirm: "pair" } });
		const list = await (await ui(deleted.headers.get("Location")!, { cookie, bindings })).text();
		expect(list).toContain(
			"The identifier was deleted. It authorized nothing alone: requests that send it beside a secret key pass as before.",
		);
	});

	it("sorts by last used, from each key's authority: most recent first, never-used keys last (first when oldest first)", async () => {
		const cookie = await signIn();
		const tag = crypto.randomUUID().slice(0, 8);
		const never = await generate(cookie, { name: `never-${tag}` });
		const early = await generate(cookie, { name: `early-${tag}` });
		const late = await generate(cookie, { name: `late-${tag}` });
		// Created never, early, late; used early, then late (a millisecond apart at least).
		await idOf(early.key);
		await new Promise((r) => setTimeout(r, 5));
		await idOf(late.key);
		const order = async (q: string) => {
			const html = await (await ui(`${UI}/apis/demo/keys?q=${tag}&${q}`, { cookie })).text();
			return [...html.matchAll(/<tr data-key-id="[^"]+"><th scope="row" class="name"><a href="[^"]+">([a-z]+)-/g)].map((m) => m[1]);
		};
		expect(await order("sort=lastUsed")).toEqual(["late", "early", "never"]);
		expect(await order("sort=lastUsed&order=asc")).toEqual(["never", "early", "late"]);
		expect(await order("sort=last_used")).toEqual(["late", "early", "never"]);
		// Created order is the other way round for the used ones, so the sort is no accident of it.
		expect(await order("sort=created&order=asc")).toEqual(["never", "early", "late"]);
		// Use early again: it moves to the top.
		await new Promise((r) => setTimeout(r, 5));
		await idOf(early.key);
		expect(await order("sort=lastUsed")).toEqual(["early", "late", "never"]);
		const html = await (await ui(`${UI}/apis/demo/keys?q=${tag}&sort=lastUsed`, { cookie })).text();
		expect(html).toMatch(/<option value="lastUsed" selected="">Last used<\/option>/);
		expect(html).toContain("Never used");
	});

	it("rows follow the keys' authorities: a key revoked there but not yet in KV is not listed as Active when sorting by last used; a key deleted there is not listed", async () => {
		const cookie = await signIn();
		const tag = crypto.randomUUID().slice(0, 8);
		const stale = await generate(cookie, { name: `stale-${tag}` });
		const gone = await generate(cookie, { name: `gone-${tag}` });
		await generate(cookie, { name: `fine-${tag}` });
		const authorityOf = async (key: string) => env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(await idOf(key)));
		// Straight to the objects: KV still holds both records as they were.
		await (await authorityOf(stale.key)).revoke(Date.now());
		await (await authorityOf(gone.key)).markDeleted(Date.now());
		const names = async (q: string) => {
			const html = await (await ui(`${UI}/apis/demo/keys?q=${tag}&${q}`, { cookie })).text();
			return [...html.matchAll(/<tr data-key-id="[^"]+"><th scope="row" class="name"><a href="[^"]+">([a-z]+)-/g)].map((m) => m[1]).sort();
		};
		expect(await names("sort=lastUsed&status=active")).toEqual(["fine"]);
		expect(await names("sort=lastUsed")).toEqual(["fine", "stale"]);
		expect(await names("sort=created")).toEqual(["fine", "stale"]);
	});

	it("a name typed as HTML renders as text", async () => {
		const cookie = await signIn();
		const evil = "<img src=x onerror=alert(1)>";
		const { html, key } = await generate(cookie, { name: evil });
		expect(html).not.toContain(evil);
		const id = await idOf(key);
		for (const path of [`${UI}/apis/demo/keys`, `${UI}/keys/${id}`, `${UI}/keys/${id}/delete`]) {
			const text = await (await ui(path, { cookie })).text();
			expect(text, path).not.toContain("<img");
			expect(text, path).toContain("&lt;img src=x onerror=alert(1)&gt;");
		}
	});

	it("an invalid form is answered with the form and the reason, and writes nothing", async () => {
		const cookie = await signIn();
		const before = await kvDump();
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "bad ip", expiry: "never", kind: "single", ipAllowlist: "not-an-ip" },
		});
		expect(res.status).toBe(400);
		expect(await res.text()).toContain("ipAllowlist");
		const past = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "past", expiry: "custom", expiresOn: "2001-01-01", kind: "single" },
		});
		expect(past.status).toBe(400);
		expect(await kvDump()).toBe(before);
	});

	it("revoke: the confirmation names the masked key and the 401; after it the key is refused on the next request", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		const confirm = await (await ui(`${UI}/keys/${id}/revoke`, { cookie })).text();
		expect(confirm).toContain(`Requests with <code>sk_live_…${key.slice(-4)}</code> get 401 from the next request`);
		// Looking at the confirmation changes nothing.
		expect((await call("/v1/hello", { key })).status).toBe(200);
		const res = await ui(`${UI}/keys/${id}/revoke`, { cookie, form: {} });
		expect(res.status).toBe(303);
		origin.calls.length = 0;
		expect((await call("/v1/hello", { key })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
		expect(await (await ui(`${UI}/keys/${id}`, { cookie })).text()).toContain("Revoked");
	});

	it("rotate with 1 hour: the page states the cut-off and preselects the API's default; both keys work, then the new one is shown once", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		const confirm = await (await ui(`${UI}/keys/${id}/rotate`, { cookie })).text();
		expect(confirm).toMatch(/value="86400" checked=""/);
		expect(confirm).toMatch(/1 hour \(until \d{4}-\d\d-\d\d \d\d:\d\d UTC\)/);
		const res = await ui(`${UI}/keys/${id}/rotate`, { cookie, form: { grace: "3600" } });
		const html = await res.text();
		expect(res.status, html).toBe(200);
		const [fresh] = shownKeys(html);
		expect(fresh).toBeDefined();
		expect(html).toContain("keeps working until");
		expect((await call("/v1/hello", { key })).status).toBe(200);
		expect((await call("/v1/hello", { key: fresh! })).status).toBe(200);
		const newId = origin.calls.at(-1)!.headers.get("X-Keygate-Key-Id")!;
		expect(await (await ui(`${UI}/keys/${newId}`, { cookie })).text()).not.toContain(fresh!);
		expect(await (await ui(`${UI}/keys/${id}`, { cookie })).text()).toContain("Rotating until");
		// The same form sent again (a reload of "Key rotated") rotates nothing and says where the new key is (found by a browser QA pass: a bare 409).
		const again = await ui(`${UI}/keys/${id}/rotate`, { cookie, form: { grace: "3600" } });
		const said = await again.text();
		expect(again.status).toBe(409);
		expect(said).toContain("Nothing to do: this key was already replaced.");
		expect(said).toContain(`href="${UI}/keys/${newId}"`);
		expect(shownKeys(said)).toEqual([]);
		expect((await call("/v1/hello", { key: fresh! })).status).toBe(200);
		// The new key's own rotate page offers only Immediately while the old key works, and says why (a review: it preselected a day, which got 409).
		const next = await (await ui(`${UI}/keys/${newId}/rotate`, { cookie })).text();
		expect(next).toContain("The key this one replaced still works until");
		expect(next).toMatch(/<input type="radio" name="grace" value="0" checked=""/);
		// The only choice left is not "the default" (the API's default is a day; a browser QA pass).
		expect(next).not.toContain("(the default)");
		expect(next).not.toContain('value="86400"');
		// A grace sent anyway is refused in the page's words, on the form again (found by a browser QA pass: the admin API's wording).
		const refused = await ui(`${UI}/keys/${newId}/rotate`, { cookie, form: { grace: "3600" } });
		const words = await refused.text();
		expect(refused.status).toBe(409);
		expect(words).toContain("Not rotated: the key this one replaced still works until");
		// Said once, in the alert next to the form, not again in the notice above it (a browser QA pass).
		expect(words.match(/this one replaced still works until/gi)).toHaveLength(1);
		expect(words).not.toContain("gracePeriodSeconds");
		expect(words).toMatch(/<input type="radio" name="grace" value="0" checked=""/);
		expect(shownKeys(words)).toEqual([]);
	});

	it("rotate Immediately: the old key is 401 on the next request", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie);
		const id = await idOf(key);
		const html = await (await ui(`${UI}/keys/${id}/rotate`, { cookie, form: { grace: "0" } })).text();
		const [fresh] = shownKeys(html);
		origin.calls.length = 0;
		expect((await call("/v1/hello", { key })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
		expect((await call("/v1/hello", { key: fresh! })).status).toBe(200);
		// The old key reads "Replaced", and the status filter that finds it says so (found by a browser QA pass).
		const listed = await (await ui(`${UI}/apis/demo/keys?q=${id}&status=expired`, { cookie })).text();
		expect(listed).toMatch(/<option value="expired" selected(="")?>Expired or replaced<\/option>/);
		expect(listed).toContain(">Replaced<");
	});

	it("delete needs the key's name typed; a wrong name deletes nothing", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie, { name: "to delete" });
		const id = await idOf(key);
		const wrong = await ui(`${UI}/keys/${id}/delete`, { cookie, form: { confirm: "to delet" } });
		expect(wrong.status).toBe(400);
		expect((await call("/v1/hello", { key })).status).toBe(200);
		// Spaces typed around the name are not part of it (found by a browser QA pass).
		const right = await ui(`${UI}/keys/${id}/delete`, { cookie, form: { confirm: " to delete " } });
		expect(right.status).toBe(303);
		origin.calls.length = 0;
		expect((await call("/v1/hello", { key })).status).toBe(401);
		expect(origin.calls).toHaveLength(0);
		expect((await ui(`${UI}/keys/${id}`, { cookie })).status).toBe(404);
	});

	it("a pair: both keys shown once, sharing a pair id; the publishable one may only read", async () => {
		const cookie = await signIn();
		const { keys } = await generate(cookie, { name: "storefront", kind: "pair" });
		expect(keys).toHaveLength(2);
		const [sk, pk] = keys as [string, string];
		expect(sk.startsWith("sk_live_")).toBe(true);
		expect(pk.startsWith("pk_live_")).toBe(true);
		expect((await call("/v1/hello", { key: pk })).status).toBe(200);
		origin.calls.length = 0;
		expect((await call("/v1/hello", { key: pk, method: "POST", body: "{}" })).status).toBe(403);
		expect(origin.calls).toHaveLength(0);
		expect((await call("/v1/hello", { key: sk, method: "POST", body: "{}" })).status).toBe(200);
	});

	it("an unknown or malformed key id is a plain 404 page", async () => {
		const cookie = await signIn();
		for (const id of ["key_0123456789012345678901", "nope", "<script>"]) {
			const res = await ui(`${UI}/keys/${encodeURIComponent(id)}`, { cookie });
			expect(res.status).toBe(404);
			expectUiHeaders(res);
		}
	});
});

describe("a generate form is sent once", () => {
	it("sending the same form again (a reload of the page that showed the key) makes no second key and shows none", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		const once = /name="once" value="(once_[0-9A-Za-z]{22})"/.exec(form)?.[1];
		expect(once, form).toBeDefined();
		const name = `once ${crypto.randomUUID()}`;
		const fields = { name, scopes: "read", expiry: "never", kind: "single", once: once! };
		const first = await ui(`${UI}/apis/demo/keys`, { cookie, form: fields });
		expect(first.status).toBe(200);
		expect(shownKeys(await first.text())).toHaveLength(1);
		const again = await ui(`${UI}/apis/demo/keys`, { cookie, form: fields });
		const html = await again.text();
		expect(again.status).toBe(409);
		expect(html).toContain("<h1>This form was already sent</h1>");
		expect(shownKeys(html)).toEqual([]);
		const listed = (await (await admin("/keys?api=demo")).json<{ data: { name: string }[] }>()).data.filter((k) => k.name === name);
		expect(listed).toHaveLength(1);
		// Sent twice in one form (by hand), the first value counts (found by a probe: it made a second key).
		const twice = await ui(`${UI}/apis/demo/keys`, { cookie, form: { ...fields, once: [once!, once!] } });
		expect(twice.status).toBe(409);
		// Each form the console renders carries its own value.
		const other = /name="once" value="(once_[0-9A-Za-z]{22})"/.exec(await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text())?.[1];
		expect(other).not.toBe(once);
		expect(origin.calls).toHaveLength(0);
	});

	it("of 8 sends of one form at once (a double click without the script), exactly one makes a key: the claim is decided in a Durable Object (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const form = await (await ui(`${UI}/apis/demo/keys/new`, { cookie })).text();
		const once = /name="once" value="(once_[0-9A-Za-z]{22})"/.exec(form)![1]!;
		const fields = { name: `race ${crypto.randomUUID()}`, scopes: "read", expiry: "never", kind: "single", once };
		const answers = await Promise.all(Array.from({ length: 8 }, () => ui(`${UI}/apis/demo/keys`, { cookie, form: fields })));
		const statuses = answers.map((r) => r.status).sort();
		expect(statuses).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
		const shown = (await Promise.all(answers.map(async (r) => shownKeys(await r.text())))).flat();
		expect(shown).toHaveLength(1);
	});
});

describe("a refused generate form", () => {
	it("comes back with everything that was typed and ticked, says why, and makes no key", async () => {
		const cookie = await signIn();
		const before = (await (await admin("/keys?api=demo")).json<{ data: unknown[] }>()).data.length;
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: {
				name: "kept name",
				scopes: ["read", "write"],
				extraScopes: "extra:one",
				expiry: "custom",
				expiresOn: "2031-03-04",
				ipAllowlist: "not-an-address",
				kind: "single",
			},
		});
		const html = await res.text();
		expect(res.status).toBe(400);
		expect(html).toContain("ipAllowlist");
		expect(html).toContain('value="kept name"');
		expect(html).toContain('<input type="checkbox" name="scopes" value="read" checked=""/>');
		expect(html).toContain('<input type="checkbox" name="scopes" value="write" checked=""/>');
		expect(html).toContain('value="extra:one"');
		expect(html).toContain('<input type="radio" name="expiry" value="custom" checked=""/>');
		expect(html).toContain('value="2031-03-04"');
		expect(html).toContain('value="not-an-address"');
		expect(html).toMatch(/<h1>Generate new key: demo<\/h1>/);
		expect((await (await admin("/keys?api=demo")).json<{ data: unknown[] }>()).data).toHaveLength(before);
		expect(origin.calls).toHaveLength(0);
	});

	it("a pasted live key is never written back into the refused form", async () => {
		const cookie = await signIn();
		const { key } = await createKey({ name: "pasted" });
		const res = await ui(`${UI}/apis/demo/keys`, { cookie, form: { name: key, scopes: "read", expiry: "never", kind: "single" } });
		const html = await res.text();
		expect(res.status).toBe(400);
		expect(html).toContain("Name: holds an API key");
		expect(html).not.toContain(key);
		expect(origin.calls).toHaveLength(0);
	});

	it("a key's body typed into the IP allowlist is named by its place, never quoted (found by a peer)", async () => {
		const cookie = await signIn();
		const { key } = await createKey({ name: "pasted" });
		const body = key.slice("sk_live_".length);
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "x", scopes: "read", expiry: "never", kind: "single", ipAllowlist: body },
		});
		const html = await res.text();
		expect(res.status).toBe(400);
		expect(html).toContain("IP allowlist (entry 1):");
		expect(html).not.toContain(body.slice(0, 32));
	});

	it("a date with another expiry ticked is refused, not ignored", async () => {
		const cookie = await signIn();
		const res = await ui(`${UI}/apis/demo/keys`, {
			cookie,
			form: { name: "dated", scopes: "read", expiry: "never", expiresOn: "2031-03-04", kind: "single" },
		});
		expect(res.status).toBe(400);
		expect(await res.text()).toContain("Tick &quot;On a date&quot; to use the date");
		expect(origin.calls).toHaveLength(0);
	});
});

describe("audit log", () => {
	it("shows the console's actions with actor, and exports JSON; filters by action and key", async () => {
		const cookie = await signIn();
		const { key } = await generate(cookie, { name: "audited" });
		const id = await idOf(key);
		await ui(`${UI}/keys/${id}/revoke`, { cookie, form: {} });
		const html = await (await ui(`${UI}/audit?keyId=${id}`, { cookie })).text();
		expect(html).toContain("key.created");
		expect(html).toContain("key.revoked");
		expect(html).toContain("console");
		const json = await (
			await ui(`${UI}/audit.json?keyId=${id}&action=key.revoked`, { cookie })
		).json<{ data: { action: string; actor: string }[] }>();
		expect(json.data).toEqual([expect.objectContaining({ action: "key.revoked", actor: "console" })]);
	});
});

describe("audit log filters refused in the page's words (a browser QA pass)", () => {
	it("a date that is no date is kept where it was typed, named by its label, and marks only its field", async () => {
		const cookie = await signIn();
		const res = await ui(`${UI}/audit?from=2026-13-45`, { cookie });
		expect(res.status).toBe(400);
		const html = await res.text();
		expect(html).toContain("From: a date (2026-12-05, from the start of that UTC day) or an RFC 3339 time. No events are listed");
		// A date picker would show 2026-13-45 blank: a text field shows what is in force.
		expect(html).toMatch(/<input name="from" type="text" value="2026-13-45" aria-invalid="true" aria-describedby="form-error"\/?>/);
		expect(html).toContain('id="form-error"');
		expect(html).toMatch(/<input name="to" type="date" value=""\/?>/);
	});

	it("From after To names both fields", async () => {
		const cookie = await signIn();
		const html = await (await ui(`${UI}/audit?from=2026-12-05&to=2026-12-04`, { cookie })).text();
		expect(html).toContain("From must be before To");
		expect(html).toMatch(/<input name="from" type="date" value="2026-12-05" aria-invalid="true"/);
		expect(html).toMatch(/<input name="to" type="date" value="2026-12-04" aria-invalid="true"/);
		expect(html).not.toMatch(/<input name="keyId"[^>]*aria-invalid/);
	});

	it("every refused filter is named and marked at once, not only the first (found by a browser QA pass)", async () => {
		const cookie = await signIn();
		const res = await ui(`${UI}/audit?from=tomorrow&keyId=zz&to=2026-99-99`, { cookie });
		expect(res.status).toBe(400);
		const html = await res.text();
		expect(html).toContain("Key id: not a key id (key_ and 22 letters or digits).");
		expect(html).toContain("From: a date (2026-12-05, from the start of that UTC day) or an RFC 3339 time.");
		expect(html).toContain("To: a date (2026-12-05, up to the end of that UTC day) or an RFC 3339 time.");
		expect(html).toMatch(/<input name="keyId" value="zz" aria-invalid="true"/);
		expect(html).toMatch(/<input name="from" type="text" value="tomorrow" aria-invalid="true"/);
		expect(html).toMatch(/<input name="to" type="text" value="2026-99-99" aria-invalid="true"/);
		expect(html).not.toMatch(/<select name="action"[^>]*aria-invalid/);
	});
});

describe("the audit log's next page (a review, stop 29)", () => {
	it("'Older events' leads to the older events, and sign-in goes back to that page: its cursor is no key", async () => {
		const cookie = await signIn();
		await Promise.all(Array.from({ length: 51 }, (_, i) => createKey({ name: `paging-${i}` })));
		const first = await (await ui(`${UI}/audit`, { cookie })).text();
		const href = /<a href="([^"]+)">Older events<\/a>/.exec(first)?.[1]?.replaceAll("&amp;", "&");
		expect(href).toMatch(/^\/_keygate\/ui\/audit\?cursor=/);
		const older = await ui(href!, { cookie });
		expect(older.status).toBe(200);
		expect(await older.text()).not.toContain("That was a whole API key");
		// Under the name `cursor`, or as a parameter's name, a key cut short is still sent away (a review).
		const cut = (await createKey({ name: "cut" })).key.slice("sk_live_".length, -6);
		for (const path of [`${UI}/audit?cursor=${cut}`, `${UI}/audit?${cut}=1`, `${UI}/apis/demo/keys?${cut}=1`]) {
			const res = await ui(path, { cookie });
			expect(res.status, path).toBe(303);
			expect(res.headers.get("Location")).not.toContain(cut.slice(0, 20));
		}
		expect(await (await ui(`${UI}/login?next=${encodeURIComponent(`${UI}/audit?${cut}=1`)}`)).text()).not.toContain(cut.slice(0, 20));
		const login = await (await ui(`${UI}/login?next=${encodeURIComponent(href!)}`)).text();
		expect(login).toContain(`name="next" value="${href!.replaceAll("&", "&amp;")}"`);
	}, 30_000);
});
