/**
 * The demo origin's sign-in (demo/origin.mjs), the API side of keygate's OAuth
 * `login.mode: "origin"`: it accepts only keygate's signed request, signs in the demo
 * user, and answers keygate's callback with an assertion keygate's checks accept.
 */
import { decodeJwt, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-ignore -- plain ESM JavaScript without a declaration file
import { startDemoOrigin } from "../../demo/origin.mjs";

const SECRET = "demo-login-test-secret-0123456789";
let origin: { port: number; close(): Promise<void> };
let base: string;

beforeAll(async () => {
	origin = await startDemoOrigin(0, { signingSecret: SECRET });
	base = `http://127.0.0.1:${origin.port}`;
});
afterAll(() => origin.close());

/** keygate's login request, as src/oauth/authorize.ts signs it. */
const loginRequest = (secret = SECRET) =>
	new SignJWT({ nonce: "nonce_abc", return_to: "http://localhost:8787/oauth/callback" })
		.setProtectedHeader({ alg: "HS256", typ: "keygate-login-request+jwt" })
		.setIssuer("http://localhost:8787")
		.setAudience(base)
		.setIssuedAt()
		.setExpirationTime("5m")
		.sign(new TextEncoder().encode(secret));

describe("the demo origin's sign-in", () => {
	it("shows a form for keygate's request, and signs the demo user in with an assertion keygate accepts", async () => {
		const request = await loginRequest();
		const page = await fetch(`${base}/login?request=${request}`);
		expect(page.status).toBe(200);
		expect(await page.text()).toContain('name="password"');
		const res = await fetch(`${base}/login`, {
			method: "POST",
			redirect: "manual",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ request, username: "demo", password: "demo" }).toString(),
		});
		expect(res.status).toBe(302);
		const back = new URL(res.headers.get("Location")!);
		expect(`${back.origin}${back.pathname}`).toBe("http://localhost:8787/oauth/callback");
		const assertion = back.searchParams.get("assertion")!;
		const { payload } = await jwtVerify(assertion, new TextEncoder().encode(SECRET), {
			algorithms: ["HS256"],
			issuer: base,
			audience: "http://localhost:8787",
			maxTokenAge: 120,
		});
		expect(payload).toMatchObject({ sub: "demo-user", nonce: "nonce_abc" });
		expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(120);
	});

	it("refuses a wrong password and a request not signed by keygate", async () => {
		const wrong = await fetch(`${base}/login`, {
			method: "POST",
			redirect: "manual",
			headers: { "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ request: await loginRequest(), username: "demo", password: "nope" }).toString(),
		});
		expect(wrong.status).toBe(401);
		const forged = await fetch(`${base}/login?request=${await loginRequest("another-secret")}`);
		expect(forged.status).toBe(400);
		expect(decodeJwt(await loginRequest()).nonce).toBe("nonce_abc");
	});

	it("still echoes every other request", async () => {
		const res = await fetch(`${base}/v1/anything?a=1`);
		expect(await res.json()).toMatchObject({ path: "/v1/anything", query: { a: "1" } });
	});
});
