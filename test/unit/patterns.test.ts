import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load";
import { PATH_PATTERN, patternProblem } from "../../src/config/pattern";
import { compileRoutes, findRoute, matchPath } from "../../src/config/routes";
import demo from "../../keygate.config.json";

/** The demo config with one more route rule in front. */
function withRoute(rule: Record<string, unknown>) {
	const api = { ...demo.apis[0]!, routes: [rule, ...demo.apis[0]!.routes] };
	return parseConfig({ apis: [api] });
}

describe("route pattern grammar", () => {
	it.each(["/", "/health", "/v1/**", "/**", "/v1/*/items", "/v1/users/*", "/v1/things:batchGet", "/v1/a%20b", "/v1/jobs/"])(
		"accepts %s",
		(pattern) => {
			expect(patternProblem(pattern)).toBeUndefined();
			expect(PATH_PATTERN.test(pattern)).toBe(true);
			expect(withRoute({ path: pattern, public: true }).ok).toBe(true);
		},
	);

	it.each([
		["/v1/**/health", "** may only be the last segment"],
		["/**/x", "** may only be the last segment"],
		["/v1/us*rs", "* must stand alone"],
		["/v1/*.json", "* must stand alone"],
		["/v1//x", "empty segment"],
		["/v1/../admin", "is not a path segment"],
		["/v1/users/:id", 'keygate writes one segment as *: "/v1/users/*"'],
		["/v1/users/{id}", 'keygate writes one segment as *: "/v1/users/*"'],
		["/v1/(users|accounts)", 'write one rule per alternative, e.g. "/v1/users"'],
		["/v1/users?", "regular-expression or template syntax"],
		["/v1/[a-z]+", "regular-expression or template syntax"],
		["v1/x", "must start with /"],
	])("refuses %s at load, naming the field and keygate's equivalent", (pattern, message) => {
		expect(patternProblem(pattern)).toContain(message);
		expect(PATH_PATTERN.test(pattern)).toBe(false);
		const result = withRoute({ methods: ["GET"], path: pattern, public: true });
		expect(result.ok).toBe(false);
		if (!result.ok) {
			expect(result.error).toContain("apis[0].routes[0].path");
			expect(result.error).toContain(message);
		}
	});

	it("the matcher never lets ** in the middle open the paths beneath it, even if one got past the schema", () => {
		const [rule] = compileRoutes([{ methods: ["GET"], path: "/v1/**/health", public: true, scopes: [], cost: 1 }]);
		expect(findRoute([rule!], "GET", "/v1/private/data")).toBeUndefined();
		expect(findRoute([rule!], "GET", "/v1/a/b/c/health")).toBeUndefined();
	});

	it("* is exactly one non-empty segment", () => {
		const table = compileRoutes([{ path: "/v1/users/*", public: true, scopes: [], cost: 1 }]);
		expect(findRoute(table, "GET", "/v1/users/7")).toBeDefined();
		expect(findRoute(table, "GET", "/v1/users/")).toBeUndefined();
		expect(findRoute(table, "GET", "/v1/users")).toBeUndefined();
		expect(findRoute(table, "GET", "/v1/users/7/keys")).toBeUndefined();
	});
});

const literal = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,6}$/);
const patternSegments = fc
	.tuple(fc.array(fc.oneof(literal, fc.constant("*")), { maxLength: 5 }), fc.boolean())
	.map(([segments, rest]) => (rest ? [...segments, "**"] : segments));
const pathSegments = fc.array(fc.oneof(literal, fc.constant(""), fc.constantFrom("v1", "users", "health", "a")), { maxLength: 7 });

describe("route matcher properties", () => {
	it("the published regular expression and the load-time check agree on every pattern", () => {
		const piece = fc.constantFrom(
			"/",
			"*",
			"**",
			"a",
			"v1",
			":",
			":id",
			".",
			"..",
			"%2F",
			"%",
			"{",
			"}",
			"(",
			"|",
			")",
			"?",
			"ü",
			"-",
			"~",
		);
		fc.assert(
			fc.property(fc.array(piece, { maxLength: 8 }), (parts) => {
				const pattern = parts.join("");
				return PATH_PATTERN.test(pattern) === (patternProblem(pattern) === undefined);
			}),
			{ numRuns: 5000 },
		);
	});

	it("every pattern the generator builds is inside the grammar", () => {
		fc.assert(fc.property(patternSegments, (segs) => patternProblem("/" + segs.join("/")) === undefined || segs.length === 0));
	});

	it("a public rule never matches a path that differs from one of its literal segments, and ** only opens what follows its prefix", () => {
		fc.assert(
			fc.property(patternSegments, pathSegments, (pattern, path) => {
				if (!matchPath(pattern, path)) return true;
				const rest = pattern[pattern.length - 1] === "**";
				const fixed = rest ? pattern.slice(0, -1) : pattern;
				if (rest ? path.length < fixed.length : path.length !== fixed.length) return false;
				return fixed.every((s, i) => (s === "*" ? path[i] !== "" : s === path[i]));
			}),
			{ numRuns: 3000 },
		);
	});

	it("a path that keeps every literal segment of a pattern is matched by it", () => {
		fc.assert(
			fc.property(patternSegments, fc.array(literal, { maxLength: 3 }), (pattern, tail) => {
				const rest = pattern[pattern.length - 1] === "**";
				const fixed = rest ? pattern.slice(0, -1) : pattern;
				const path = fixed.map((s, i) => (s === "*" ? `x${i}` : s)).concat(rest ? tail : []);
				return matchPath(pattern, path);
			}),
		);
	});
});
