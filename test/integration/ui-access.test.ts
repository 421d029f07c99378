/**
 * Cloudflare Access in front of the console: a valid Cf-Access-Jwt-Assertion (signature
 * from the team's JWKS, audience, issuer, expiry) signs the request in as its email, which
 * is the audit actor. The team's JWKS endpoint is the one other thing faked here: like the
 * origin, it is a server outside keygate.
 */
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { admin } from "../helpers/gateway";
import { shownKeys, ui, UI } from "../helpers/ui";

const TEAM = "keygate-test.cloudflareaccess.com";
const AUD = "aud-0123456789abcdef";
const config = structuredClone(bundled) as any;
config.admin = { access: { teamDomain: TEAM, audience: AUD } };
const bindings = { KEYGATE_CONFIG: JSON.stringify(config) };

let signingKey: CryptoKey;
let otherKey: CryptoKey;
let certsFetched = 0;

beforeAll(async () => {
	const pair = await generateKeyPair("RS256", { extractable: true });
	signingKey = pair.privateKey as CryptoKey;
	otherKey = (await generateKeyPair("RS256")).privateKey as CryptoKey;
	const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL) => {
		const url = new Request(input).url;
		if (url === `https://${TEAM}/cdn-cgi/access/certs`) {
			certsFetched++;
			return Response.json({ keys: [jwk] });
		}
		throw new Error(`unexpected fetch ${url}`);
	});
});
// The JWKS fake stays for the whole file.
afterAll(() => {
	vi.restoreAllMocks();
});

async function assertion(over: { key?: CryptoKey; aud?: string; iss?: string; exp?: number; email?: string } = {}): Promise<string> {
	const now = Math.floor(Date.now() / 1000);
	return new SignJWT({ email: over.email ?? "ops@example.com" })
		.setProtectedHeader({ alg: "RS256", kid: "k1" })
		.setIssuer(over.iss ?? `https://${TEAM}`)
		.setAudience(over.aud ?? AUD)
		.setIssuedAt(now - 10)
		.setExpirationTime(over.exp ?? now + 600)
		.sign(over.key ?? signingKey);
}

describe("Cloudflare Access", () => {
	it("a valid assertion signs the request in, and the audit actor is its email", async () => {
		const jwt = await assertion({ email: "alice@example.com" });
		const home = await ui(`${UI}/`, { bindings, headers: { "Cf-Access-Jwt-Assertion": jwt } });
		expect(home.status, await home.clone().text()).toBe(200);
		expect(certsFetched).toBeGreaterThan(0);
		const made = await ui(`${UI}/apis/demo/keys`, {
			bindings,
			headers: { "Cf-Access-Jwt-Assertion": jwt, "Sec-Fetch-Site": "same-origin" },
			form: { name: "via access", expiry: "never", kind: "single", scopes: "read" },
		});
		const html = await made.text();
		expect(made.status, html).toBe(200);
		expect(shownKeys(html)).toHaveLength(1);
		const audit = await (await admin("/audit")).json<{ data: { action: string; actor: string; details: { name?: string } }[] }>();
		expect(audit.data.find((e) => e.action === "key.created" && e.details.name === "via access")?.actor).toBe("alice@example.com");
	});

	it.each([
		["another key's signature", { key: "other" }],
		["another audience", { aud: "someone-else" }],
		["another issuer", { iss: "https://evil.cloudflareaccess.com" }],
		["an expired token", { exp: Math.floor(Date.now() / 1000) - 60 }],
	] as const)("%s is not signed in", async (_label, over) => {
		const jwt = await assertion({ ...over, key: "key" in over ? otherKey : undefined } as never);
		const res = await ui(`${UI}/`, { bindings, headers: { "Cf-Access-Jwt-Assertion": jwt } });
		expect(res.status).toBe(303);
		expect(res.headers.get("Location")).toBe(`${UI}/login`);
	});

	it("without admin.access in the config the header is ignored", async () => {
		const res = await ui(`${UI}/`, { headers: { "Cf-Access-Jwt-Assertion": await assertion() } });
		expect(res.status).toBe(303);
	});

	it("the assertion never authorises the JSON admin API", async () => {
		const res = await ui("/_keygate/v1/keys", { bindings, headers: { "Cf-Access-Jwt-Assertion": await assertion() } });
		expect(res.status).toBe(401);
	});
});

describe("the operator's Access credential never reaches an origin (found by a probe: the origin could sign in to the console with it)", () => {
	it("CF_Authorization and Cf-Access-Jwt-Assertion are stripped before the origin (the same code runs for every route); other cookies pass", async () => {
		const jwt = await assertion();
		const seen: Headers[] = [];
		// The gateway's routes never verify an Access JWT: only the origin is asked here.
		const spy = vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
			const request = new Request(input, init);
			seen.push(request.headers);
			return Response.json({});
		});
		try {
			const headers = { Cookie: `CF_Authorization=${jwt}; theme=dark`, "Cf-Access-Jwt-Assertion": jwt };
			expect((await ui("/health", { bindings, headers })).status).toBe(200);
			expect(seen).toHaveLength(1);
			expect(seen[0]!.get("Cookie")).toBe("theme=dark");
			expect(seen[0]!.has("Cf-Access-Jwt-Assertion")).toBe(false);
		} finally {
			spy.mockRestore();
		}
	});
});
