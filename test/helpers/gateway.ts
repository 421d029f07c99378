import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { app } from "../../src/app";
import { TEST_ADMIN_TOKEN } from "../constants";

export const BASE = "https://api.example.com";

export interface CreatedKey {
	id: string;
	key: string;
	[field: string]: unknown;
}

/** A request through the real Worker entry point (bindings and Durable Objects included). */
export function call(path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
	const { key, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (key !== undefined) headers.set("Authorization", `Bearer ${key}`);
	return exports.default.fetch(new Request(BASE + path, { ...rest, headers }));
}

export function admin(path: string, init: RequestInit = {}, token = TEST_ADMIN_TOKEN): Promise<Response> {
	const headers = new Headers(init.headers);
	headers.set("Authorization", `Bearer ${token}`);
	if (init.body) headers.set("Content-Type", "application/json");
	return exports.default.fetch(new Request(`${BASE}/_keygate/v1${path}`, { ...init, headers }));
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
export function callWithEnv(overrides: Partial<Record<keyof typeof env | "KEYGATE_CONFIG", unknown>>, path: string, init: RequestInit & { key?: string } = {}): Promise<Response> {
	const { key, ...rest } = init;
	const headers = new Headers(rest.headers);
	if (key !== undefined) headers.set("Authorization", `Bearer ${key}`);
	const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
	return Promise.resolve(app.fetch(new Request(BASE + path, { ...rest, headers }), { ...env, ...overrides }, ctx));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
