#!/usr/bin/env node
// `npm run bench:headers`: what the fields a gateway adds to every request cost workerd,
// apart from everything else keygate does. One workerd (Miniflare) runs
// bench/workers/headers.ts in front of the bench origin; autocannon drives each variant
// in interleaved rounds, and the workerd process's CPU time (/proc) is divided by the
// responses. The variants are listed in bench/workers/headers.ts.
//
// Environment: BENCH_ROUNDS (default 5), BENCH_SECONDS (per cell per round, default 4),
// BENCH_CONCURRENCY (default 32), BENCH_VARIANTS (comma-separated), BENCH_OUT (JSON path,
// default bench/results/headers.json).
import autocannon from "autocannon";
import { fork } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { bundleWorker } from "./lib/build.mjs";
import { childPids, processCpuMs } from "./lib/stats.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.BENCH_CONCURRENCY ?? 32);
const VARIANTS = (
	process.env.BENCH_VARIANTS ?? "forward,request-10,request-20,request-20-set,rewrap,response-5,response-10,signal,race"
).split(",");
const OUT = process.env.BENCH_OUT ?? path.join(ROOT, "bench", "results", "headers.json");

const tmp = await mkdtemp(path.join(os.tmpdir(), "keygate-headers-"));
const origin = fork(path.join(ROOT, "bench", "lib", "origin.mjs"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
const port = await new Promise((resolve, reject) => {
	origin.once("message", (m) => resolve(m.port));
	origin.once("exit", (code) => reject(new Error(`origin exited early (${code})`)));
});
let mf;
try {
	const file = path.join(tmp, "index.js");
	await bundleWorker(ROOT, "bench/workers/headers.ts", file);
	mf = new Miniflare({
		modules: true,
		modulesRoot: tmp,
		scriptPath: file,
		compatibilityDate: "2026-04-20",
		bindings: { ORIGIN: `http://127.0.0.1:${port}` },
		unsafeDirectSockets: [{ host: "127.0.0.1", port: 0 }],
	});
	const url = `${(await mf.unsafeGetDirectURL()).href.replace(/\/$/, "")}/v1/bench?x=1`;
	const workerd = childPids(process.pid, "workerd");
	if (workerd.length === 0) throw new Error("no workerd process found under this one: CPU cannot be measured");
	const cpuMs = () =>
		workerd.reduce((n, pid) => {
			const ms = processCpuMs(pid);
			if (ms === null) throw new Error(`cannot read the CPU time of workerd ${pid} (/proc)`);
			return n + ms;
		}, 0);
	const cell = (variant) =>
		new Promise((resolve, reject) => {
			const before = cpuMs();
			autocannon(
				{ url, connections: CONNECTIONS, duration: SECONDS, headers: { authorization: "Bearer x", "x-bench-variant": variant } },
				(err, r) => {
					if (err) return reject(err);
					if (r.non2xx || r.errors) return reject(new Error(`${variant}: ${r.non2xx} non-2xx, ${r.errors} errors`));
					resolve({ rps: r.requests.total / SECONDS, cpuUsPerRequest: ((cpuMs() - before) * 1000) / r.requests.total });
				},
			);
		});
	const cells = Object.fromEntries(VARIANTS.map((v) => [v, []]));
	for (let round = 0; round < ROUNDS; round++) {
		// Alternate the order, so a slow moment of the machine does not always hit the same variant.
		for (const v of round % 2 ? [...VARIANTS].reverse() : VARIANTS) cells[v].push(await cell(v));
		process.stdout.write(`round ${round + 1}/${ROUNDS}\n`);
	}
	const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
	const base = mean(cells.forward?.map((c) => c.cpuUsPerRequest) ?? [0]);
	// Throughput is read against `bare` (the bench's limit) when it ran, else the first variant.
	const limit = VARIANTS.includes("bare") ? "bare" : VARIANTS[0];
	const limitRps = mean(cells[limit].map((c) => c.rps));
	const rows = VARIANTS.map((v) => {
		const us = cells[v].map((c) => c.cpuUsPerRequest);
		return {
			variant: v,
			rps: Math.round(mean(cells[v].map((c) => c.rps))),
			rpsRatio: Number((mean(cells[v].map((c) => c.rps)) / limitRps).toFixed(3)),
			cpuUsPerRequest: Math.round(mean(us)),
			overForward: Math.round(mean(us) - base),
			rounds: us.map(Math.round),
		};
	});
	console.log(`\nworkerd CPU per request at c${CONNECTIONS}, ${ROUNDS} rounds of ${SECONDS} s (µs; every round's value in brackets):`);
	for (const r of rows)
		console.log(
			`  ${r.variant.padEnd(16)} ${String(r.rps).padStart(6)} req/s (${r.rpsRatio.toFixed(2)}× ${limit})  ${String(r.cpuUsPerRequest).padStart(4)} µs  ${r.overForward >= 0 ? "+" : ""}${r.overForward}  [${r.rounds.join(" ")}]`,
		);
	await writeFile(
		OUT,
		JSON.stringify(
			{
				date: new Date().toISOString(),
				cores: os.cpus().length,
				cpu: os.cpus()[0]?.model,
				loadAverageAtStart: os.loadavg(),
				rounds: ROUNDS,
				seconds: SECONDS,
				concurrency: CONNECTIONS,
				rows,
			},
			null,
			2,
		) + "\n",
	);
	console.log(`wrote ${path.relative(process.cwd(), OUT)}`);
} finally {
	if (mf) await mf.dispose();
	origin.kill("SIGTERM");
	await rm(tmp, { recursive: true, force: true });
}
