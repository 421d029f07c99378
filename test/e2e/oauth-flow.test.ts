/**
 * End-to-end: seed 004's OAuth flow through `wrangler dev` over real HTTP, the way a
 * client and a browser take it: authorize, sign in at the API (the demo origin), consent,
 * code, token (JSON), API calls, refresh, revocation. Counted per client
 * (`rateLimitBy: "client"`), so the client's mirror object (fed by each subject's object,
 * object to object) is what every API request asks.
 */
import { describe, expect, it } from "vitest";
import { useStack } from "./stack";

const s = useStack({ oauth: { rateLimitBy: "client" } });

const REDIRECT = "https://app.example/callback";

function admin(path: string, init: RequestInit = {}): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("Authorization", `Bearer ${s().adminToken}`);
	if (init.body !== undefined) headers.set("Content-Type", "application/json");
	return fetch(`${s().url}/_keygate/v1${path}`, { ...init, headers });
}

const api = (token: string) => fetch(`${s().url}/v1/users`, { headers: { Authorization: `Bearer ${token}` } });
const cookieOf = (res: Response) => (res.headers.get("Set-Cookie") ?? "").split(";")[0]!;

/** A signed-in user's consent, as a browser gets it: the code keygate redirects back with. */
async function authorizeAsDemoUser(clientId: string): Promise<string> {
	const start = await fetch(
		`${s().url}/oauth/authorize?client_id=${clientId}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=read%20write&state=e2e`,
		{ redirect: "manual" },
	);
	expect(start.status, await start.clone().text()).toBe(302);
	const cookie = cookieOf(start);
	const login = new URL(start.headers.get("Location")!);
	expect(`${login.origin}${login.pathname}`).toBe(`http://127.0.0.1:${s().originPort}/login`);
	const signedIn = await fetch(`${login.origin}/login`, {
		method: "POST",
		redirect: "manual",
		headers: { "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ request: login.searchParams.get("request")!, username: "demo", password: "demo" }).toString(),
	});
	expect(signedIn.status).toBe(302);
	const callback = signedIn.headers.get("Location")!;
	expect(callback.startsWith(`${s().url}/oauth/callback?`)).toBe(true);
	const page = await fetch(callback, { headers: { Cookie: cookie } });
	const html = await page.text();
	expect(page.status, html).toBe(200);
	const ticket = /name="ticket" value="([^"]+)"/.exec(html)![1]!;
	const consent = await fetch(`${s().url}/oauth/consent`, {
		method: "POST",
		redirect: "manual",
		headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded", Origin: s().url },
		body: new URLSearchParams({ ticket, decision: "allow" }).toString(),
	});
	expect(consent.status, await consent.clone().text()).toBe(302);
	const back = new URL(consent.headers.get("Location")!);
	expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
	expect(back.searchParams.get("state")).toBe("e2e");
	return back.searchParams.get("code")!;
}

describe("OAuth through wrangler dev, counted per client", () => {
	it("authorize, sign in, consent, token, API calls, refresh; a revoked subject is refused by the next request", async () => {
		const created = await admin("/oauth/clients", { method: "POST", body: JSON.stringify({ name: "E2E app", redirectUris: [REDIRECT] }) });
		expect(created.status).toBe(201);
		const client = (await created.json()) as { id: string; secret: string };
		const code = await authorizeAsDemoUser(client.id);
		const exchanged = await fetch(`${s().url}/oauth/token`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({
				grant_type: "authorization_code",
				code,
				client_id: client.id,
				client_secret: client.secret,
				redirect_uri: REDIRECT,
			}),
		});
		expect(exchanged.status, await exchanged.clone().text()).toBe(200);
		const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string };

		const first = await api(tokens.access_token);
		expect(first.status, await first.clone().text()).toBe(200);
		const seen = s().originRequests.at(-1)!;
		expect(seen.headers["x-keygate-auth"]).toBe("oauth");
		expect(seen.headers["x-keygate-subject"]).toBe("demo-user");
		expect(seen.headers["x-keygate-client-id"]).toBe(client.id);
		expect(JSON.stringify(seen)).not.toContain(tokens.access_token);
		const remaining = Number((await api(tokens.access_token)).headers.get("X-RateLimit-Remaining"));
		expect(Number(first.headers.get("X-RateLimit-Remaining")) - remaining).toBe(1);

		const refreshed = await fetch(`${s().url}/oauth/token`, {
			method: "POST",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({
				grant_type: "refresh_token",
				refresh_token: tokens.refresh_token,
				client_id: client.id,
				client_secret: client.secret,
			}).toString(),
		});
		expect(refreshed.status).toBe(200);
		const next = (await refreshed.json()) as { access_token: string };
		expect((await api(next.access_token)).status).toBe(200);

		const revoked = await admin("/oauth/grants/revoke", { method: "POST", body: JSON.stringify({ subject: "demo-user" }) });
		expect(revoked.status, await revoked.clone().text()).toBe(200);
		const before = s().originRequests.length;
		for (const token of [tokens.access_token, next.access_token]) {
			const res = await api(token);
			expect(res.status).toBe(401);
			expect(await res.json()).toEqual({ error: "invalid_api_key", message: "The API key provided is invalid." });
		}
		expect(s().originRequests.length).toBe(before);
	});
});
