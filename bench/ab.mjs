#!/usr/bin/env node
// `npm run bench:ab`: is a change to keygate's request path faster? Two or more keygate
// trees (say HEAD in a scratch folder, and the working tree) each run bench/breakdown.ts in
// a workerd of their own (Miniflare); autocannon drives one cut of each in turn, in
// alternating order, round after round, and the workerd process's CPU time (/proc) per
// response is compared. On a shared 2-core machine single runs move by ±15%: read a
// difference only when it holds in most rounds and in a second run.
//
//   git archive HEAD | (mkdir -p /tmp/before && tar -x -C /tmp/before)
//   ln -s "$PWD/node_modules" /tmp/before/node_modules
//   BENCH_TREES=before=/tmp/before,after=. npm run bench:ab
//
// Environment: BENCH_TREES (required: name=folder, comma-separated), BENCH_CUTS
// (default full-leased; the cuts of bench/breakdown.ts, plus full-leased), BENCH_ROUNDS
// (default 10), BENCH_SECONDS (per cell, default 4), BENCH_CONCURRENCY (default 32).
import autocannon from "autocannon";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { childPids, processCpuMs } from "./lib/stats.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
if (!process.env.BENCH_TREES) {
	console.error("BENCH_TREES=name=folder,name=folder is required (see the top of bench/ab.mjs)");
	process.exit(2);
}
const trees = process.env.BENCH_TREES.split(",").map((t) => {
	const [name, folder] = t.split("=");
	return { name, root: path.resolve(folder) };
});
const CUTS = (process.env.BENCH_CUTS ?? "full-leased").split(",");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONCURRENCY ?? 32);

const running = [];
try {
	for (const tree of trees) {
		const seen = new Set(childPids(process.pid, "workerd"));
		const { startBreakdownWorker } = await import(pathToFileURL(path.join(tree.root, "bench", "lib", "breakdown-worker.mjs")).href);
		const worker = await startBreakdownWorker(tree.root);
		running.push({ ...tree, worker, pids: childPids(process.pid, "workerd").filter((p) => !seen.has(p)) });
	}
	for (const t of running) if (t.pids.length === 0) throw new Error(`${t.name}: no workerd process found, CPU cannot be measured`);
	const cpuMs = (pids) =>
		pids.reduce((n, pid) => {
			const ms = processCpuMs(pid);
			if (ms === null) throw new Error(`cannot read the CPU time of workerd ${pid} (/proc)`);
			return n + ms;
		}, 0);
	const cell = (t, cut) =>
		new Promise((resolve, reject) => {
			const before = cpuMs(t.pids);
			const leased = cut === "full-leased";
			autocannon(
				{
					url: `${t.worker.base}/v1/bench?x=1`,
					connections: CONNECTIONS,
					duration: SECONDS,
					headers: { authorization: `Bearer ${leased ? t.worker.leasedKey : t.worker.key}`, "x-bench-cut": leased ? "full" : cut },
				},
				(err, r) => {
					if (err) return reject(err);
					if (r.non2xx || r.errors) return reject(new Error(`${t.name} ${cut}: ${r.non2xx} non-2xx, ${r.errors} errors`));
					resolve({ rps: r.requests.total / SECONDS, us: ((cpuMs(t.pids) - before) * 1000) / r.requests.total });
				},
			);
		});
	const cells = new Map();
	for (let round = 0; round < ROUNDS; round++) {
		for (const cut of CUTS)
			for (const t of round % 2 ? [...running].reverse() : running) {
				const key = `${cut} ${t.name}`;
				cells.set(key, [...(cells.get(key) ?? []), await cell(t, cut)]);
			}
		process.stdout.write(`round ${round + 1}/${ROUNDS}\n`);
	}
	const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
	console.log(`\nworkerd CPU per response at c${CONNECTIONS}, ${ROUNDS} rounds of ${SECONDS} s (µs; each round in brackets):`);
	for (const [key, xs] of cells)
		console.log(
			`  ${key.padEnd(28)} ${String(Math.round(mean(xs.map((x) => x.rps)))).padStart(6)} req/s  ${mean(xs.map((x) => x.us))
				.toFixed(0)
				.padStart(4)} µs  [${xs.map((x) => x.us.toFixed(0)).join(" ")}]`,
		);
} finally {
	for (const t of running) await t.worker.close();
}
