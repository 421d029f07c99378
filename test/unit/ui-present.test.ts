import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import nuvion from "../../examples/nuvion/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import type { KeyRecord } from "../../src/keys/record";
import { sampleAddress } from "../../src/ui/sample";
import {
	expiryFrom,
	graceChoices,
	keptValue,
	keyStatus,
	maskedKey,
	parseKeyQuery,
	selectKeys,
	PAGE_SIZE,
	formMessage,
	invalidFields,
} from "../../src/ui/present";
import { sameOrigin } from "../../src/ui/security";
import { judgeSession, SESSION_ABSOLUTE_MS, SESSION_IDLE_MS } from "../../src/ui/session";

const NOW = Date.parse("2026-12-04T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

function record(over: Partial<KeyRecord> = {}): KeyRecord {
	return {
		id: "key_0123456789012345678901",
		api: "demo",
		name: "k",
		type: "sk",
		kind: "secret",
		environment: "live",
		start: "sk_live_4fT0",
		last4: "x7Qk",
		scopes: [],
		tier: "free",
		rateLimit: null,
		owner: null,
		service: null,
		ipAllowlist: null,
		metadata: null,
		pairId: null,
		createdAt: iso(NOW - 1000),
		expiresAt: null,
		revokedAt: null,
		rotatedAt: null,
		replacedBy: null,
		graceEndsAt: null,
		...over,
	};
}

describe("key status in words", () => {
	it.each([
		[{}, "Active"],
		[{ expiresAt: iso(NOW + 86_400_000) }, "Expires soon"],
		[{ expiresAt: iso(NOW + 30 * 86_400_000) }, "Active"],
		[{ expiresAt: iso(NOW - 1) }, "Expired"],
		[{ revokedAt: iso(NOW - 1) }, "Revoked"],
		[{ graceEndsAt: "2026-12-04T13:00:00.000Z", replacedBy: "key_x" }, "Rotating until 2026-12-04 13:00 UTC"],
		[{ expiresAt: iso(NOW + 7 * 86_400_000 - 1) }, "Active"], // a 7-day key is not "soon" at birth (browser QA pass)
		[{ expiresAt: iso(NOW + 3 * 86_400_000) }, "Expires soon"],
		[{ graceEndsAt: iso(NOW - 1), replacedBy: "key_x" }, "Replaced"], // rotated with no grace: not "Expired" beside "Expires: Never"
		[{ graceEndsAt: iso(NOW - 1), replacedBy: "key_x", expiresAt: iso(NOW - 1) }, "Expired"],
	] as [Partial<KeyRecord>, string][])("%j is %s", (over, label) => {
		expect(keyStatus(record(over), NOW).label).toBe(label);
	});
});

describe("masked key", () => {
	it("shows type, environment and the last 4 kept at creation; older keys show their start", () => {
		expect(maskedKey(record())).toBe("sk_live_…x7Qk");
		expect(maskedKey(record({ last4: null }))).toBe("sk_live_4fT0…");
	});
});

describe("list selection", () => {
	const keys = Array.from({ length: 120 }, (_, i) =>
		record({
			id: `key_${String(i).padStart(22, "0")}`,
			name: `key ${i}`,
			createdAt: iso(NOW - i * 1000),
			environment: i % 2 ? "test" : "live",
		}),
	);
	it("pages of 50, newest first by default", () => {
		const page = selectKeys(keys, parseKeyQuery(new URLSearchParams()), NOW);
		expect(page.total).toBe(120);
		expect(page.pages).toBe(3);
		expect(page.rows).toHaveLength(PAGE_SIZE);
		expect(page.rows[0]!.name).toBe("key 0");
		expect(selectKeys(keys, parseKeyQuery(new URLSearchParams("page=3")), NOW).rows).toHaveLength(20);
	});
	it("filters by environment and searches by name", () => {
		const page = selectKeys(keys, parseKeyQuery(new URLSearchParams("environment=test&q=key 1")), NOW);
		expect(page.rows.every((k) => k.environment === "test" && k.name.startsWith("key 1"))).toBe(true);
		expect(page.total).toBe(16); // 1, 11, 13, …, 19, 101, 103, …, 119
	});
	it("ignores unknown filter values and out-of-range pages", () => {
		const q = parseKeyQuery(new URLSearchParams("status=bogus&sort=evil&page=-4"));
		expect(q).toMatchObject({ status: "", sort: "created", page: 1 });
	});
});

describe("form choices", () => {
	it("expiry: 7/30/90 days, never, a future date; refuses a past date", () => {
		expect(expiryFrom("7", "", NOW)).toEqual({ ok: true, value: iso(NOW + 7 * 86_400_000) });
		expect(expiryFrom("never", "", NOW)).toEqual({ ok: true, value: undefined });
		expect(expiryFrom("custom", "2027-01-01", NOW)).toEqual({ ok: true, value: "2027-01-01T00:00:00.000Z" });
		expect(expiryFrom("custom", "2020-01-01", NOW).ok).toBe(false);
		expect(expiryFrom("365", "", NOW).ok).toBe(false);
		// A date typed while another choice is ticked is refused, never dropped (found by a browser QA pass).
		for (const choice of ["never", "7", ""])
			expect(expiryFrom(choice, "2027-01-01", NOW)).toMatchObject({ ok: false, message: /On a date/ });
		expect(expiryFrom("custom", "", NOW)).toEqual({ ok: false, message: 'Expiry: "On a date" is ticked but no date was entered.' });
	});
	it("grace choices include the API's default", () => {
		expect(graceChoices(86_400).map((g) => g.seconds)).toEqual([0, 3600, 86_400, 604_800]);
		expect(graceChoices(600).map((g) => g.seconds)).toEqual([0, 3600, 86_400, 604_800, 600]);
	});
});

describe("same-origin check", () => {
	const url = "https://api.example.com/_keygate/ui/login";
	it.each([
		["GET", {}, true],
		["POST", { "Sec-Fetch-Site": "same-origin" }, true],
		["POST", { "Sec-Fetch-Site": "same-site" }, false],
		["POST", { "Sec-Fetch-Site": "cross-site", Origin: "https://api.example.com" }, false],
		["POST", { Origin: "https://api.example.com" }, true],
		["POST", { Origin: "https://api.example.com:8443" }, false],
		["DELETE", {}, false],
	] as const)("%s with %j: %s", (method, headers, ok) => {
		expect(sameOrigin(method, url, new Headers(headers))).toBe(ok);
	});
});

describe("session verdicts", () => {
	const s = { createdAt: NOW, lastSeenAt: NOW, binding: "b", actor: "console" };
	it("idle, absolute and token binding", () => {
		expect(judgeSession(s, "b", NOW + SESSION_IDLE_MS - 1).ok).toBe(true);
		expect(judgeSession(s, "b", NOW + SESSION_IDLE_MS)).toEqual({ ok: false, reason: "idle" });
		expect(judgeSession({ ...s, lastSeenAt: NOW + SESSION_ABSOLUTE_MS - 1 }, "b", NOW + SESSION_ABSOLUTE_MS)).toEqual({
			ok: false,
			reason: "expired",
		});
		expect(judgeSession(s, "other", NOW)).toEqual({ ok: false, reason: "token_changed" });
		expect(judgeSession(null, "b", NOW)).toEqual({ ok: false, reason: "none" });
	});
});

describe("sort by last used", () => {
	const keys = ["a", "b", "c", "d"].map((n, i) => record({ id: `key_${n.repeat(22)}`, name: n, createdAt: iso(NOW - i * 1000) }));
	const used = new Map<string, string | null>([
		[keys[0]!.id, null],
		[keys[1]!.id, iso(NOW - 50)],
		[keys[2]!.id, iso(NOW - 10)],
		// keys[3] is missing: its authority did not answer, so it sorts as never used.
	]);
	const names = (q: string) => selectKeys(keys, parseKeyQuery(new URLSearchParams(q)), NOW, used).rows.map((k) => k.name);
	it("most recent first; never used (or unknown) last, newest-created first among them", () => {
		expect(names("sort=lastUsed")).toEqual(["c", "b", "a", "d"]);
	});
	it("oldest first puts the never-used keys first", () => {
		expect(names("sort=lastUsed&order=asc")).toEqual(["a", "d", "b", "c"]);
	});
	it("the parameter is lastUsed; last_used and last-used are read as it; anything else is created", () => {
		for (const v of ["lastUsed", "last_used", "last-used", "LASTUSED"])
			expect(parseKeyQuery(new URLSearchParams({ sort: v })).sort).toBe("lastUsed");
		expect(parseKeyQuery(new URLSearchParams({ sort: "nope" })).sort).toBe("created");
	});
});

describe("expiry sort and last-4 search (found by a browser QA pass)", () => {
	const keys = [
		record({ id: "key_aaaaaaaaaaaaaaaaaaaaaa", name: "never" }),
		record({ id: "key_bbbbbbbbbbbbbbbbbbbbbb", name: "far", expiresAt: "9999-12-31T00:00:00.000Z", last4: "978R" }),
		record({ id: "key_cccccccccccccccccccccc", name: "soon", expiresAt: iso(NOW + 86_400_000) }),
	];
	const names = (q: string) => selectKeys(keys, parseKeyQuery(new URLSearchParams(q)), NOW).rows.map((k) => k.name);
	it("a key that never expires sorts after every date, the year 9999 included", () => {
		expect(names("sort=expires&order=desc")).toEqual(["never", "far", "soon"]);
		expect(names("sort=expires&order=asc")).toEqual(["soon", "far", "never"]);
	});
	it("the last 4 characters the masked key shows find it, with or without the ellipsis", () => {
		for (const q of ["978R", "978r", "…978R", "...978R"]) expect(names(`q=${encodeURIComponent(q)}`), q).toEqual(["far"]);
		expect(names("q=78R")).toEqual([]);
	});
});

describe("the curl line's address (sampleAddress; found by a browser QA pass: a stray slash, and the console's own host for a host-matched API)", () => {
	const compiled = (raw: unknown) => {
		const r = parseConfig(raw);
		if (!r.ok) throw new Error(r.error);
		return r.value.apis[0]!;
	};

	it("the demo: this page's origin and its first keyed GET route, with no trailing slash", () => {
		expect(sampleAddress("http://localhost:8787/_keygate/ui/apis/demo/keys", compiled(demo), "live")).toEqual({
			url: "http://localhost:8787/v1/hello",
		});
	});

	it("an API on its own hosts: the host of the key's environment, over https; the page's origin when the API answers there", () => {
		const api = compiled(nuvion);
		expect(sampleAddress("https://keys.nuvion.co/_keygate/ui/apis/nuvion/keys", api, "test")).toEqual({
			url: "https://api.nuvion.dev/accounts",
		});
		expect(sampleAddress("https://keys.nuvion.co/_keygate/ui/apis/nuvion/keys", api, "live")).toEqual({
			url: "https://api.nuvion.co/accounts",
		});
		expect(sampleAddress("https://api.nuvion.co/_keygate/ui/apis/nuvion/keys", api, "live")).toEqual({
			url: "https://api.nuvion.co/accounts",
		});
	});

	it("a loopback page the API does not answer on: the page's own origin, with the environment's host in a Host header (stop 28)", () => {
		const api = compiled(nuvion);
		expect(sampleAddress("http://localhost:8787/_keygate/ui/apis/nuvion/keys", api, "test")).toEqual({
			url: "http://localhost:8787/accounts",
			host: "api.nuvion.dev",
		});
		expect(sampleAddress("http://127.0.0.1:8787/_keygate/ui/apis/nuvion/keys", api, "live")).toEqual({
			url: "http://127.0.0.1:8787/accounts",
			host: "api.nuvion.co",
		});
	});
});

describe("a refused form's message in the form's words (stop 24's browser QA pass: `ipAllowlist[0]:`)", () => {
	it("names the form's label and the value refused", () => {
		expect(
			formMessage("ipAllowlist[0]: an IPv4 or IPv6 address or CIDR range; ipAllowlist[1]: an IPv4 or IPv6 address or CIDR range", {
				ipAllowlist: ["999.1.1.1", "10.0.0.0/33"],
			}),
		).toBe(
			'IP allowlist "999.1.1.1": an IPv4 or IPv6 address or CIDR range; IP allowlist "10.0.0.0/33": an IPv4 or IPv6 address or CIDR range',
		);
		expect(formMessage("name: must not be blank")).toBe("Name: must not be blank");
		expect(formMessage("owner: printable ASCII, no spaces or colons")).toBe("Owner: printable ASCII, no spaces or colons");
		expect(formMessage("scopes[2]: a scope is printable ASCII", {})).toBe("Scopes (entry 3): a scope is printable ASCII");
		// The validator's size words, as a person says them (found by a browser QA pass).
		expect(formMessage("owner: Too big: expected string to have <=200 characters")).toBe("Owner: at most 200 characters");
		expect(formMessage("ipAllowlist: Too big: expected array to have <=100 items")).toBe("IP allowlist: at most 100 entries");
		expect(formMessage("name: Too small: expected string to have >=1 characters")).toBe("Name: at least 1 character");
	});

	it("knows which fields a refusal names, so the page marks them invalid (a browser QA pass: a reader heard the message, not the field)", () => {
		expect([...invalidFields('IP allowlist "999.1.1.1": bad; Name: must not be blank')].sort()).toEqual(["ipAllowlist", "name"]);
		expect([...invalidFields("Scopes (entry 3): a scope is printable ASCII")]).toEqual(["scopes"]);
		expect([...invalidFields("Expiry: the custom date must be in the future.")]).toEqual(["expiresAt"]);
		// A label's word inside the message is not a field refused; nor is a message naming none.
		expect([...invalidFields("Key type: this API has no such type; the Name field is fine")]).toEqual(["type"]);
		expect(invalidFields("Something keygate depends on did not answer.").size).toBe(0);
		expect(invalidFields(undefined).size).toBe(0);
		// A quoted value holding quotes still names its field (a review).
		expect([...invalidFields('Owner "a"b": printable ASCII')]).toEqual(["owner"]);
	});

	it("never names a value holding a key, and leaves other words alone", () => {
		// Key-shaped, 57 characters (under the length limit): a typo'd key is still never quoted.
		const key = `sk_live_${"A".repeat(49)}`;
		expect(formMessage("ipAllowlist[0]: bad", { ipAllowlist: [key] })).toBe("IP allowlist (entry 1): bad");
		expect(formMessage("The hostname: x; key-type: y")).toBe("The hostname: x; key-type: y");
		// Only a message's own field names, at its start or after "; ", are rewritten (stop 24's review).
		expect(formMessage("Key type: not one you may create.")).toBe("Key type: not one you may create.");
		expect(formMessage("Scopes: you may not give a key name:x")).toBe("Scopes: you may not give a key name:x");
		expect(formMessage("name: blank; owner: bad")).toBe("Name: blank; Owner: bad");
		// A refused form's fields drop a typo'd key too (one looksLikeKey rule for pages and addresses).
		expect(keptValue(`x ${key} y`)).toBe("");
		expect(keptValue("ordinary name")).toBe("ordinary name");
	});
});
