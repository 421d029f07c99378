/**
 * `npm run dev` (scripts/dev.mjs) beside other projects: both ports can be chosen, the
 * gateway then sends demo traffic to the demo origin's chosen port, and it refuses to
 * start when something else holds the demo origin's port (keygate would otherwise send
 * the demo's requests, keys' identities included, to that program).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { freePorts, ROOT } from "./stack";

const DEV = path.join(ROOT, "scripts/dev.mjs");
const DEV_VARS = path.join(ROOT, ".dev.vars");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Run {
	child: ChildProcess;
	output(): string;
	exited: Promise<number>;
}

function runDev(args: string[], env: Record<string, string> = {}, root = ROOT): Run {
	const child = spawn(process.execPath, [path.join(root, "scripts/dev.mjs"), ...args], {
		cwd: root,
		detached: true, // its own process group: the cleanup reaches wrangler and workerd too
		stdio: ["ignore", "pipe", "pipe"],
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0", ...env },
	});
	let output = "";
	child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
	child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
	const exited = new Promise<number>((resolve) => child.once("close", (code, signal) => resolve(code ?? (signal ? 128 : 1))));
	return { child, output: () => output, exited };
}

/** A program that is not the demo origin, holding a port, and counting the connections it gets. */
async function squatter(port: number): Promise<{ connections: () => number; close(): Promise<void> }> {
	let connections = 0;
	const server = net.createServer((socket) => {
		connections++;
		socket.destroy();
	});
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, "127.0.0.1", () => resolve());
	});
	return { connections: () => connections, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

async function listening(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = net.connect(port, "127.0.0.1");
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("npm run dev beside other projects", () => {
	it.each([
		[
			"--origin-port",
			(gateway: number, origin: number) => ({ args: ["--port", String(gateway), "--origin-port", String(origin)], env: {} }),
		],
		[
			"KEYGATE_PORT and DEMO_ORIGIN_PORT",
			(gateway: number, origin: number) => ({ args: [], env: { KEYGATE_PORT: String(gateway), DEMO_ORIGIN_PORT: String(origin) } }),
		],
	])("refuses to start, naming the port and how to choose another, when the demo origin's port is taken (%s)", async (_how, choose) => {
		const [gateway, originPort] = await freePorts(2);
		const other = await squatter(originPort!);
		cleanups.push(other.close);
		const hadDevVars = existsSync(DEV_VARS);
		const { args, env } = choose(gateway!, originPort!);
		const run = runDev(args, env);
		cleanups.push(async () => killGroup(run.child));
		const code = await Promise.race([run.exited, sleep(30_000).then(() => -1)]);
		expect(code, run.output()).toBe(1);
		expect(run.output()).toContain(`port ${originPort} (the demo origin's) is already in use`);
		expect(run.output()).toMatch(/--origin-port N.*DEMO_ORIGIN_PORT=N/);
		// Nothing was started, nothing was sent to the other program, nothing was written.
		expect(await listening(gateway!)).toBe(false);
		expect(other.connections()).toBe(0);
		expect(existsSync(DEV_VARS)).toBe(hadDevVars);
	});

	it("--help prints this script's options and wrangler dev's, and starts nothing: no origin, no gateway, no .dev.vars written (a browser QA pass)", async () => {
		const [gateway, originPort] = await freePorts(2);
		const before = existsSync(DEV_VARS) ? await readFile(DEV_VARS, "utf8") : null;
		const run = runDev(["--help", "--port", String(gateway), "--origin-port", String(originPort)]);
		cleanups.push(async () => killGroup(run.child));
		const code = await Promise.race([run.exited, sleep(30_000).then(() => -1)]);
		expect(code, run.output()).toBe(0);
		expect(run.output()).toContain("Usage: npm run dev -- [--port N] [--origin-port N] [wrangler dev options]");
		expect(run.output()).toContain("Start a local server for developing your Worker");
		expect(run.output()).not.toContain("demo origin listening");
		expect(await listening(originPort!)).toBe(false);
		expect(await listening(gateway!)).toBe(false);
		expect(existsSync(DEV_VARS) ? await readFile(DEV_VARS, "utf8") : null).toBe(before);
	});

	it("finds a secret in .dev.vars shorter than the 32 characters keygate uses, which it would treat as unset; the ones it writes are long enough (a probe)", async () => {
		const { ensureDevVars, readDevVars, shortSecrets } = (await import(pathToFileURL(DEV).href)) as {
			ensureDevVars(path: string): { values: Record<string, string> };
			readDevVars(path: string): Record<string, string>;
			shortSecrets(values: Record<string, string>): string[];
		};
		const dir = await mkdtemp(path.join(os.tmpdir(), "kg-devvars-"));
		cleanups.push(() => rm(dir, { recursive: true, force: true }));
		const file = path.join(dir, ".dev.vars");
		await writeFile(file, "ADMIN_TOKEN=a\n");
		// Found before anything is started or written (a browser pass: the demo origin had started first).
		expect(shortSecrets(readDevVars(file))).toEqual(["ADMIN_TOKEN"]);
		expect(await readFile(file, "utf8")).toBe("ADMIN_TOKEN=a\n");
		expect(shortSecrets(ensureDevVars(file).values)).toEqual(["ADMIN_TOKEN"]);
		const written = ensureDevVars(path.join(dir, "fresh.vars")).values;
		expect(written.ADMIN_TOKEN!.length).toBeGreaterThanOrEqual(32);
		expect(shortSecrets(written)).toEqual([]);
	});

	it("refuses a secret shorter than 32 characters in .dev.vars, naming it, before it starts or writes anything", async () => {
		// A copy of the project whose .dev.vars holds a short ADMIN_TOKEN: the repository's own .dev.vars, which
		// other e2e tests read, stays as it is.
		const root = await mkdtemp(path.join(os.tmpdir(), "kg-devshort-"));
		cleanups.push(() => rm(root, { recursive: true, force: true }));
		for (const part of ["scripts", "demo", "src", "keygate.config.json", "package.json", "wrangler.toml", "tsconfig.json"])
			await cp(path.join(ROOT, part), path.join(root, part), { recursive: true });
		await symlink(path.join(ROOT, "node_modules"), path.join(root, "node_modules"), "dir");
		await mkdir(path.join(root, ".wrangler"), { recursive: true });
		const vars = `ADMIN_TOKEN=short-admin-token\nSIGNING_SECRET=${"s".repeat(40)}\n`;
		await writeFile(path.join(root, ".dev.vars"), vars);
		const [gateway, originPort] = await freePorts(2);
		const run = runDev(["--port", String(gateway), "--origin-port", String(originPort)], {}, root);
		cleanups.push(async () => killGroup(run.child));
		const code = await Promise.race([run.exited, sleep(30_000).then(() => -1)]);
		expect(code, run.output()).toBe(1);
		expect(run.output()).toMatch(
			/keygate: not starting: ADMIN_TOKEN in .*\.dev\.vars is shorter than 32 characters, which keygate treats as unset/,
		);
		expect(run.output()).not.toContain("SIGNING_SECRET in");
		expect(run.output()).not.toContain("demo origin listening");
		expect(await listening(originPort!)).toBe(false);
		expect(await listening(gateway!)).toBe(false);
		expect(await readFile(path.join(root, ".dev.vars"), "utf8")).toBe(vars);
	});

	it("refuses an invalid config before starting anything, with keygate's own log line", async () => {
		const [gateway, originPort] = await freePorts(2);
		const config = JSON.stringify({ apis: [{ name: "x", environments: {}, keyTypes: {}, tiers: {}, defaultTier: "free" }] });
		const run = runDev(["--port", String(gateway), "--origin-port", String(originPort), "--var", `KEYGATE_CONFIG:${config}`]);
		cleanups.push(async () => killGroup(run.child));
		const code = await Promise.race([run.exited, sleep(30_000).then(() => -1)]);
		expect(code, run.output()).toBe(1);
		expect(run.output()).toMatch(/\{"event":"config_invalid","error":"invalid config: apis\[0\]\.environments: at least one environment/);
		expect(run.output()).toContain("keygate: not starting: the config (--var KEYGATE_CONFIG) is invalid");
		expect(await listening(originPort!)).toBe(false);
	});

	it("with --port and --origin-port, serves on the one and sends the demo's requests to the demo origin on the other", async () => {
		const [gateway, originPort, inspector] = await freePorts(3);
		const persist = await mkdtemp(path.join(os.tmpdir(), "keygate-dev-"));
		const hadDevVars = existsSync(DEV_VARS);
		cleanups.push(async () => {
			await rm(persist, { recursive: true, force: true });
			if (!hadDevVars) await rm(DEV_VARS, { force: true }); // the first `npm run dev` writes it; leave the tree as found
		});
		const run = runDev([
			"--port",
			String(gateway),
			"--origin-port",
			String(originPort),
			"--inspector-port",
			String(inspector),
			"--persist-to",
			persist,
		]);
		cleanups.push(async () => {
			killGroup(run.child, "SIGTERM");
			await Promise.race([run.exited, sleep(5_000)]);
			killGroup(run.child, "SIGKILL");
		});

		let res: Response | undefined;
		const deadline = Date.now() + 90_000;
		while (!res && Date.now() < deadline) {
			expect(run.child.exitCode, run.output()).toBeNull();
			try {
				res = await fetch(`http://127.0.0.1:${gateway}/health`, { signal: AbortSignal.timeout(5_000) });
			} catch {
				await sleep(250);
			}
		}
		expect(res, `no answer on port ${gateway}:\n${run.output()}`).toBeDefined();
		const text = await res!.text();
		expect(res!.status, text).toBe(200);
		expect(res!.headers.get("X-Origin")).toBe("keygate-demo");
		// The demo origin echoes what it received: the request came to its chosen port.
		expect((JSON.parse(text) as { headers: Record<string, string> }).headers.host).toBe(`127.0.0.1:${originPort}`);
		expect(run.output()).toContain(`demo origin listening on http://127.0.0.1:${originPort}`);
		expect(run.output()).toContain(`origin(s) at 127.0.0.1:8788 moved to the demo origin's port ${originPort}`);
		// The demo's OAuth sign-in moved with it: /oauth/authorize sends the browser to this run's login page, and back to this gateway.
		const metadata = (await (await fetch(`http://127.0.0.1:${gateway}/.well-known/oauth-authorization-server`)).json()) as {
			issuer: string;
			authorization_endpoint: string;
		};
		expect(metadata.issuer).toBe(`http://localhost:${gateway}`);
		expect(run.output()).toContain(`OAuth address(es) moved to this run's ports (issuer on ${gateway}, sign-in on ${originPort})`);
	});
});

describe("moveDemoOrigin", () => {
	it("moves the demo's origins and OAuth sign-in URL to the origin's port, and its issuer to the gateway's", async () => {
		const { moveDemoOrigin } = (await import(pathToFileURL(DEV).href)) as {
			moveDemoOrigin(
				text: string,
				port: number,
				gatewayPort?: number,
			): { text: string; moved: number; oauth: number; logins: number; issuers: number };
		};
		const source = await readFile(path.join(ROOT, "keygate.config.json"), "utf8");
		const moved = moveDemoOrigin(source, 9001, 9000);
		const api = (
			JSON.parse(moved.text) as {
				apis: { environments: Record<string, { origin: string }>; oauth: { issuer: string; login: { loginUrl: string } } }[];
			}
		).apis[0]!;
		expect(Object.values(api.environments).map((e) => new URL(e.origin).port)).toEqual(Object.values(api.environments).map(() => "9001"));
		expect(api.oauth.login.loginUrl).toBe("http://127.0.0.1:9001/login");
		expect(api.oauth.issuer).toBe("http://localhost:9000");
		expect(moved.oauth).toBe(2);
		expect([moved.logins, moved.issuers]).toEqual([1, 1]);
		// On the default ports nothing moves, and the text is the config's own.
		expect(moveDemoOrigin(source, 8788, 8787)).toEqual({ text: source, moved: 0, oauth: 0, logins: 0, issuers: 0 });
		// An example whose issuer is its public host: only the sign-in moves, and the count says so (a peer).
		const rest = moveDemoOrigin(await readFile(path.join(ROOT, "examples/generic-rest/keygate.config.json"), "utf8"), 9001, 9000);
		expect([rest.logins, rest.issuers]).toEqual([1, 0]);
	});
});

describe("quickStart", () => {
	it("prints the demo's lines for the demo, and for an example a key for its first API sent with its Host (a peer, a seed-page pass)", async () => {
		const { quickStart } = (await import(pathToFileURL(DEV).href)) as {
			quickStart(text: string, base: string, urlFlag: string): string[];
		};
		const base = "http://localhost:9000";
		const demo = await readFile(path.join(ROOT, "keygate.config.json"), "utf8");
		expect(quickStart(demo, base, "")).toEqual([
			"  npm run keys -- create --name demo --scopes read,write",
			`  curl -H "Authorization: Bearer <key>" ${base}/v1/hello`,
		]);
		const novapulse = await readFile(path.join(ROOT, "examples/novapulse/keygate.config.json"), "utf8");
		expect(quickStart(novapulse, base, ` --url ${base}`)).toEqual([
			`  npm run keys -- create --name demo --api novapulse --scopes jobs:read --url ${base}`,
			`  curl -H "Host: api.novapulse.io" -H "Authorization: Bearer <key>" ${base}/v1/jobs`,
		]);
		// Novala's samplePath (/api/v1/leads) takes the leads route: its scope, not the first GET route's (a second review).
		const novala = await readFile(path.join(ROOT, "examples/novala/keygate.config.json"), "utf8");
		expect(quickStart(novala, base, "")).toEqual([
			"  npm run keys -- create --name demo --api novala --scopes leads.lead.read",
			`  curl -H "Host: app.novala.ai" -H "Authorization: Bearer <key>" ${base}/api/v1/leads`,
		]);
		const novu = await readFile(path.join(ROOT, "examples/novu/keygate.config.json"), "utf8");
		expect(quickStart(novu, base, "")[1]).toMatch(
			/^ {2}curl -H "Host: api\.novu\.co" -H "Authorization: ApiKey <key>" http:\/\/localhost:9000\/v1\//,
		);
	});
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals = "SIGKILL"): void {
	if (child.pid === undefined) return;
	try {
		process.kill(-child.pid, signal);
	} catch {
		// already gone
	}
}

describe("hasLocalIssuer (the 'sign-in needs localhost' line)", () => {
	it("is true for the demo, whose issuer is localhost, and false for examples without one (found by a seed-page pass)", async () => {
		const { hasLocalIssuer } = (await import(pathToFileURL(DEV).href)) as { hasLocalIssuer(text: string): boolean };
		const read = (file: string) => readFile(path.join(ROOT, file), "utf8");
		expect(hasLocalIssuer(await read("keygate.config.json"))).toBe(true);
		expect(hasLocalIssuer(await read("examples/novapulse/keygate.config.json"))).toBe(false);
		expect(hasLocalIssuer(await read("examples/generic-rest/keygate.config.json"))).toBe(false);
		expect(hasLocalIssuer("not json")).toBe(false);
	});
});
