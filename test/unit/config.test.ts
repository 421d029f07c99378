import { describe, expect, it } from "vitest";
import genericRest from "../../examples/generic-rest/keygate.config.json";
import novala from "../../examples/novala/keygate.config.json";
import novapulse from "../../examples/novapulse/keygate.config.json";
import novu from "../../examples/novu/keygate.config.json";
import nuvion from "../../examples/nuvion/keygate.config.json";
import bundled from "../../keygate.config.json";
import schema from "../../keygate.schema.json";
import { parseConfig, selectApi } from "../../src/config/load";

const shipped = {
	"keygate.config.json": bundled,
	"examples/generic-rest": genericRest,
	"examples/novala": novala,
	"examples/novapulse": novapulse,
	"examples/novu": novu,
	"examples/nuvion": nuvion,
};

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe("config validation", () => {
	it("accepts the bundled demo config and fills defaults", () => {
		const result = parseConfig(bundled);
		expect(result.ok).toBe(true);
		if (!result.ok) return;
		const api = result.value.apis[0]!;
		expect(api.match.pathPrefix).toBe("/");
		expect(api.unmatchedRoutes).toBe("deny");
		expect([...api.readOnlyTypes]).toEqual(["pk"]);
	});

	it.each<[string, (c: any) => void, RegExp]>([
		["a negative burst", (c) => (c.apis[0].tiers.free.burst = -1), /apis\[0\]\.tiers\.free\.burst: /],
		["an unknown default tier", (c) => (c.apis[0].defaultTier = "gold"), /apis\[0\]\.defaultTier: "gold" is not one of tiers/],
		[
			"an environment open to an unknown tier",
			(c) => (c.apis[0].environments.live.tiers = ["free", "gold"]),
			/apis\[0\]\.environments\.live\.tiers\[1\]: "gold" is not one of tiers/,
		],
		["an environment open to no tier", (c) => (c.apis[0].environments.live.tiers = []), /apis\[0\]\.environments\.live\.tiers: /],
		["an origin that is not a URL", (c) => (c.apis[0].environments.live.origin = "nowhere"), /apis\[0\]\.environments\.live\.origin/],
		["an unknown field", (c) => (c.apis[0].colour = "blue"), /apis\[0\]: .*colour/],
		["no APIs", (c) => (c.apis = []), /apis: /],
		["a route without a leading slash", (c) => (c.apis[0].routes[0].path = "health"), /apis\[0\]\.routes\[0\]\.path: a path pattern/],
		[
			"CORS for an unknown key type",
			(c) => (c.apis[0].cors.keyTypes = ["xx"]),
			/apis\[0\]\.cors\.keyTypes\[0\]: "xx" is not one of keyTypes/,
		],
		["an unknown error style", (c) => (c.apis[0].errors.style = "loud"), /apis\[0\]\.errors\.style/],
	])("names the field for %s", (_name, mutate, expected) => {
		const config = clone(bundled);
		mutate(config);
		const result = parseConfig(config);
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.error).toMatch(expected);
	});

	it("reports JSON that does not parse", () => {
		const result = parseConfig("{ not json");
		expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/^config is not valid JSON/) });
	});
});

describe("errors.overrides", () => {
	it("refuses a code that is not one of the catalogue's gateway codes", async () => {
		const { PUBLIC_CODES } = await import("../../src/config/schema");
		expect(PUBLIC_CODES).toContain("invalid_api_key");
		expect(PUBLIC_CODES).not.toContain("invalid_admin_token");
		const config = clone(bundled) as any;
		config.apis[0].errors.overrides = { invalid_api_kee: { message: "typo" } };
		const result = parseConfig(config);
		expect(result).toMatchObject({
			ok: false,
			error: expect.stringMatching(/errors\.overrides\.invalid_api_kee: "invalid_api_kee" is not a public error code/),
		});
	});
});

describe("keygate.schema.json says what it can of what keygate refuses", () => {
	const api = (schema as any).properties.apis.items.properties;

	it("records keygate needs non-empty are minProperties: 1 (an empty tiers, environments, keyTypes or roles)", () => {
		expect(api.tiers.minProperties).toBe(1);
		expect(api.environments.minProperties).toBe(1);
		expect(api.keyTypes.minProperties).toBe(1);
		expect(api.owners.properties.roles.minProperties).toBe(1);
		expect(api.match.properties.hosts.minItems).toBe(1);
		for (const field of ["tiers", "environments", "keyTypes"]) {
			const config = clone(bundled) as any;
			config.apis[0][field] = {};
			expect(parseConfig(config), field).toMatchObject({ ok: false, error: expect.stringContaining(`apis[0].${field}: at least one`) });
		}
	});

	it("errors.overrides may only name a public code: the same list keygate checks, as an enum of property names", async () => {
		const { PUBLIC_CODES } = await import("../../src/config/schema");
		expect(api.errors.properties.overrides.propertyNames).toEqual({ enum: PUBLIC_CODES });
	});

	it("a description given to one use of a shared field stays on that field", () => {
		// `name` is shared by every name-like field; owners.defaultRole's description once reached them all.
		expect(api.name.description).toBeUndefined();
		expect(api.tiers.propertyNames.description).toBeUndefined();
		expect(api.defaultTier.description).toMatch(/must be one of tiers/);
		expect(api.owners.properties.defaultRole.description).toMatch(/Role of an owner/);
	});

	it.each<[string, (c: any) => void, RegExp]>([
		[
			"duplicate API names",
			(c) => c.apis.push({ ...c.apis[0], match: { pathPrefix: "/x" } }),
			/apis\[1\]\.name: duplicate API name "demo"/,
		],
		["a default tier not among the tiers", (c) => (c.apis[0].defaultTier = "gold"), /apis\[0\]\.defaultTier: "gold" is not one of tiers/],
		[
			"CORS for an unknown key type",
			(c) => (c.apis[0].cors.keyTypes = ["pk", "xk"]),
			/apis\[0\]\.cors\.keyTypes\[1\]: "xk" is not one of keyTypes/,
		],
	])("what JSON Schema cannot express is refused by keygate (and npm run config:check): %s", (_what, mutate, expected) => {
		const config = clone(bundled);
		mutate(config);
		expect(parseConfig(config)).toMatchObject({ ok: false, error: expect.stringMatching(expected) });
	});
});

describe("every shipped config", () => {
	it.each(Object.entries(shipped))("%s loads without lints", (_path, config) => {
		const result = parseConfig(config);
		expect(result.ok, result.ok ? "" : result.error).toBe(true);
		if (result.ok) expect(result.lints).toEqual([]);
	});
});

describe("selectApi", () => {
	function compiled(apis: { name: string; match?: { hosts?: string[]; pathPrefix?: string } }[]) {
		const config = { apis: apis.map((a) => ({ ...clone(bundled.apis[0]!), ...a })) };
		const result = parseConfig(config);
		if (!result.ok) throw new Error(result.error);
		return result.value.apis;
	}
	const pick = (apis: ReturnType<typeof compiled>, host: string, path: string) => selectApi(apis, host, path)?.name;

	it.each([
		["any-host first", [{ name: "any" }, { name: "eu", match: { hosts: ["eu.example.com"] } }]],
		["host-specific first", [{ name: "eu", match: { hosts: ["eu.example.com"] } }, { name: "any" }]],
	])("on one prefix, the API naming the host wins whatever the order (%s)", (_order, apis) => {
		const table = compiled(apis);
		expect(pick(table, "eu.example.com", "/v1/x")).toBe("eu");
		expect(pick(table, "example.com", "/v1/x")).toBe("any");
	});

	it("a longer path prefix still wins over a host match, and /v1/ is the prefix /v1", () => {
		const table = compiled([
			{ name: "eu", match: { hosts: ["eu.example.com"] } },
			{ name: "v1", match: { pathPrefix: "/v1/" } },
		]);
		expect(pick(table, "eu.example.com", "/v1")).toBe("v1");
		expect(pick(table, "eu.example.com", "/v1/x")).toBe("v1");
		expect(pick(table, "eu.example.com", "/v10")).toBe("eu");
		expect(pick(table, "example.com", "/v10")).toBeUndefined();
	});
});

const OIDC = { mode: "oidc", issuer: "https://idp.example", clientId: "kg" };

describe("the oauth block", () => {
	const withOAuth = (oauth: unknown) => {
		const config = clone(bundled) as any;
		config.apis[0].oauth = oauth;
		return parseConfig(config);
	};

	it("fills the documented defaults", () => {
		const result = withOAuth({ issuer: "https://api.example.com", scopes: ["read"] });
		expect(result.ok && result.value.apis[0]!.oauth).toEqual({
			issuer: "https://api.example.com",
			scopes: ["read"],
			accessTokenTtl: 3600,
			refreshTokenTtl: 2_592_000,
			codeTtl: 600,
			rateLimitBy: "subject",
			externalIssuers: [],
		});
	});

	it("fills the oidc login's documented defaults and keeps an origin login without a mode", () => {
		const oidc = withOAuth({ issuer: "https://api.example.com", scopes: ["read"], login: OIDC });
		expect(oidc.ok && oidc.value.apis[0]!.oauth!.login).toEqual({
			...OIDC,
			tokenEndpointAuthMethod: "client_secret_basic",
			scopes: ["openid"],
			subjectClaim: "sub",
			algorithms: ["RS256", "ES256"],
			clockTolerance: 30,
		});
		const origin = withOAuth({ issuer: "https://api.example.com", scopes: ["read"], login: { loginUrl: "https://a.example/l" } });
		expect(origin.ok && origin.value.apis[0]!.oauth!.login).toEqual({ mode: "origin", loginUrl: "https://a.example/l" });
	});

	it.each([
		[{ issuer: "https://a.example", scopes: ["read"], accessTokenTtl: 0 }, "apis[0].oauth.accessTokenTtl"],
		[{ issuer: "https://a.example", scopes: [] }, "apis[0].oauth.scopes"],
		[{ issuer: "ftp://a.example", scopes: ["read"] }, "apis[0].oauth.issuer"],
		[{ issuer: "https://a.example", scopes: ["read"], codeTtl: 601 }, "apis[0].oauth.codeTtl"],
		[{ issuer: "https://a.example", scopes: ["read"], rateLimitBy: "ip" }, "apis[0].oauth.rateLimitBy"],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { mode: "saml", loginUrl: "https://a.example/l" } },
			"apis[0].oauth.login.mode",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { mode: "oidc", loginUrl: "https://a.example/l" } },
			"apis[0].oauth.login.issuer",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { mode: "oidc", issuer: "https://idp.example" } },
			"apis[0].oauth.login.clientId",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { mode: "oidc", issuer: "idp", clientId: "kg" } },
			"apis[0].oauth.login.issuer",
		],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, clientSecret: "s3cret" } }, "apis[0].oauth.login"],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, clientSecretVar: "hunter2 is my secret" } },
			"apis[0].oauth.login.clientSecretVar",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, tokenEndpoint: "ftp://idp.example/t" } },
			"apis[0].oauth.login.tokenEndpoint",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, authorizationEndpoint: "nope" } },
			"apis[0].oauth.login.authorizationEndpoint",
		],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, jwksUri: "nope" } }, "apis[0].oauth.login.jwksUri"],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, scopes: [] } }, "apis[0].oauth.login.scopes"],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, subjectClaim: "" } }, "apis[0].oauth.login.subjectClaim"],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, algorithms: ["HS256"] } }, "apis[0].oauth.login.algorithms[0]"],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, algorithms: [] } }, "apis[0].oauth.login.algorithms"],
		[{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, clockTolerance: 301 } }, "apis[0].oauth.login.clockTolerance"],
		[
			{ issuer: "https://a.example", scopes: ["read"], login: { ...OIDC, tokenEndpointAuthMethod: "private_key_jwt" } },
			"apis[0].oauth.login.tokenEndpointAuthMethod",
		],
		[
			{ issuer: "https://a.example", scopes: ["read"], externalIssuers: [{ issuer: "https://idp", jwksUri: "https://idp/jwks" }] },
			"apis[0].oauth.externalIssuers[0].audience",
		],
		[
			{
				issuer: "https://a.example",
				scopes: ["read"],
				externalIssuers: [{ issuer: "i", jwksUri: "https://idp/jwks", audience: "a", algorithms: ["HS256"] }],
			},
			"apis[0].oauth.externalIssuers[0].algorithms[0]",
		],
	])("refuses %j, naming %s", (oauth, field) => {
		const result = withOAuth(oauth);
		expect(result.ok).toBe(false);
		expect(!result.ok && result.error).toContain(`${field}:`);
	});
});
