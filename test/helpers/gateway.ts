import { env } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import openApiDocument from "../../src/admin/openapi.json";
import { app } from "../../src/app";
import { TEST_ADMIN_TOKEN } from "../constants";
import { checkResponse, findOperation, type OpenApiDocument } from "./openapi-check";

export const BASE = "https://api.example.com";

const ADMIN_PREFIX = "/_keygate/v1";
export const adminDocument = openApiDocument as unknown as OpenApiDocument;

/** Every documented admin answer the tests have seen (since the last clear), as `METHOD /template STATUS`. */
export const seenAdminAnswers = new Set<string>();

/**
 * Every response to a documented admin operation, whichever helper sent it, is checked
 * against the served OpenAPI document (the same file, src/admin/openapi.json): status,
 * required headers, content type and body. A mismatch fails the test that caused it.
 */
async function conforming(request: Request, response: Response): Promise<Response> {
	const { pathname } = new URL(request.url);
	if (!pathname.startsWith(`${ADMIN_PREFIX}/`)) return response;
	const found = findOperation(adminDocument, request.method, pathname.slice(ADMIN_PREFIX.length));
	if (!found) return response;
	const body = await response.clone().text();
	const problems = checkResponse(adminDocument, found.operation, { status: response.status, headers: response.headers, body });
	const what = `${request.method} ${found.template} -> ${response.status} breaks the OpenAPI document (${problems.join("; ")}): ${body.slice(0, 300)}`;
	expect(problems, what).toEqual([]);
	seenAdminAnswers.add(`${request.method} ${found.template} ${response.status}`);
	return response;
}

/**
 * The Worker's handler (src/index.ts exports `app` as it is) with the real bindings, KV and
 * Durable Objects, in a fresh execution context. Not `exports.default.fetch`: through the
 * pool's entry wrapper each request cost more than the one before, within a test and across
 * a file's tests (60 sequential requests took 0.27 s, then 0.44, 0.81, 1.5, 2.3 and 3.3 s;
 * through the handler a flat 0.17 s), which made the sharding file 37 s instead of 5 s. The UI
 * helpers (helpers/ui.ts) still go through `exports.default.fetch`, and the e2e project
 * drives `wrangler dev` over HTTP.
 */
function viaWorker(request: Request): Promise<Response> {
	return Promise.resolve(app.fetch(request, env, createExecutionContext())).then((res) => conforming(request, res));
}

function viaApp(request: Request, bindings: object): Promise<Response> {
	return Promise.resolve(app.fetch(request, bindings, createExecutionContext())).then((res) => conforming(request, res));
}

export interface CreatedKey {
	id: string;
	key: string;
	[field: string]: unknown;
}

/** A request through the Worker's handler (bindings and Durable Objects included; see viaWorker). */
export function call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
	const { key, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (key !== undefined) headers.set("Authorization", `Bearer ${key}`);
	return viaWorker(new Request(BASE + path, { ...rest, headers }));
}

export function admin(path: string, init: RequestInit = {}, token = TEST_ADMIN_TOKEN): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("Authorization", `Bearer ${token}`);
	if (init.body) headers.set("Content-Type", "application/json");
	return viaWorker(new Request(`${BASE}${ADMIN_PREFIX}${path}`, { ...init, headers }));
}

export async function createKey(body: Record<string, unknown> = {}): Promise<CreatedKey> {
	const res = await admin("/keys", { method: "POST", body: JSON.stringify({ name: "test key", scopes: ["read", "write"], ...body }) });
	const json = await res.json<CreatedKey>();
	expect(res.status, JSON.stringify(json)).toBe(201);
	return json;
}

/** Asserts the documented error: status, JSON body, no-store, and (for 401) a challenge. */
export async function expectError(res: Response, status: number, code: string, message?: string): Promise<Record<string, unknown>> {
	const text = await res.text();
	expect(res.status, text).toBe(status);
	expect(res.headers.get("Content-Type")).toBe("application/json");
	expect(res.headers.get("Cache-Control")).toBe("no-store");
	const body = JSON.parse(text) as Record<string, unknown>;
	expect(body.error, text).toBe(code);
	if (message !== undefined) expect(body.message).toBe(message);
	if (status === 401) expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="keygate"/);
	return body;
}

/** The same Worker with another config in KEYGATE_CONFIG, on the same real bindings. */
export function callWithConfig(config: unknown, path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
	return callWithEnv({ KEYGATE_CONFIG: JSON.stringify(config) }, path, init);
}

/** The same Worker with some bindings replaced (a failing KV, a broken Durable Object namespace). */
export function callWithEnv(
	overrides: Partial<Record<keyof typeof env | "KEYGATE_CONFIG" | "KEYGATE_CLIENT_ADDRESS", unknown>>,
	path: string,
	init: RequestInit & { key?: string } = {},
): Promise<Response> {
	const { key, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (key !== undefined) headers.set("Authorization", `Bearer ${key}`);
	return viaApp(new Request(BASE + path, { ...rest, headers }), { ...env, ...overrides });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface BoundGateway {
	/** A request through keygate running `config`; `path` may be a full URL to choose the host. */
	call(path: string, init?: RequestInit & { key?: string; scheme?: string }): Promise<Response>;
	/** An admin API request (path under /_keygate/v1) on the same config. */
	admin(path: string, init?: RequestInit): Promise<Response>;
	/** Creates a key through the admin API; fails the test unless it is 201. */
	createKey(body: Record<string, unknown>): Promise<CreatedKey>;
}

/**
 * keygate running another config (an example's), on the same real KV and Durable
 * Objects. `key` is sent as `Authorization: <scheme> <key>` (scheme default Bearer).
 */
export function gatewayFor(config: unknown, base = BASE, vars: Record<string, string> = {}): BoundGateway {
	const text = JSON.stringify(config);
	const send = (url: string, init: RequestInit) => viaApp(new Request(url, init), { ...env, ...vars, KEYGATE_CONFIG: text });
	const bound: BoundGateway = {
		call(path, init = {}) {
			const { key, scheme = "Bearer", ...rest } = init;
			const headers = new Headers(rest.headers);
			if (key !== undefined) headers.set("Authorization", `${scheme} ${key}`);
			return send(path.startsWith("http") ? path : base + path, { ...rest, headers });
		},
		admin(path, init = {}) {
			const headers = new Headers(init.headers);
			headers.set("Authorization", `Bearer ${TEST_ADMIN_TOKEN}`);
			if (init.body) headers.set("Content-Type", "application/json");
			return send(`${base}${ADMIN_PREFIX}${path}`, { ...init, headers });
		},
		async createKey(body) {
			const res = await bound.admin("/keys", { method: "POST", body: JSON.stringify(body) });
			const json = await res.json<CreatedKey>();
			expect(res.status, JSON.stringify(json)).toBe(201);
			return json;
		},
	};
	return bound;
}

/**
 * Asserts an exact error body (compared as text, byte for byte with the documentation),
 * JSON, uncacheable, and on 401 the challenge when `challenge` is given.
 */
export async function expectBody(res: Response, status: number, body: string, challenge?: RegExp): Promise<void> {
	const text = await res.text();
	expect(res.status, text).toBe(status);
	expect(text).toBe(body);
	expect(res.headers.get("Content-Type")).toBe("application/json");
	expect(res.headers.get("Cache-Control")).toBe("no-store");
	if (status === 401 && challenge) expect(res.headers.get("WWW-Authenticate")).toMatch(challenge);
}

/** A well-formed key whose checksum is wrong: its last character changed to a different one. */
export function badChecksum(key: string): string {
	return key.slice(0, -1) + (key.endsWith("0") ? "1" : "0");
}
