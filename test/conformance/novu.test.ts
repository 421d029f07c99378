/**
 * Conformance: keygate running examples/novu/keygate.config.json behaves as Novu's
 * "Authentication" page (../shared/seeds/002_*.txt) promises. One describe per bullet
 * of the Novu section of the seeds index.
 *
 * The page gives one base URL per region, and the key decides the environment:
 *   US (default) https://api.novu.co/v1, EU https://eu.api.novu.co/v1.
 * The example serves the two regions as two APIs (`novu`, the default, and `novueu`), each
 * answering on its region's host; each has three environments (development, production,
 * staging), and a key's environment decides which origin its requests reach.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import config from "../../examples/novu/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { generateKey } from "../../src/keys/format";
import { gatewayFor, sleep, type CreatedKey } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const US = "https://api.novu.co";
const EU = "https://eu.api.novu.co";
/** The page's base URLs, one per region. */
const BASE = { novu: US, novueu: EU } as const;
type Region = keyof typeof BASE;
type Environment = "development" | "production" | "staging";

/** Novu documents no body, only "401 Unauthorized": the example uses the minimal style. */
const UNAUTHORIZED = `{
  "error": "Unauthorized"
}`;

const novu = gatewayFor(config, US);

const origin = useFakeOrigin();

async function expectUnauthorized(res: Response): Promise<void> {
	const text = await res.text();
	expect(res.status, text).toBe(401);
	expect(res.headers.get("Content-Type")).toBe("application/json");
	expect(text).toBe(UNAUTHORIZED);
	expect(res.headers.get("WWW-Authenticate")).toMatch(/^ApiKey realm="novu"/);
}

/** A secret key of a region (API) and environment, created through the admin API. */
function secretKey(api: Region, environment: Environment, body: Record<string, unknown> = {}): Promise<CreatedKey> {
	// Staging is a custom environment, on Team and Enterprise plans only.
	const tier = environment === "staging" ? { tier: "team" } : {};
	return novu.createKey({ api, environment, name: `${api} ${environment} key`, ...tier, ...body });
}

/** A call with `Authorization: ApiKey <key>` to a region's base URL. */
function callApi(api: Region, path: string, init: RequestInit & { key?: string; scheme?: string } = {}) {
	return novu.call(BASE[api] + path, { scheme: "ApiKey", ...init });
}

it("the example config is valid", () => {
	expect(parseConfig(config)).toMatchObject({ ok: true });
});

describe("the ApiKey scheme, not Bearer", () => {
	it("a secret key sent as Authorization: ApiKey <key> is accepted, and the key is not forwarded", async () => {
		const { id, key } = await secretKey("novu", "production");
		const res = await callApi("novu", "/v1/subscribers?page=0", { key });
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.url.href).toBe("http://127.0.0.1:8788/us/production/v1/subscribers?page=0");
		expect(origin.calls[0]!.headers.has("authorization")).toBe(false);
		expect(origin.calls[0]!.headers.get("X-Keygate-Key-Id")).toBe(id);
	});

	it("the same valid key sent as a Bearer token is a 401 Unauthorized", async () => {
		const { key } = await secretKey("novu", "production");
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key, scheme: "Bearer" }));
		expect(origin.calls).toHaveLength(0);
	});

	it("a missing or malformed Authorization header is a 401 Unauthorized", async () => {
		await expectUnauthorized(await callApi("novu", "/v1/subscribers"));
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { headers: { Authorization: "ApiKey" } }));
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: "0123456789abcdef0123456789abcdef" }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("each environment has a secret key and an application identifier", () => {
	it("the secret key and the application identifier are issued together for one environment", async () => {
		const res = await novu.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "staging", name: "staging credentials", tier: "enterprise" }),
		});
		expect(res.status).toBe(201);
		const pair = await res.json<Record<string, (CreatedKey & { kind: string; pairId: string; environment: string }) | undefined>>();
		expect(pair.publishable).toBeUndefined();
		expect(pair.secret).toMatchObject({ kind: "secret", environment: "staging" });
		expect(pair.identifier).toMatchObject({ kind: "identifier", environment: "staging", pairId: pair.secret!.pairId });
		expect(pair.secret!.key).toMatch(/^sk_staging_/);
		expect(pair.identifier!.key).toMatch(/^app_staging_/);
	});

	it("the application identifier does not authorize API requests on its own: presented as the credential it is a 401", async () => {
		const res = await novu.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "production", name: "inbox app" }),
		});
		const { identifier, secret } = await res.json<Record<"identifier" | "secret", CreatedKey>>();
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: identifier.key }));
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: identifier.key, scheme: "Bearer" }));
		expect(origin.calls).toHaveLength(0);
		// The secret key of the same pair does.
		expect((await callApi("novu", "/v1/subscribers", { key: secret.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
	});

	it('the identifier, being "safe to use in client-side code", reaches the origin beside a secret key in a query, a header and a path (found by a peer: the request was refused, the header dropped)', async () => {
		const res = await novu.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "production", name: "inbox" }),
		});
		const { identifier, secret } = await res.json<Record<"identifier" | "secret", CreatedKey>>();
		const query = await callApi("novu", `/v1/subscribers?applicationIdentifier=${identifier.key}`, {
			key: secret.key,
			headers: { "X-Application-Identifier": identifier.key },
		});
		expect(query.status).toBe(200);
		expect(origin.calls[0]!.url.searchParams.get("applicationIdentifier")).toBe(identifier.key);
		expect(origin.calls[0]!.headers.get("X-Application-Identifier")).toBe(identifier.key);
		expect((await callApi("novu", `/v1/subscribers/${identifier.key}`, { key: secret.key })).status).toBe(200);
		expect(origin.calls[1]!.url.pathname).toBe(`/us/production/v1/subscribers/${identifier.key}`);
		// A secret key is still no passenger: refused in the query, dropped from another header.
		const other = await secretKey("novu", "production");
		await expectUnauthorized(await callApi("novu", `/v1/subscribers?k=${other.key}`, { key: secret.key }));
		expect((await callApi("novu", "/v1/subscribers", { key: secret.key, headers: { "X-Other": other.key } })).status).toBe(200);
		expect(origin.calls).toHaveLength(3);
		expect(origin.calls[2]!.headers.has("X-Other")).toBe(false);
	});

	it('the identifier, being "safe to use in client-side code", spends no failed-credential budget: a widget sending it cannot lock its address out of a new secret key (found by a seed-page pass)', async () => {
		const ip = { "CF-Connecting-IP": "192.0.2.129" };
		const res = await novu.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "production", name: "widget" }),
		});
		const { identifier } = await res.json<Record<"identifier" | "secret", CreatedKey>>();
		// More than bruteForce's default 20 in its 60 s window.
		for (let i = 0; i < 25; i++) await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: identifier.key, headers: ip }));
		// A secret key this isolate has never seen is still read and served from that address.
		const fresh = await novu.admin("/keys", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "production", name: "new" }),
		});
		const { key } = await fresh.json<CreatedKey>();
		expect((await callApi("novu", "/v1/subscribers", { key, headers: ip })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
	});
});

describe("environments: Development, Production and a custom one (staging), each isolated", () => {
	// The page: "API keys are scoped to a single environment. Requests authenticated with a
	// secret key only access resources in that environment", on one base URL per region.
	// keygate cannot see which environment a resource belongs to in a URL shared by all of
	// them; it sends each key's requests to its own environment's origin, so another
	// environment's resources are never reached with it.
	it("on the region's one base URL, each environment's key reaches its own environment's origin", async () => {
		for (const environment of ["development", "production", "staging"] as const) {
			const { key } = await secretKey("novu", environment);
			expect((await callApi("novu", "/v1/workflows", { key })).status).toBe(200);
		}
		expect(origin.calls.map((c) => c.url.href)).toEqual([
			"http://127.0.0.1:8788/us/development/v1/workflows",
			"http://127.0.0.1:8788/us/production/v1/workflows",
			"http://127.0.0.1:8788/us/staging/v1/workflows",
		]);
		expect(origin.calls.map((c) => c.headers.get("X-Keygate-Environment"))).toEqual(["development", "production", "staging"]);
	});

	// The page: "Custom environments — Available on Team and Enterprise plans for staging, QA, or other release stages."
	it("custom environments are on Team and Enterprise plans only: a Free or Pro key is never made there, nor works there", async () => {
		const before = (await env.KEYS.list({ prefix: "api:novu:" })).keys.length;
		for (const tier of ["free", "pro", undefined]) {
			const res = await novu.admin("/keys", {
				method: "POST",
				body: JSON.stringify({ api: "novu", environment: "staging", name: "no plan", ...(tier ? { tier } : {}) }),
			});
			const body = await res.json<{ error: string; message: string }>();
			expect(res.status, JSON.stringify(body)).toBe(400);
			expect(body.message).toBe(
				`tier: "${tier ?? "free"}" keys may not be made in environment "staging", which is open to team, enterprise`,
			);
		}
		const pair = await novu.admin("/key-pairs", {
			method: "POST",
			body: JSON.stringify({ api: "novu", environment: "staging", name: "pair" }),
		});
		expect(pair.status).toBe(400);
		expect((await env.KEYS.list({ prefix: "api:novu:" })).keys.length).toBe(before);
		// A Team key there works, and a move to Free is refused (400); the origin hears of no refusal.
		const team = await secretKey("novu", "staging");
		const moved = await novu.admin(`/keys/${team.id}`, { method: "PATCH", body: JSON.stringify({ tier: "free" }) });
		expect(moved.status).toBe(400);
		expect((await callApi("novu", "/v1/workflows", { key: team.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		// A key made before the config closed the environment: the same config without the rule made it.
		const open = structuredClone(config) as any;
		delete open.apis[0].environments.staging.tiers;
		const early = await gatewayFor(open, US).createKey({ api: "novu", environment: "staging", name: "early", tier: "free" });
		const refused = await callApi("novu", "/v1/workflows", { key: early.key });
		expect(refused.status).toBe(403);
		expect(await refused.text()).toBe(`{\n  "error": "Forbidden"\n}`);
		expect(origin.calls).toHaveLength(1);
		// Nor does such a key get a successor there: refused before anything is carried over (a review).
		const rotated = await novu.admin(`/keys/${early.id}/rotate`, { method: "POST", body: "{}" });
		expect(rotated.status).toBe(400);
		expect(((await rotated.json()) as { message: string }).message).toBe(
			'tier: "free" keys may not be made in environment "staging", which is open to team, enterprise; this key cannot be rotated: create one of another tier or environment',
		);
		expect((await callApi("novu", "/v1/workflows", { key: early.key })).status).toBe(403);
		expect(origin.calls).toHaveLength(1);
	});

	it("a key never reaches another environment's resources: the same URL with keys of two environments goes to two origins", async () => {
		const development = await secretKey("novu", "development");
		const production = await secretKey("novu", "production");
		for (const { key } of [development, production, development])
			expect((await callApi("novu", "/v1/subscribers/sub_42", { key, method: "DELETE" })).status).toBe(200);
		expect(origin.calls.map((c) => [c.headers.get("X-Keygate-Key-Id"), c.url.pathname])).toEqual([
			[development.id, "/us/development/v1/subscribers/sub_42"],
			[production.id, "/us/production/v1/subscribers/sub_42"],
			[development.id, "/us/development/v1/subscribers/sub_42"],
		]);
	});

	it("a key of an environment this deployment does not have (a QA key) is a 401 and reaches no origin", async () => {
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: generateKey("sk", "qa") }));
		await expectUnauthorized(await callApi("novueu", "/v1/subscribers", { key: generateKey("sk", "qa") }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("regenerating a secret key invalidates the previous one immediately", () => {
	it("after a rotation the old key is a 401 on the very next request and the new key works", async () => {
		const old = await secretKey("novu", "production");
		expect((await callApi("novu", "/v1/subscribers", { key: old.key })).status).toBe(200);

		const res = await novu.admin(`/keys/${old.id}/rotate`, { method: "POST" });
		expect(res.status).toBe(201);
		const rotated = await res.json<CreatedKey & { previous: { graceEndsAt: string } }>();
		expect(Date.parse(rotated.previous.graceEndsAt)).toBeLessThanOrEqual(Date.now());

		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: old.key }));
		expect((await callApi("novu", "/v1/subscribers", { key: rotated.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
	});

	it("whoever regenerates it: a rotation asking for a grace is a 400 with nothing changed (keys.maxRotationGraceSeconds 0; found by a seed-page pass)", async () => {
		const old = await secretKey("novu", "development");
		for (const gracePeriodSeconds of [1, 3600]) {
			const res = await novu.admin(`/keys/${old.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds }) });
			expect(res.status).toBe(400);
			expect(await res.json()).toEqual({
				error: "invalid_request",
				message:
					"gracePeriodSeconds: this API's keys are rotated with no grace period (keys.maxRotationGraceSeconds 0): send 0, or leave it out",
			});
		}
		// Not rotated: the key still works, and no new key of its line exists.
		const record = await (await novu.admin(`/keys/${old.id}`)).json<{ replacedBy: string | null; rotatedAt: string | null }>();
		expect(record).toMatchObject({ replacedBy: null, rotatedAt: null });
		expect((await callApi("novu", "/v1/subscribers", { key: old.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		const now = await novu.admin(`/keys/${old.id}/rotate`, { method: "POST", body: JSON.stringify({ gracePeriodSeconds: 0 }) });
		expect(now.status).toBe(201);
	});

	it("the config refuses a default or portal grace longer than keys.maxRotationGraceSeconds", () => {
		const withKeys = (keys: Record<string, unknown>, portal: Record<string, unknown> = {}) => {
			const c = structuredClone(config) as any;
			c.apis[0].keys = keys;
			Object.assign(c.apis[0].portal, portal);
			return parseConfig(JSON.stringify(c));
		};
		expect(withKeys({ rotationGraceSeconds: 0, maxRotationGraceSeconds: 0 }).ok).toBe(true);
		const messages = (r: ReturnType<typeof parseConfig>) => (r.ok ? "" : r.error);
		expect(messages(withKeys({ maxRotationGraceSeconds: 0 }))).toContain(
			"apis[0].keys.rotationGraceSeconds: 86400 s is longer than keys.maxRotationGraceSeconds (0 s); it is 86400 when not set: set it to at most 0",
		);
		expect(messages(withKeys({ rotationGraceSeconds: 0, maxRotationGraceSeconds: 3600 }, { rotationGraceChoices: [0, 86_400] }))).toContain(
			"apis[0].portal.rotationGraceChoices[1]: 86400 s is longer than keys.maxRotationGraceSeconds (3600 s)",
		);
	});
});

describe("regions with their own base URLs: US (default) and EU", () => {
	it("US is the default region at api.novu.co, and EU has its own base URL and origin", async () => {
		const usKey = await novu.createKey({ name: "no region given", environment: "production" });
		expect(usKey.api).toBe("novu");
		const euKey = await secretKey("novueu", "production");
		const euDev = await secretKey("novueu", "development");
		expect((await novu.call(`${US}/v1/subscribers`, { key: usKey.key, scheme: "ApiKey" })).status).toBe(200);
		expect((await novu.call(`${EU}/v1/subscribers`, { key: euKey.key, scheme: "ApiKey" })).status).toBe(200);
		expect((await novu.call(`${EU}/v1/subscribers`, { key: euDev.key, scheme: "ApiKey" })).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual([
			"http://127.0.0.1:8788/us/production/v1/subscribers",
			"http://127.0.0.1:8788/eu/production/v1/subscribers",
			"http://127.0.0.1:8788/eu/development/v1/subscribers",
		]);
	});

	// Novu's regions are separate deployments: a key issued in one is unknown in the other.
	it("a key of one region is a 401 on the other region's base URL, whatever its environment", async () => {
		const usProduction = await secretKey("novu", "production");
		const usStaging = await secretKey("novu", "staging");
		const euProduction = await secretKey("novueu", "production");
		const euDevelopment = await secretKey("novueu", "development");
		await expectUnauthorized(await callApi("novueu", "/v1/subscribers", { key: usProduction.key }));
		await expectUnauthorized(await callApi("novueu", "/v1/subscribers", { key: usStaging.key }));
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: euProduction.key }));
		await expectUnauthorized(await callApi("novu", "/v1/subscribers", { key: euDevelopment.key }));
		expect(origin.calls).toHaveLength(0);
	});

	it("only the page's base URLs are served: a host of neither region is 404 and reaches no origin", async () => {
		const { key } = await secretKey("novu", "development");
		for (const host of ["https://development.api.novu.co", "https://ws.novu.co", "https://novu.example.com"]) {
			const res = await novu.call(`${host}/v1/subscribers`, { key, scheme: "ApiKey" });
			expect(res.status, host).toBe(404);
		}
		expect(origin.calls).toHaveLength(0);
	});
});

describe("server-side only: browsers get CORS errors", () => {
	const browser = { Origin: "https://app.example.com" };

	it("a browser request with a secret key gets no Access-Control-Allow-Origin, so the browser refuses the answer", async () => {
		const { key } = await secretKey("novu", "production");
		const res = await callApi("novu", "/v1/subscribers", { key, headers: browser });
		expect(res.status).toBe(200);
		expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
	});

	it("a CORS preflight is not granted, and never reaches the origin", async () => {
		const res = await callApi("novu", "/v1/events/trigger", {
			method: "OPTIONS",
			headers: { ...browser, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type" },
		});
		expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		expect(res.headers.get("Access-Control-Allow-Methods")).toBeNull();
		expect(res.headers.get("Access-Control-Allow-Headers")).toBeNull();
		await expectUnauthorized(res);
		expect(origin.calls).toHaveLength(0);
	});
});

describe("rate limits per plan and per endpoint category", () => {
	// Novu's Rate Limiting page: each category has its own bucket of request tokens per
	// plan: Events (trigger) 60/240/600/6000 rps, Configuration (subscribers, topics,
	// workflows, channel connections and endpoints) 20/80/200/2000, Global (the rest, `other` here)
	// 30/120/300/3000 on Free/Pro/Team/Enterprise. Standard requests cost 1 token, bulk
	// requests 100, from the same pool. The example gives each plan's categories 5 s of
	// their rate (Novu's own policy is "300;w=5" for Free triggers), and the tier's own
	// limit is the sum of its categories: an overall budget that never refuses before a
	// category does, and what X-RateLimit-* describe on a request that passes.
	const WINDOW = 5;
	const RATES = { trigger: 60, configuration: 20, other: 30 };
	const PLANS = { free: 1, pro: 4, team: 10, enterprise: 100 };
	const TOO_MANY = `{\n  "error": "Too Many Requests"\n}`;

	/**
	 * Waits for the start of a calendar second that is not the last of its 5-second window
	 * (windows are aligned to the epoch), so a short run of requests falls in one window.
	 */
	async function earlyInWindow(): Promise<void> {
		await sleep(1000 - (Date.now() % 1000) + 5);
		if (Math.floor(Date.now() / 1000) % WINDOW === WINDOW - 1) await sleep(1000 - (Date.now() % 1000) + 5);
	}

	/**
	 * Runs `attempt` (which creates fresh keys, then awaits earlyInWindow) until all its
	 * answers fall in one 5-second window, at most 3 times; each try starts with no origin calls.
	 */
	async function inOneWindow<T extends { all: Response[] }>(attempt: () => Promise<T>): Promise<T> {
		for (let i = 1; ; i++) {
			origin.calls.length = 0;
			const result = await attempt();
			const resets = new Set(result.all.map((r) => r.headers.get("X-RateLimit-Reset")));
			if (resets.size === 1 || i === 3) return result;
		}
	}

	/** A 429 from a category's bucket: the minimal body, Retry-After within the window, and that category's limit. */
	async function expectTooMany(res: Response, limit: number): Promise<void> {
		const text = await res.text();
		expect(res.status, text).toBe(429);
		expect(text).toBe(TOO_MANY);
		const retryAfter = Number(res.headers.get("Retry-After"));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(WINDOW);
		expect(res.headers.get("X-RateLimit-Limit")).toBe(String(limit));
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("0");
	}

	it("each plan's categories are Novu's rates over 5 s, in both regions, and the plan's own limit is their sum", () => {
		for (const api of config.apis) {
			for (const [plan, factor] of Object.entries(PLANS)) {
				const tier = api.tiers[plan as keyof typeof PLANS];
				const categories = Object.fromEntries(
					Object.entries(RATES).map(([category, rps]) => [
						category,
						{ limit: rps * factor * WINDOW, window: WINDOW, burst: rps * factor * WINDOW },
					]),
				);
				expect(tier.categories, `${api.name} ${plan}`).toEqual(categories);
				const sum = Object.values(categories).reduce((total, c) => total + c.limit, 0);
				expect({ limit: tier.limit, window: tier.window, burst: tier.burst }, `${api.name} ${plan}`).toEqual({
					limit: sum,
					window: WINDOW,
					burst: sum,
				});
			}
			expect(new Set(api.routes.map((r) => r.category))).toEqual(new Set(Object.keys(RATES)));
		}
	});

	it("rules of one category share one bucket: a Free key gets exactly 100 configuration requests per 5 s (20 per second) across subscribers and topics", async () => {
		const run = await inOneWindow(async () => {
			const { key } = await secretKey("novu", "production", { tier: "free" });
			await earlyInWindow();
			const volley = await Promise.all(
				Array.from({ length: 100 }, (_, i) =>
					i % 2 === 0 ? callApi("novu", "/v2/subscribers", { key, method: "POST", body: "{}" }) : callApi("novu", "/v1/topics", { key }),
				),
			);
			const forwarded = origin.calls.length;
			const refused = [
				await callApi("novu", "/v2/subscribers", { key, method: "POST", body: "{}" }),
				await callApi("novu", "/v1/topics", { key }),
				await callApi("novu", "/v2/workflows", { key }),
			];
			return { all: [...volley, ...refused], volley, refused, forwarded, afterRefusals: origin.calls.length };
		});
		expect(run.volley.map((r) => r.status)).toEqual(Array(100).fill(200));
		expect(run.forwarded).toBe(100);
		expect(origin.calls.filter((c) => c.url.pathname.endsWith("/v2/subscribers"))).toHaveLength(50);
		// Each pass took its own slot of the plan's overall budget (550 per 5 s).
		expect(run.volley.map((r) => r.headers.get("X-RateLimit-Limit"))).toEqual(Array(100).fill("550"));
		const remaining = run.volley.map((r) => Number(r.headers.get("X-RateLimit-Remaining"))).sort((a, b) => b - a);
		expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => 550 - (i + 1)));
		// The 101st configuration request is refused, whichever configuration rule it matches.
		for (const res of run.refused) await expectTooMany(res, 100);
		expect(run.afterRefusals).toBe(run.forwarded);
	});

	it("categories are independent: exhausting triggers leaves configuration whole, exhausting both leaves the rest", async () => {
		const run = await inOneWindow(async () => {
			const { key } = await secretKey("novu", "production", { tier: "free" });
			await earlyInWindow();
			const call = (method: string, path: string) => callApi("novu", path, { key, method });
			const bulkTriggers: Response[] = [];
			// Bulk costs 100 tokens from the trigger pool: three spend a Free key's 300.
			for (let i = 0; i < 3; i++) bulkTriggers.push(await call("POST", "/v1/events/trigger/bulk"));
			let forwarded = origin.calls.length;
			const triggerRefused = await call("POST", "/v1/events/trigger");
			const triggerReached = origin.calls.length - forwarded;
			const bulkSubscribers = await call("POST", "/v1/subscribers/bulk");
			forwarded = origin.calls.length;
			const configurationRefused = await call("GET", "/v1/subscribers");
			const configurationReached = origin.calls.length - forwarded;
			const other = await call("GET", "/v1/notifications");
			const all = [...bulkTriggers, triggerRefused, bulkSubscribers, configurationRefused, other];
			return { all, bulkTriggers, triggerRefused, triggerReached, bulkSubscribers, configurationRefused, configurationReached, other };
		});
		expect(run.bulkTriggers.map((r) => r.status)).toEqual([200, 200, 200]);
		await expectTooMany(run.triggerRefused, 300);
		expect(run.triggerReached).toBe(0);
		// The configuration pool is untouched by triggers: a bulk request takes all 100 of its tokens.
		expect(run.bulkSubscribers.status).toBe(200);
		await expectTooMany(run.configurationRefused, 100);
		expect(run.configurationReached).toBe(0);
		// The rest still passes; the overall budget counts every category: 550 - 300 - 100 - 1.
		expect(run.other.status).toBe(200);
		expect(run.other.headers.get("X-RateLimit-Remaining")).toBe("149");
		expect(origin.calls.map((c) => `${c.method} ${c.url.pathname}`)).toEqual([
			"POST /us/production/v1/events/trigger/bulk",
			"POST /us/production/v1/events/trigger/bulk",
			"POST /us/production/v1/events/trigger/bulk",
			"POST /us/production/v1/subscribers/bulk",
			"GET /us/production/v1/notifications",
		]);
	});

	it("a higher plan gets the higher category limit: configuration is 100 tokens per 5 s on Free, 400 on Pro, 1,000 on Team", async () => {
		const plans = [
			{ tier: "free", limit: 100, overall: 550 },
			{ tier: "pro", limit: 400, overall: 2200 },
			{ tier: "team", limit: 1000, overall: 5500 },
		] as const;
		const run = await inOneWindow(async () => {
			const keys = [];
			for (const plan of plans) keys.push((await secretKey("novu", "production", { tier: plan.tier })).key);
			await earlyInWindow();
			const results = [];
			for (const [i, plan] of plans.entries()) {
				const passed: Response[] = [];
				// Each bulk request costs 100 tokens: the plan's limit allows limit / 100 of them.
				for (let n = 0; n < plan.limit / 100; n++)
					passed.push(await callApi("novu", "/v1/subscribers/bulk", { key: keys[i], method: "POST" }));
				const forwarded = origin.calls.length;
				const refused = await callApi("novu", "/v1/subscribers/bulk", { key: keys[i], method: "POST" });
				results.push({ ...plan, passed, refused, reached: origin.calls.length - forwarded });
			}
			return { all: results.flatMap((r) => [...r.passed, r.refused]), results };
		});
		for (const { tier, limit, overall, passed, refused, reached } of run.results) {
			expect(
				passed.map((r) => r.status),
				tier,
			).toEqual(Array(limit / 100).fill(200));
			expect(passed.at(-1)!.headers.get("X-RateLimit-Limit"), tier).toBe(String(overall));
			expect(passed.at(-1)!.headers.get("X-RateLimit-Remaining"), tier).toBe(String(overall - limit));
			await expectTooMany(refused, limit);
			expect(reached, tier).toBe(0);
		}
		expect(origin.calls).toHaveLength(1 + 4 + 10);
	});
});

describe("idempotency keys", () => {
	// Idempotency keys are not an authentication promise: keygate does not interpret
	// them, it passes the header through unchanged for the origin to replay responses.
	it("an Idempotency-Key header reaches the origin unchanged", async () => {
		const { key } = await secretKey("novu", "production");
		const res = await callApi("novu", "/v1/events/trigger", {
			key,
			method: "POST",
			headers: { "Idempotency-Key": "order-4711-welcome", "Content-Type": "application/json" },
			body: JSON.stringify({ name: "welcome", to: "subscriber-1" }),
		});
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.headers.get("Idempotency-Key")).toBe("order-4711-welcome");
		expect(origin.calls[0]!.body).toBe(JSON.stringify({ name: "welcome", to: "subscriber-1" }));
	});
});
