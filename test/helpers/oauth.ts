import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { issueAuthorizationCode, s256 } from "../../src/oauth/codes";
import type { BoundGateway } from "./gateway";

export const REDIRECT = "https://app.example/callback";

export interface Client {
	id: string;
	secret: string | null;
}

export async function createClient(gw: BoundGateway, body: Record<string, unknown> = {}): Promise<Client> {
	const res = await gw.admin("/oauth/clients", {
		method: "POST",
		body: JSON.stringify({ name: "Test app", redirectUris: [REDIRECT], ...body }),
	});
	const json = await res.json<Client>();
	expect(res.status, JSON.stringify(json)).toBe(201);
	return json;
}

/**
 * A code as the authorization endpoint issues it once the user has signed in and
 * consented: the same function, called directly.
 */
export async function codeFor(
	clientId: string,
	opts: { subject?: string; scopes?: string[]; verifier?: string; api?: string; redirectUri?: string; codeTtl?: number } = {},
): Promise<string> {
	const { code } = await issueAuthorizationCode(env, {
		api: opts.api ?? "demo",
		subject: opts.subject ?? "user_1",
		clientId,
		redirectUri: opts.redirectUri ?? REDIRECT,
		scopes: opts.scopes ?? ["read", "write"],
		environment: "live",
		tier: "free",
		challenge: opts.verifier === undefined ? null : await s256(opts.verifier),
		codeTtl: opts.codeTtl ?? 600,
	}).then((issued) => issued!);
	return code;
}

export interface TokenResponse {
	access_token: string;
	token_type: string;
	expires_in: number;
	refresh_token: string;
	scope: string;
}

/** POST /oauth/token with a JSON body, as seed 004 shows it. */
export function tokenJson(gw: BoundGateway, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Response> {
	return gw.call("/oauth/token", {
		method: "POST",
		headers: { "Content-Type": "application/json", ...headers },
		body: JSON.stringify(body),
	});
}

/** POST /oauth/token with a form body, as RFC 6749 shows it. */
export function tokenForm(gw: BoundGateway, body: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
	return gw.call("/oauth/token", {
		method: "POST",
		headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
		body: new URLSearchParams(body).toString(),
	});
}

export const basic = (id: string, secret: string) => `Basic ${btoa(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`)}`;

export async function tokensFor(gw: BoundGateway, client: Client, opts: Parameters<typeof codeFor>[1] = {}): Promise<TokenResponse> {
	const code = await codeFor(client.id, opts);
	const res = await tokenJson(gw, {
		grant_type: "authorization_code",
		code,
		client_id: client.id,
		client_secret: client.secret,
		redirect_uri: opts.redirectUri ?? REDIRECT,
	});
	const text = await res.text();
	expect(res.status, text).toBe(200);
	return JSON.parse(text) as TokenResponse;
}
