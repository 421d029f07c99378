/**
 * Conformance: keygate running examples/novu/keygate.config.json behaves as Novu's
 * "Authentication" page (../shared/seeds/002_*.txt) promises. One describe per bullet
 * of the Novu section of the seeds index.
 *
 * The example serves two regions (two APIs: `novu` for US, the default, and `novueu`),
 * each with three environments on their own hosts:
 *   development.api.novu.co, api.novu.co (production), staging.api.novu.co
 *   development.eu.api.novu.co, eu.api.novu.co (production), staging.eu.api.novu.co
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import config from "../../examples/novu/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { gatewayFor, type CreatedKey } from "../helpers/gateway";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

const US = "https://api.novu.co";
const EU = "https://eu.api.novu.co";
const HOSTS = {
	novu: { development: "https://development.api.novu.co", production: US, staging: "https://staging.api.novu.co" },
	novueu: { development: "https://development.eu.api.novu.co", production: EU, staging: "https://staging.eu.api.novu.co" },
} as const;
type Region = keyof typeof HOSTS;
type Environment = keyof (typeof HOSTS)["novu"];

/** Novu documents no body, only "401 Unauthorized": the example uses the minimal style. */
const UNAUTHORIZED = `{
  "error": "Unauthorized"
}`;

const novu = gatewayFor(config, US);

let origin: FakeOrigin;
beforeEach(() => {
	origin = fakeOrigin();
});
afterEach(() => vi.restoreAllMocks());

async function expectUnauthorized(res: Response): Promise<void> {
	const text = await res.text();
	expect(res.status, text).toBe(401);
	expect(res.headers.get("Content-Type")).toBe("application/json");
	expect(text).toBe(UNAUTHORIZED);
	expect(res.headers.get("WWW-Authenticate")).toMatch(/^ApiKey realm="novu"/);
}

/** A secret key of a region (API) and environment, created through the admin API. */
function secretKey(api: Region, environment: Environment, body: Record<string, unknown> = {}): Promise<CreatedKey> {
	return novu.createKey({ api, environment, name: `${api} ${environment} key`, ...body });
}

/** A call with `Authorization: ApiKey <key>` to a region and environment's base URL. */
function callApi(api: Region, environment: Environment, path: string, init: RequestInit & { key?: string; scheme?: string } = {}) {
	return novu.call(HOSTS[api][environment] + path, { scheme: "ApiKey", ...init });
}

it("the example config is valid", () => {
	expect(parseConfig(config)).toMatchObject({ ok: true });
});

describe("the ApiKey scheme, not Bearer", () => {
	it("a secret key sent as Authorization: ApiKey <key> is accepted, and the key is not forwarded", async () => {
		const { id, key } = await secretKey("novu", "production");
		const res = await callApi("novu", "production", "/v1/subscribers?page=0", { key });
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.url.href).toBe("http://127.0.0.1:8788/us/production/v1/subscribers?page=0");
		expect(origin.calls[0]!.headers.has("authorization")).toBe(false);
		expect(origin.calls[0]!.headers.get("X-Keygate-Key-Id")).toBe(id);
	});

	it("the same valid key sent as a Bearer token is a 401 Unauthorized", async () => {
		const { key } = await secretKey("novu", "production");
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key, scheme: "Bearer" }));
		expect(origin.calls).toHaveLength(0);
	});

	it("a missing or malformed Authorization header is a 401 Unauthorized", async () => {
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers"));
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { headers: { Authorization: "ApiKey" } }));
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: "0123456789abcdef0123456789abcdef" }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("each environment has a secret key and an application identifier", () => {
	it("the secret key and the application identifier are issued together for one environment", async () => {
		const res = await novu.admin("/key-pairs", { method: "POST", body: JSON.stringify({ api: "novu", environment: "staging", name: "staging credentials" }) });
		expect(res.status).toBe(201);
		const pair = await res.json<Record<string, (CreatedKey & { kind: string; pairId: string; environment: string }) | undefined>>();
		expect(pair.publishable).toBeUndefined();
		expect(pair.secret).toMatchObject({ kind: "secret", environment: "staging" });
		expect(pair.identifier).toMatchObject({ kind: "identifier", environment: "staging", pairId: pair.secret!.pairId });
		expect(pair.secret!.key).toMatch(/^sk_staging_/);
		expect(pair.identifier!.key).toMatch(/^app_staging_/);
	});

	it("the application identifier does not authorize API requests on its own: presented as the credential it is a 401", async () => {
		const res = await novu.admin("/key-pairs", { method: "POST", body: JSON.stringify({ api: "novu", environment: "production", name: "inbox app" }) });
		const { identifier, secret } = await res.json<Record<"identifier" | "secret", CreatedKey>>();
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: identifier.key }));
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: identifier.key, scheme: "Bearer" }));
		expect(origin.calls).toHaveLength(0);
		// The secret key of the same pair does.
		expect((await callApi("novu", "production", "/v1/subscribers", { key: secret.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(1);
	});
});

describe("environments: Development, Production and a custom one (staging), each isolated", () => {
	it("a key reaches only its own environment's origin", async () => {
		for (const environment of ["development", "production", "staging"] as const) {
			const { key } = await secretKey("novu", environment);
			expect((await callApi("novu", environment, "/v1/workflows", { key })).status).toBe(200);
		}
		expect(origin.calls.map((c) => c.url.href)).toEqual([
			"http://127.0.0.1:8788/us/development/v1/workflows",
			"http://127.0.0.1:8788/us/production/v1/workflows",
			"http://127.0.0.1:8788/us/staging/v1/workflows",
		]);
		expect(origin.calls.map((c) => c.headers.get("X-Keygate-Environment"))).toEqual(["development", "production", "staging"]);
	});

	it("a key from another environment is a 401", async () => {
		const development = await secretKey("novu", "development");
		const production = await secretKey("novu", "production");
		const staging = await secretKey("novu", "staging");
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: development.key }));
		await expectUnauthorized(await callApi("novu", "staging", "/v1/subscribers", { key: development.key }));
		await expectUnauthorized(await callApi("novu", "development", "/v1/subscribers", { key: production.key }));
		await expectUnauthorized(await callApi("novu", "staging", "/v1/subscribers", { key: production.key }));
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: staging.key }));
		await expectUnauthorized(await callApi("novu", "development", "/v1/subscribers", { key: staging.key }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("regenerating a secret key invalidates the previous one immediately", () => {
	it("after a rotation the old key is a 401 on the very next request and the new key works", async () => {
		const old = await secretKey("novu", "production");
		expect((await callApi("novu", "production", "/v1/subscribers", { key: old.key })).status).toBe(200);

		const res = await novu.admin(`/keys/${old.id}/rotate`, { method: "POST" });
		expect(res.status).toBe(201);
		const rotated = await res.json<CreatedKey & { previous: { graceEndsAt: string } }>();
		expect(Date.parse(rotated.previous.graceEndsAt)).toBeLessThanOrEqual(Date.now());

		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: old.key }));
		expect((await callApi("novu", "production", "/v1/subscribers", { key: rotated.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);
	});
});

describe("regions with their own base URLs: US (default) and EU", () => {
	it("US is the default region at api.novu.co, and EU has its own base URL and origin", async () => {
		const usKey = await novu.createKey({ name: "no region given", environment: "production" });
		expect(usKey.api).toBe("novu");
		const euKey = await secretKey("novueu", "production");
		expect((await novu.call(`${US}/v1/subscribers`, { key: usKey.key, scheme: "ApiKey" })).status).toBe(200);
		expect((await novu.call(`${EU}/v1/subscribers`, { key: euKey.key, scheme: "ApiKey" })).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual([
			"http://127.0.0.1:8788/us/production/v1/subscribers",
			"http://127.0.0.1:8788/eu/production/v1/subscribers",
		]);
	});

	it("a US key on the EU base URL is a 401, and an EU key on the US base URL too", async () => {
		const usKey = await secretKey("novu", "production");
		const euKey = await secretKey("novueu", "production");
		const euDev = await secretKey("novueu", "development");
		await expectUnauthorized(await callApi("novueu", "production", "/v1/subscribers", { key: usKey.key }));
		await expectUnauthorized(await callApi("novu", "production", "/v1/subscribers", { key: euKey.key }));
		await expectUnauthorized(await callApi("novu", "development", "/v1/subscribers", { key: euDev.key }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("server-side only: browsers get CORS errors", () => {
	const browser = { Origin: "https://app.example.com" };

	it("a browser request with a secret key gets no Access-Control-Allow-Origin, so the browser refuses the answer", async () => {
		const { key } = await secretKey("novu", "production");
		const res = await callApi("novu", "production", "/v1/subscribers", { key, headers: browser });
		expect(res.status).toBe(200);
		expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
	});

	it("a CORS preflight is not granted, and never reaches the origin", async () => {
		const res = await callApi("novu", "production", "/v1/events/trigger", {
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
	// Novu: Events (trigger) 60/240/600/6000 rps, Configuration (subscribers, topics,
	// workflows, channel connections and endpoints) 20/80/200/2000, Global (the rest)
	// 30/120/300/3000 on Free/Pro/Team/Enterprise; bulk requests cost 100 tokens. The
	// example gives each plan 5 s of its trigger rate as tokens (free: 300 per 5 s) and
	// weighs categories by cost: trigger 1, configuration 3, other 2, bulk x100.

	/** Runs `attempt` with fresh keys until all its answers fall in one 5-second window (at most 3 tries). */
	async function inOneWindow(attempt: () => Promise<Response[]>): Promise<Response[]> {
		for (let i = 0; ; i++) {
			const answers = await attempt();
			const resets = new Set(answers.map((r) => r.headers.get("X-RateLimit-Reset")));
			if (resets.size === 1 || i === 2) return answers;
			origin.calls.length = 0;
		}
	}

	it("a Free key gets exactly 100 configuration requests per 5 seconds (20 per second); the 101st is 429", async () => {
		const answers = await inOneWindow(async () => {
			const { key } = await secretKey("novu", "production", { tier: "free" });
			return Promise.all(Array.from({ length: 101 }, () => callApi("novu", "production", "/v2/subscribers", { key, method: "POST", body: "{}" })));
		});
		const passed = answers.filter((r) => r.status === 200);
		const refused = answers.filter((r) => r.status !== 200);
		expect(passed).toHaveLength(100);
		expect(refused).toHaveLength(1);
		const remaining = passed.map((r) => Number(r.headers.get("X-RateLimit-Remaining"))).sort((a, b) => b - a);
		expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => 300 - 3 * (i + 1)));
		const [tooMany] = refused;
		expect(tooMany!.status).toBe(429);
		expect(await tooMany!.text()).toBe(`{\n  "error": "Too Many Requests"\n}`);
		expect(Number(tooMany!.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
		expect(tooMany!.headers.get("X-RateLimit-Limit")).toBe("300");
		expect(origin.calls).toHaveLength(100);
	});

	it("each category spends its own cost, and the budget is the key's plan", async () => {
		const [trigger, configuration, other, bulk] = await inOneWindow(async () => {
			const { key } = await secretKey("novu", "production", { tier: "free" });
			const answers: Response[] = [];
			for (const [method, path] of [
				["POST", "/v1/events/trigger"],
				["GET", "/v1/topics"],
				["GET", "/v1/notifications"],
				["POST", "/v1/events/trigger/bulk"],
			] as const) {
				answers.push(await callApi("novu", "production", path, { key, method }));
			}
			return answers;
		});
		expect([trigger, configuration, other, bulk].map((r) => r!.headers.get("X-RateLimit-Remaining"))).toEqual(["299", "296", "294", "194"]);

		const pro = await secretKey("novu", "production", { tier: "pro" });
		const res = await callApi("novu", "production", "/v1/subscribers", { key: pro.key });
		expect(res.headers.get("X-RateLimit-Limit")).toBe("1200");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("1197");
	});
});

describe("idempotency keys", () => {
	// Idempotency keys are not an authentication promise: keygate does not interpret
	// them, it passes the header through unchanged for the origin to replay responses.
	it("an Idempotency-Key header reaches the origin unchanged", async () => {
		const { key } = await secretKey("novu", "production");
		const res = await callApi("novu", "production", "/v1/events/trigger", {
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
