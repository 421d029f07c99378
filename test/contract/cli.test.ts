/**
 * The CLI (scripts/keys.mjs) turns its flags into the admin API's query names: the audit
 * filters reach `GET /audit` as `keyId`, `action`, `actorType`, `from`, `to` and `cursor`.
 * The request is caught before it leaves the process; the API's answers are tested in the
 * workers project (test/integration/audit-log.test.ts).
 */
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain ES module script without type declarations
import { main } from "../../scripts/keys.mjs";

async function run(argv: string[]): Promise<{ code: number; urls: string[]; errors: string[]; bodies: unknown[] }> {
	const urls: string[] = [];
	const errors: string[] = [];
	const bodies: unknown[] = [];
	const fetchImpl = async (url: string, init?: RequestInit) => {
		urls.push(url);
		if (typeof init?.body === "string") bodies.push(JSON.parse(init.body));
		return new Response(JSON.stringify({ data: [], cursor: null }), { headers: { "Content-Type": "application/json" } });
	};
	const code = await main(argv, {
		env: { ADMIN_TOKEN: "t".repeat(32) },
		cwd: "/nonexistent",
		out: () => {},
		err: (s: string) => errors.push(s),
		fetchImpl,
	});
	return { code, urls, errors, bodies };
}

describe("keys audit", () => {
	it("sends every filter under the admin API's name", async () => {
		const { code, urls } = await run([
			"audit",
			"--key-id",
			"key_0123456789012345678901",
			"--action",
			"key.revoked",
			"--actor-type",
			"portal",
			"--from",
			"2026-12-01",
			"--to=2026-12-05",
			"--cursor",
			"abc",
		]);
		expect(code).toBe(0);
		expect(urls).toHaveLength(1);
		const url = new URL(urls[0]!);
		expect(url.pathname).toBe("/_keygate/v1/audit");
		expect(Object.fromEntries(url.searchParams)).toEqual({
			keyId: "key_0123456789012345678901",
			action: "key.revoked",
			actorType: "portal",
			from: "2026-12-01",
			to: "2026-12-05",
			cursor: "abc",
		});
	});

	it("refuses a flag the command does not take, and sends nothing", async () => {
		const { code, urls, errors } = await run(["audit", "--actor", "x"]);
		expect(code).toBe(2);
		expect(urls).toEqual([]);
		expect(errors.join("\n")).toContain("unknown option --actor for audit");
	});
});

describe("keys update", () => {
	it('sends null for a field given as null, as PATCH clears it (found by a peer: it stored the text "null")', async () => {
		const id = "key_0123456789012345678901";
		const argv = [
			"update",
			id,
			"--owner",
			"null",
			"--service",
			"null",
			"--expires-at",
			"null",
			"--ip-allowlist",
			"null",
			"--metadata",
			"null",
		];
		const { code, bodies } = await run(argv);
		expect(code).toBe(0);
		expect(bodies).toEqual([{ owner: null, service: null, expiresAt: null, ipAllowlist: null, metadata: null }]);
	});

	it("on create, null is a value like any other (create has nothing to clear)", async () => {
		const { bodies } = await run(["create", "--name", "n", "--owner", "null"]);
		expect(bodies).toEqual([{ name: "n", owner: "null" }]);
	});
});
