/**
 * End-to-end: the real Worker under `wrangler dev`, the demo origin, and the keys CLI,
 * driven over HTTP from Node. See ./stack.ts for how they are started.
 */
import { execFile } from "node:child_process";
import { createHmac } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freePorts, ROOT, useStack, type OriginRequest } from "./stack";

const s = useStack();

function admin(path: string, init: RequestInit = {}, token = s().adminToken): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("Authorization", `Bearer ${token}`);
	if (init.body !== undefined) headers.set("Content-Type", "application/json");
	return fetch(`${s().url}/_keygate/v1${path}`, { ...init, headers });
}

function call(path: string, key?: string, init: RequestInit = {}): Promise<Response> {
	const headers = new Headers(init.headers);
	if (key !== undefined) headers.set("Authorization", `Bearer ${key}`);
	return fetch(`${s().url}${path}`, { ...init, headers });
}

async function json<T = Record<string, unknown>>(res: Response): Promise<{ status: number; body: T; text: string }> {
	const text = await res.text();
	let body: T;
	try {
		body = JSON.parse(text) as T;
	} catch {
		throw new Error(`expected JSON (HTTP ${res.status}), got: ${text}`);
	}
	return { status: res.status, body, text };
}

interface RunResult {
	code: number;
	stdout: string;
	stderr: string;
}

/** Runs scripts/keys.mjs with a clean environment (no ADMIN_TOKEN or KEYGATE_URL from outside). */
function keysCli(args: string[]): Promise<RunResult> {
	const { ADMIN_TOKEN: _a, KEYGATE_URL: _u, ...env } = process.env;
	return new Promise((resolve) => {
		execFile(
			process.execPath,
			[path.join(ROOT, "scripts/keys.mjs"), ...args],
			{ cwd: ROOT, env, timeout: 30_000 },
			(error, stdout, stderr) => {
				const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
				resolve({ code, stdout, stderr });
			},
		);
	});
}

/** What the origin sees, as the demo origin echoes it. */
type Echo = OriginRequest;

describe("keygate under wrangler dev", () => {
	let keyId = "";
	let key = "";

	it("passes a public route straight through to the origin", async () => {
		const before = s().originRequests.length;
		const { status, body } = await json<Echo>(await call("/health"));
		expect(status).toBe(200);
		expect(body.method).toBe("GET");
		expect(body.path).toBe("/health");
		expect(Object.keys(body.headers).filter((h) => h.startsWith("x-keygate-"))).toEqual([]);
		expect(s().originRequests.length).toBe(before + 1);
		expect(s().originRequests.at(-1)!.path).toBe("/health");
	});

	it("refuses a request without a key before it reaches the origin", async () => {
		const before = s().originRequests.length;
		const res = await call("/v1/x");
		const { status, body } = await json(res);
		expect(status).toBe(401);
		expect(res.headers.get("Content-Type")).toBe("application/json");
		expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="keygate"/);
		expect(body.error).toBe("missing_api_key");
		expect(typeof body.message).toBe("string");
		expect(s().originRequests.length).toBe(before);
	});

	it("refuses the admin API without the right token", async () => {
		const { status, body } = await json(await admin("/keys", { method: "POST", body: JSON.stringify({ name: "x" }) }, "not-the-token"));
		expect(status).toBe(401);
		expect(body.error).toBe("invalid_admin_token");
	});

	it("creates a key through the admin API", async () => {
		const res = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "e2e", scopes: ["read", "write"] }) });
		const { status, body, text } = await json<{ id: string; key: string; start: string; tier: string }>(res);
		expect(status, text).toBe(201);
		expect(body.key).toMatch(/^sk_live_[0-9A-Za-z]{49}$/);
		expect(body.id).toMatch(/^key_/);
		expect(body.tier).toBe("free");
		expect(body.key.startsWith(body.start)).toBe(true);
		keyId = body.id;
		key = body.key;
	});

	it("forwards a keyed request with identity headers and without the credential", async () => {
		expect(key).not.toBe("");
		const before = s().originRequests.length;
		const res = await call("/v1/hello?a=1", key);
		const { status, body: echo, text } = await json<Echo>(res);
		expect(status, text).toBe(200);
		expect(res.headers.get("X-RateLimit-Limit")).toBe("1000");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("999");

		expect(echo.method).toBe("GET");
		expect(echo.path).toBe("/v1/hello");
		expect(echo.query).toEqual({ a: "1" });
		expect(echo.headers["x-keygate-key-id"]).toBe(keyId);
		expect(echo.headers["x-keygate-environment"]).toBe("live");
		expect(echo.headers["x-keygate-scopes"]).toBe("read,write");
		expect(echo.headers).not.toHaveProperty("authorization");
		expect(text).not.toContain(key);
		expect(JSON.stringify(s().originRequests)).not.toContain(key);

		// The signature verifies with the SIGNING_SECRET passed to wrangler (README "Verifying identity headers").
		const sig = /^t=(\d+),v3=([0-9a-f]{64})$/.exec(echo.headers["x-keygate-signature"] ?? "");
		expect(sig, echo.headers["x-keygate-signature"]).not.toBeNull();
		const requestId = echo.headers["x-keygate-request-id"] ?? "";
		expect(requestId).toMatch(/^req_/);
		const message = ["v3", sig![1], requestId, "GET", "/v1/hello?a=1", "", keyId, "live", "read,write", "", "", "key", "", ""].join("\n");
		expect(sig![2]).toBe(createHmac("sha256", s().signingSecret).update(message).digest("hex"));

		expect(s().originRequests.length).toBe(before + 1);
		expect(s().originRequests.at(-1)).toEqual(echo);
	});

	it("streams a request body to the origin unchanged", async () => {
		const payload = JSON.stringify({ hello: "world", n: 1 });
		const { status, body: echo } = await json<Echo>(
			await call("/v1/items", key, { method: "POST", body: payload, headers: { "Content-Type": "application/json" } }),
		);
		expect(status).toBe(200);
		expect(echo.method).toBe("POST");
		expect(echo.body).toBe(payload);
	});

	/** A body sent chunked (no Content-Length), in 64 KiB pieces. */
	function chunked(text: string): RequestInit {
		const bytes = new TextEncoder().encode(text);
		const body = new ReadableStream<Uint8Array>({
			start(controller) {
				for (let at = 0; at < bytes.length; at += 65_536) controller.enqueue(bytes.subarray(at, at + 65_536));
				controller.close();
			},
		});
		return { method: "POST", body, duplex: "half" } as RequestInit;
	}

	it("a body refused after part of it was read is read to its end: the next write is answered (found by a peer's suite: wrangler's plain-text 503)", async () => {
		const before = s().originRequests.length;
		for (let round = 0; round < 2; round++) {
			// Too large to check for a _method field: refused after maxBodyBytes were read.
			const form = chunked("a=" + "b".repeat(2_000_000));
			const refused = await json(
				await call("/v1/items", key, { ...form, headers: { "Content-Type": "application/x-www-form-urlencoded" } }),
			);
			expect(refused.status, refused.text).toBe(400);
			const next = await call("/v1/items", key, { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } });
			expect(next.status, await next.clone().text()).toBe(200);
			await next.body?.cancel();
			// An admin body over 256 KiB, chunked: refused after 256 KiB were read.
			const big = chunked(JSON.stringify({ api: "demo", name: "big", metadata: { pad: "a".repeat(300_000) } }));
			const tooLarge = await json(await admin("/keys", { ...big, headers: { "Content-Type": "application/json" } }));
			expect(tooLarge.status, tooLarge.text).toBe(400);
			const made = await json(
				await admin("/keys", { method: "POST", body: JSON.stringify({ api: "demo", name: "after a refused body" }) }),
			);
			expect(made.status, made.text).toBe(201);
			// The same body with its Content-Length: refused unread, and unread it stays.
			const declared = JSON.stringify({ api: "demo", name: "big", metadata: { pad: "a".repeat(300_000) } });
			const unread = await json(await admin("/keys", { method: "POST", body: declared }));
			expect(unread.status, unread.text).toBe(400);
			const after = await json(
				await admin("/keys", { method: "POST", body: JSON.stringify({ api: "demo", name: "after an unread body" }) }),
			);
			expect(after.status, after.text).toBe(201);
		}
		// Only the two good writes reached the origin.
		expect(s().originRequests.length).toBe(before + 2);
	});

	/** A request with `Expect: 100-continue` (fetch cannot send one), as curl sends one above 1 MiB: the body goes after a 100, or after a second without one. */
	function expectContinue(
		path: string,
		headers: Record<string, string | number>,
		body?: string,
	): Promise<{ status: number; text: string }> {
		return new Promise((resolve, reject) => {
			const method = body === undefined ? "GET" : "POST";
			const req = http.request(`${s().url}${path}`, { method, headers: { ...headers, Expect: "100-continue" } });
			let ended = false;
			const send = () => {
				if (ended) return;
				ended = true;
				req.end(body);
			};
			req.on("continue", send);
			// As curl does: without a 100 within a second, the body goes anyway.
			if (body !== undefined) setTimeout(send, 1000);
			req.on("response", (res) => {
				let text = "";
				res.setEncoding("utf8");
				res.on("data", (d: string) => (text += d));
				res.on("end", () => resolve({ status: res.statusCode!, text }));
			});
			req.on("error", reject);
			if (body === undefined) send();
		});
	}

	it("answers Expect: 100-continue itself: the body sent after the 100 reaches the origin, which never sees Expect", async () => {
		const payload = "x".repeat(200_000);
		const before = s().originRequests.length;
		const sent = await expectContinue(
			"/v1/upload",
			{ Authorization: `Bearer ${key}`, "Content-Type": "text/plain", "Content-Length": payload.length },
			payload,
		);
		expect(sent.status, sent.text.slice(0, 300)).toBe(200);
		const echo = JSON.parse(sent.text) as Echo;
		expect(echo.body).toBe(payload);
		expect(Object.keys(echo.headers).map((n) => n.toLowerCase())).not.toContain("expect");
		expect(s().originRequests.length).toBe(before + 1);
		// A public route, without a body: the same.
		const health = await expectContinue("/health", {});
		expect(health.status, health.text).toBe(200);
	});

	it("refuses a revoked key at once, before the origin", async () => {
		const revoked = await json<{ id: string; revokedAt: string | null }>(await admin(`/keys/${keyId}/revoke`, { method: "POST" }));
		expect(revoked.status, revoked.text).toBe(200);
		expect(revoked.body.revokedAt).not.toBeNull();

		const before = s().originRequests.length;
		const { status, body } = await json(await call("/v1/hello", key));
		expect(status).toBe(401);
		expect(body.error).toBe("expired_api_key");
		expect(s().originRequests.length).toBe(before);
	});

	describe("keys CLI", () => {
		it("creates a key, prints it as JSON once, and never prints the admin token", async () => {
			const r = await keysCli(["create", "--name", "cli", "--scopes", "read", "--url", s().url, "--token", s().adminToken]);
			expect(r.code, r.stderr).toBe(0);
			const created = JSON.parse(r.stdout) as { id: string; key: string; name: string; scopes: string[] };
			expect(created.key).toMatch(/^sk_/);
			expect(created.name).toBe("cli");
			expect(created.scopes).toEqual(["read"]);
			expect(r.stderr).toMatch(/shown only once/);
			expect(r.stdout + r.stderr).not.toContain(s().adminToken);

			// The key it printed works through the gateway.
			const { status, body } = await json<Echo>(await call("/v1/cli", created.key));
			expect(status).toBe(200);
			expect(body.headers["x-keygate-key-id"]).toBe(created.id);

			const shown = await keysCli(["show", created.id, "--url", s().url, "--token", s().adminToken]);
			expect(shown.code, shown.stderr).toBe(0);
			expect(JSON.parse(shown.stdout)).toMatchObject({ id: created.id, name: "cli" });
			expect(shown.stdout).not.toContain(created.key);
		});

		it("exits 1 with the error body when the admin token is wrong", async () => {
			const r = await keysCli(["list", "--url", s().url, "--token", "wrong-token-123"]);
			expect(r.code).toBe(1);
			expect(r.stdout).toBe("");
			expect(r.stderr).toContain("invalid_admin_token");
			expect(r.stderr).not.toContain("wrong-token-123");
		});

		it("exits 1 naming the URL when nothing answers there", async () => {
			const [closed] = await freePorts(1);
			const url = `http://127.0.0.1:${closed}`;
			const r = await keysCli(["list", "--url", url, "--token", "t"]);
			expect(r.code).toBe(1);
			expect(r.stderr).toContain(url);
			expect(r.stderr).toContain("npm run dev");
		});

		it("exits 2 with the usage on an unknown command or option", async () => {
			const unknown = await keysCli(["frobnicate", "--token", "t"]);
			expect(unknown.code).toBe(2);
			expect(unknown.stderr).toContain("Usage:");
			const badFlag = await keysCli(["create", "--name", "x", "--colour", "red", "--token", "t"]);
			expect(badFlag.code).toBe(2);
			expect(badFlag.stderr).toContain("--colour");
		});
	});
});
