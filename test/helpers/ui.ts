import { env, exports } from "cloudflare:workers";
import { createExecutionContext } from "cloudflare:test";
import { expect } from "vitest";
import { app } from "../../src/app";
import { FORM_TOKEN_FIELD, formToken } from "../../src/ui/security";
import { TEST_ADMIN_TOKEN } from "../constants";
import { admin, BASE, gatewayFor } from "./gateway";

export const UI = "/_keygate/ui";

export interface UiInit {
	method?: string;
	/** Sent as application/x-www-form-urlencoded, as a browser form is. */
	form?: Record<string, string | string[]>;
	cookie?: string;
	headers?: Record<string, string>;
	/** Replaces bindings (another ADMIN_TOKEN, none). */
	bindings?: Record<string, unknown>;
}

/**
 * A request as a browser would send it: unsafe methods carry `Sec-Fetch-Site: same-origin`
 * unless the test gives its own headers; the session cookie when given.
 */
export async function ui(path: string, init: UiInit = {}): Promise<Response> {
	const method = init.method ?? (init.form ? "POST" : "GET");
	const headers = new Headers(init.headers);
	if (method !== "GET" && !init.headers) headers.set("Sec-Fetch-Site", "same-origin");
	if (init.cookie) headers.set("Cookie", init.cookie);
	let body: string | undefined;
	if (init.form) {
		const params = new URLSearchParams();
		// The session's form token, as the page the form is on carries it (security.ts), unless the test sends its own.
		const token = FORM_TOKEN_FIELD in init.form ? undefined : await formTokenFor(path, init, headers);
		if (token) params.append(FORM_TOKEN_FIELD, token);
		for (const [k, v] of Object.entries(init.form)) for (const x of [v].flat()) params.append(k, x);
		body = params.toString();
		headers.set("Content-Type", "application/x-www-form-urlencoded");
	}
	const request = new Request(BASE + path, { method, headers, body, redirect: "manual" });
	if (init.bindings) return Promise.resolve(app.fetch(request, { ...env, ...init.bindings }, createExecutionContext()));
	return exports.default.fetch(request);
}

/**
 * The form token a page of this session carries: worked out from a session cookie, or read
 * off the app's home page (a session with no cookie: Cloudflare Access). None without a session.
 */
async function formTokenFor(path: string, init: UiInit, headers: Headers): Promise<string | undefined> {
	const session = /^__Host-kg_(?:session|portal)=([^;]+)/.exec(init.cookie ?? "")?.[1];
	const adminToken = (init.bindings?.ADMIN_TOKEN as string | undefined) ?? env.ADMIN_TOKEN ?? "";
	if (session) return formToken(adminToken, session);
	if (!headers.has("Cf-Access-Jwt-Assertion")) return undefined;
	const home = path.startsWith("/_keygate/portal") ? "/_keygate/portal/" : `${UI}/`;
	const page = await ui(home, { headers: { "Cf-Access-Jwt-Assertion": headers.get("Cf-Access-Jwt-Assertion")! }, bindings: init.bindings });
	return /<meta name="kg-form" content="([0-9a-f]{64})"/.exec(await page.text())?.[1];
}

/** Signs in with the admin token and returns the `name=value` of the session cookie. */
export async function signIn(token = TEST_ADMIN_TOKEN, bindings?: Record<string, unknown>): Promise<string> {
	const res = await ui(`${UI}/login`, {
		form: { token },
		bindings,
		headers: { "Sec-Fetch-Site": "same-origin", "CF-Connecting-IP": "192.0.2.10" },
	});
	expect(res.status, await res.clone().text()).toBe(303);
	const set = res.headers.get("Set-Cookie") ?? "";
	const m = /^(__Host-kg_session=[^;]+);/.exec(set);
	expect(m, set).not.toBeNull();
	return m![1]!;
}

/** The plaintext keys shown in a page (a generate or rotate answer). */
export function shownKeys(html: string): string[] {
	return [...html.matchAll(/<code id="secret-\d+" data-secret="">([^<]+)<\/code>/g)].map((m) => m[1]!);
}

/** A portal session for `owner` of the bundled API (or of `config`'s first API), entered as a browser does: its cookie. */
export async function portalCookie(owner: string, config?: unknown): Promise<string> {
	const bindings = config ? { KEYGATE_CONFIG: JSON.stringify(config) } : undefined;
	const body = { method: "POST", body: JSON.stringify(config ? { owner } : { api: "demo", owner }) };
	const res = config ? await gatewayFor(config).admin("/portal-sessions", body) : await admin("/portal-sessions", body);
	expect(res.status).toBe(201);
	const { url } = await res.json<{ url: string }>();
	const token = new URL(url).searchParams.get("token")!;
	const entered = await ui("/_keygate/portal/enter", { form: { token }, bindings, headers: { "Sec-Fetch-Site": "same-origin" } });
	expect(entered.status, await entered.clone().text()).toBe(303);
	return entered.headers.get("Set-Cookie")!.split(";")[0]!;
}
