#!/usr/bin/env node
// The demo origin: a stand-in for your real API behind keygate. It answers every
// request with 200 and JSON describing exactly what it received, so you can see what
// keygate forwards (identity headers in, credential out).
//
//   node demo/origin.mjs [--port 8788]      (or DEMO_ORIGIN_PORT=8788, or PORT=8788)
//
// Imported, `startDemoOrigin(port)` starts the same server in-process.
import http from "node:http";
import { pathToFileURL } from "node:url";

export const DEFAULT_ORIGIN_PORT = 8788;
export const ORIGIN_HOST = "127.0.0.1";

/** What the origin received, as it answers it. */
export function describeRequest(req, body) {
	const url = new URL(req.url ?? "/", "http://origin.invalid");
	const headers = {};
	for (const [name, value] of Object.entries(req.headers)) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
	return { method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body };
}

/**
 * Starts the demo origin on 127.0.0.1:`port` (0 picks a free port).
 * `onRequest`, if given, is called with each request's description (tests record them).
 * @returns {Promise<{ server: http.Server, port: number, close(): Promise<void> }>}
 */
export function startDemoOrigin(port = DEFAULT_ORIGIN_PORT, { host = ORIGIN_HOST, onRequest, keepAliveTimeoutMs, dropReusedEvery } = {}) {
	let reused = 0;
	const server = http.createServer((req, res) => {
		// Tests only: play an origin that closes a kept-alive connection just as it is reused,
		// so the request fails before any response byte (every `dropReusedEvery`-th reuse).
		const socket = req.socket;
		socket.requests = (socket.requests ?? 0) + 1;
		if (dropReusedEvery && socket.requests > 1 && ++reused % dropReusedEvery === 0) {
			socket.destroy();
			return;
		}
		const chunks = [];
		req.on("data", (chunk) => chunks.push(chunk));
		req.on("error", () => res.destroy());
		req.on("end", () => {
			const description = describeRequest(req, Buffer.concat(chunks).toString("utf8"));
			try {
				onRequest?.(description);
			} catch {
				// a recorder's failure must not break the answer
			}
			const payload = JSON.stringify(description, null, 2);
			res.writeHead(200, {
				"Content-Type": "application/json; charset=utf-8",
				"Content-Length": Buffer.byteLength(payload),
				"X-Origin": "keygate-demo",
			});
			res.end(req.method === "HEAD" ? undefined : payload);
		});
	});
	// Tests pass a short keep-alive to play an origin that closes idle connections early.
	if (keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = keepAliveTimeoutMs;
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(port, host, () => {
			server.off("error", reject);
			const address = server.address();
			resolve({
				server,
				port: typeof address === "object" && address ? address.port : port,
				close: () =>
					new Promise((done) => {
						server.close(() => done());
						server.closeAllConnections?.();
					}),
			});
		});
	});
}

function portFromArgs(argv, env) {
	const i = argv.findIndex((a) => a === "--port" || a.startsWith("--port="));
	const raw = i === -1 ? (env.DEMO_ORIGIN_PORT ?? env.PORT) : argv[i].includes("=") ? argv[i].slice("--port=".length) : argv[i + 1];
	if (raw === undefined || raw === "") return DEFAULT_ORIGIN_PORT;
	const port = Number(raw);
	if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`demo origin: invalid port "${raw}"`);
	return port;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
	let port;
	try {
		port = portFromArgs(process.argv.slice(2), process.env);
	} catch (e) {
		console.error(e.message);
		process.exit(2);
	}
	startDemoOrigin(port).then(
		(origin) => {
			console.log(`demo origin listening on http://${ORIGIN_HOST}:${origin.port}`);
			const stop = () => origin.close().then(() => process.exit(0));
			process.once("SIGINT", stop);
			process.once("SIGTERM", stop);
		},
		(e) => {
			console.error(`demo origin: cannot listen on ${ORIGIN_HOST}:${port}: ${e.message}`);
			process.exit(1);
		},
	);
}
