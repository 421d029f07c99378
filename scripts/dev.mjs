#!/usr/bin/env node
// `npm run dev`: keygate locally, in front of the demo origin.
//
//   1. makes sure .dev.vars holds ADMIN_TOKEN and SIGNING_SECRET (random values are
//      added for any that are missing; existing values are never changed),
//   2. starts the demo origin (demo/origin.mjs) on 127.0.0.1:8788 in this process,
//   3. runs `wrangler dev --port 8787 --ip 127.0.0.1` (the project's wrangler) plus any
//      arguments given here (`npm run dev -- --port 9000`), and stops both together,
//      exiting with wrangler's exit code.
//
// Plain Node (>= 20), no dependencies.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ORIGIN_HOST, startDemoOrigin } from "../demo/origin.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const DEV_VARS = join(ROOT, ".dev.vars");
export const REQUIRED_SECRETS = ["ADMIN_TOKEN", "SIGNING_SECRET"];
const ORIGIN_PORT = 8788;
const GATEWAY_PORT = 8787;
const GATEWAY_IP = "127.0.0.1";

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

async function run(extraArgs) {
	// 1. secrets
	const vars = ensureDevVars();
	const shown = relative(process.cwd(), vars.path) || vars.path;
	if (vars.added.length > 0)
		console.log(`keygate: ${vars.created ? "created" : "updated"} ${shown} with a random ${vars.added.join(" and ")}.`);
	console.log(`keygate: local secrets are in ${vars.path}`);
	console.log(`keygate: admin token (local dev only): ${vars.values.ADMIN_TOKEN}`);

	// 2. the demo origin
	let origin;
	try {
		origin = await startDemoOrigin(ORIGIN_PORT);
		console.log(`keygate: demo origin listening on http://${ORIGIN_HOST}:${origin.port}`);
	} catch (e) {
		if (e?.code !== "EADDRINUSE") throw e;
		console.warn(`keygate: port ${ORIGIN_PORT} is already in use; not starting the demo origin (requests go to whatever listens there).`);
	}

	// 3. wrangler dev; the caller's --port / --ip win over the defaults
	const args = ["dev"];
	if (argValue(extraArgs, "--port") === undefined) args.push("--port", String(GATEWAY_PORT));
	if (argValue(extraArgs, "--ip") === undefined) args.push("--ip", GATEWAY_IP);
	args.push(...extraArgs);
	const port = argValue(extraArgs, "--port") ?? GATEWAY_PORT;
	const base = `http://localhost:${port}`;
	const urlFlag = String(port) === String(GATEWAY_PORT) ? "" : ` --url ${base}`;

	console.log("");
	console.log("Quick start, in another terminal:");
	console.log(`  npm run keys -- create --name demo --scopes read,write${urlFlag}`);
	console.log(`  curl -H "Authorization: Bearer <key>" ${base}/v1/hello`);
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
