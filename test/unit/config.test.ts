import { describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { parseConfig } from "../../src/config/load";

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe("config validation", () => {
	it("accepts the bundled demo config and fills defaults", () => {
		const result = parseConfig(bundled);
		expect(result.ok).toBe(true);
		if (!result.ok) return;
		const api = result.value.apis[0]!;
		expect(api.match.pathPrefix).toBe("/");
		expect(api.unmatchedRoutes).toBe("authenticate");
		expect([...api.readOnlyTypes]).toEqual(["pk"]);
	});

	it.each<[string, (c: any) => void, RegExp]>([
		["a negative burst", (c) => (c.apis[0].tiers.free.burst = -1), /apis\[0\]\.tiers\.free\.burst: /],
		["an unknown default tier", (c) => (c.apis[0].defaultTier = "gold"), /apis\[0\]\.defaultTier: "gold" is not one of tiers/],
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
