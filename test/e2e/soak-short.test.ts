/**
 * The short soak, as part of `npm test`: `node scripts/soak.mjs --short` (10 s of mixed
 * valid, limited, revoked and garbage traffic on Miniflare) must exit 0, and its summary
 * must say so field by field, the gateway isolate's heap (read over workerd's inspector)
 * included. The summary goes to a temporary file, not soak/results/.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIMEOUT_MS = 90_000;

interface KeyCount {
	id: string;
	clientPasses: number;
	originSaw: number;
	counted: number;
}
interface Summary {
	ok: boolean;
	mode: string;
	durationSeconds: number;
	requests: number;
	ratePerSecond: number;
	rate: { perBucket: number[]; change: number | null; tolerance: number };
	byKind: Record<string, { requests: number; statuses: Record<string, number> }>;
	outsideDocumented: number;
	transportErrors: number;
	limited: { limit: number; keys: (KeyCount & { limit: number })[]; allExact: boolean };
	revoked: { keys: (KeyCount & { refused: number })[]; passesAfterRevoke: number };
	lost: { count: number };
	origin: { requests: number; sawKey: number; sawAdminToken: number };
	cache: { maxSize: number; bound: number; samples: number };
	gatewayHeapMiB: {
		covers: string;
		samples: number;
		max: number | null;
		liveMid: number | null;
		liveEnd: number | null;
		liveAllMapsFull: number | null;
		filled: Record<string, number | string> | null;
		limit: number;
		usedLimit: number;
		errors: string[];
	};
	runtimeLog: { keyShaped: number; internalErrors: number };
	failures: string[];
}

let dir: string | undefined;
afterAll(async () => {
	if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs the script to completion (or kills it, by its own pid, at the timeout). */
function runSoak(out: string): Promise<{ code: number | null; output: string }> {
	return new Promise((resolve) => {
		const child = spawn(process.execPath, [path.join(ROOT, "scripts", "soak.mjs"), "--short"], {
			cwd: ROOT,
			env: { ...process.env, SOAK_OUT: out, WRANGLER_SEND_METRICS: "false" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		child.stdout.on("data", (d) => (output += d));
		child.stderr.on("data", (d) => (output += d));
		const timer = setTimeout(() => child.kill("SIGTERM"), TIMEOUT_MS);
		child.on("close", (code) => {
			clearTimeout(timer);
			resolve({ code, output });
		});
	});
}

describe("soak (short)", () => {
	it("10 s of mixed traffic: only documented answers, exact limits, no pass after revoke, no key at the origin, nothing lost, cache bounded, gateway isolate heap bounded", async () => {
		dir = await mkdtemp(path.join(os.tmpdir(), "keygate-soak-test-"));
		const out = path.join(dir, "short.json");
		const { code, output } = await runSoak(out);
		expect(code, output.slice(-4000)).toBe(0);
		const s = JSON.parse(await readFile(out, "utf8")) as Summary;

		expect(s.ok, s.failures.join("\n")).toBe(true);
		expect(s.failures).toEqual([]);
		expect(s.mode).toBe("short");
		expect(s.durationSeconds).toBeGreaterThanOrEqual(10);
		expect(s.requests).toBeGreaterThan(1_000);
		for (const kind of ["valid", "limited", "revoked", "unknown", "garbage", "bruteForce", "missing", "public"]) {
			expect(s.byKind[kind]?.requests, kind).toBeGreaterThan(0);
		}
		expect(s.outsideDocumented).toBe(0);
		expect(s.transportErrors).toBe(0);
		expect(Object.keys(s.byKind.valid!.statuses)).toEqual(["200"]);
		expect(s.limited.allExact).toBe(true);
		for (const k of s.limited.keys)
			expect([k.clientPasses, k.originSaw, k.counted]).toEqual([s.limited.limit, s.limited.limit, s.limited.limit]);
		expect(s.byKind.limited!.statuses["429"]).toBeGreaterThan(0);
		expect(s.revoked.passesAfterRevoke).toBe(0);
		for (const k of s.revoked.keys) {
			expect(k.clientPasses).toBeGreaterThan(0);
			expect(k.refused).toBeGreaterThan(0);
		}
		expect(s.byKind.bruteForce!.statuses["429"]).toBeGreaterThan(0);
		expect(s.origin.sawKey).toBe(0);
		expect(s.origin.sawAdminToken).toBe(0);
		expect(s.runtimeLog).toEqual({ ...s.runtimeLog, keyShaped: 0, internalErrors: 0 });
		expect(s.lost.count).toBe(0);
		expect(s.cache.samples).toBeGreaterThan(0);
		expect(s.cache.maxSize).toBeLessThanOrEqual(s.cache.bound);
		// The gateway isolate's V8 heap, read over workerd's inspector: sampled every bucket
		// (garbage included) under 128 MiB, and live (after a full collection) under a bound
		// well below the 128 MB a Worker isolate has in production.
		const heap = s.gatewayHeapMiB;
		expect(heap.covers).toContain("core:user:keygate");
		expect(heap.errors).toEqual([]);
		expect(heap.samples).toBeGreaterThanOrEqual(2);
		expect(heap.limit).toBeLessThanOrEqual(64);
		expect(heap.usedLimit).toBeLessThanOrEqual(128);
		expect(heap.max).toBeGreaterThan(0);
		expect(heap.max).toBeLessThanOrEqual(heap.usedLimit);
		expect(heap.liveMid).toBeGreaterThan(0);
		expect(heap.liveMid).toBeLessThanOrEqual(heap.limit);
		expect(heap.liveEnd).toBeGreaterThan(0);
		expect(heap.liveEnd).toBeLessThanOrEqual(heap.limit);
		// Every bounded map in the isolate filled to its bound after the run: still under the bound.
		// (The key cache: 10,000 dead ids plus as many records as its weight budget holds.)
		expect(heap.filled).toEqual({
			records: "soak",
			keyCache: heap.filled?.keyCache,
			bruteForce: 10_000,
			adminThrottle: 10_000,
			oauthThrottle: 10_000,
			unreported: 10_000,
			leases: 10_000,
		});
		expect(heap.filled?.keyCache).toBeGreaterThan(15_000);
		expect(heap.filled?.keyCache).toBeLessThanOrEqual(20_000);
		expect(heap.liveAllMapsFull).toBeGreaterThan(heap.liveEnd!);
		expect(heap.liveAllMapsFull).toBeLessThanOrEqual(heap.limit);
		// The rate is reported, not judged, here: speed belongs to the long soak and the bench.
		expect(s.rate.perBucket.length).toBeGreaterThanOrEqual(2);
	});
});
