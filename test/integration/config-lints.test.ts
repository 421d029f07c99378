/**
 * Config lints: configs keygate runs but that probably do not do what their author meant.
 * Each is logged once per load, as one JSON line naming the field; the config still loads.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { configLogLines, parseConfig, type ConfigLint } from "../../src/config/load";
import { callWithConfig, createKey, gatewayFor } from "../helpers/gateway";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

let origin: FakeOrigin;
beforeEach(() => {
	origin = fakeOrigin();
});
afterEach(() => vi.restoreAllMocks());

/** The demo config with every lint: CORS for the secret type, `null` among the origins, scoped routes under `authenticate`. */
function linted(): any {
	const config = structuredClone(bundled) as any;
	config.apis[0].cors = { allowOrigins: ["https://shop.example", "null"], keyTypes: ["pk", "sk"] };
	config.apis[0].unmatchedRoutes = "authenticate";
	return config;
}

function lintsOf(config: unknown): ConfigLint[] {
	const result = parseConfig(config);
	if (!result.ok) throw new Error(`expected a valid config: ${result.error}`);
	return result.lints;
}

describe("lints, read from parseConfig", () => {
	it("name the field of each: a secret key type with CORS, Origin null allowed, authenticate over scoped routes", () => {
		expect(lintsOf(linted())).toEqual([
			{ field: "apis[0].cors.keyTypes[1]", message: expect.stringMatching(/^"sk" is a secret key type: .*publishable/) },
			{
				field: "apis[0].cors.allowOrigins[1]",
				message: expect.stringMatching(/^"null" is the origin of sandboxed iframes.*never allows it/),
			},
			{ field: "apis[0].unmatchedRoutes", message: expect.stringMatching(/no scopes, reach every path no rule lists.*set "deny"$/) },
		]);
	});

	it("the unmatchedRoutes lint also fires when authenticate is the default, and not when it cannot matter", () => {
		const byDefault = linted();
		delete byDefault.apis[0].unmatchedRoutes;
		expect(lintsOf(byDefault).map((l) => l.field)).toContain("apis[0].unmatchedRoutes");

		const deny = linted();
		deny.apis[0].unmatchedRoutes = "deny";
		const unscoped = linted();
		unscoped.apis[0].routes.push({ path: "/v2/**" }); // a rule without scopes: the author lets any key in somewhere
		const catchAll = linted();
		catchAll.apis[0].routes.push({ path: "/**", scopes: ["admin"] }); // nothing is ever unmatched
		const publicOnly = linted();
		publicOnly.apis[0].routes = [{ path: "/health", public: true }];
		for (const config of [deny, unscoped, catchAll, publicOnly])
			expect(lintsOf(config).map((l) => l.field)).not.toContain("apis[0].unmatchedRoutes");
	});

	it("environments.<first>.tiers without defaultTier while external JWTs are trusted: named, since such JWTs are all refused (a review)", () => {
		const config = structuredClone(bundled) as any;
		const first = Object.keys(config.apis[0].environments)[0]!;
		config.apis[0].environments[first].tiers = ["pro"];
		config.apis[0].oauth.externalIssuers = [
			{ issuer: "https://idp.example.com/", jwksUri: "https://idp.example.com/jwks", audience: ["api"] },
		];
		expect(lintsOf(config)).toContainEqual({
			field: `apis[0].environments.${first}.tiers`,
			message: expect.stringMatching(/^external JWTs count under the first environment/),
		});
		config.apis[0].environments[first].tiers = ["pro", config.apis[0].defaultTier];
		expect(lintsOf(config).map((l) => l.field)).not.toContain(`apis[0].environments.${first}.tiers`);
		config.apis[0].environments[first].tiers = ["pro"];
		config.apis[0].oauth.externalIssuers = [];
		expect(lintsOf(config).map((l) => l.field)).not.toContain(`apis[0].environments.${first}.tiers`);
	});

	it("portal.rotationGraceChoices without the preselected grace: named, since the form offers that grace too (found by a review)", () => {
		const offered = structuredClone(bundled) as any;
		offered.apis[0].portal = { ...offered.apis[0].portal, rotationGraceChoices: [0] };
		expect(lintsOf(offered)).toContainEqual({
			field: "apis[0].portal.rotationGraceChoices",
			message: expect.stringMatching(/^the preselected grace \(86400 s, .*is not listed/),
		});
		offered.apis[0].portal.rotationGraceSeconds = 0;
		expect(lintsOf(offered).map((l) => l.field)).not.toContain("apis[0].portal.rotationGraceChoices");
	});

	it("an invalid config is only its error: one config_invalid line, no lints", () => {
		const config = linted();
		config.apis[0].defaultTier = "gold";
		const result = parseConfig(config);
		expect(result).not.toHaveProperty("lints");
		expect(configLogLines(result)).toEqual([
			{
				level: "error",
				line: JSON.stringify({ event: "config_invalid", error: 'invalid config: apis[0].defaultTier: "gold" is not one of tiers' }),
			},
		]);
	});
});

describe("lints at load", () => {
	it("are logged once per load, one JSON line each, and the config still serves requests", async () => {
		const warn = vi.spyOn(console, "warn");
		const gateway = gatewayFor(linted());
		expect((await gateway.call("/health")).status).toBe(200);
		expect((await gateway.call("/health")).status).toBe(200);
		const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes('"config_lint"'));
		expect(lines).toEqual(configLogLines(parseConfig(linted())).map((l) => l.line));
		expect(lines.map((l) => JSON.parse(l))).toEqual([
			{ event: "config_lint", field: "apis[0].cors.keyTypes[1]", message: expect.any(String) },
			{ event: "config_lint", field: "apis[0].cors.allowOrigins[1]", message: expect.any(String) },
			{ event: "config_lint", field: "apis[0].unmatchedRoutes", message: expect.any(String) },
		]);
		expect(origin.calls).toHaveLength(2);
	});
});

describe("Origin: null is never an allowed origin", () => {
	const star = () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].cors = { allowOrigins: ["*"], keyTypes: ["pk"] };
		return config;
	};

	it('not by "*": a publishable key\'s answer carries no Access-Control-Allow-Origin for Origin: null', async () => {
		const { key } = await createKey({ type: "pk", scopes: ["read"] });
		const allowed = await callWithConfig(star(), "/v1/things", { key, headers: { Origin: "https://shop.example" } });
		expect(allowed.headers.get("Access-Control-Allow-Origin")).toBe("https://shop.example");
		const res = await callWithConfig(star(), "/v1/things", { key, headers: { Origin: "null" } });
		expect(res.status).toBe(200);
		expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		expect(res.headers.get("Access-Control-Expose-Headers")).toBeNull();
		expect(origin.calls).toHaveLength(2);
	});

	it('not by "*" nor by listing "null": a preflight from Origin: null is not granted and never reaches the origin', async () => {
		const listed = star();
		listed.apis[0].cors.allowOrigins = ["null"];
		for (const config of [star(), listed]) {
			const res = await callWithConfig(config, "/v1/things", {
				method: "OPTIONS",
				headers: { Origin: "null", "Access-Control-Request-Method": "GET" },
			});
			expect(res.status).toBe(204);
			expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
			expect(res.headers.get("Access-Control-Allow-Methods")).toBeNull();
		}
		expect(origin.calls).toHaveLength(0);
	});
});
