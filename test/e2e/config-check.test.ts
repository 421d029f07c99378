/**
 * `npm run config:check` (scripts/config-check.mjs): the configs keygate.schema.json lets
 * through but keygate refuses (every request 503) fail the check, naming the field, and
 * the check prints exactly the lines keygate logs when it loads the config
 * (`configLogLines`, which test/integration/config-lints.test.ts holds to what the Worker logs).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import bundled from "../../keygate.config.json";
import { configLogLines, parseConfig } from "../../src/config/load";
import { ROOT } from "./stack";

let dir = "";
beforeAll(async () => {
	dir = await mkdtemp(path.join(os.tmpdir(), "keygate-config-check-"));
});
afterAll(async () => {
	await rm(dir, { recursive: true, force: true });
});

interface RunResult {
	code: number;
	stdout: string;
	stderr: string;
}

function check(args: string[]): Promise<RunResult> {
	return new Promise((resolve) => {
		execFile(
			process.execPath,
			[path.join(ROOT, "scripts/config-check.mjs"), ...args],
			{ cwd: ROOT, timeout: 60_000 },
			(error, stdout, stderr) => {
				resolve({ code: error ? (typeof error.code === "number" ? error.code : 1) : 0, stdout, stderr });
			},
		);
	});
}

async function file(name: string, config: unknown): Promise<string> {
	const p = path.join(dir, name);
	await writeFile(p, JSON.stringify(config, null, 2));
	return p;
}

const demo = () => structuredClone(bundled) as any;

describe("npm run config:check", () => {
	it.each<[string, (c: any) => void, RegExp]>([
		[
			"duplicate API names",
			(c) => c.apis.push({ ...structuredClone(c.apis[0]), match: { pathPrefix: "/two" } }),
			/apis\[1\]\.name: duplicate API name \\"demo\\"/,
		],
		[
			"a defaultTier not among the tiers",
			(c) => (c.apis[0].defaultTier = "gold"),
			/apis\[0\]\.defaultTier: \\"gold\\" is not one of tiers/,
		],
		[
			"errors.overrides for an unknown code",
			(c) => (c.apis[0].errors.overrides = { invalid_key: { message: "no" } }),
			/apis\[0\]\.errors\.overrides\.invalid_key: \\"invalid_key\\" is not a public error code/,
		],
		[
			"cors.keyTypes naming an unknown type",
			(c) => (c.apis[0].cors.keyTypes = ["pk", "xk"]),
			/apis\[0\]\.cors\.keyTypes\[1\]: \\"xk\\" is not one of keyTypes/,
		],
		["tiers: {}", (c) => (c.apis[0].tiers = {}), /apis\[0\]\.tiers: at least one tier/],
		[
			"an oidc login without a clientId",
			(c) => (c.apis[0].oauth.login = { mode: "oidc", issuer: "https://idp.example" }),
			/apis\[0\]\.oauth\.login\.clientId: /,
		],
		[
			"an oidc login whose clientSecretVar is not a variable name",
			(c) => (c.apis[0].oauth.login = { mode: "oidc", issuer: "https://idp.example", clientId: "kg", clientSecretVar: "s3cret value" }),
			/apis\[0\]\.oauth\.login\.clientSecretVar: an environment variable name/,
		],
		[
			"an oidc login allowing HS256",
			(c) => (c.apis[0].oauth.login = { mode: "oidc", issuer: "https://idp.example", clientId: "kg", algorithms: ["HS256"] }),
			/apis\[0\]\.oauth\.login\.algorithms\[0\]: /,
		],
		[
			"two APIs that tie on host and prefix",
			(c) => c.apis.push({ ...structuredClone(c.apis[0]), name: "twin" }),
			/apis\[1\]\.match: API \\"twin\\" and API \\"demo\\"/,
		],
	])("refuses %s: exit 1, keygate's config_invalid line naming the field", async (what, mutate, expected) => {
		const config = demo();
		mutate(config);
		const p = await file(`${what.replace(/\W+/g, "-")}.json`, config);
		const r = await check([p]);
		expect(r.code, r.stdout + r.stderr).toBe(1);
		const expectedLines = configLogLines(parseConfig(JSON.stringify(config, null, 2))).map((l) => l.line);
		expect(expectedLines).toHaveLength(1);
		expect(r.stdout).toBe(`${p}: invalid\n${expectedLines[0]}\n`);
		expect(expectedLines[0]).toMatch(/^\{"event":"config_invalid","error":"invalid config: /);
		expect(expectedLines[0]).toMatch(expected);
	});

	it("passes a config with lints (exit 0) and prints each lint line as keygate logs it", async () => {
		const config = demo();
		config.apis[0].cors.keyTypes = ["pk", "sk"];
		config.apis[0].unmatchedRoutes = "authenticate";
		const p = await file("linted.json", config);
		const r = await check([p]);
		expect(r.code, r.stderr).toBe(0);
		const lines = configLogLines(parseConfig(JSON.stringify(config, null, 2))).map((l) => l.line);
		expect(lines).toHaveLength(2);
		expect(r.stdout).toBe(`${p}: valid, 2 lints\n${lines.join("\n")}\n`);
	});

	it("checks keygate.config.json by default and several files at once; one bad file makes it exit 1", async () => {
		const byDefault = await check([]);
		expect(byDefault.code, byDefault.stdout + byDefault.stderr).toBe(0);
		expect(byDefault.stdout).toBe("keygate.config.json: valid\n");

		const bad = demo();
		bad.apis[0].tiers = {};
		const p = await file("empty-tiers.json", bad);
		const both = await check(["examples/novu/keygate.config.json", p, path.join(dir, "missing.json")]);
		expect(both.code).toBe(1);
		expect(both.stdout.split("\n")[0]).toBe("examples/novu/keygate.config.json: valid");
		expect(both.stdout).toContain(`${p}: invalid\n`);
		expect(both.stderr).toContain("missing.json: cannot read");
	});

	it("exits 2 on an unknown option", async () => {
		const r = await check(["--frobnicate"]);
		expect(r.code).toBe(2);
		expect(r.stderr).toContain("Usage:");
	});
});
