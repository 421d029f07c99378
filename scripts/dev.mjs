#!/usr/bin/env node
// `npm run dev`: keygate locally, in front of the demo origin.
//
//   1. checks the config keygate will run (as `npm run config:check` does) and refuses
//      to start on an invalid one,
//   2. refuses to start when the gateway's port is taken, or the demo origin's (keygate
//      would otherwise send the demo's traffic to whatever listens there), else starts
//      the demo origin (demo/origin.mjs) on 127.0.0.1:<origin port> in this process,
//   3. makes sure .dev.vars holds ADMIN_TOKEN and SIGNING_SECRET (random values are
//      added for any that are missing; existing values are never changed),
//   4. runs `wrangler dev --port <port> --ip 127.0.0.1` (the project's wrangler) plus any
//      arguments given here, and stops both together, exiting with wrangler's exit code.
//
// Ports: `--port N` or KEYGATE_PORT (gateway, default 8787), `--origin-port N` or
// DEMO_ORIGIN_PORT (demo origin, default 8788). When the demo origin is not on 8788, the
// config's origins and OAuth sign-in URL at 127.0.0.1:8788 (or localhost:8788) are
// rewritten to its port; when the gateway is not on 8787, an OAuth issuer at 8787 is
// rewritten to its port; and the config is passed to wrangler as the KEYGATE_CONFIG var. The config is
// `--var KEYGATE_CONFIG:…` when given, else KEYGATE_CONFIG in .dev.vars, else
// keygate.config.json.
//
// Plain Node (>= 20), no dependencies beyond the project's own (esbuild, for the check).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import net from "node:net";
import { DEFAULT_ORIGIN_PORT, ORIGIN_HOST, startDemoOrigin } from "../demo/origin.mjs";
import { checkConfigText } from "./config-check.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DEV_VARS = join(ROOT, ".dev.vars");
export const REQUIRED_SECRETS = ["ADMIN_TOKEN", "SIGNING_SECRET"];
/** As src/env.ts MIN_SECRET_LENGTH: a shorter secret is treated as unset. */
const MIN_SECRET_LENGTH = 32;
export const DEFAULT_GATEWAY_PORT = 8787;
const GATEWAY_IP = "127.0.0.1";
const BUNDLED_CONFIG = join(ROOT, "keygate.config.json");

const newSecret = () => randomBytes(24).toString("base64url");

/** The value a dotenv line assigns, unquoted; undefined if the line assigns nothing. */
function assignment(line) {
	const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
	if (!m) return undefined;
	let value = m[2];
	const quoted = /^(["'`])(.*)\1$/.exec(value);
	value = quoted ? quoted[2] : value.replace(/\s+#.*$/, "");
	return { name: m[1], value };
}

/** The required secrets set, but shorter than keygate uses (it treats them as unset): a refusal to start, not a 503 later. */
export const shortSecrets = (values) =>
	REQUIRED_SECRETS.filter((name) => values[name] !== undefined && values[name] !== "" && values[name].length < MIN_SECRET_LENGTH);

/** The required secrets `path` sets now, read only (ensureDevVars fills in the missing ones later). */
export function readDevVars(path = DEV_VARS) {
	const values = {};
	if (!existsSync(path)) return values;
	for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
		const a = assignment(line);
		if (a && REQUIRED_SECRETS.includes(a.name) && a.value !== "") values[a.name] = a.value;
	}
	return values;
}

/**
 * Adds a random value for each required secret the file lacks (absent, or present but
 * empty). Values already set are left exactly as they are.
 * @returns {{ path: string, created: boolean, added: string[], values: Record<string, string> }}
 */
export function ensureDevVars(path = DEV_VARS) {
	const created = !existsSync(path);
	const text = created ? "" : readFileSync(path, "utf8");
	const eol = text.includes("\r\n") ? "\r\n" : "\n";
	const lines = text === "" ? [] : text.split(/\r?\n/);
	if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop(); // the final newline
	const values = {};
	const emptyAt = {};
	lines.forEach((line, i) => {
		const a = assignment(line);
		if (!a || !REQUIRED_SECRETS.includes(a.name)) return;
		if (a.value === "") emptyAt[a.name] = i;
		else {
			values[a.name] = a.value;
			delete emptyAt[a.name];
		}
	});
	const added = [];
	for (const name of REQUIRED_SECRETS) {
		if (values[name] !== undefined) continue;
		values[name] = newSecret();
		const line = `${name}=${values[name]}`;
		if (emptyAt[name] !== undefined)
			lines[emptyAt[name]] = line; // an empty assignment is filled in place
		else lines.push(line);
		added.push(name);
	}
	if (added.length > 0) {
		if (created) lines.unshift("# Local secrets for `wrangler dev` (git-ignored). Made by scripts/dev.mjs.");
		writeFileSync(path, lines.join(eol) + eol, { mode: 0o600 });
	}
	return { path, created, added, values };
}

/** The value of `--name` in args (`--name v` or `--name=v`), if present. */
function argValue(args, name) {
	for (let i = 0; i < args.length; i++) {
		if (args[i] === name) return args[i + 1];
		if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
	}
	return undefined;
}

/** Removes `--name v` / `--name=v` from args (in place) and returns v. */
function takeArg(args, name) {
	for (let i = 0; i < args.length; i++) {
		if (args[i] === name) return args.splice(i, 2)[1];
		if (args[i].startsWith(`${name}=`)) return args.splice(i, 1)[0].slice(name.length + 1);
	}
	return undefined;
}

/** Removes `--var KEYGATE_CONFIG:…` (or `--var=KEYGATE_CONFIG:…`) from args (in place) and returns the config text. */
function takeConfigVar(args) {
	for (let i = 0; i < args.length; i++) {
		const inline = args[i].startsWith("--var=") ? args[i].slice("--var=".length) : undefined;
		const value = inline ?? (args[i] === "--var" ? args[i + 1] : undefined);
		if (value?.startsWith("KEYGATE_CONFIG:")) {
			args.splice(i, inline === undefined ? 2 : 1);
			return value.slice("KEYGATE_CONFIG:".length);
		}
	}
	return undefined;
}

/** A port from a flag or an environment variable; throws a message naming where it came from. */
export function parsePort(raw, where) {
	const port = Number(raw);
	if (!/^\d+$/.test(String(raw)) || !Number.isInteger(port) || port < 1 || port > 65535)
		throw new Error(`${where}: "${raw}" is not a port (1-65535)`);
	return port;
}

/**
 * The gateway's and the demo origin's ports: flags first (`--port`, `--origin-port`),
 * then KEYGATE_PORT and DEMO_ORIGIN_PORT, then 8787 and 8788.
 */
export function choosePorts(args, env) {
	const gatewayRaw = argValue(args, "--port");
	const originRaw = argValue(args, "--origin-port");
	const gateway =
		gatewayRaw !== undefined
			? parsePort(gatewayRaw, "--port")
			: env.KEYGATE_PORT
				? parsePort(env.KEYGATE_PORT, "KEYGATE_PORT")
				: DEFAULT_GATEWAY_PORT;
	const origin =
		originRaw !== undefined
			? parsePort(originRaw, "--origin-port")
			: env.DEMO_ORIGIN_PORT
				? parsePort(env.DEMO_ORIGIN_PORT, "DEMO_ORIGIN_PORT")
				: DEFAULT_ORIGIN_PORT;
	if (gateway === origin) throw new Error(`the gateway and the demo origin cannot share port ${gateway}`);
	return { gateway, origin };
}

/** `address` moved to `to` when it is http on 127.0.0.1 or localhost at port `from`; the config's own spelling kept. */
function movedAddress(address, from, to) {
	if (typeof address !== "string") return undefined;
	let url;
	try {
		url = new URL(address);
	} catch {
		return undefined;
	}
	if (url.protocol !== "http:" || !["127.0.0.1", "localhost"].includes(url.hostname)) return undefined;
	if (url.port !== String(from)) return undefined;
	url.port = String(to);
	// URL adds a "/" to a bare origin: keep the config's own spelling.
	return url.pathname === "/" && !address.endsWith("/") ? url.origin : url.href;
}

/**
 * The config text with the demo's default addresses moved to the ports this run uses:
 * every origin, and an OAuth sign-in URL, at the demo origin's default (127.0.0.1:8788 or
 * localhost:8788, any path) moved to `port`; an OAuth issuer at the gateway's default
 * (8787) moved to `gatewayPort`, so `/oauth/authorize` sends the browser to this run's
 * sign-in page and back. Other addresses, and text that is not JSON (the check reports
 * it), are left alone.
 * @returns {{ text: string, moved: number, oauth: number, logins: number, issuers: number }}
 */
export function moveDemoOrigin(text, port, gatewayPort = DEFAULT_GATEWAY_PORT) {
	let config;
	try {
		config = JSON.parse(text);
	} catch {
		return { text, moved: 0, oauth: 0, logins: 0, issuers: 0 };
	}
	let moved = 0;
	let logins = 0;
	let issuers = 0;
	for (const api of Array.isArray(config?.apis) ? config.apis : []) {
		for (const env of Object.values(api?.environments ?? {})) {
			const to = movedAddress(env?.origin, DEFAULT_ORIGIN_PORT, port);
			if (to === undefined || to === env.origin) continue;
			env.origin = to;
			moved++;
		}
		const login = api?.oauth?.login;
		const loginUrl = movedAddress(login?.loginUrl, DEFAULT_ORIGIN_PORT, port);
		if (loginUrl !== undefined && loginUrl !== login.loginUrl) {
			login.loginUrl = loginUrl;
			logins++;
		}
		const issuer = movedAddress(api?.oauth?.issuer, DEFAULT_GATEWAY_PORT, gatewayPort);
		if (issuer !== undefined && issuer !== api.oauth.issuer) {
			api.oauth.issuer = issuer;
			issuers++;
		}
	}
	const oauth = logins + issuers;
	return { text: moved + oauth > 0 ? JSON.stringify(config) : text, moved, oauth, logins, issuers };
}

/** Does a route pattern (README "Route patterns": `**` the rest, `*` within one segment) take this plain path? */
function patternMatches(pattern, path) {
	// A trailing `/**` takes the path it ends, too (`/v1/leads/**` takes `/v1/leads`).
	const re = pattern
		.replace(/\/\*\*$/, "\u0000")
		.split(/(\u0000|\*\*|\*)/)
		.map((part) =>
			part === "\u0000" ? "(?:/.*)?" : part === "**" ? ".*" : part === "*" ? "[^/]*" : part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"),
		)
		.join("");
	return new RegExp(`^${re}$`).test(path);
}

/**
 * True when an API of the config is its own OAuth issuer at localhost: its sign-in cookie
 * is set for localhost, so the browser must use that name, not 127.0.0.1.
 * @param {string} text the config's JSON
 */
export function hasLocalIssuer(text) {
	try {
		return (JSON.parse(text).apis ?? []).some((api) => {
			const issuer = api?.oauth?.issuer;
			return typeof issuer === "string" && URL.canParse(issuer) && new URL(issuer).hostname === "localhost";
		});
	} catch {
		return false;
	}
}

/**
 * The quick start printed for the config's first API (the console's curl line, src/ui/layout.tsx
 * samplePath/sampleRoute, picks its path and scopes the same way; this script cannot import TypeScript): a key made for it, and a curl line
 * it passes. An API chosen by host (every example) is reached with its host as `Host`,
 * on its first keyed GET route with that route's scopes; the demo (no hosts) keeps its
 * own lines. A peer and a seed-page pass followed the demo's lines with an example's
 * config and got 404.
 * @returns {string[]}
 */
export function quickStart(text, base, urlFlag) {
	const demo = [
		`  npm run keys -- create --name demo --scopes read,write${urlFlag}`,
		`  curl -H "Authorization: Bearer <key>" ${base}/v1/hello`,
	];
	let api;
	try {
		api = JSON.parse(text)?.apis?.[0];
	} catch {
		return demo;
	}
	const firstEnv = Object.values(api?.environments ?? {})[0];
	const host = firstEnv?.hosts?.[0] ?? api?.match?.hosts?.[0];
	if (!host) return demo;
	const gets = (r) => !r.methods || r.methods.includes("GET");
	const sample = api.portal?.samplePath;
	// With a samplePath, the route it takes decides the scopes (first match wins, as in the gateway; a second review found
	// Novala's line given the first GET route's scopes, 403 on /leads). Patterns: `**` any rest, `*` one segment or part of one.
	const route = sample
		? (api.routes ?? []).find((r) => gets(r) && patternMatches(r.path, sample))
		: (api.routes ?? []).find((r) => !r.public && gets(r));
	const path = sample ?? (route ? route.path.replace(/\*\*$/, "hello").replace(/\*/g, "1") : (api.match?.pathPrefix ?? "/"));
	const scopes = route?.scopes?.length ? ` --scopes ${route.scopes.join(",")}` : "";
	const cred = api.credentials?.[0];
	const field = !cred || cred.in === "authorization" ? `Authorization: ${cred?.scheme ?? "Bearer"} <key>` : `${cred.name}: <key>`;
	return [
		`  npm run keys -- create --name demo --api ${api.name}${scopes}${urlFlag}`,
		`  curl -H "Host: ${host}" -H "${field}" ${base}${path}`,
	];
}

/** The value of a single-line `NAME=value` in a dotenv file, if any. */
function devVar(path, name) {
	if (!existsSync(path)) return undefined;
	let found;
	for (const line of readFileSync(path, "utf8").split(/\r?\n/)) {
		const a = assignment(line);
		if (a?.name === name) found = a.value;
	}
	return found || undefined;
}

/** Whether something already listens on host:port (a listen attempt fails with EADDRINUSE). */
export function portTaken(port, host) {
	return new Promise((resolve, reject) => {
		const server = net.createServer();
		server.once("error", (e) => (e.code === "EADDRINUSE" ? resolve(true) : reject(e)));
		server.listen(port, host, () => server.close(() => resolve(false)));
	});
}

/**
 * Starts the project's own wrangler (`npx wrangler ...` would find the same one). Its bin
 * script is run with node directly rather than through npx: npx adds `npm exec` and a
 * `sh -c` in between, and that shell does not pass SIGTERM on, which would leave wrangler
 * and workerd running after this script stopped. wrangler's bin script itself forwards
 * SIGINT and SIGTERM to the CLI, which shuts workerd down.
 */
function spawnWrangler(args) {
	const env = { ...process.env, WRANGLER_SEND_METRICS: "false" };
	let bin;
	try {
		const pkgPath = createRequire(join(ROOT, "package.json")).resolve("wrangler/package.json");
		const pkg = JSON.parse(readFileSync(pkgPath, "utf8"));
		bin = join(dirname(pkgPath), typeof pkg.bin === "string" ? pkg.bin : pkg.bin.wrangler);
	} catch {
		bin = undefined;
	}
	if (bin) return spawn(process.execPath, [bin, ...args], { cwd: ROOT, stdio: "inherit", env });
	console.warn("keygate: wrangler is not installed in node_modules (run `npm install`); trying npx.");
	const isWindows = process.platform === "win32";
	return spawn(isWindows ? "npx.cmd" : "npx", ["wrangler", ...args], { cwd: ROOT, stdio: "inherit", env, shell: isWindows });
}

/** `npm run dev -- --help`: what this script takes, then wrangler's own options; nothing is started or written. */
export const USAGE = `Usage: npm run dev -- [--port N] [--origin-port N] [wrangler dev options]

Runs keygate (wrangler dev, on 127.0.0.1) in front of the demo origin (demo/origin.mjs).
  --port N          the gateway's port (or KEYGATE_PORT; default 8787)
  --origin-port N   the demo origin's port (or DEMO_ORIGIN_PORT; default 8788)
  --var KEYGATE_CONFIG:<json>
                    the config to run (else KEYGATE_CONFIG in .dev.vars, else keygate.config.json)
Every other option goes to wrangler dev as given (for instance --inspector-port N,
--persist-to DIR). ADMIN_TOKEN and SIGNING_SECRET are added to .dev.vars when missing.
wrangler dev's own options follow.
`;

async function run(argv) {
	// Help starts nothing: no port taken, no origin, no .dev.vars written (a browser QA pass: it did all three).
	if (argv.includes("--help") || argv.includes("-h")) {
		console.log(USAGE);
		const child = spawnWrangler(["dev", "--help"]);
		return new Promise((resolve) => child.on("close", (code) => resolve(code ?? 1)));
	}
	const extraArgs = [...argv];
	let ports;
	try {
		ports = choosePorts(extraArgs, process.env);
	} catch (e) {
		console.error(`keygate: ${e.message}`);
		return 2;
	}
	takeArg(extraArgs, "--origin-port"); // ours, not wrangler's

	// 1. the config keygate will run, with the demo origin's port, checked as keygate loads it
	const shown = relative(process.cwd(), DEV_VARS) || DEV_VARS;
	const given = takeConfigVar(extraArgs);
	const fromDevVars = given === undefined ? devVar(DEV_VARS, "KEYGATE_CONFIG") : undefined;
	const source = given ?? fromDevVars ?? readFileSync(BUNDLED_CONFIG, "utf8");
	const sourceName =
		given !== undefined ? "--var KEYGATE_CONFIG" : fromDevVars !== undefined ? `KEYGATE_CONFIG in ${shown}` : "keygate.config.json";
	const config = moveDemoOrigin(source, ports.origin, ports.gateway);
	const check = await checkConfigText(config.text);
	for (const { line } of check.lines) console.log(line);
	if (!check.ok) {
		console.error(`keygate: not starting: the config (${sourceName}) is invalid, see above (\`npm run config:check\` checks a file).`);
		return 1;
	}
	if (config.moved > 0)
		console.log(
			`keygate: ${sourceName}: ${config.moved} origin(s) at 127.0.0.1:${DEFAULT_ORIGIN_PORT} moved to the demo origin's port ${ports.origin}.`,
		);
	if (config.oauth > 0) {
		const where = [config.issuers > 0 ? `issuer on ${ports.gateway}` : "", config.logins > 0 ? `sign-in on ${ports.origin}` : ""];
		console.log(
			`keygate: ${sourceName}: ${config.oauth} OAuth address(es) moved to this run's ports (${where.filter(Boolean).join(", ")}).`,
		);
	}

	// 2. the ports, before anything is started or written
	const ip = argValue(extraArgs, "--ip") ?? GATEWAY_IP;
	if (await portTaken(ports.gateway, ip)) {
		console.error(
			`keygate: not starting: port ${ports.gateway} (the gateway's) is already in use. Choose another with \`npm run dev -- --port N\` or KEYGATE_PORT=N.`,
		);
		return 1;
	}
	// keygate treats a secret under 32 characters as unset (src/env.ts MIN_SECRET_LENGTH): said now, before anything
	// starts, not as a 503 later (a browser pass: the demo origin had started first). Read only: nothing is written yet.
	const short = shortSecrets(readDevVars());
	if (short.length > 0) {
		console.error(
			`keygate: not starting: ${short.join(" and ")} in ${shown} ${short.length > 1 ? "are" : "is"} shorter than ${MIN_SECRET_LENGTH} characters, ` +
				`which keygate treats as unset. Remove the line (npm run dev then writes a random value) or set a longer one.`,
		);
		return 1;
	}
	let origin;
	let devSecret;
	try {
		// The demo origin's sign-in (OAuth login) signs with SIGNING_SECRET, known once step 3 has run.
		origin = await startDemoOrigin(ports.origin, { signingSecret: () => devSecret });
	} catch (e) {
		if (e?.code !== "EADDRINUSE") throw e;
		console.error(
			`keygate: not starting: port ${ports.origin} (the demo origin's) is already in use by another program, and keygate would send the demo's requests to it. ` +
				`Stop that program, or choose another port with \`npm run dev -- --origin-port N\` or DEMO_ORIGIN_PORT=N.`,
		);
		return 1;
	}
	console.log(`keygate: demo origin listening on http://${ORIGIN_HOST}:${origin.port}`);

	// 3. secrets
	const vars = ensureDevVars();
	devSecret = vars.values.SIGNING_SECRET;
	if (vars.added.length > 0)
		console.log(`keygate: ${vars.created ? "created" : "updated"} ${shown} with a random ${vars.added.join(" and ")}.`);
	console.log(`keygate: local secrets are in ${vars.path}`);
	console.log(`keygate: admin token (local dev only): ${vars.values.ADMIN_TOKEN}`);

	// 4. wrangler dev; the caller's --ip wins over the default
	const args = ["dev", "--port", String(ports.gateway)];
	takeArg(extraArgs, "--port");
	if (argValue(extraArgs, "--ip") === undefined) args.push("--ip", GATEWAY_IP);
	// Only when it differs from what wrangler would read by itself (the bundled file, or .dev.vars).
	if (given !== undefined || config.moved + config.oauth > 0) args.push("--var", `KEYGATE_CONFIG:${config.text}`);
	// Outside Cloudflare a client can send its own CF-Connecting-IP: keygate ignores it here
	// and treats every client as the loopback address (README "Security").
	args.push("--var", "KEYGATE_CLIENT_ADDRESS:local");
	args.push(...extraArgs);
	const base = `http://localhost:${ports.gateway}`;
	const urlFlag = ports.gateway === DEFAULT_GATEWAY_PORT ? "" : ` --url ${base}`;

	console.log("");
	console.log(`keygate: console: ${base}/_keygate/ui/  (sign in with the admin token above)`);
	console.log("");
	console.log("Quick start, in another terminal:");
	for (const line of quickStart(config.text, base, urlFlag)) console.log(line);
	// wrangler's own "Ready on http://127.0.0.1:…" follows: an OAuth issuer at localhost (the demo's) sets its sign-in cookie there.
	// Said only when the config has one (a seed-page pass: NovaPulse has no OAuth, generic-rest's issuer is api.example.com).
	const localIssuer = hasLocalIssuer(config.text);
	console.log(`Open keygate at ${base}${localIssuer ? " (wrangler prints 127.0.0.1 below; the OAuth sign-in needs localhost)" : ""}.`);
	console.log("");

	const child = spawnWrangler(args);

	// Ctrl-C in a terminal reaches wrangler directly (same process group); a signal sent to
	// this process alone (kill <pid>, a supervisor) is passed on, so both always stop together.
	let stopping = false;
	const forward = (signal) => {
		if (!stopping) {
			stopping = true;
			setTimeout(() => {
				console.error("keygate: wrangler did not stop within 10 s; killing it.");
				child.kill("SIGKILL");
			}, 10_000).unref();
		}
		if (child.exitCode === null && child.signalCode === null) child.kill(signal);
	};
	process.on("SIGINT", () => forward("SIGINT"));
	process.on("SIGTERM", () => forward("SIGTERM"));
	process.on("SIGHUP", () => forward("SIGTERM"));

	const code = await new Promise((resolve) => {
		child.once("error", (e) => {
			console.error(`keygate: could not start wrangler (${e.message}). Did you run \`npm install\`?`);
			resolve(1);
		});
		child.once("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)));
	});
	await origin?.close();
	return code;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
	run(process.argv.slice(2)).then(
		(code) => process.exit(code),
		(e) => {
			console.error(`keygate: ${e?.stack ?? e}`);
			process.exit(1);
		},
	);
}
