/**
 * Hostile input, property-based (fast-check): the credential parser, the key format, the
 * config schema, the route matcher and the admin bodies each take arbitrary input, and
 * the whole Worker takes arbitrary credentials and paths. Every input must get a
 * documented answer: never an exception, never a 5xx, never a pass it should not get.
 *
 * Every input tried is counted; the total is printed once, as
 * `HOSTILE_INPUTS_TRIED=<n>`, for the README's figures. Runs are kept modest so the
 * file stays well under 20 s; a failure prints fast-check's seed and the shrunk input.
 */
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import bundled from "../../keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { PATH_PATTERN, patternProblem } from "../../src/config/pattern";
import { compileRoutes, findRoute, type CompiledRoute } from "../../src/config/routes";
import type { CredentialSource, RouteRule } from "../../src/config/schema";
import { BODY_LENGTH, generateKey, MAX_KEY_LENGTH, parseKey } from "../../src/keys/format";
import { extractCredential } from "../../src/credentials/extract";
import { ipAllowed, parseCidr, parseIp } from "../../src/util/ip";
import { admin, call, callWithConfig, createKey, gatewayFor } from "../helpers/gateway";
import { expectDocumented, HEADER_CONTROL_BYTES, headerSafe, originView } from "../helpers/hostile";
import { fakeOrigin, type FakeOrigin } from "../helpers/origin";

// ---------------------------------------------------------------------------------
// Counting: every predicate run (including fast-check's shrinking runs) is one input.
let tried = 0;
afterAll(() => {
	console.log(`HOSTILE_INPUTS_TRIED=${tried}`);
});

/** Runs per property: pure properties are cheap, Worker round trips less so. */
const PURE_RUNS = 1000;
const WORKER_RUNS = 150;
const PATH_RUNS = 60;
/** Admin writes cost several KV writes each (~30-100 ms locally): fewer runs. Fewer again (100 and 50 before) to keep the suite near 7 minutes on 2 cores: each CI run draws new cases. */
const ADMIN_RUNS = 30;
const SLOW = { timeout: 20_000 };
/** Keys whose own limits never get in the way of a property run. */
const UNLIMITED = { limit: null, window: 3600, burst: 1_000_000 };

let origin: FakeOrigin;
let internalErrors: string[];
beforeEach(() => {
	origin = fakeOrigin();
	// An exception anywhere in keygate is logged as internal_error before the 503: catch it even if the status looked fine.
	internalErrors = [];
	const original = console.error.bind(console);
	vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
		const line = args.map(String).join(" ");
		if (line.includes('"internal_error"')) internalErrors.push(line);
		original(...args);
	});
});
afterEach(() => {
	vi.restoreAllMocks();
});

// ---------------------------------------------------------------------------------
// Arbitraries shared by several properties.

const NAME = /^[a-z][a-z0-9]{0,23}$/;
const nameArb = fc.stringMatching(NAME);
/** Printable ASCII text: what most clients send. */
const asciiText = fc.string({ maxLength: 120 });
/** Text with control bytes a header can hold, mixed with ordinary characters. */
const controlText = fc.string({ unit: fc.constantFrom(...HEADER_CONTROL_BYTES, "a", "Z", "_", "9", " ", "\t", ","), maxLength: 60 });
/** Any Unicode (full range, lone surrogates included), made header-safe the way a client would. */
const unicodeText = fc.string({ unit: "binary", maxLength: 60 }).map(headerSafe);
const longText = fc.integer({ min: MAX_KEY_LENGTH - 3, max: 20_000 }).map((n) => "k".repeat(n));
const headerText = fc.oneof(asciiText, controlText, unicodeText, longText);
const schemeArb = fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR", "Basic", "ApiKey", "Token", "Bearer\t", "", "Bearer ", "Bearer,");

/** A well-formed key (valid checksum) that exists nowhere: it gets as far as the KV lookup. */
const unknownKeyArb = fc
	.tuple(fc.constantFrom("sk", "pk", "nvp"), fc.constantFrom("live", "test", "staging"))
	.map(([t, e]) => generateKey(t, e));

/** A change to `key` that can never give `key` back, not even after trimming. */
function mutationOf(key: string) {
	const nonSpace = fc.string({ minLength: 1, maxLength: 3 }).filter((s) => s.trim() === s && s !== "");
	return fc.oneof(
		// one character replaced by another
		fc
			.tuple(fc.nat({ max: key.length - 1 }), fc.constantFrom(..."aZ09_-.=+/~\u0001"))
			.filter(([i, c]) => key[i] !== c)
			.map(([i, c]) => key.slice(0, i) + c + key.slice(i + 1)),
		// one character dropped
		fc.nat({ max: key.length - 1 }).map((i) => key.slice(0, i) + key.slice(i + 1)),
		// something glued on either end
		fc.tuple(nonSpace, fc.boolean()).map(([s, before]) => (before ? s + key : key + s)),
		// truncated
		fc.nat({ max: key.length - 1 }).map((n) => key.slice(0, n)),
		// case flipped somewhere
		fc
			.nat({ max: key.length - 1 })
			.filter((i) => key[i]!.toLowerCase() !== key[i]!.toUpperCase())
			.map((i) => key.slice(0, i) + (key[i] === key[i]!.toLowerCase() ? key[i]!.toUpperCase() : key[i]!.toLowerCase()) + key.slice(i + 1)),
	);
}

// ---------------------------------------------------------------------------------
describe("credential parser (extractCredential), pure", () => {
	const headerNameArb = fc.constantFrom("X-API-Key", "X-Api-Token", "Api-Key", "X-Key");
	const sourceArb: fc.Arbitrary<CredentialSource> = fc.oneof(
		fc.record({ in: fc.constant("authorization" as const), scheme: fc.constantFrom("Bearer", "ApiKey", "Token", "Key-1") }),
		fc.record({ in: fc.constant("header" as const), name: headerNameArb }),
	);
	const sourcesArb = fc.array(sourceArb, { minLength: 1, maxLength: 3 });
	const headersArb = fc.record(
		{
			authorization: fc.oneof(
				headerText,
				fc.tuple(schemeArb, headerText).map(([s, v]) => `${s} ${v}`),
			),
			"X-API-Key": headerText,
			"X-Api-Token": headerText,
			"X-Key": headerText,
		},
		{ requiredKeys: [] },
	);

	function toHeaders(values: Record<string, string | undefined>): Headers {
		const h = new Headers();
		for (const [name, value] of Object.entries(values)) if (value !== undefined) h.set(name, value);
		return h;
	}

	it("never throws, and whatever it finds is a trimmed, non-empty value taken from a configured place", () => {
		fc.assert(
			fc.property(headersArb, sourcesArb, (values, sources) => {
				tried++;
				const headers = toHeaders(values);
				const result = extractCredential(headers, sources);
				if (!result.ok) {
					expect(["no_credential", "wrong_scheme", "malformed_key"]).toContain(result.reason);
					if (result.reason === "no_credential") {
						// Nothing in any configured place.
						for (const s of sources) expect(headers.get(s.in === "authorization" ? "Authorization" : s.name)).toBeNull();
					}
					return;
				}
				expect(result.value).toBe(result.value.trim());
				expect(result.value).not.toBe("");
				const places = sources.map((s) => headers.get(s.in === "authorization" ? "Authorization" : s.name) ?? "");
				expect(places.some((p) => p.includes(result.value))).toBe(true);
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("always finds a key sent in the first configured place, whatever the scheme's case", () => {
		const caseOf = (s: string, flips: boolean[]) =>
			[...s].map((c, i) => (flips[i % flips.length] ? c.toUpperCase() : c.toLowerCase())).join("");
		fc.assert(
			fc.property(
				sourcesArb,
				unknownKeyArb,
				fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
				fc.constantFrom(" ", "  ", " \t"),
				(sources, key, flips, gap) => {
					tried++;
					const first = sources[0]!;
					const headers = new Headers();
					if (first.in === "authorization") headers.set("Authorization", `${caseOf(first.scheme, flips)}${gap}${key}`);
					else headers.set(first.name, key);
					expect(extractCredential(headers, sources)).toEqual({ ok: true, value: key });
				},
			),
			{ numRuns: PURE_RUNS },
		);
	});

	it("a header sent several times never yields a clean key", () => {
		fc.assert(
			fc.property(unknownKeyArb, unknownKeyArb, fc.boolean(), (a, b, sameTwice) => {
				tried++;
				const headers = new Headers();
				headers.append("Authorization", `Bearer ${a}`);
				headers.append("Authorization", `Bearer ${sameTwice ? a : b}`);
				const result = extractCredential(headers, [{ in: "authorization", scheme: "Bearer" }]);
				if (result.ok) expect(parseKey(result.value)).toBeUndefined();
			}),
			{ numRuns: PURE_RUNS },
		);
	});
});

// ---------------------------------------------------------------------------------
describe("key format (parseKey), pure", () => {
	const KEY_SHAPE = new RegExp(`^([a-z][a-z0-9]{0,23})_([a-z][a-z0-9]{0,23})_([0-9A-Za-z]{${BODY_LENGTH}})$`);

	it("never throws on any string, and accepts only the documented shape", () => {
		fc.assert(
			fc.property(fc.oneof(asciiText, fc.string({ unit: "binary", maxLength: 200 }), controlText, longText), (s) => {
				tried++;
				const parsed = parseKey(s);
				if (parsed) {
					expect(s.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
					const m = KEY_SHAPE.exec(s)!;
					expect(m).not.toBeNull();
					expect(parsed).toEqual({ type: m[1], environment: m[2], plaintext: s });
				}
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("refuses well-shaped strings with an invented body (the checksum)", () => {
		const base62 = fc.constantFrom(..."0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
		fc.assert(
			fc.property(nameArb, nameArb, fc.string({ unit: base62, minLength: BODY_LENGTH, maxLength: BODY_LENGTH }), (type, env, body) => {
				tried++;
				// Odds of a random body carrying a valid CRC-32 are 1 in 2^32 per run.
				expect(parseKey(`${type}_${env}_${body}`)).toBeUndefined();
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("generated keys of any valid type and environment parse back, and every single change to one is refused", () => {
		fc.assert(
			fc.property(nameArb, nameArb, fc.nat(), fc.nat(), (type, env, at, pick) => {
				tried++;
				const key = generateKey(type, env);
				expect(parseKey(key)).toEqual({ type, environment: env, plaintext: key });
				// Any one character replaced by any other key character, anywhere (type, environment, body or checksum).
				const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_";
				const i = at % key.length;
				let c = alphabet[pick % alphabet.length]!;
				if (c === key[i]) c = alphabet[(pick + 1) % alphabet.length]!;
				expect(parseKey(key.slice(0, i) + c + key.slice(i + 1))).toBeUndefined();
				// Two neighbours swapped (when they differ).
				if (i + 1 < key.length && key[i] !== key[i + 1])
					expect(parseKey(key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2))).toBeUndefined();
			}),
			{ numRuns: PURE_RUNS },
		);
	});
});

// ---------------------------------------------------------------------------------
describe("config schema (parseConfig), pure", () => {
	function expectResult(result: ReturnType<typeof parseConfig>) {
		if (result.ok) {
			expect(result.value.apis.length).toBeGreaterThan(0);
			for (const api of result.value.apis) {
				expect(api.tiers).toHaveProperty(api.defaultTier);
				expect(Array.isArray(api.routeTable)).toBe(true);
			}
		} else {
			expect(Object.keys(result).sort()).toEqual(["error", "ok"]);
			expect(typeof result.error).toBe("string");
			expect(result.error).toMatch(/^(invalid config: |config is not valid JSON: )./);
		}
	}

	it("arbitrary JSON never throws: always {ok: false, error} or a valid config", () => {
		fc.assert(
			fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
				tried++;
				expectResult(parseConfig(value));
				expectResult(parseConfig(JSON.stringify(value)));
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("arbitrary text never throws", () => {
		fc.assert(
			fc.property(fc.oneof(asciiText, fc.string({ unit: "binary", maxLength: 100 }), fc.json()), (text) => {
				tried++;
				expectResult(parseConfig(text));
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	/** Every path into the bundled config: where a mutation can land. */
	function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
		const out: (string | number)[][] = [prefix];
		if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
		else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
		return out;
	}
	const PATHS = pathsOf(bundled).filter((p) => p.length > 0);
	const newKeyArb = fc.oneof(nameArb, fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "", "0"));

	/** Sets (or, with `undefined`, deletes) the value at `path`; a missing parent is skipped. */
	function mutate(config: unknown, path: (string | number)[], value: unknown, extraKey: string | undefined): void {
		let node = config as Record<string | number, unknown>;
		for (const p of path.slice(0, -1)) {
			const next = node[p];
			if (!next || typeof next !== "object") return;
			node = next as Record<string | number, unknown>;
		}
		const last = path[path.length - 1]!;
		if (extraKey !== undefined && typeof node[last] === "object" && node[last] !== null && !Array.isArray(node[last])) {
			// Add an unexpected field beside the existing ones.
			Object.defineProperty(node[last], extraKey, { value, enumerable: true, configurable: true, writable: true });
		} else if (value === undefined) delete node[last];
		else node[last] = value;
	}
	const mutationArb = fc.tuple(
		fc.constantFrom(...PATHS),
		fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined)),
		fc.option(newKeyArb, { nil: undefined }),
	);

	it("the bundled config with arbitrary fields changed, removed or added never throws", () => {
		fc.assert(
			fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (mutations) => {
				tried++;
				const config = structuredClone(bundled) as unknown;
				for (const [path, value, extraKey] of mutations) mutate(config, path, value, extraKey);
				expectResult(parseConfig(config));
				expectResult(parseConfig(JSON.stringify(config)));
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("through the Worker, any such config answers a documented status: 503 for everything when invalid, never an exception", async () => {
		const { key } = await createKey({ scopes: ["read"], rateLimit: UNLIMITED });
		await fc.assert(
			fc.asyncProperty(
				fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
				fc.constantFrom("/v1/things", "/health", "/other"),
				async (mutations, path) => {
					tried++;
					const config = structuredClone(bundled) as unknown;
					for (const [p, value, extraKey] of mutations) mutate(config, p, value, extraKey);
					const valid = parseConfig(JSON.stringify(config)).ok; // what the Worker gets: the JSON text
					const res = await callWithConfig(config, path, { key });
					const what = JSON.stringify(mutations);
					if (!valid) await expectDocumented(res, { 503: ["gateway_unavailable"] }, what);
					else {
						// A valid config may change the error style, realm or codes: check the status and that it is a JSON error.
						const text = await res.text();
						expect([200, 401, 403, 404, 429, 502, 503, 504], `${what} -> ${res.status} ${text}`).toContain(res.status);
						if (res.status !== 200) {
							expect(res.headers.get("Content-Type"), what).toMatch(/^application\/(problem\+)?json$/);
							expect(res.headers.get("Cache-Control"), what).toBe("no-store");
							expect(() => JSON.parse(text), what).not.toThrow();
						}
					}
					expect(internalErrors).toEqual([]);
				},
			),
			{ numRuns: 40 },
		);
	});
});

// ---------------------------------------------------------------------------------
describe("route matcher (findRoute), pure", () => {
	const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;
	const segmentArb = fc.constantFrom("v1", "v2", "health", "a", "b", "", ".", "..", "%2e", "%2F", "a%2Fb", "*", "**", "ü", "%", "..%2f");
	// Only patterns the config accepts: the others are refused at load and never reach the matcher.
	const patternArb = fc
		.array(segmentArb, { maxLength: 4 })
		.map((s) => "/" + s.join("/"))
		.filter((p) => PATH_PATTERN.test(p) && patternProblem(p) === undefined);
	const ruleArb: fc.Arbitrary<RouteRule> = fc.record({
		methods: fc.option(fc.uniqueArray(fc.constantFrom(...METHODS), { minLength: 1, maxLength: 3 }), { nil: undefined }),
		path: patternArb,
		public: fc.boolean(),
		scopes: fc.array(fc.constantFrom("read", "write"), { maxLength: 2 }),
		cost: fc.constant(1),
		rateLimit: fc.constant(undefined),
		category: fc.constant(undefined),
	});
	const pathArb = fc.oneof(
		fc
			.array(
				fc.oneof(
					segmentArb.filter((s) => s !== "*" && s !== "**"),
					fc.string({ maxLength: 6 }),
				),
				{ maxLength: 6 },
			)
			.map((s) => "/" + s.join("/")),
		fc.webPath().map((p) => (p.startsWith("/") ? p : "/" + p)),
		fc.string({ unit: "binary", maxLength: 30 }).map((s) => "/" + s),
	);

	/** Rules that need a key match case-folded, ignoring a trailing slash; public rules match exactly. */
	const fold = (p: string) => {
		const s = p.toLowerCase();
		return s.length > 1 && s.endsWith("/") ? s.slice(0, -1) : s;
	};

	/** An independent model: a pattern as a regular expression over the path without its leading slash. */
	function modelMatches(pattern: string, path: string, lenient: boolean): boolean {
		if (lenient) {
			pattern = fold(pattern);
			path = fold(path);
		}
		const segs = pattern.split("/").filter((s, i) => i > 0 || s !== "");
		const star = segs.indexOf("**");
		const head = star === -1 ? segs : segs.slice(0, star);
		const escaped = head.map((s) => (s === "*" ? "[^/]+" : s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));
		const re = star === -1 ? `^${escaped.join("/")}$` : star === 0 ? "^[^]*$" : `^${escaped.join("/")}(?:/[^]*)?$`;
		return new RegExp(re).test(path.startsWith("/") ? path.slice(1) : path);
	}

	it("never throws, and returns exactly the first rule (in config order) that covers the method and path", () => {
		fc.assert(
			fc.property(fc.array(ruleArb, { maxLength: 6 }), fc.constantFrom(...METHODS, "FOO", "get"), pathArb, (rules, method, path) => {
				tried++;
				const table: CompiledRoute[] = compileRoutes(rules);
				const found = findRoute(table, method, path);
				const expected = table.find((r) => (!r.methods || r.methods.has(method)) && modelMatches(r.pattern, path, !r.public));
				expect(found?.index).toBe(expected?.index);
			}),
			{ numRuns: PURE_RUNS },
		);
	});

	it("with the demo config, only exactly GET /health is public", () => {
		const table = compileRoutes(parseConfigOrThrow().routes);
		fc.assert(
			fc.property(fc.constantFrom(...METHODS), pathArb, (method, path) => {
				tried++;
				const route = findRoute(table, method, path);
				if (route?.public) expect([method, path]).toEqual(["GET", "/health"]);
			}),
			{ numRuns: PURE_RUNS },
		);
	});
});

function parseConfigOrThrow() {
	const result = parseConfig(bundled);
	if (!result.ok) throw new Error(result.error);
	return result.value.apis[0]!;
}

// ---------------------------------------------------------------------------------
describe("IP allowlist parsing, pure (used by admin bodies and the policy stage)", () => {
	it("never throws on any address or range", () => {
		const ipish = fc.oneof(
			fc.ipV4(),
			fc.ipV6(),
			fc.ipV4Extended(),
			asciiText,
			fc.tuple(fc.oneof(fc.ipV4(), fc.ipV6()), fc.string({ maxLength: 5 })).map(([a, b]) => `${a}/${b}`),
		);
		fc.assert(
			fc.property(ipish, fc.array(ipish, { maxLength: 4 }), (ip, list) => {
				tried++;
				parseIp(ip);
				parseCidr(ip);
				const allowed = ipAllowed(ip, list);
				expect(typeof allowed).toBe("boolean");
				// An exact address in the list always matches itself.
				if (parseIp(ip) !== undefined) expect(ipAllowed(ip, [ip])).toBe(true);
			}),
			{ numRuns: PURE_RUNS },
		);
	});
});

// ---------------------------------------------------------------------------------
describe("through the whole Worker: arbitrary credentials", () => {
	const CREDENTIAL_ERRORS = { 401: ["missing_api_key", "invalid_api_key"], 429: ["rate_limit_exceeded"] } as const;
	let stored: string;
	beforeAll(async () => {
		stored = (await createKey({ scopes: ["read", "write"], rateLimit: UNLIMITED })).key;
	});

	/** Authorization and/or X-API-Key, from text, schemes, unknown keys and near-misses of a real key; sometimes from a client IP. */
	function requestArb() {
		const value = fc.oneof(
			headerText,
			unknownKeyArb,
			mutationOf(stored),
			fc.tuple(unknownKeyArb, headerText).map(([k, t]) => k + t.replace(/^\s*$/, "x")),
		);
		const authorization = fc.oneof(
			value,
			fc.tuple(schemeArb, value).map(([s, v]) => `${s} ${v}`),
		);
		return fc.record(
			{
				authorization,
				apiKey: value,
				ip: fc.constantFrom("198.51.100.7", "2001:db8::7", "203.0.113.99"),
			},
			{ requiredKeys: [] },
		);
	}

	it("always answer a documented 401 or 429, never a 5xx, never a pass: the origin is never called", async () => {
		await fc.assert(
			fc.asyncProperty(requestArb(), fc.constantFrom("GET", "POST", "DELETE"), async ({ authorization, apiKey, ip }, method) => {
				tried++;
				// The property is only about values that are not exactly the real key (a trimmed exact copy passes, rightly).
				fc.pre(authorization?.trim() !== `Bearer ${stored}` && apiKey?.trim() !== stored);
				const headers = new Headers();
				if (authorization !== undefined) headers.set("Authorization", authorization);
				if (apiKey !== undefined) headers.set("X-API-Key", apiKey);
				if (ip !== undefined) headers.set("CF-Connecting-IP", ip);
				const before = origin.calls.length;
				const res = await call("/v1/things", { method, headers, body: method === "GET" ? undefined : "{}" });
				await expectDocumented(res, CREDENTIAL_ERRORS, JSON.stringify({ authorization, apiKey, ip }));
				expect(origin.calls.length).toBe(before);
				expect(internalErrors).toEqual([]);
			}),
			{ numRuns: WORKER_RUNS },
		);
	});

	it("and the real key itself, whatever the scheme's case and the spacing, passes", async () => {
		await fc.assert(
			fc.asyncProperty(
				fc.constantFrom("Bearer", "bearer", "BEARER", "bEaReR", "BeArEr"),
				fc.constantFrom(" ", "  ", " \t "),
				fc.constantFrom("", " ", "\t"),
				async (scheme, gap, trailing) => {
					tried++;
					const res = await call("/v1/things", { headers: { Authorization: `${scheme}${gap}${stored}${trailing}` } });
					expect(res.status).toBe(200);
				},
			),
			{ numRuns: 20 },
		);
	});
});

// ---------------------------------------------------------------------------------
describe("through the whole Worker: arbitrary hop-by-hop headers", () => {
	let key: string;
	beforeAll(async () => {
		key = (await createKey({ scopes: ["read"], rateLimit: UNLIMITED })).key;
	});

	it("a Connection header of any content never turns a good request into a 5xx, and what it names is not forwarded", SLOW, async () => {
		const tokenArb = fc.oneof(
			fc.constantFrom("close", "keep-alive", "X-Secret", "x-secret", "Upgrade", "x y", "@", "(x)", "a=b", ""),
			fc.string({ maxLength: 10 }),
		);
		await fc.assert(
			fc.asyncProperty(fc.array(tokenArb, { minLength: 1, maxLength: 4 }), fc.boolean(), async (tokens, withKey) => {
				tried++;
				const value = tokens.join(", ");
				const headers = new Headers({ "X-Secret": "s" });
				headers.set("Connection", value);
				const before = origin.calls.length;
				const res = await call(withKey ? "/v1/x" : "/health", { key: withKey ? key : undefined, headers });
				expect(res.status, `Connection: ${value} -> ${res.status} ${await res.clone().text()}`).toBe(200);
				expect(origin.calls.length).toBe(before + 1);
				if (tokens.some((t) => t.trim().toLowerCase() === "x-secret")) expect(origin.calls.at(-1)!.headers.has("X-Secret")).toBe(false);
			}),
			{
				numRuns: WORKER_RUNS,
				examples: [
					[["close", "X-Secret"], true],
					[["x y"], false],
				],
			},
		);
	});
});

// ---------------------------------------------------------------------------------
describe("through the whole Worker: arbitrary paths", () => {
	const table = compileRoutes(parseConfigOrThrow().routes);
	const pieceArb = fc.constantFrom(
		"v1",
		"health",
		"x",
		"",
		".",
		"..",
		"%2e",
		"%2E%2e",
		".%2e",
		"%2F",
		"..%2F",
		"%2F..%2F",
		"_keygate",
		"admin",
		"V1",
		";",
		"\\",
		"..;",
		"%00",
		"%252e%252e",
	);
	const pathArb = fc.array(pieceArb, { minLength: 1, maxLength: 6 }).map((s) => "/" + s.join("/"));
	let noScopes: string;
	let readOnly: string;
	beforeAll(async () => {
		noScopes = (await createKey({ scopes: [], rateLimit: UNLIMITED })).key;
		readOnly = (await createKey({ scopes: ["read"], rateLimit: UNLIMITED })).key;
	});

	/** The scopes the origin's reading of `path` would need, per the demo config (none if no rule covers it). */
	const scopesNeeded = (method: string, path: string) => findRoute(table, method, originView(path))?.scopes ?? [];

	it("no request without a key reaches anything but the public route (as the origin reads the path)", SLOW, async () => {
		await fc.assert(
			fc.asyncProperty(pathArb, fc.constantFrom("GET", "POST"), async (path, method) => {
				tried++;
				const before = origin.calls.length;
				const res = await call(path, { method, body: method === "POST" ? "{}" : undefined });
				if (origin.calls.length > before) {
					const seen = origin.calls.at(-1)!;
					expect([method, originView(seen.url.pathname)], path).toEqual(["GET", "/health"]);
				} else {
					await expectDocumented(
						res,
						{ 400: ["invalid_request"], 401: ["missing_api_key", "invalid_admin_token"], 404: ["not_found"] },
						path,
					);
				}
				expect(internalErrors).toEqual([]);
			}),
			{
				numRuns: PATH_RUNS,
				// The known tricks always run first; the random ones follow.
				examples: [
					["/health/../v1/secret", "GET"],
					["/health/%2e%2e/v1/secret", "GET"],
					["//health", "GET"],
					["/health/", "GET"],
					["/%2e%2e/v1/x", "GET"],
					["//v1//x", "GET"],
					["/v1/../_keygate/v1/keys", "POST"],
				],
			},
		);
	});

	it("no key reaches a path (as the origin reads it) whose route needs a scope the key lacks", SLOW, async () => {
		await fc.assert(
			fc.asyncProperty(pathArb, fc.constantFrom("GET", "POST", "DELETE"), fc.boolean(), async (path, method, withRead) => {
				tried++;
				const key = withRead ? readOnly : noScopes;
				const held = withRead ? ["read"] : [];
				const before = origin.calls.length;
				const res = await call(path, { key, method, body: method === "POST" ? "{}" : undefined });
				if (origin.calls.length > before) {
					const seen = origin.calls.at(-1)!;
					const needed = scopesNeeded(method, seen.url.pathname);
					expect(
						needed.filter((s) => !held.includes(s)),
						`${method} ${path} reached the origin as ${seen.url.pathname}, which the origin reads as ${originView(seen.url.pathname)}`,
					).toEqual([]);
				} else {
					await expectDocumented(
						res,
						{ 400: ["invalid_request"], 401: ["invalid_admin_token"], 403: ["insufficient_permissions"], 404: ["not_found"] },
						`${method} ${path}`,
					);
				}
				expect(internalErrors).toEqual([]);
			}),
			{
				numRuns: PATH_RUNS,
				examples: [
					["//v1//x", "GET", false],
					["//v1/x", "POST", true],
					["/v1/%2F..%2Fadmin", "GET", false],
					["/x/..//v1/x", "DELETE", true],
					["/%2e%2e/v1/x", "GET", false],
					["/v1/../_keygate/v1/keys", "POST", true],
				],
			},
		);
	});
});

// ---------------------------------------------------------------------------------
describe("admin bodies through the Worker: arbitrary JSON", () => {
	const jsonArb = fc.jsonValue({ maxDepth: 3 });
	/** Mostly a valid value (so bodies get through validation and write), sometimes a near miss or any JSON at all. */
	const mostly = <T, U>(valid: fc.Arbitrary<T>, nearMiss: fc.Arbitrary<U>) =>
		fc.oneof({ weight: 10, arbitrary: valid }, { weight: 1, arbitrary: nearMiss }, { weight: 1, arbitrary: jsonArb });
	const DAY = 86_400_000;
	const isoish = fc.oneof(
		fc.date({ noInvalidDate: true, min: new Date(0), max: new Date("2200-01-01T00:00:00Z") }).map((d) => d.toISOString()),
		fc
			.tuple(
				fc.integer({ min: 1900, max: 9999 }),
				fc.integer({ min: 0, max: 13 }),
				fc.integer({ min: 0, max: 32 }),
				fc.integer({ min: 0, max: 25 }),
				fc.integer({ min: 0, max: 61 }),
				fc.constantFrom("Z", "+00:00", "+14:00", "-12:30", "+99:99", "", ".123Z"),
			)
			.map(
				([y, mo, d, h, mi, z]) =>
					`${y}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}T${String(h).padStart(2, "0")}:${String(mi).padStart(2, "0")}:00${z}`,
			),
		asciiText,
	);
	const futureIso = fc.integer({ min: 1, max: 3650 }).map((days) => new Date(Date.now() + days * DAY).toISOString());
	const rateLimitArb = fc.record(
		{
			limit: mostly(
				fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 1e6 })),
				fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), fc.constant(2 ** 60)),
			),
			window: mostly(fc.integer({ min: 1, max: 31_536_000 }), fc.constantFrom(0, -1, 31_536_001, 1.5)),
			burst: mostly(fc.integer({ min: 1, max: 1e6 }), fc.constantFrom(0, -1, 0.5, "50")),
			shards: fc.option(mostly(fc.constant(1), fc.integer({ min: -1, max: 70 })), { nil: undefined, freq: 3 }),
		},
		{ requiredKeys: ["limit", "burst"] },
	);
	const fields = {
		name: mostly(fc.string({ minLength: 1, maxLength: 60 }), fc.oneof(fc.constant(""), fc.string({ minLength: 201, maxLength: 260 }))),
		environment: mostly(fc.constantFrom("live", "test"), fc.constantFrom("staging", "", "LIVE")),
		scopes: mostly(
			fc.array(fc.stringMatching(/^[a-z:._-]{1,10}$/), { maxLength: 4 }),
			fc.array(fc.constantFrom("", "a b", "a,b", "x".repeat(101)), { minLength: 1, maxLength: 2 }),
		),
		tier: mostly(fc.constantFrom("free", "pro", "enterprise"), fc.constantFrom("gold", "", "FREE", "__proto__", "toString")),
		rateLimit: mostly(rateLimitArb, fc.constant({})),
		expiresAt: mostly(futureIso, isoish),
		ipAllowlist: mostly(
			fc.array(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom("10.0.0.0/8", "::/0", "2001:db8::/32")), { minLength: 1, maxLength: 3 }),
			fc.oneof(
				fc.constant([]),
				fc.array(fc.oneof(fc.constantFrom("1.2.3.4/33", "x", "1.2.3", "::/129", "1.2.3.4/", "/8"), asciiText), {
					minLength: 1,
					maxLength: 2,
				}),
			),
		),
		owner: mostly(fc.stringMatching(/^[^\s:]{1,20}$/), fc.constantFrom("", "a b", "a:b")),
		service: mostly(fc.string({ minLength: 1, maxLength: 20 }), fc.constant("")),
		metadata: mostly(fc.dictionary(fc.string({ maxLength: 8 }), jsonArb, { maxKeys: 4 }), fc.constant({ big: "x".repeat(5000) })),
	};
	const structuredCreate = fc.record(
		{
			...fields,
			api: mostly(fc.constant("demo"), fc.constantFrom("other", "")),
			type: mostly(fc.constantFrom("sk", "pk"), fc.constantFrom("nvp", "", "SK")),
		},
		{ requiredKeys: ["name"] },
	);
	const createBodyArb = fc.oneof(
		{ weight: 1, arbitrary: jsonArb.map((v) => JSON.stringify(v)) },
		{ weight: 1, arbitrary: asciiText },
		{ weight: 4, arbitrary: structuredCreate.map((v) => JSON.stringify(v)) },
	);
	const nullable = <T>(arb: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: fc.constant(null) });
	// PATCH takes every create field but environment (a key's environment is part of the key itself).
	const patchFields = Object.fromEntries(
		Object.entries(fields)
			.filter(([k]) => k !== "environment")
			.map(([k, v]) => [k, k === "name" || k === "scopes" || k === "tier" ? v : nullable(v as fc.Arbitrary<unknown>)]),
	) as Record<string, fc.Arbitrary<unknown>>;
	const patchBodyArb = fc.oneof(
		{ weight: 1, arbitrary: jsonArb.map((v) => JSON.stringify(v)) },
		{ weight: 1, arbitrary: asciiText },
		{ weight: 4, arbitrary: fc.record(patchFields, { requiredKeys: [] }).map((v) => JSON.stringify(v)) },
	);
	const idArb = fc
		.oneof(fc.string({ minLength: 1, maxLength: 100 }), fc.string({ unit: "binary", minLength: 1, maxLength: 40 }))
		.map((s) => encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, "x")));

	/** Mostly undefined (the property's own key), sometimes an arbitrary id. */
	const ownIdMostly = fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: idArb });

	/** Statuses seen per property: each must have exercised both its success and its refusal paths. */
	let seen: Set<number>;
	beforeEach(() => {
		seen = new Set();
	});

	async function expectAdmin(res: Response, allowedOk: number[], allowed: Parameters<typeof expectDocumented>[1], what: string) {
		seen.add(res.status);
		if (allowedOk.includes(res.status)) {
			const body = await res.json<Record<string, unknown>>();
			expect(typeof body, what).toBe("object");
			expect(JSON.stringify(body), what).not.toMatch(/"hash"/);
			return body;
		}
		await expectDocumented(res, allowed, what);
		return undefined;
	}

	it("POST /keys: 201 with a key that parses, or 400 invalid_request naming a field; never 5xx", SLOW, async () => {
		await fc.assert(
			fc.asyncProperty(createBodyArb, async (body) => {
				tried++;
				const res = await admin("/keys", { method: "POST", body });
				const created = await expectAdmin(res, [201], { 400: ["invalid_request"] }, body);
				if (created) expect(parseKey(created.key as string)).toBeDefined();
				expect(internalErrors).toEqual([]);
			}),
			// One body of each outcome always runs (the random ones may, rarely, hold no valid body).
			{ numRuns: ADMIN_RUNS, examples: [[JSON.stringify({ name: "example" })], ["not json"]] },
		);
		expect([...seen].sort()).toEqual([201, 400]);
	});

	it("PATCH /keys/{id}: 200 or 400; an unknown id 404; never 5xx", SLOW, async () => {
		const { id } = await createKey();
		await fc.assert(
			fc.asyncProperty(patchBodyArb, ownIdMostly, async (body, otherId) => {
				tried++;
				const res = await admin(`/keys/${otherId ?? id}`, { method: "PATCH", body });
				const updated = await expectAdmin(
					res,
					otherId ? [] : [200],
					{ 400: ["invalid_request"], 404: ["key_not_found", "not_found"] },
					`${otherId ?? id} ${body}`,
				);
				if (updated) expect(updated.id).toBe(id);
				expect(internalErrors).toEqual([]);
			}),
			{
				numRuns: ADMIN_RUNS,
				examples: [
					[JSON.stringify({ name: "renamed" }), undefined],
					["not json", undefined],
				],
			},
		);
		expect(seen).toContain(200);
		expect(seen).toContain(400);
	});

	it("POST /keys/{id}/rotate: 201, 400 or 409; an unknown id 404; never 5xx", SLOW, async () => {
		let current = (await createKey()).id;
		const bodyArb = fc.oneof(
			fc.constant(""),
			jsonArb.map((v) => JSON.stringify(v)),
			asciiText,
			fc
				.record(
					{ gracePeriodSeconds: mostly(fc.integer({ min: 0, max: 30 * 86_400 }), fc.constantFrom(-1, 30 * 86_400 + 1, 1.5, "60")) },
					{ requiredKeys: [] },
				)
				.map((v) => JSON.stringify(v)),
		);
		let rotations = 0;
		await fc.assert(
			fc.asyncProperty(bodyArb, ownIdMostly, async (body, otherId) => {
				tried++;
				const res = await admin(`/keys/${otherId ?? current}/rotate`, { method: "POST", body: body === "" ? undefined : body });
				const rotated = await expectAdmin(
					res,
					otherId ? [] : [201],
					{ 400: ["invalid_request"], 404: ["key_not_found", "not_found"], 409: ["conflict"] },
					`${otherId ?? current} ${body}`,
				);
				if (rotated) {
					expect(parseKey(rotated.key as string)).toBeDefined();
					expect((rotated.previous as { id: string }).id).toBe(current);
					// Every third rotation moves on to a fresh key; otherwise the next run meets 409 on the rotated one.
					if (++rotations % 3 === 0) current = (await createKey()).id;
				}
				expect(internalErrors).toEqual([]);
			}),
			{
				numRuns: 25,
				examples: [
					["not json", undefined],
					["", undefined],
				],
			},
		);
		expect(seen).toContain(201);
		expect(seen).toContain(400);
	});

	it("PUT /owners/{id}: 200 or 400 (or 404 for a path that is not an owner); never 5xx", SLOW, async () => {
		const config = structuredClone(bundled) as any;
		config.apis[0].owners = {
			roles: { admin: { scopes: ["*"] }, viewer: { scopes: ["read"], methods: ["GET", "HEAD"] } },
			defaultRole: "viewer",
		};
		const gateway = gatewayFor(config);
		const bodyArb = fc.oneof(
			jsonArb.map((v) => JSON.stringify(v)),
			asciiText,
			fc
				.record(
					{
						api: mostly(fc.constant("demo"), fc.constantFrom("other", "")),
						role: mostly(fc.constantFrom("admin", "viewer"), fc.constantFrom("root", "", "__proto__")),
					},
					{ requiredKeys: [] },
				)
				.map((v) => JSON.stringify(v)),
		);
		await fc.assert(
			fc.asyncProperty(idArb, bodyArb, async (owner, body) => {
				tried++;
				const res = await gateway.admin(`/owners/${owner}`, { method: "PUT", body });
				const set = await expectAdmin(res, [200], { 400: ["invalid_request"], 404: ["not_found"] }, `${owner} ${body}`);
				if (set) expect(set).toMatchObject({ api: "demo", assigned: true });
				expect(internalErrors).toEqual([]);
			}),
			{
				numRuns: ADMIN_RUNS,
				examples: [
					["cust_example", JSON.stringify({ api: "demo", role: "admin" })],
					["cust_example", "not json"],
				],
			},
		);
		expect(seen).toContain(200);
		expect(seen).toContain(400);
	});

	it("a key id longer than KV's 512-byte key limit is 404 key_not_found, not 503 (GET, PATCH, rotate, revoke, delete, usage, audit)", async () => {
		const long = "k".repeat(600);
		const requests: [string, RequestInit, number, string][] = [
			[`/keys/${long}`, {}, 404, "key_not_found"],
			[`/keys/${long}`, { method: "PATCH", body: JSON.stringify({ name: "x" }) }, 404, "key_not_found"],
			[`/keys/${long}/rotate`, { method: "POST" }, 404, "key_not_found"],
			[`/keys/${long}/revoke`, { method: "POST" }, 404, "key_not_found"],
			[`/keys/${long}`, { method: "DELETE" }, 404, "key_not_found"],
			[`/keys/${long}/usage`, {}, 404, "key_not_found"],
			// No event can exist for such an id: an empty page (or a 400 naming keyId) would do; a 5xx would not.
			[`/audit?keyId=${long}`, {}, 200, ""],
		];
		const wrong: string[] = [];
		for (const [path, init, status, code] of requests) {
			tried++;
			const res = await admin(path, init);
			const body = await res.json<{ error?: string; message?: string }>();
			const what = `${init.method ?? "GET"} ${path.replace(long, "<600 chars>")}`;
			const fine = res.status === status && (code === "" || body.error === code);
			const acceptable = fine || (path.startsWith("/audit") && res.status === 400 && body.error === "invalid_request");
			if (!acceptable) wrong.push(`${what} -> ${res.status} ${body.error}: ${body.message}`);
		}
		expect(wrong).toEqual([]);
	});
});
