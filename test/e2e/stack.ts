/**
 * End-to-end harness: the demo origin in this process and a real `wrangler dev` in its
 * own process group, on free ports, with throwaway secrets and state. Nothing is
 * written into the repository: secrets and the config go in as `--var` bindings (they
 * override anything in .dev.vars) and state goes to a fresh directory under os.tmpdir().
 * (wrangler itself bundles into .wrangler/tmp/ under the repo, git-ignored, and
 * removes its own bundle directory on exit.)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach } from "vitest";
// @ts-ignore -- plain ESM JavaScript without a declaration file
import { startDemoOrigin } from "../../demo/origin.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 5_000;

export interface OriginRequest {
	method: string;
	path: string;
	query: Record<string, string>;
	headers: Record<string, string>;
	body: string;
}

export interface Stack {
	/** The gateway, e.g. http://127.0.0.1:40123 */
	url: string;
	adminToken: string;
	signingSecret: string;
	/** Every request the origin received, in order. */
	originRequests: OriginRequest[];
	originPort: number;
	/** wrangler's stdout and stderr so far, for failure messages. */
	output(): string;
	stop(): Promise<void>;
}

/** Ports the OS says are free right now: all held open together so they differ, then released. */
export async function freePorts(count: number): Promise<number[]> {
	const servers = await Promise.all(
		Array.from(
			{ length: count },
			() =>
				new Promise<net.Server>((resolve, reject) => {
					const server = net.createServer();
					server.once("error", reject);
					server.listen(0, "127.0.0.1", () => resolve(server));
				}),
		),
	);
	const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
	await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
	return ports;
}

/** keygate.config.json with every environment's origin pointed at the local origin. */
export function configFor(originPort: number, oauth?: { gateway: string; rateLimitBy: string }, originTimeoutMs?: number): string {
	const config = JSON.parse(readFileSync(path.join(ROOT, "keygate.config.json"), "utf8")) as {
		apis: { environments: Record<string, { origin: string }>; oauth?: Record<string, unknown>; originTimeoutMs?: number }[];
	};
	for (const api of config.apis) {
		for (const env of Object.values(api.environments)) env.origin = `http://127.0.0.1:${originPort}`;
		if (originTimeoutMs !== undefined) api.originTimeoutMs = originTimeoutMs;
	}
	// The demo API's OAuth, with this stack's addresses: keygate as issuer, the demo origin's sign-in.
	if (oauth)
		config.apis[0]!.oauth = {
			...config.apis[0]!.oauth,
			issuer: oauth.gateway,
			login: { loginUrl: `http://127.0.0.1:${originPort}/login` },
			rateLimitBy: oauth.rateLimitBy,
		};
	return JSON.stringify(config);
}

const secret = () => randomBytes(24).toString("hex");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function exited(child: ChildProcess): boolean {
	return child.exitCode !== null || child.signalCode !== null;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
	if (child.pid === undefined) return;
	try {
		process.kill(-child.pid, signal); // the whole group: npx, wrangler and workerd
	} catch {
		// already gone
	}
}

/** Tries to start a stack this many times when a port picked free was taken before wrangler bound it. */
const PORT_RACE_ATTEMPTS = 3;

interface StackOptions {
	originKeepAliveMs?: number;
	originDropReusedEvery?: number;
	/** Turns the demo API's OAuth on with this stack's addresses, counting `rateLimitBy`. */
	oauth?: { rateLimitBy: string };
	/** Fields the demo origin adds to its answer to a request (by its description). */
	originResponseHeaders?: (request: OriginRequest) => Record<string, string>;
	/** How slowly the demo origin answers a request (by its description): before its headers, and between its body's halves. */
	originPace?: (request: OriginRequest) => { headersMs?: number; bodyMs?: number } | undefined;
	/** Every API's `originTimeoutMs`. */
	originTimeoutMs?: number;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
	// Ports are free when picked and bound a moment later: another test file (or workerd's
	// own internal sockets) can take one in between. That is a race of the harness, not a
	// failure of keygate, so it starts again on new ports; any other failure is thrown.
	for (let attempt = 1; ; attempt++) {
		try {
			return await startStackOnce(options);
		} catch (e) {
			if (attempt >= PORT_RACE_ATTEMPTS || !/Address already in use/.test(String(e))) throw e;
		}
	}
}

async function startStackOnce(options: StackOptions): Promise<Stack> {
	const originRequests: OriginRequest[] = [];
	const adminToken = secret();
	const signingSecret = secret();
	const origin = await startDemoOrigin(0, {
		onRequest: (r: OriginRequest) => originRequests.push(r),
		keepAliveTimeoutMs: options.originKeepAliveMs,
		dropReusedEvery: options.originDropReusedEvery,
		responseHeaders: options.originResponseHeaders,
		pace: options.originPace,
		signingSecret, // the demo sign-in checks keygate's login requests with it
	});
	const persistDir = await mkdtemp(path.join(os.tmpdir(), "keygate-e2e-"));
	const [port, inspectorPort] = await freePorts(2);
	const url = `http://127.0.0.1:${port}`;

	// `--var NAME:VALUE`: wrangler splits at the first colon, so the value may contain
	// colons (a JSON document is fine). These bindings take precedence over .dev.vars.
	const args = [
		"wrangler",
		"dev",
		"--port",
		String(port),
		"--inspector-port",
		String(inspectorPort),
		"--ip",
		"127.0.0.1",
		"--persist-to",
		persistDir,
		"--var",
		`ADMIN_TOKEN:${adminToken}`,
		"--var",
		`SIGNING_SECRET:${signingSecret}`,
		"--var",
		`KEYGATE_CONFIG:${configFor(origin.port, options.oauth && { gateway: url, rateLimitBy: options.oauth.rateLimitBy }, options.originTimeoutMs)}`,
		"--var",
		"KEYGATE_CLIENT_ADDRESS:local",
	];
	const child = spawn("npx", args, {
		cwd: ROOT,
		detached: true, // its own process group, so stop() reaches workerd too
		stdio: ["ignore", "pipe", "pipe"],
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" },
	});
	let output = "";
	child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
	child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
	const closed = new Promise<void>((resolve) => child.once("close", () => resolve()));

	let stopped = false;
	const stop = async () => {
		if (stopped) return;
		stopped = true;
		if (!exited(child)) {
			killGroup(child, "SIGTERM");
			const timedOut = await Promise.race([closed.then(() => false), sleep(STOP_TIMEOUT_MS).then(() => true)]);
			if (timedOut) killGroup(child, "SIGKILL");
		}
		// Whatever is left of the group (workerd outlives its parent briefly) gets SIGKILL.
		killGroup(child, "SIGKILL");
		await origin.close();
		await rm(persistDir, { recursive: true, force: true });
	};

	const stack: Stack = { url, adminToken, signingSecret, originRequests, originPort: origin.port, output: () => output, stop };
	try {
		await waitForHealth(stack, child);
	} catch (e) {
		await stop();
		throw e;
	}
	return stack;
}

async function waitForHealth(stack: Stack, child: ChildProcess): Promise<void> {
	const deadline = Date.now() + STARTUP_TIMEOUT_MS;
	let last = "no answer yet";
	while (Date.now() < deadline) {
		if (exited(child)) throw new Error(`wrangler dev exited (${child.exitCode ?? child.signalCode}) before answering:\n${stack.output()}`);
		try {
			const res = await fetch(`${stack.url}/health`, { signal: AbortSignal.timeout(5_000) });
			await res.arrayBuffer();
			if (res.status === 200) return;
			last = `HTTP ${res.status}`;
		} catch (e) {
			last = String((e as Error).cause ?? e);
		}
		await sleep(250);
	}
	throw new Error(`wrangler dev did not answer GET /health within ${STARTUP_TIMEOUT_MS / 1000} s (${last}):\n${stack.output()}`);
}

/**
 * One stack for a test file: started before its tests, stopped after them, with the last
 * 80 lines of wrangler's output printed if any test failed. Returns the getter the tests use.
 */
export function useStack(options: StackOptions = {}): () => Stack {
	let stack: Stack | undefined;
	let failed = false;
	beforeAll(async () => {
		stack = await startStack(options);
	});
	beforeEach(({ onTestFailed }) => {
		onTestFailed(() => {
			failed = true;
		});
	});
	afterAll(async () => {
		// A failure is easier to read next to what wrangler (and the Worker) logged.
		if (failed && stack) console.error(`--- wrangler dev output (last 80 lines) ---\n${stack.output().split("\n").slice(-80).join("\n")}`);
		await stack?.stop();
	});
	return () => {
		if (!stack) throw new Error("the stack did not start");
		return stack;
	};
}
