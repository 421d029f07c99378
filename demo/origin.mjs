#!/usr/bin/env node
// The demo origin: a stand-in for your real API behind keygate. It answers every
// request with 200 and JSON describing exactly what it received, so you can see what
// keygate forwards (identity headers in, credential out).
//
//   node demo/origin.mjs [--port 8788]      (or DEMO_ORIGIN_PORT=8788, or PORT=8788)
//
// Imported, `startDemoOrigin(port)` starts the same server in-process.
import { createHmac, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
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

// ---- the demo API's sign-in, for keygate's OAuth `login.mode: "origin"` (README "OAuth 2.0") ----

/** The demo's one user. Offline and for local development only. */
export const DEMO_USER = { username: "demo", password: "demo", subject: "demo-user" };

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** HS256 JWT under `secret`. */
export function signHs256(payload, secret) {
	const head = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(payload))}`;
	return `${head}.${createHmac("sha256", secret).update(head).digest("base64url")}`;
}

/** The payload of an HS256 JWT under `secret` that has not expired, else null. */
export function verifyHs256(jwt, secret) {
	const parts = String(jwt ?? "").split(".");
	if (parts.length !== 3) return null;
	try {
		const header = JSON.parse(Buffer.from(parts[0], "base64url").toString("utf8"));
		if (header.alg !== "HS256") return null;
		const expected = createHmac("sha256", secret).update(`${parts[0]}.${parts[1]}`).digest();
		const given = Buffer.from(parts[2], "base64url");
		if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
		const payload = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
		return typeof payload.exp === "number" && payload.exp > Date.now() / 1000 ? payload : null;
	} catch {
		return null;
	}
}

const escapeHtml = (s) =>
	String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

/**
 * GET /login?request=…: keygate's signed login request (5 minutes) → a sign-in form.
 * POST /login: the demo user's name and password → back to keygate's `return_to` with an
 * assertion (HS256 under SIGNING_SECRET, iss = this origin, aud = keygate's issuer, the
 * request's nonce, 60 s). Returns null for any other request.
 */
export function handleLogin(req, body, secret) {
	const url = new URL(req.url ?? "/", "http://origin.invalid");
	if (url.pathname !== "/login" || (req.method !== "GET" && req.method !== "POST")) return null;
	const html = (status, inner) => ({
		status,
		headers: {
			"Content-Type": "text/html; charset=utf-8",
			"Cache-Control": "no-store",
			"Content-Security-Policy": "frame-ancestors 'none'",
		},
		body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Demo sign-in</title></head><body>${inner}</body></html>`,
	});
	if (!secret) return html(503, "<p>SIGNING_SECRET is not set for the demo origin.</p>");
	const form = req.method === "POST" ? new URLSearchParams(body) : url.searchParams;
	const raw = form.get("request");
	const request = verifyHs256(raw, secret);
	if (!request || typeof request.nonce !== "string" || typeof request.return_to !== "string")
		return html(400, "<p>This sign-in request is invalid or has expired. Start again from the application.</p>");
	if (req.method === "GET")
		return html(
			200,
			`<h1>Demo API: sign in</h1><p>Test user: <code>${DEMO_USER.username}</code> / <code>${DEMO_USER.password}</code></p>
<form method="post" action="/login"><input type="hidden" name="request" value="${escapeHtml(raw)}">
<label>User <input name="username" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button></form>`,
		);
	if (form.get("username") !== DEMO_USER.username || form.get("password") !== DEMO_USER.password)
		return html(401, "<p>Wrong user or password. Go back and try again.</p>");
	const now = Math.floor(Date.now() / 1000);
	const assertion = signHs256(
		{ iss: request.aud, aud: request.iss, sub: DEMO_USER.subject, nonce: request.nonce, iat: now, exp: now + 60 },
		secret,
	);
	const back = new URL(request.return_to);
	back.searchParams.set("assertion", assertion);
	return { status: 302, headers: { Location: back.toString(), "Cache-Control": "no-store" }, body: "" };
}

/** Tests only: the answer's headers after `headersMs`, then half the body, then the rest `bodyMs` later (by bytes; none for HEAD). */
function answerSlowly(res, payload, { headersMs = 0, bodyMs = 0 }, headers, head) {
	const bytes = Buffer.from(payload, "utf8");
	const half = Math.floor(bytes.length / 2);
	setTimeout(() => {
		if (res.destroyed) return;
		res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "X-Origin": "keygate-demo", ...headers });
		if (head) {
			res.end();
			return;
		}
		res.write(bytes.subarray(0, half));
		setTimeout(() => res.destroyed || res.end(bytes.subarray(half)), bodyMs);
	}, headersMs);
}

/**
 * Starts the demo origin on 127.0.0.1:`port` (0 picks a free port).
 * `onRequest`, if given, is called with each request's description (tests record them);
 * `responseHeaders`, if given, adds the fields it returns for a description to the answer
 * (tests play an origin that sends its own, such as a Cross-Origin-Opener-Policy);
 * `pace`, if given, returns for a description how long to wait before the answer's headers
 * (`headersMs`) and between the two halves of its body (`bodyMs`): tests play a slow origin.
 * @returns {Promise<{ server: http.Server, port: number, close(): Promise<void> }>}
 */
export function startDemoOrigin(
	port = DEFAULT_ORIGIN_PORT,
	{ host = ORIGIN_HOST, onRequest, signingSecret, keepAliveTimeoutMs, dropReusedEvery, responseHeaders, pace } = {},
) {
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
			const text = Buffer.concat(chunks).toString("utf8");
			// `signingSecret` may be a function: the dev script learns the secret after the origin starts.
			const login = handleLogin(req, text, typeof signingSecret === "function" ? signingSecret() : signingSecret);
			if (login) {
				res.writeHead(login.status, login.headers);
				res.end(login.body);
				return;
			}
			const description = describeRequest(req, text);
			try {
				onRequest?.(description);
			} catch {
				// a recorder's failure must not break the answer
			}
			const payload = JSON.stringify(description, null, 2);
			const slow = pace?.(description);
			if (slow) {
				answerSlowly(res, payload, slow, responseHeaders?.(description), req.method === "HEAD");
				return;
			}
			res.writeHead(200, {
				"Content-Type": "application/json; charset=utf-8",
				"Content-Length": Buffer.byteLength(payload),
				"X-Origin": "keygate-demo",
				...responseHeaders?.(description),
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

/** A variable from ./.dev.vars (what `npm run dev` writes), for running this file on its own. */
function devVar(name) {
	try {
		const m = new RegExp(`^\\s*${name}\\s*=\\s*"?([^"\\n]*)"?\\s*$`, "m").exec(readFileSync(".dev.vars", "utf8"));
		return m ? m[1] : undefined;
	} catch {
		return undefined;
	}
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
	startDemoOrigin(port, { signingSecret: () => process.env.SIGNING_SECRET ?? devVar("SIGNING_SECRET") }).then(
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
