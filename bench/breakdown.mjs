#!/usr/bin/env node
// `npm run bench:breakdown`: where a warm valid key's time goes on keygate's request path
// (strict mode). One workerd (Miniflare) runs bench/breakdown.ts, which serves keygate's
// stages cut after stage N (see that file); autocannon drives each cut in interleaved
// rounds, and each stage's cost is the difference between two neighbouring cuts.
//
// Environment: BENCH_DURATION (seconds per cell, all rounds together; default 6),
// BENCH_ROUNDS (default 3), BENCH_CONCURRENCY ("1,32"), BENCH_OUT (JSON path; default
// bench/results/breakdown.json), BENCH_CUTS (a comma-separated subset of the cuts). Numbers from a shared machine move with its load: read
// differences of a few hundredths of a millisecond as noise.
import autocannon from "autocannon";
import { writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startBreakdownWorker } from "./lib/breakdown-worker.mjs";
import { percentile, sortedCopy } from "./lib/stats.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const num = (name, fallback) => {
	const v = Number(process.env[name] ?? fallback);
	if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
	return v;
};
const DURATION = num("BENCH_DURATION", 6);
const ROUNDS = Math.round(num("BENCH_ROUNDS", 3));
const CONCURRENCY = (process.env.BENCH_CONCURRENCY ?? "1,32").split(",").map(Number);
const OUT = process.env.BENCH_OUT ?? path.join(ROOT, "bench", "results", "breakdown.json");
const PATH = "/v1/bench?x=1";
const CUTS = process.env.BENCH_CUTS
	? process.env.BENCH_CUTS.split(",")
	: ["forward", "select", "credential", "verify", "policy", "limit-stub", "limit", "full-stub", "full", "full-leased"];
/** `full-leased` is the whole app (cut `full`) with a key whose limits are leased: what leases leave of the DO call. */
const target = (cut, keys) => (cut === "full-leased" ? { key: keys.leasedKey, cut: "full" } : { key: keys.key, cut });
/** What each stage adds, as the difference of two cuts. */
const STAGES = [
	["select API and route, path checks, CORS", "forward", "select"],
	["find and classify the credential", "select", "credential"],
	["verify the key (SHA-256, isolate cache)", "credential", "verify"],
	["policy (scopes, type, role, allowlist)", "verify", "policy"],
	["rate-limit stage, its DO answered in-isolate", "policy", "limit-stub"],
	["the Durable Object call itself", "limit-stub", "limit"],
	["keygate's proxy (header scrub, Content-Digest, signing)", "limit-stub", "full-stub"],
	["everything but the DO call", "forward", "full-stub"],
	["the whole path", "forward", "full"],
	["the whole path, leased", "forward", "full-leased"],
	["leases against the stubbed DO", "full-stub", "full-leased"],
];

function cell(url, keys, name, connections, seconds) {
	const { key, cut } = target(name, keys);
	return new Promise((resolve, reject) => {
		const latencies = [];
		const statuses = {};
		const instance = autocannon(
			{ url, connections, duration: seconds, timeout: 10, headers: { authorization: `Bearer ${key}`, "x-bench-cut": cut } },
			(err, result) => (err ? reject(err) : resolve({ result, latencies, statuses })),
		);
		instance.on("response", (_c, status, _b, ms) => {
			latencies.push(ms);
			statuses[status] = (statuses[status] ?? 0) + 1;
		});
	});
}

async function main() {
	const keys = await startBreakdownWorker(ROOT);
	const { base, close } = keys;
	try {
		for (const name of CUTS) {
			const { key, cut } = target(name, keys);
			const res = await fetch(`${base}${PATH}`, { headers: { authorization: `Bearer ${key}`, "x-bench-cut": cut } });
			if (res.status !== 200) throw new Error(`cut ${name} answered ${res.status}: ${await res.text()}`);
		}
		const seconds = DURATION / ROUNDS;
		const results = {};
		for (const c of CONCURRENCY) {
			results[c] = Object.fromEntries(CUTS.map((cut) => [cut, { rps: [], p50: [] }]));
			for (let round = 0; round < ROUNDS; round++) {
				// Interleaved, in a different order each round, so drift in the machine's load spreads over every cut.
				const order = round % 2 === 0 ? CUTS : [...CUTS].reverse();
				for (const cut of order) {
					await cell(`${base}${PATH}`, keys, cut, c, 0.3); // warm-up
					const { result, latencies, statuses } = await cell(`${base}${PATH}`, keys, cut, c, seconds);
					const bad = Object.entries(statuses).filter(([s]) => s !== "200");
					if (bad.length > 0) throw new Error(`cut ${cut} at c${c}: answers other than 200: ${JSON.stringify(statuses)}`);
					results[c][cut].rps.push(result.requests.total / (result.duration || seconds));
					results[c][cut].p50.push(percentile(sortedCopy(latencies), 50));
				}
			}
		}
		const median = (xs) => sortedCopy(xs)[Math.floor(xs.length / 2)];
		const summary = {};
		for (const c of CONCURRENCY) {
			summary[c] = Object.fromEntries(CUTS.map((cut) => [cut, { rps: median(results[c][cut].rps), p50: median(results[c][cut].p50) }]));
		}
		const lines = [];
		const cores = os.cpus().length;
		lines.push(`cuts (median of ${ROUNDS} interleaved rounds, ${seconds.toFixed(1)} s each):`);
		lines.push(`  ${"cut".padEnd(12)}${CONCURRENCY.map((c) => `c${c} req/s`.padStart(12) + `c${c} p50 ms`.padStart(12)).join("")}`);
		for (const cut of CUTS)
			lines.push(
				`  ${cut.padEnd(12)}${CONCURRENCY.map((c) => summary[c][cut].rps.toFixed(0).padStart(12) + summary[c][cut].p50.toFixed(3).padStart(12)).join("")}`,
			);
		const top = Math.max(...CONCURRENCY);
		lines.push(
			`\nstages: p50 added at c1 (ms), and CPU per request added at c${top} (µs, from ${cores} cores / req/s: 1e6·${cores}/rps(b) − 1e6·${cores}/rps(a)):`,
		);
		const stages = STAGES.filter(([, a, b]) => CUTS.includes(a) && CUTS.includes(b)).map(([what, a, b]) => {
			const p50 = CONCURRENCY.includes(1) ? summary[1][b].p50 - summary[1][a].p50 : null;
			const us = (1e6 * cores) / summary[top][b].rps - (1e6 * cores) / summary[top][a].rps;
			lines.push(`  ${what.padEnd(58)}${p50 === null ? "" : p50.toFixed(3).padStart(9)}${us.toFixed(0).padStart(9)}`);
			return { stage: what, from: a, to: b, p50AddedMsC1: p50, cpuUsPerRequestAddedAtTop: us };
		});
		if (CUTS.includes("full"))
			lines.push(`\nfull vs forward at c${top}: ${(summary[top].full.rps / summary[top].forward.rps).toFixed(2)}×`);
		if (CUTS.includes("full-stub"))
			lines.push(`full-stub (no DO call) vs forward at c${top}: ${(summary[top]["full-stub"].rps / summary[top].forward.rps).toFixed(2)}×`);
		if (CUTS.includes("full-leased"))
			lines.push(`full-leased vs forward at c${top}: ${(summary[top]["full-leased"].rps / summary[top].forward.rps).toFixed(2)}×`);
		console.log(lines.join("\n"));
		const out = {
			date: new Date().toISOString(),
			cores,
			loadAverageAtStart: os.loadavg(),
			durationPerCell: DURATION,
			rounds: ROUNDS,
			concurrency: CONCURRENCY,
			raw: results,
			summary,
			stages,
		};
		await writeFile(OUT, JSON.stringify(out, null, 2) + "\n");
		console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`);
	} finally {
		await close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
