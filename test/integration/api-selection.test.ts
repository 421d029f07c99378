/**
 * Which API a request belongs to when several share a path prefix: the one that names
 * the request's host wins over one that answers on any host, whatever their order in
 * `apis`; APIs that would still tie are refused at load (every request 503).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { gatewayFor } from "../helpers/gateway";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

let origin: FakeOrigin;
beforeEach(() => {
	origin = fakeOrigin();
});
afterEach(() => vi.restoreAllMocks());

function api(name: string, originUrl: string, match?: { hosts?: string[]; pathPrefix?: string }) {
	return {
		name,
		...(match ? { match } : {}),
		environments: { live: { origin: originUrl } },
		keyTypes: { sk: { kind: "secret" } },
		routes: [{ methods: ["GET"], path: "/status", public: true }],
		unmatchedRoutes: "authenticate",
		tiers: { free: { limit: 100, burst: 10 } },
		defaultTier: "free",
	};
}

describe("a host-specific API on the same path prefix as an any-host API", () => {
	// The any-host API is listed first: before the fix it took every request, so the EU API was unreachable.
	const config = {
		apis: [api("main", "https://main.origin.example"), api("eu", "https://eu.origin.example", { hosts: ["eu.api.example.com"] })],
	};
	const gateway = gatewayFor(config);

	it("gets the public routes of its host, sent to its own origin", async () => {
		expect((await gateway.call("https://eu.api.example.com/status")).status).toBe(200);
		expect((await gateway.call("https://api.example.com/status")).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["https://eu.origin.example/status", "https://main.origin.example/status"]);
	});

	it("accepts its own keys on its host, and the any-host API's keys are invalid there", async () => {
		const eu = await gateway.createKey({ api: "eu", name: "eu key" });
		const main = await gateway.createKey({ api: "main", name: "main key" });
		const res = await gateway.call("https://eu.api.example.com/things", { key: eu.key });
		expect(res.status, await res.clone().text()).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["https://eu.origin.example/things"]);
		expect(origin.calls[0]!.headers.get("X-Keygate-Key-Id")).toBe(eu.id);

		const refused = await gateway.call("https://eu.api.example.com/things", { key: main.key });
		expect(refused.status).toBe(401);
		expect(((await refused.json()) as { error: string }).error).toBe("invalid_api_key");
		// And the EU key is another API's key on any other host.
		expect((await gateway.call("https://api.example.com/things", { key: eu.key })).status).toBe(401);
		expect(origin.calls).toHaveLength(1);
	});

	it("takes its host written as a fully qualified name (a trailing dot) as that host (found by a conformance check: a 404)", async () => {
		const eu = await gateway.createKey({ api: "eu", name: "eu fqdn key" });
		const res = await gateway.call("https://eu.api.example.com./things", { key: eu.key });
		expect(res.status, await res.clone().text()).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["https://eu.origin.example/things"]);
	});

	it("still loses to an any-host API with a longer path prefix", async () => {
		const longer = {
			apis: [
				api("eu", "https://eu.origin.example", { hosts: ["eu.api.example.com"] }),
				api("admin", "https://admin.origin.example", { pathPrefix: "/status" }),
			],
		};
		expect((await gatewayFor(longer).call("https://eu.api.example.com/status")).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["https://admin.origin.example/status"]);
	});
});

describe("APIs that would tie are refused at load", () => {
	it.each([
		["both on any host, same prefix", api("a", "https://a.example"), api("b", "https://b.example"), /for any host/],
		[
			"same prefix written differently (/v1 and /v1/)",
			api("a", "https://a.example", { pathPrefix: "/v1" }),
			api("b", "https://b.example", { pathPrefix: "/v1/" }),
			/path prefix "\/v1" for any host/,
		],
		[
			"overlapping host lists, same prefix",
			api("a", "https://a.example", { hosts: ["x.example.com", "y.example.com"] }),
			api("b", "https://b.example", { hosts: ["y.example.com"] }),
			/for host "y\.example\.com"/,
		],
	])("%s: every request is 503 and nothing reaches an origin", async (_what, first, second, reason) => {
		const logged = vi.spyOn(console, "error");
		const gateway = gatewayFor({ apis: [first, second] });
		const res = await gateway.call("https://y.example.com/v1/status");
		expect(res.status).toBe(503);
		expect(((await res.json()) as { error: string }).error).toBe("gateway_unavailable");
		expect(origin.calls).toHaveLength(0);
		const line = logged.mock.calls.map((c) => String(c[0])).find((l) => l.includes("config_invalid"));
		expect(line).toBeDefined();
		const { error } = JSON.parse(line!) as { error: string };
		expect(error).toMatch(/apis\[1\]\.match: API "b" and API "a" \(apis\[0\]\) both answer on/);
		expect(error).toMatch(reason);
	});
});
