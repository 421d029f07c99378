#!/usr/bin/env node
// `npm run bench:profile`: a V8 CPU profile of the gateway isolate under load, summed by
// function, to find what the request path spends its JavaScript time on. One workerd
// (Miniflare) runs bench/breakdown.ts; autocannon drives one cut (BENCH_CUT, default
// "full-stub": the whole path with the Durable Object answered in the isolate, so the
// profile is keygate's own work) while the inspector's Profiler samples the isolate.
//
// Environment: BENCH_CUT, BENCH_SECONDS (default 8), BENCH_CONCURRENCY (default 8),
// BENCH_TOP (functions listed, default 30), BENCH_PROFILE_OUT (keep the .cpuprofile).
// The native work behind a call (fetch, WebCrypto, Headers) is attributed to the JS
// function that called it only as far as V8 sees it; "(program)" and "(idle)" are the
// runtime outside JavaScript.
import autocannon from "autocannon";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { startBreakdownWorker, WORKER_NAME } from "./lib/breakdown-worker.mjs";

process.env.WRANGLER_SEND_METRICS = "false";
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CUT = process.env.BENCH_CUT ?? "full-stub";
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONCURRENCY ?? 8);
const TOP = Number(process.env.BENCH_TOP ?? 30);

async function inspector(port) {
	const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
	const target = targets.find((t) => t.id === `core:user:${WORKER_NAME}`);
	if (!target) throw new Error(`no inspector target for ${WORKER_NAME}: ${targets.map((t) => t.id).join(", ")}`);
	const ws = new WebSocket(target.webSocketDebuggerUrl);
	await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
	let id = 0;
	const pending = new Map();
	ws.on("message", (data) => {
		const m = JSON.parse(data.toString("utf8"));
		if (m.id !== undefined) pending.get(m.id)?.(m);
	});
	const call = (method, params = {}) =>
		new Promise((resolve, reject) => {
			const n = ++id;
			pending.set(n, (m) => (pending.delete(n), m.error ? reject(new Error(`${method}: ${JSON.stringify(m.error)}`)) : resolve(m.result)));
			ws.send(JSON.stringify({ id: n, method, params }));
		});
	return { call, close: () => ws.terminate() };
}

/** Self time per function (ms), from a V8 CPU profile. */
function selfTimes(profile) {
	const byId = new Map(profile.nodes.map((n) => [n.id, n]));
	const counts = new Map();
	for (const s of profile.samples) counts.set(s, (counts.get(s) ?? 0) + 1);
	const total = profile.samples.length;
	const perSample = (profile.endTime - profile.startTime) / 1000 / total; // ms
	const rows = new Map();
	for (const [nodeId, n] of counts) {
		const f = byId.get(nodeId).callFrame;
		const file = f.url ? f.url.split("/").slice(-1)[0] : "";
		const label = `${f.functionName || "(anonymous)"}${file ? ` ${file}:${f.lineNumber + 1}` : ""}`;
		rows.set(label, (rows.get(label) ?? 0) + n);
	}
	return { total, perSample, rows: [...rows].sort((a, b) => b[1] - a[1]) };
}

async function main() {
	const { base, key: strictKey, leasedKey, mf, close } = await startBreakdownWorker(ROOT, { inspector: true });
	// `full-leased`: the whole app with a key whose limits are leased.
	const [key, cut] = CUT === "full-leased" ? [leasedKey, "full"] : [strictKey, CUT];
	let insp;
	try {
		const load = (seconds) =>
			new Promise((resolve, reject) =>
				autocannon(
					{
						url: `${base}/v1/bench?x=1`,
						connections: CONNECTIONS,
						duration: seconds,
						headers: { authorization: `Bearer ${key}`, "x-bench-cut": cut },
					},
					(err, r) => (err ? reject(err) : resolve(r)),
				),
			);
		await load(1); // warm
		insp = await inspector((await mf.getInspectorURL()).port);
		await insp.call("Profiler.enable");
		await insp.call("Profiler.setSamplingInterval", { interval: 100 });
		await insp.call("Profiler.start");
		const result = await load(SECONDS);
		const { profile } = await insp.call("Profiler.stop");
		if (process.env.BENCH_PROFILE_OUT) await writeFile(process.env.BENCH_PROFILE_OUT, JSON.stringify(profile));
		const requests = result.requests.total;
		const non2xx = result.non2xx;
		const { total, perSample, rows } = selfTimes(profile);
		const busy = rows.filter(([l]) => l !== "(idle)").reduce((n, [, c]) => n + c, 0);
		console.log(
			`cut ${CUT}, c${CONNECTIONS}, ${SECONDS} s: ${requests} requests (${(requests / SECONDS).toFixed(0)}/s, non-2xx ${non2xx})`,
		);
		console.log(
			`samples ${total} (${(perSample * 1000).toFixed(0)} µs each); busy (not idle) ${((busy * perSample * 1000) / requests).toFixed(1)} µs per request`,
		);
		console.log(`\n${"µs/req".padStart(8)} ${"share".padStart(6)}  function`);
		for (const [label, n] of rows.slice(0, TOP)) {
			console.log(`${((n * perSample * 1000) / requests).toFixed(1).padStart(8)} ${((100 * n) / total).toFixed(1).padStart(5)}%  ${label}`);
		}
	} finally {
		insp?.close();
		await close();
	}
}

main().catch((e) => {
	console.error(e);
	process.exit(1);
});
