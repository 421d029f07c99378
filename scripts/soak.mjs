#!/usr/bin/env node
// Soak test: keygate under a steady mix of valid, limited, revoked and garbage keys on
// Miniflare (workerd, local KV, SQLite-backed Durable Objects), for minutes, with
// nothing outside the documented answers, exact counts against every limit, nothing
// lost, the isolate cache bounded and the request rate steady. Not part of `npm test`
// (its 10-second variant is: test/e2e/soak-short.test.ts).
//
//   node scripts/soak.mjs              SOAK_SECONDS (default 180) of load
//   node scripts/soak.mjs --short      10 s (what the e2e test runs)
//
// Environment: SOAK_SECONDS, SOAK_CONCURRENCY (default 16), SOAK_OUT (the summary JSON;
// default soak/results/latest.json, or soak/results/short.json with --short, so a short
// run never overwrites the long run's figures), SOAK_RATE_TOLERANCE (default 0.3; with --short
// the rate is reported, not checked), SOAK_VERBOSE=1 (echo workerd's output), SOAK_MAX_HEAP_MIB (default 64: the
// gateway isolate's live heap), SOAK_MAX_HEAP_USED_MIB (default 128: its heap garbage
// included), SOAK_HEAP_TOLERANCE (default 0.2: live heap over the second half, runs of
// 300 s or more), SOAK_HEAP_SNAPSHOTS=dir (keep the heap snapshots), SOAK_FILL_RECORDS=max
// (fill the key cache with records at the admin contract's maximum sizes after the run).
//
// What it does:
//   1. bundles scripts/soak-entry.ts (keygate's app plus /__soak/cache-size and
//      /__soak/mint) with esbuild and starts it in Miniflare, with KV, the Durable Objects
//      KEY_AUTHORITY (KeyAuthority) and OWNER_ROLES (OwnerRoles), throwaway ADMIN_TOKEN and
//      SIGNING_SECRET, and KEYGATE_CONFIG = keygate.config.json with every origin pointed
//      at a node:http origin on loopback that this script runs and inspects;
//   2. seeds keys through the admin API: valid (unlimited), limited ({limit: L} each, to be
//      exhausted during the run), to-be-revoked, and a pool of never-stored keys with valid
//      checksums (garbage that reaches the KV lookup);
//   3. drives CONCURRENCY clients for the duration, revoking keys mid-run, sampling the
//      request rate per 5-second bucket, the isolate cache's size, workerd's RSS and the
//      gateway isolate's V8 heap (Runtime.getHeapUsage over workerd's inspector, target
//      core:user:keygate: that isolate runs the gateway and its two Durable Object classes;
//      Miniflare's KV simulator and SQLite's native memory are outside it), with a full
//      collection (a discarded heap snapshot) at half-way and at the end, so those two
//      figures are live heap, not garbage;
//   4. checks, prints a summary and writes it as JSON; exits 1 if any check failed.
import { Miniflare } from "miniflare";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { bundleWorker } from "../bench/lib/build.mjs";
import { cleanupRegistry } from "../bench/lib/cleanup.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SHORT = process.argv.includes("--short");
const positive = (name, fallback) => {
	const raw = process.env[name];
	if (raw === undefined || raw === "") return fallback;
	const n = Number(raw);
	if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
	return n;
};
const DURATION_S = SHORT ? 10 : positive("SOAK_SECONDS", 180);
const CONCURRENCY = Math.round(positive("SOAK_CONCURRENCY", 16));
const OUT = process.env.SOAK_OUT || path.join(ROOT, "soak", "results", SHORT ? "short.json" : "latest.json");
const VERBOSE = process.env.SOAK_VERBOSE === "1";
const BUCKET_MS = 5_000;
const WARMUP_MS = SHORT ? 1_000 : 3_000;
/**
 * Steady: the rate at the end within this fraction of the rate at the start. The 10-second
 * run has only two buckets, so one burst of other work on the machine moves it: it gets
 * more room than the long run, where a sixth of the buckets is averaged at each end.
 */
const STEADY_TOLERANCE = positive("SOAK_RATE_TOLERANCE", SHORT ? 0.5 : 0.3);
const REQUEST_TIMEOUT_MS = 30_000;
/** workerd's resident memory must stay under this (it levels off at ~0.5 GiB once the key cache is full). */
const MAX_RSS_MIB = 1536;
/**
 * The gateway isolate's live V8 heap (usedSize right after a full collection, at half-way,
 * three quarters and the end, every cache full in a long run) must stay under this. A
 * Worker isolate has 128 MB in production; half of that leaves room for the requests in
 * flight and for garbage.
 */
const MAX_HEAP_MIB = positive("SOAK_MAX_HEAP_MIB", 64);
/**
 * The heap sampled every bucket includes garbage not yet collected: V8 in workerd under
 * Miniflare has no 128 MB limit to collect against, and lets the old generation fill with
 * dead request objects between full collections. It must still stay under 128 MiB.
 */
const MAX_HEAP_USED_MIB = positive("SOAK_MAX_HEAP_USED_MIB", 128);
/**
 * Runs at least this long also check the second half: the gateway isolate's live heap
 * (after a full collection) at three quarters and at the end within this fraction of the
 * live heap at half-way (or HEAP_FLAT_SLACK_MIB), and the rate of the last sixth of the buckets within
 * STEADY_TOLERANCE of the sixth after half-way. Shorter runs are still filling the caches
 * at half-way. The heap sampled every bucket includes garbage (a sawtooth between
 * collections): it is bounded by MAX_HEAP_USED_MIB, and its means are reported, not checked.
 */
const HEAP_FLAT_MIN_SECONDS = 300;
const HEAP_FLAT_TOLERANCE = positive("SOAK_HEAP_TOLERANCE", 0.2);
/** ...or within this many MiB, whichever is larger: a live heap of a few MiB moves by the requests in flight. */
const HEAP_FLAT_SLACK_MIB = 1;
/** Worker name in Miniflare, so the inspector target is core:user:<name>. */
const WORKER_NAME = "keygate";
/** SOAK_HEAP_SNAPSHOTS=dir keeps the half-way and end heap snapshots there (mid.heapsnapshot, end.heapsnapshot). */
const SNAPSHOT_DIR = process.env.SOAK_HEAP_SNAPSHOTS || undefined;
/**
 * After the run, every bounded map in the gateway isolate is filled to its bound and the
 * live heap read again. SOAK_FILL_RECORDS=max fills the key cache with records whose every
 * field is at its admin-contract maximum instead of records like the soak's.
 */
const FILL_RECORDS = process.env.SOAK_FILL_RECORDS === "max" ? "max" : "soak";

const ADMIN_TOKEN = randomBytes(24).toString("base64url");
const SIGNING_SECRET = randomBytes(24).toString("base64url");
/** Anything shaped like a keygate key (type_environment_49 base62 characters). */
const KEY_PATTERN = /[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{49}(?![0-9A-Za-z])/;

const log = (...a) => console.log(...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------
const { cleanups, cleanup } = cleanupRegistry(log);

// ---------------------------------------------------------------------------------
// The origin: counts what reaches it, per key id, and looks for anything key-shaped.
function startOrigin() {
	const seen = { requests: 0, byKeyId: new Map(), public: 0, keyShaped: 0, adminToken: 0, samples: [] };
	const server = http.createServer((req, res) => {
		const chunks = [];
		req.on("data", (c) => chunks.push(c));
		req.on("end", () => {
			seen.requests++;
			const body = Buffer.concat(chunks).toString("utf8");
			const text = `${req.method} ${req.url}\n${JSON.stringify(req.headers)}\n${body}`;
			if (KEY_PATTERN.test(text)) {
				seen.keyShaped++;
				if (seen.samples.length < 5) seen.samples.push(text.replace(KEY_PATTERN, "<KEY>").slice(0, 300));
			}
			if (text.includes(ADMIN_TOKEN)) seen.adminToken++;
			const id = req.headers["x-keygate-key-id"];
			if (typeof id === "string" && id) seen.byKeyId.set(id, (seen.byKeyId.get(id) ?? 0) + 1);
			else seen.public++;
			res.writeHead(200, { "Content-Type": "application/json" });
			res.end('{"ok":true}');
		});
	});
	server.keepAliveTimeout = 60_000;
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(0, "127.0.0.1", () => {
			cleanups.push(() => new Promise((r) => server.close(() => r())));
			cleanups.push(() => server.closeAllConnections());
			resolve({ url: `http://127.0.0.1:${server.address().port}`, seen });
		});
	});
}

// ---------------------------------------------------------------------------------
// keygate in Miniflare.
async function bundle(outDir) {
	const file = path.join(outDir, "index.js");
	await bundleWorker(ROOT, "scripts/soak-entry.ts", file);
	return file;
}

function wranglerToml() {
	const text = readFileSync(path.join(ROOT, "wrangler.toml"), "utf8");
	const date = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(text)?.[1];
	const flags = /^compatibility_flags\s*=\s*\[([^\]]*)\]/m.exec(text)?.[1];
	if (!date) throw new Error("wrangler.toml: no compatibility_date");
	return { compatibilityDate: date, compatibilityFlags: flags ? [...flags.matchAll(/"([^"]+)"/g)].map((m) => m[1]) : [] };
}

async function soakConfig(originUrl) {
	const config = JSON.parse(await readFile(path.join(ROOT, "keygate.config.json"), "utf8"));
	for (const api of config.apis) for (const env of Object.values(api.environments)) env.origin = originUrl;
	return config;
}

async function startKeygate(scriptPath, config) {
	const runtimeOutput = { text: [], keyShaped: 0, internalErrors: 0, lines: 0 };
	const capture = (stream) => {
		stream.setEncoding("utf8");
		stream.on("data", (chunk) => {
			if (VERBOSE) process.stderr.write(chunk);
			for (const line of chunk.split("\n")) {
				if (!line.trim()) continue;
				runtimeOutput.lines++;
				if (KEY_PATTERN.test(line) || line.includes(ADMIN_TOKEN)) runtimeOutput.keyShaped++;
				if (line.includes('"internal_error"')) runtimeOutput.internalErrors++;
				runtimeOutput.text.push(line.slice(0, 300));
				if (runtimeOutput.text.length > 50) runtimeOutput.text.shift();
			}
		});
	};
	const mf = new Miniflare({
		...wranglerToml(),
		name: WORKER_NAME,
		inspectorPort: 0,
		modules: true,
		scriptPath,
		modulesRoot: path.dirname(scriptPath),
		host: "127.0.0.1",
		port: 0,
		kvNamespaces: ["KEYS"],
		durableObjects: {
			KEY_AUTHORITY: { className: "KeyAuthority", useSQLite: true },
			OWNER_ROLES: { className: "OwnerRoles", useSQLite: true },
			OAUTH_GRANTS: { className: "OAuthGrants", useSQLite: true },
		},
		bindings: { ADMIN_TOKEN, SIGNING_SECRET, KEYGATE_CONFIG: JSON.stringify(config) },
		handleRuntimeStdio(stdout, stderr) {
			capture(stdout);
			capture(stderr);
		},
	});
	cleanups.push(() => mf.dispose());
	const url = await mf.ready;
	const inspector = await connectInspector(await mf.getInspectorURL());
	return { url: url.href.replace(/\/$/, ""), runtimeOutput, inspector };
}

// ---------------------------------------------------------------------------------
// workerd's V8 inspector: the gateway isolate's heap.
async function connectInspector(inspectorUrl) {
	const listUrl = `http://127.0.0.1:${inspectorUrl.port}/json`;
	const targets = await (await fetch(listUrl)).json();
	const target = targets.find((t) => t.id === `core:user:${WORKER_NAME}`);
	if (!target) throw new Error(`no inspector target core:user:${WORKER_NAME} in ${JSON.stringify(targets.map((t) => t.id))}`);
	const ws = new WebSocket(target.webSocketDebuggerUrl);
	await new Promise((resolve, reject) => {
		ws.once("open", resolve);
		ws.once("error", reject);
	});
	let nextId = 0;
	const pending = new Map();
	/** Snapshot chunks go to a listener while one is wanted, or nowhere. */
	let onChunk;
	ws.on("message", (data) => {
		const m = JSON.parse(data.toString("utf8"));
		if (m.method === "HeapProfiler.addHeapSnapshotChunk") onChunk?.(m.params.chunk);
		else if (m.id !== undefined && pending.has(m.id)) {
			pending.get(m.id)(m);
			pending.delete(m.id);
		}
	});
	const call = (method, params = {}, timeoutMs = 30_000) =>
		new Promise((resolve, reject) => {
			const id = ++nextId;
			const timer = setTimeout(() => {
				pending.delete(id);
				reject(new Error(`inspector ${method}: no answer in ${timeoutMs} ms`));
			}, timeoutMs);
			pending.set(id, (m) => {
				clearTimeout(timer);
				if (m.error) reject(new Error(`inspector ${method}: ${JSON.stringify(m.error)}`));
				else resolve(m.result);
			});
			ws.send(JSON.stringify({ id, method, params }));
		});
	cleanups.push(() => ws.terminate());
	const mib = (bytes) => Number((bytes / 1024 / 1024).toFixed(2));
	/** One getHeapUsage on another target (its own session), MiB used, or null. */
	const heapOf = (url) =>
		new Promise((resolve) => {
			const other = new WebSocket(url);
			const done = (v) => {
				clearTimeout(timer);
				other.terminate();
				resolve(v);
			};
			const timer = setTimeout(() => done(null), 10_000);
			other.once("error", () => done(null));
			other.once("open", () => other.send(JSON.stringify({ id: 1, method: "Runtime.getHeapUsage" })));
			other.on("message", (data) => {
				const m = JSON.parse(data.toString("utf8"));
				if (m.id === 1) done(m.result ? mib(m.result.usedSize) : null);
			});
		});
	return {
		target: target.id,
		/** The other isolates workerd runs for Miniflare (KV simulator, cache, entry...): MiB used each, garbage included. */
		async otherHeaps() {
			const out = {};
			for (const t of targets) if (t.id !== target.id) out[t.id] = await heapOf(t.webSocketDebuggerUrl);
			return out;
		},
		/** V8's used and total heap of the isolate, MiB (garbage not yet collected included). */
		async heap() {
			const r = await call("Runtime.getHeapUsage");
			return { used: mib(r.usedSize), total: mib(r.totalSize) };
		},
		/**
		 * A full collection, then the heap. workerd does not answer HeapProfiler.collectGarbage,
		 * but a heap snapshot collects first: take one and keep it only if `file` is given.
		 */
		async liveHeap(file) {
			const chunks = [];
			onChunk = file ? (c) => chunks.push(c) : () => {};
			try {
				await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false }, 120_000);
			} finally {
				onChunk = undefined;
			}
			if (file) await writeFile(file, chunks.join(""));
			return this.heap();
		},
	};
}

// ---------------------------------------------------------------------------------
// HTTP client.
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 4 });
cleanups.push(() => agent.destroy());

function request(url, { method = "GET", headers = {}, body } = {}) {
	return new Promise((resolve) => {
		const payload = body === undefined ? undefined : JSON.stringify(body);
		const req = http.request(
			url,
			{
				method,
				agent,
				timeout: REQUEST_TIMEOUT_MS,
				headers: {
					...headers,
					...(payload !== undefined ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload) } : {}),
				},
			},
			(res) => {
				const chunks = [];
				res.on("data", (c) => chunks.push(c));
				res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
				res.on("error", (e) => resolve({ status: 0, error: String(e), text: "" }));
			},
		);
		req.on("timeout", () => req.destroy(new Error("timed out")));
		req.on("error", (e) => resolve({ status: 0, error: String(e), text: "" }));
		req.end(payload);
	});
}
const json = (res) => {
	try {
		return JSON.parse(res.text);
	} catch {
		return undefined;
	}
};

async function adminCall(base, method, route, body) {
	const res = await request(`${base}/_keygate/v1${route}`, { method, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, body });
	if (res.status < 200 || res.status >= 300) throw new Error(`admin ${method} ${route}: ${res.status} ${res.text}`);
	return json(res);
}

// ---------------------------------------------------------------------------------
// /proc: workerd's resident memory.
function childPids(parent, comm) {
	const found = [];
	for (const entry of safeReaddir("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			const close = stat.lastIndexOf(")");
			const name = stat.slice(stat.indexOf("(") + 1, close);
			const ppid = Number(stat.slice(close + 2).split(" ")[1]);
			if (ppid === parent && name === comm) found.push(Number(entry));
		} catch {
			// gone meanwhile
		}
	}
	return found;
}
function safeReaddir(dir) {
	try {
		return readdirSync(dir);
	} catch {
		return [];
	}
}
function rssMiB(pids) {
	let kib = 0;
	for (const pid of pids) {
		try {
			const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
			if (m) kib += Number(m[1]);
		} catch {
			// gone
		}
	}
	return pids.length ? Math.round(kib / 1024) : null;
}

// ---------------------------------------------------------------------------------
/** A window length (one the config schema accepts) whose current window outlasts the run, so limits cannot reset mid-run. */
function windowForRun(seconds) {
	const now = Date.now() / 1000;
	for (const w of [3600, 86_400, 604_800, 31_536_000]) {
		const end = (Math.floor(now / w) + 1) * w;
		if (end - now > seconds + 120) return w;
	}
	return 31_536_000;
}

async function main() {
	const started = Date.now();
	const failures = [];
	const check = (ok, message) => {
		if (!ok) failures.push(message);
		return ok;
	};

	log(`== keygate soak: ${DURATION_S} s, concurrency ${CONCURRENCY}${SHORT ? " (short)" : ""}`);
	const tmp = await mkdtemp(path.join(os.tmpdir(), "keygate-soak-"));
	cleanups.push(() => rm(tmp, { recursive: true, force: true }));

	const origin = await startOrigin();
	const config = await soakConfig(origin.url);
	const scriptPath = await bundle(tmp);
	const keygate = await startKeygate(scriptPath, config);
	const base = keygate.url;
	const workerdPids = childPids(process.pid, "workerd");
	log(`   keygate ${base} (workerd pid ${workerdPids.join(", ") || "?"}), origin ${origin.url}`);

	// ---------------------------------------------------------------------------
	// Seed.
	const LIMIT = SHORT ? 40 : 500;
	const WINDOW = windowForRun(DURATION_S + WARMUP_MS / 1000);
	const UNLIMITED = { limit: null, window: 3600, burst: 100_000 };
	const scopes = ["read", "write"];
	const create = async (name, rateLimit) => {
		const k = await adminCall(base, "POST", "/keys", { name, scopes, rateLimit });
		return { id: k.id, key: k.key };
	};
	const valid = await Promise.all(Array.from({ length: 8 }, (_, i) => create(`valid-${i}`, UNLIMITED)));
	const limited = await Promise.all(
		Array.from({ length: 6 }, (_, i) => create(`limited-${i}`, { limit: LIMIT, window: WINDOW, burst: 1000 })),
	);
	const revocable = await Promise.all(Array.from({ length: 4 }, (_, i) => create(`revoked-${i}`, UNLIMITED)));
	const plaintexts = new Set([...valid, ...limited, ...revocable].map((k) => k.key));

	/** Never-stored keys with valid checksums, minted by keygate's own generateKey; refilled in the background. */
	const pool = { keys: [], next: 0, distinct: new Set(), refilling: undefined, minted: 0 };
	const mint = async (count) => {
		const res = await request(`${base}/__soak/mint?count=${count}&type=sk&environment=live`);
		const keys = json(res)?.keys;
		if (!Array.isArray(keys)) throw new Error(`mint: ${res.status} ${res.text.slice(0, 200)}`);
		pool.keys.push(...keys);
		pool.minted += keys.length;
	};
	await mint(SHORT ? 10_000 : 20_000);
	const unknownKey = () => {
		if (pool.keys.length - pool.next < 5_000 && !pool.refilling) pool.refilling = mint(20_000).finally(() => (pool.refilling = undefined));
		const key = pool.keys[pool.next < pool.keys.length ? pool.next++ : Math.floor(Math.random() * pool.keys.length)];
		pool.distinct.add(key);
		return key;
	};
	log(
		`   seeded ${valid.length} valid, ${limited.length} limited (limit ${LIMIT} per ${WINDOW} s), ${revocable.length} to revoke, ${pool.keys.length} unknown keys`,
	);

	// ---------------------------------------------------------------------------
	// The request kinds, what each sends and the answers documented for it.
	const pick = (list) => list[Math.floor(Math.random() * list.length)];
	let garbageCount = 0;
	/** Garbage comes from many addresses, 10 requests each, so the brute-force throttle (20 per address per minute) never covers it. */
	const garbageIp = () => {
		const i = Math.floor(garbageCount++ / 10);
		return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
	};
	const randomGarbage = () => {
		const n = Math.floor(Math.random() * 4);
		if (n === 0) return randomBytes(12).toString("base64url");
		if (n === 1) return `sk_live_${randomBytes(37).toString("base64url").replace(/[-_]/g, "x").slice(0, 49)}`; // bad checksum
		if (n === 2) return pick(valid).key.slice(0, -1) + "!";
		return `pk_test_${"A".repeat(60)}`;
	};
	const GOOD_IP = "203.0.113.10";
	const ATTACKER_IP = "198.51.100.66";
	const KINDS = {
		valid: { weight: 30, allowed: { 200: null } },
		limited: { weight: 22, allowed: { 200: null, 429: ["rate_limit_exceeded"] } },
		revoked: { weight: 10, allowed: { 200: null, 401: ["expired_api_key"] } },
		unknown: { weight: 22, allowed: { 401: ["invalid_api_key"] } },
		garbage: { weight: 6, allowed: { 401: ["invalid_api_key"] } },
		bruteForce: { weight: 4, allowed: { 401: ["invalid_api_key"], 429: ["rate_limit_exceeded"] } },
		missing: { weight: 3, allowed: { 401: ["missing_api_key"] } },
		public: { weight: 3, allowed: { 200: null } },
	};
	const WARMUP_KINDS = new Set(["valid", "unknown", "garbage", "missing", "public"]);
	const totalWeight = Object.values(KINDS).reduce((n, k) => n + k.weight, 0);
	const chooseKind = (warmup) => {
		for (;;) {
			let r = Math.random() * totalWeight;
			for (const [name, k] of Object.entries(KINDS)) {
				r -= k.weight;
				if (r <= 0) {
					if (warmup && !WARMUP_KINDS.has(name)) break;
					return name;
				}
			}
		}
	};
	const paths = ["/v1/things", "/v1/orders/42?expand=items", "/v1/a/b/c"];
	function requestFor(kind) {
		const path = pick(paths);
		switch (kind) {
			case "valid": {
				const k = pick(valid);
				return { keyId: k.id, path, headers: { Authorization: `Bearer ${k.key}`, "CF-Connecting-IP": GOOD_IP } };
			}
			case "limited": {
				const k = pick(limited);
				return { keyId: k.id, path, headers: { Authorization: `Bearer ${k.key}`, "CF-Connecting-IP": GOOD_IP } };
			}
			case "revoked": {
				const k = pick(revocable);
				return { keyId: k.id, path, headers: { "X-API-Key": k.key, "CF-Connecting-IP": GOOD_IP } };
			}
			case "unknown":
				return { path, headers: { Authorization: `Bearer ${unknownKey()}`, "CF-Connecting-IP": garbageIp() } };
			case "garbage":
				return { path, headers: { Authorization: `Bearer ${randomGarbage()}`, "CF-Connecting-IP": garbageIp() } };
			case "bruteForce":
				return { path, headers: { Authorization: `Bearer ${unknownKey()}`, "CF-Connecting-IP": ATTACKER_IP } };
			case "missing":
				return { path, headers: { "CF-Connecting-IP": GOOD_IP } };
			case "public":
				return { path: "/health", headers: {} };
		}
		throw new Error(kind);
	}

	// ---------------------------------------------------------------------------
	// Bookkeeping.
	const stats = {};
	for (const name of Object.keys(KINDS)) stats[name] = { requests: 0, statuses: {} };
	const passesByKey = new Map(); // key id -> 200s seen by clients
	const firstPassAfterRevoke = []; // violations
	const revokedAt = new Map(); // key id -> ms when the revoke call returned
	const refusedAfterRevoke = new Map(); // key id -> 401 expired_api_key answers
	const outside = []; // answers outside the documented set
	let transportErrors = 0;
	let buckets = [];
	let warmupRequests = 0;
	let publicWarmupPasses = 0;
	let inFlight = 0;
	const cacheSamples = [];
	const rssSamples = [];
	/** The gateway isolate's heap per bucket: {t, used, total} (MiB); live = after a full collection. */
	const heapSamples = [];
	const heapErrors = [];
	/** Live heap (after a full collection) at half-way, three quarters, the end, and the end with every map filled to its bound. */
	const liveHeap = { mid: null, q3: null, end: null, full: null };
	const sampleHeap = async () => {
		try {
			heapSamples.push({ t: Date.now() - runStart, ...(await keygate.inspector.heap()) });
		} catch (e) {
			heapErrors.push(String(e?.message ?? e));
		}
	};
	const takeLiveHeap = async (mark) => {
		try {
			const file = SNAPSHOT_DIR ? path.join(SNAPSHOT_DIR, `${mark}.heapsnapshot`) : undefined;
			liveHeap[mark] = { t: Date.now() - runStart, ...(await keygate.inspector.liveHeap(file)) };
			if (file) log(`   heap snapshot (${mark}): ${file}`);
		} catch (e) {
			heapErrors.push(String(e?.message ?? e));
		}
	};

	async function one(kind, phase) {
		const spec = requestFor(kind);
		const sentAt = Date.now();
		inFlight++;
		const res = await request(base + spec.path, { headers: spec.headers });
		inFlight--;
		const doneAt = Date.now();
		if (phase === "run") {
			const b = Math.floor((doneAt - runStart) / BUCKET_MS);
			buckets[b] = (buckets[b] ?? 0) + 1;
			stats[kind].requests++;
			stats[kind].statuses[res.status] = (stats[kind].statuses[res.status] ?? 0) + 1;
		} else {
			warmupRequests++;
			if (kind === "public" && res.status === 200) publicWarmupPasses++;
		}
		if (res.status === 0) {
			transportErrors++;
			if (outside.length < 20) outside.push({ kind, status: 0, error: res.error });
			return;
		}
		const allowed = KINDS[kind].allowed;
		let code = null;
		if (res.status !== 200) code = json(res)?.error ?? null;
		const ok = res.status in allowed && (allowed[res.status] === null || allowed[res.status].includes(code));
		if (!ok && outside.length < 20) outside.push({ kind, status: res.status, code, body: res.text.slice(0, 200) });
		if (!ok) outside.count = (outside.count ?? 0) + 1;
		if (res.status === 200 && spec.keyId) {
			passesByKey.set(spec.keyId, (passesByKey.get(spec.keyId) ?? 0) + 1);
			const revokeDone = revokedAt.get(spec.keyId);
			if (revokeDone !== undefined && sentAt >= revokeDone)
				firstPassAfterRevoke.push({ keyId: spec.keyId, sentAfterRevokeMs: sentAt - revokeDone });
		}
		if (kind === "revoked" && res.status === 401) refusedAfterRevoke.set(spec.keyId, (refusedAfterRevoke.get(spec.keyId) ?? 0) + 1);
	}

	async function drive(until, phase) {
		await Promise.all(
			Array.from({ length: CONCURRENCY }, async () => {
				while (Date.now() < until) await one(chooseKind(phase === "warmup"), phase);
			}),
		);
	}

	// ---------------------------------------------------------------------------
	// Warm-up (only kinds whose budget does not matter), then the measured run.
	log(`   warm-up ${WARMUP_MS / 1000} s`);
	let runStart = Date.now();
	await drive(Date.now() + WARMUP_MS, "warmup");

	const otherHeapsStart = await keygate.inspector.otherHeaps();
	runStart = Date.now();
	const deadline = runStart + DURATION_S * 1000;
	log(`   run ${DURATION_S} s`);

	// Revocations mid-run: key i at (0.3 + 0.1 i) of the run.
	const revocations = revocable.map(async (k, i) => {
		await sleep((0.3 + 0.1 * i) * DURATION_S * 1000);
		const sent = Date.now();
		await adminCall(base, "POST", `/keys/${k.id}/revoke`);
		revokedAt.set(k.id, Date.now());
		return { id: k.id, atSeconds: Number(((sent - runStart) / 1000).toFixed(2)), tookMs: Date.now() - sent };
	});

	// Samplers: the isolate cache (every second), workerd's memory and the gateway isolate's
	// heap (every bucket), and the live heap once at half-way.
	let sampling = true;
	const sampler = (async () => {
		let lastRss = 0;
		while (sampling) {
			if (!liveHeap.mid && Date.now() - runStart >= (DURATION_S * 1000) / 2) await takeLiveHeap("mid");
			if (!SHORT && !liveHeap.q3 && Date.now() - runStart >= (DURATION_S * 1000 * 3) / 4) await takeLiveHeap("q3");
			const res = await request(`${base}/__soak/cache-size`);
			const size = json(res)?.size;
			if (typeof size === "number") cacheSamples.push({ t: Date.now() - runStart, size, max: json(res).max });
			if (Date.now() - lastRss >= BUCKET_MS) {
				lastRss = Date.now();
				rssSamples.push({ t: Date.now() - runStart, mib: rssMiB(workerdPids) });
				await sampleHeap();
			}
			await sleep(1000);
		}
	})();
	const progress = setInterval(
		() => {
			const done = Object.values(stats).reduce((n, s) => n + s.requests, 0);
			const elapsed = (Date.now() - runStart) / 1000;
			const cache = cacheSamples.at(-1)?.size;
			log(
				`   ${elapsed.toFixed(0).padStart(4)} s  ${done} requests  ${(done / elapsed).toFixed(0)} req/s  cache ${cache ?? "?"}  workerd ${rssSamples.at(-1)?.mib ?? "?"} MiB  heap ${heapSamples.at(-1)?.used ?? "?"} MiB`,
			);
		},
		SHORT ? 5_000 : 15_000,
	);

	await drive(deadline, "run");
	const runEnd = Date.now();
	clearInterval(progress);
	sampling = false;
	await sampler;
	// The last bucket's heap under load, then the live heap with every cache still full.
	await sampleHeap();
	await takeLiveHeap("end");
	// Then every bounded map in the isolate filled to its bound (scripts/soak-entry.ts), and the live heap again.
	const filled = json(await request(`${base}/__soak/fill-caches?records=${FILL_RECORDS}`, { method: "POST" })) ?? null;
	await takeLiveHeap("full");
	const otherHeapsEnd = await keygate.inspector.otherHeaps();
	const revoked = await Promise.all(revocations);

	// ---------------------------------------------------------------------------
	// What the authority counted.
	const usage = async (id) => (await adminCall(base, "GET", `/keys/${id}/usage`)).passed;
	const lost = [];
	const keyReport = async (k) => {
		const clientPasses = passesByKey.get(k.id) ?? 0;
		const originSaw = origin.seen.byKeyId.get(k.id) ?? 0;
		const counted = await usage(k.id);
		if (clientPasses !== originSaw || clientPasses !== counted) lost.push({ id: k.id, clientPasses, originSaw, counted });
		return { id: k.id, clientPasses, originSaw, counted };
	};
	const publicPasses = (stats.public.statuses[200] ?? 0) + publicWarmupPasses;
	if (publicPasses !== origin.seen.public) lost.push({ id: "public route", clientPasses: publicPasses, originSaw: origin.seen.public });
	const limitedReport = [];
	for (const k of limited) limitedReport.push({ ...(await keyReport(k)), limit: LIMIT });
	const validReport = [];
	for (const k of valid) validReport.push(await keyReport(k));
	const revokedReport = [];
	for (const k of revocable) {
		const r = await keyReport(k);
		revokedReport.push({
			...r,
			refused: refusedAfterRevoke.get(k.id) ?? 0,
			revokedAtSeconds: revoked.find((x) => x.id === k.id).atSeconds,
			revokeTookMs: revoked.find((x) => x.id === k.id).tookMs,
		});
	}

	// ---------------------------------------------------------------------------
	// Checks.
	const runSeconds = (runEnd - runStart) / 1000;
	const requests = Object.values(stats).reduce((n, s) => n + s.requests, 0);
	const fullBuckets = Math.floor((deadline - runStart) / BUCKET_MS);
	const rates = buckets.slice(0, fullBuckets).map((n) => Number(((n ?? 0) / (BUCKET_MS / 1000)).toFixed(1)));
	const firstRate = rates[0] ?? 0;
	const lastRate = rates.at(-1) ?? 0;
	// Start against end: the mean of the first and of the last sixth of the buckets (one bucket each
	// for runs under 60 s), so one noisy 5-second bucket on a shared machine does not decide it.
	const span = Math.max(1, Math.floor(rates.length / 6));
	const mean = (xs) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
	const startRate = Number(mean(rates.slice(0, span)).toFixed(1));
	const endRate = Number(mean(rates.slice(-span)).toFixed(1));
	const rateChange = startRate > 0 ? (endRate - startRate) / startRate : null;
	const bucketChange = firstRate > 0 ? (lastRate - firstRate) / firstRate : null;
	const cacheMax = Math.max(0, ...cacheSamples.map((s) => s.size));
	const cacheBound = (cacheSamples[0]?.max ?? 10_000) * 2;
	const rssValues = rssSamples.map((s) => s.mib).filter((v) => v !== null);
	// Second half: the sixth of the run after the half-way mark against the last sixth, for the rate
	// (buckets) and the gateway isolate's heap (one sample per bucket, the post-run one excluded).
	const half = Math.floor(rates.length / 2);
	const midRate = Number(mean(rates.slice(half, half + span)).toFixed(1));
	const secondHalfRateChange = midRate > 0 ? (endRate - midRate) / midRate : null;
	const checkSecondHalf = !SHORT && runSeconds >= HEAP_FLAT_MIN_SECONDS;
	const heapRun = heapSamples.filter((x) => x.t <= runEnd - runStart);
	const heapUsed = heapSamples.map((x) => x.used);
	const heapSpan = Math.max(1, Math.floor(heapRun.length / 6));
	const heapMidWindow = heapRun.filter((x) => x.t >= (runEnd - runStart) / 2).slice(0, heapSpan);
	const heapMidMean = Number(mean(heapMidWindow.map((x) => x.used)).toFixed(2));
	const heapEndMean = Number(mean(heapRun.slice(-heapSpan).map((x) => x.used)).toFixed(2));
	const usedMeanChange = heapMidMean > 0 ? (heapEndMean - heapMidMean) / heapMidMean : null;
	const liveChanges = [liveHeap.q3, liveHeap.end].map((x) => (x && liveHeap.mid ? (x.used - liveHeap.mid.used) / liveHeap.mid.used : null));
	const heapChange = liveChanges.every((c) => c !== null) ? liveChanges.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0) : null;
	const heapMax = heapUsed.length ? Math.max(...heapUsed) : null;
	const heapMid = heapRun.find((x) => x.t >= (runEnd - runStart) / 2)?.used ?? null;

	check(
		outside.count === undefined && transportErrors === 0,
		`${(outside.count ?? 0) + transportErrors} answers outside the documented set (first: ${JSON.stringify(outside.slice(0, 3))})`,
	);
	for (const kind of Object.keys(KINDS)) check(stats[kind].requests > 0, `no ${kind} requests were sent`);
	for (const r of limitedReport) {
		check(r.clientPasses === LIMIT, `limited key ${r.id}: ${r.clientPasses} passes, limit ${LIMIT}`);
		check(r.counted === LIMIT, `limited key ${r.id}: its Durable Object counted ${r.counted} passes, limit ${LIMIT}`);
	}
	check(
		firstPassAfterRevoke.length === 0,
		`${firstPassAfterRevoke.length} requests passed after their key's revoke returned (${JSON.stringify(firstPassAfterRevoke.slice(0, 3))})`,
	);
	for (const r of revokedReport)
		check(
			r.clientPasses > 0 && r.refused > 0,
			`revoked key ${r.id}: expected passes before its revoke and refusals after (${r.clientPasses} passes, ${r.refused} refusals)`,
		);
	check(
		origin.seen.keyShaped === 0,
		`the origin saw something key-shaped ${origin.seen.keyShaped} times: ${JSON.stringify(origin.seen.samples)}`,
	);
	check(origin.seen.adminToken === 0, `the origin saw the admin token ${origin.seen.adminToken} times`);
	check(
		keygate.runtimeOutput.keyShaped === 0,
		`workerd's output held something key-shaped or the admin token ${keygate.runtimeOutput.keyShaped} times`,
	);
	check(keygate.runtimeOutput.internalErrors === 0, `keygate logged ${keygate.runtimeOutput.internalErrors} internal errors`);
	check(lost.length === 0, `passes lost between client, origin and Durable Object: ${JSON.stringify(lost)}`);
	check(rates.length >= 2, `fewer than two full ${BUCKET_MS / 1000}-second buckets`);
	// A rate is a speed: the long soak checks it; the 10-second variant inside `npm test`
	// (which shares the machine with the other test files) only reports it.
	check(
		SHORT || (rateChange !== null && Math.abs(rateChange) <= STEADY_TOLERANCE),
		`rate not steady: ${startRate}/s at the start, ${endRate}/s at the end (${rateChange === null ? "?" : (rateChange * 100).toFixed(1)}%, over ${span} bucket(s) each)`,
	);
	const rssMid = rssSamples.find((x) => x.t >= (runEnd - runStart) / 2 && x.mib !== null)?.mib ?? null;
	const rssEnd = rssValues.at(-1) ?? null;
	check(
		rssValues.length === 0 || Math.max(...rssValues) <= MAX_RSS_MIB,
		`workerd's RSS reached ${Math.max(...rssValues)} MiB (limit ${MAX_RSS_MIB})`,
	);
	check(
		heapErrors.length === 0 && heapRun.length >= 2 && liveHeap.end !== null,
		`gateway isolate heap: ${heapRun.length} samples, inspector errors: ${JSON.stringify(heapErrors.slice(0, 3))}`,
	);
	check(
		heapMax !== null && heapMax <= MAX_HEAP_USED_MIB,
		`gateway isolate heap (garbage included) reached ${heapMax} MiB (limit ${MAX_HEAP_USED_MIB})`,
	);
	for (const [mark, x] of Object.entries(liveHeap))
		check(x === null || x.used <= MAX_HEAP_MIB, `gateway isolate live heap at ${mark}: ${x?.used} MiB (limit ${MAX_HEAP_MIB})`);
	if (checkSecondHalf) {
		check(
			heapChange !== null &&
				Math.abs(heapChange) * liveHeap.mid.used <= Math.max(HEAP_FLAT_TOLERANCE * liveHeap.mid.used, HEAP_FLAT_SLACK_MIB),
			`gateway isolate live heap not flat over the second half: ${liveHeap.mid?.used} MiB at half-way, ${liveHeap.q3?.used} at three quarters, ${liveHeap.end?.used} at the end (${heapChange === null ? "?" : (heapChange * 100).toFixed(1)}%, limit ±${HEAP_FLAT_TOLERANCE * 100}% or ±${HEAP_FLAT_SLACK_MIB} MiB)`,
		);
		check(
			secondHalfRateChange !== null && Math.abs(secondHalfRateChange) <= STEADY_TOLERANCE,
			`rate not steady over the second half: ${midRate}/s after half-way, ${endRate}/s at the end (${secondHalfRateChange === null ? "?" : (secondHalfRateChange * 100).toFixed(1)}%)`,
		);
	}
	check(cacheSamples.length > 0 && cacheMax <= cacheBound, `isolate cache reached ${cacheMax} entries (bound ${cacheBound})`);
	if (!SHORT)
		check(
			pool.distinct.size > (cacheSamples[0]?.max ?? 10_000),
			`only ${pool.distinct.size} distinct unknown keys: the cache bound was not exercised`,
		);

	const summary = {
		ok: failures.length === 0,
		mode: SHORT ? "short" : "full",
		date: new Date(started).toISOString(),
		machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", node: process.version },
		durationSeconds: Number(runSeconds.toFixed(2)),
		concurrency: CONCURRENCY,
		requests,
		warmupRequests,
		ratePerSecond: Number((requests / runSeconds).toFixed(1)),
		rate: {
			bucketSeconds: BUCKET_MS / 1000,
			perBucket: rates,
			first: firstRate,
			last: lastRate,
			bucketChange: bucketChange === null ? null : Number(bucketChange.toFixed(3)),
			bucketsAveraged: span,
			start: startRate,
			end: endRate,
			change: rateChange === null ? null : Number(rateChange.toFixed(3)),
			mid: midRate,
			secondHalfChange: secondHalfRateChange === null ? null : Number(secondHalfRateChange.toFixed(3)),
			secondHalfChecked: checkSecondHalf,
			tolerance: STEADY_TOLERANCE,
		},
		byKind: stats,
		outsideDocumented: (outside.count ?? 0) + transportErrors,
		outsideSamples: outside.slice(0, 5),
		transportErrors,
		limited: {
			limit: LIMIT,
			window: WINDOW,
			keys: limitedReport,
			allExact: limitedReport.every((r) => r.clientPasses === LIMIT && r.counted === LIMIT),
		},
		revoked: { keys: revokedReport, passesAfterRevoke: firstPassAfterRevoke.length },
		valid: { keys: validReport },
		lost: { count: lost.length, keys: lost },
		origin: {
			requests: origin.seen.requests,
			public: origin.seen.public,
			sawKey: origin.seen.keyShaped,
			sawAdminToken: origin.seen.adminToken,
		},
		cache: {
			maxSize: cacheMax,
			bound: cacheBound,
			perMapLimit: cacheSamples[0]?.max ?? null,
			samples: cacheSamples.length,
			distinctUnknownKeys: pool.distinct.size,
		},
		workerdRssMiB: rssValues.length
			? { first: rssValues[0], mid: rssMid, last: rssEnd, max: Math.max(...rssValues), limit: MAX_RSS_MIB }
			: null,
		gatewayHeapMiB: {
			covers: `V8 heap of workerd's isolate ${keygate.inspector.target}: the gateway and the KeyAuthority and OwnerRoles Durable Objects (same script, same isolate); not Miniflare's KV simulator, not SQLite's native memory`,
			samples: heapSamples.length,
			first: heapUsed[0] ?? null,
			mid: heapMid,
			end: heapRun.at(-1)?.used ?? null,
			max: heapMax,
			totalMax: heapSamples.length ? Math.max(...heapSamples.map((x) => x.total)) : null,
			liveMid: liveHeap.mid?.used ?? null,
			liveThreeQuarters: liveHeap.q3?.used ?? null,
			liveEnd: liveHeap.end?.used ?? null,
			liveAllMapsFull: liveHeap.full?.used ?? null,
			filled: filled === null ? null : { records: FILL_RECORDS, ...filled },
			limit: MAX_HEAP_MIB,
			usedLimit: MAX_HEAP_USED_MIB,
			secondHalf: {
				checked: checkSecondHalf,
				liveChange: heapChange === null ? null : Number(heapChange.toFixed(3)),
				tolerance: HEAP_FLAT_TOLERANCE,
				slackMiB: HEAP_FLAT_SLACK_MIB,
				usedMidMean: heapMidMean,
				usedEndMean: heapEndMean,
				usedMeanChange: usedMeanChange === null ? null : Number(usedMeanChange.toFixed(3)),
				samplesAveraged: heapSpan,
			},
			perBucket: heapSamples.map((x) => x.used),
			errors: heapErrors.slice(0, 5),
		},
		otherIsolatesHeapMiB: { start: otherHeapsStart, end: otherHeapsEnd },
		runtimeLog: {
			lines: keygate.runtimeOutput.lines,
			keyShaped: keygate.runtimeOutput.keyShaped,
			internalErrors: keygate.runtimeOutput.internalErrors,
		},
		failures,
	};
	await mkdir(path.dirname(OUT), { recursive: true });
	await writeFile(OUT, JSON.stringify(summary, null, 2) + "\n");

	log("");
	log(`   requests        ${requests} in ${runSeconds.toFixed(1)} s = ${summary.ratePerSecond} req/s (+${warmupRequests} warm-up)`);
	log(`   rate per ${BUCKET_MS / 1000} s    ${rates.join(", ")}`);
	log(
		`   steady          start ${startRate}/s, end ${endRate}/s: ${rateChange === null ? "?" : (rateChange * 100).toFixed(1) + "%"} (limit ±${STEADY_TOLERANCE * 100}%; first/last bucket ${bucketChange === null ? "?" : (bucketChange * 100).toFixed(1) + "%"})`,
	);
	for (const [kind, s] of Object.entries(stats))
		log(`   ${kind.padEnd(15)} ${String(s.requests).padStart(7)}  ${JSON.stringify(s.statuses)}`);
	log(`   limited         ${limitedReport.map((r) => `${r.clientPasses}/${r.counted}`).join(" ")} (passes/counted, limit ${LIMIT})`);
	log(
		`   revoked         ${revokedReport.map((r) => `${r.clientPasses} before ${r.revokedAtSeconds}s`).join(", ")}; passes after revoke: ${firstPassAfterRevoke.length}`,
	);
	log(`   origin          ${origin.seen.requests} requests, key-shaped strings seen: ${origin.seen.keyShaped}`);
	log(`   cache           max ${cacheMax} (bound ${cacheBound}), ${pool.distinct.size} distinct unknown keys`);
	log(
		`   workerd RSS     ${rssValues.length ? `${rssValues[0]} -> ${rssMid} (half-way) -> ${rssEnd} MiB (max ${Math.max(...rssValues)}, limit ${MAX_RSS_MIB})` : "n/a"}`,
	);
	log(
		`   gateway heap    ${heapUsed.length ? `${heapUsed[0]} -> ${heapMid} (half-way) -> ${heapRun.at(-1)?.used} MiB used, garbage included (max ${heapMax}, limit ${MAX_HEAP_USED_MIB}); live after a full GC: ${liveHeap.mid?.used ?? "?"} half-way, ${liveHeap.q3?.used ?? "-"} three quarters, ${liveHeap.end?.used ?? "?"} end, ${liveHeap.full?.used ?? "?"} with every map full (${FILL_RECORDS} records) (limit ${MAX_HEAP_MIB})` : "n/a"}`,
	);
	log(
		`   second half     live heap ${heapChange === null ? "?" : (heapChange * 100).toFixed(1) + "%"} (used, garbage included, mean ${heapMidMean} -> ${heapEndMean} MiB), rate ${midRate} -> ${endRate}/s (${secondHalfRateChange === null ? "?" : (secondHalfRateChange * 100).toFixed(1) + "%"})${checkSecondHalf ? ` (limits ±${HEAP_FLAT_TOLERANCE * 100}%, ±${STEADY_TOLERANCE * 100}%)` : " (not checked: run under " + HEAP_FLAT_MIN_SECONDS + " s)"}`,
	);
	log(`   lost            ${lost.length}`);
	log("");
	log(
		JSON.stringify(
			{
				ok: summary.ok,
				requests,
				durationSeconds: summary.durationSeconds,
				ratePerSecond: summary.ratePerSecond,
				outsideDocumented: summary.outsideDocumented,
				lost: lost.length,
				failures,
			},
			null,
			2,
		),
	);
	log(`\n   summary: ${path.relative(ROOT, OUT) || OUT}`);
	if (failures.length) {
		log(`\nSOAK FAILED:\n - ${failures.join("\n - ")}`);
		if (keygate.runtimeOutput.text.length) log(`\nlast workerd output:\n${keygate.runtimeOutput.text.slice(-10).join("\n")}`);
	} else log("\nSOAK PASSED");
	return failures.length === 0;
}

let ok = false;
try {
	ok = await main();
} catch (e) {
	console.error(`soak: ${e?.stack ?? e}`);
}
await cleanup();
process.exit(ok ? 0 : 1);
