/**
 * bench "headers" (bench/headers.mjs): the bare forward with a few extras, each picked by
 * the `x-bench-variant` request header, to price what a gateway must add to every
 * request: fields on the origin request, fields on the response, and how the origin
 * timeout is armed. Never deployed.
 *
 *   bare           exactly bench/workers/bare.ts: the incoming request handed to fetch with a new URL
 *   forward        the bare Worker's forward, its fields copied into a new Headers
 *   request-N      + N fields (32-byte values) on the origin request
 *   request-N-set  + the same N fields set on a Headers that is never sent (the JS cost alone)
 *   response-N     + N fields on the response (the origin's response rewrapped first)
 *   delete-N       + N deletes of fields the request does not have (a hop-by-hop strip's usual case)
 *   iterate        + one pass over the request's fields ([...headers])
 *   rewrap         the response rewrapped with no field added
 *   signal         the origin timeout as an AbortController whose signal fetch gets, cleared after the headers
 *   race           the origin timeout as a deadline raced against fetch (src/pipeline/proxy.ts)
 *   contract       the least any gateway must do to keep keygate's promised contract, and nothing of
 *                  keygate's own: the key's SHA-256 (KV is addressed by it), the credential removed, the
 *                  10 identity fields with a random request id and their HMAC-SHA256 signature ("What the
 *                  origin receives"), the origin timeout armed, and the origin's response rewrapped with
 *                  the 5 rate-limit fields ("Rate limits"). No lookup, no limiter, no routes.
 *   contract-untimed  the same without the origin timeout (keygate's `originTimeoutMs`, not part of that contract)
 *   contract-list  the same with every field in one list handed to fetch and to the response (no Headers changed)
 *   fields         the contract's 10 request and 5 response fields only (no hash, signature or timeout)
 *   hono-N         the plain forward served by a Hono app through N middlewares that each set a
 *                  context variable and await the next (keygate's app has 9 stages on a key's path)
 */
import { Hono, type MiddlewareHandler } from "hono";

interface HeadersEnv {
	ORIGIN: string;
}

const VALUE = "abcdefghijklmnopqrstuvwxyz012345";
const TIMEOUT_MS = 30_000;

const encoder = new TextEncoder();
let signingKey: Promise<CryptoKey> | undefined;
function hmacKey(): Promise<CryptoKey> {
	signingKey ??= crypto.subtle.importKey(
		"raw",
		encoder.encode("bench-signing-secret-of-32-bytes-or-more"),
		{ name: "HMAC", hash: "SHA-256" },
		false,
		["sign"],
	);
	return signingKey;
}

function hex(bytes: ArrayBuffer): string {
	let out = "";
	for (const b of new Uint8Array(bytes)) out += b.toString(16).padStart(2, "0");
	return out;
}

/** The identity fields but the request id and the signature, with values of a typical length. */
const IDENTITY: Readonly<Record<string, string>> = {
	"X-Keygate-Key-Id": "key_0123456789abcdefghij",
	"X-Keygate-Environment": "live",
	"X-Keygate-Scopes": "read,write",
	"X-Keygate-Owner": "org_bench",
	"X-Keygate-Service": "",
	"X-Keygate-Auth": "key",
	"X-Keygate-Subject": "",
	"X-Keygate-Client-Id": "",
};

/** The 10 identity fields and their values, as keygate sends them for a key (values of a typical length). */
async function identityFields(request: Request, target: URL): Promise<Record<string, string>> {
	const credential = request.headers.get("authorization") ?? "";
	await crypto.subtle.digest("SHA-256", encoder.encode(credential)); // the key's hash, as KV is addressed
	const fields: Record<string, string> = { ...IDENTITY };
	const id = new Uint8Array(16);
	crypto.getRandomValues(id);
	const requestId = `req_${hex(id.buffer)}`;
	const t = Math.floor(Date.now() / 1000);
	const message = ["v3", t, requestId, request.method, target.pathname + target.search, "", ...Object.values(fields)].join("\n");
	const mac = hex(await crypto.subtle.sign("HMAC", await hmacKey(), encoder.encode(message)));
	fields["X-Keygate-Request-Id"] = requestId;
	fields["X-Keygate-Signature"] = `t=${t},v3=${mac}`;
	return fields;
}

const PLAIN_FIELDS: Record<string, string> = {
	...IDENTITY,
	"X-Keygate-Request-Id": "req_0123456789abcdef0123456789abcdef",
	"X-Keygate-Signature": "t=1765000000,v3=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
};

/** The 5 rate-limit fields keygate adds to a passed request's response (src/pipeline/rate-limit.ts). */
function rateFields(): Record<string, string> {
	const reset = Math.floor(Date.now() / 1000) + 1;
	return {
		"X-RateLimit-Limit": "1000000",
		"X-RateLimit-Remaining": "999999",
		"X-RateLimit-Reset": String(reset),
		"RateLimit-Policy": '"burst";q=1000000;w=1',
		RateLimit: '"burst";r=999999;t=1',
	};
}

function extra(n: number, headers: Headers): void {
	for (let i = 0; i < n; i++) headers.set(`x-bench-field-${i}`, VALUE);
}

type HonoEnv = { Bindings: HeadersEnv; Variables: Record<string, number> };
const honoApps = new Map<number, Hono<HonoEnv>>();

/** A Hono app whose every request passes `n` middlewares, then gets the plain forward. */
function honoApp(n: number): Hono<HonoEnv> {
	let app = honoApps.get(n);
	if (app) return app;
	app = new Hono<HonoEnv>();
	const stages: MiddlewareHandler<HonoEnv>[] = Array.from({ length: n }, (_, i) => async (c, next) => {
		c.set(`stage${i}`, i);
		await next();
	});
	app.all("*", ...stages, (c) => plainForward(c.req.raw, c.env));
	honoApps.set(n, app);
	return app;
}

/** The bench's "forward" variant: the request's fields copied into a new Headers, to the origin. */
function plainForward(request: Request, env: HeadersEnv): Promise<Response> {
	const incoming = new URL(request.url);
	const headers = new Headers(request.headers);
	headers.delete("x-bench-variant");
	return fetch(new URL(incoming.pathname + incoming.search, env.ORIGIN), { method: request.method, headers, redirect: "manual" });
}

/** The origin timeout as keygate arms it: an AbortController whose signal fetch gets, cleared once the headers are in. */
async function fetchWithTimeout(target: URL, init: RequestInit): Promise<Response> {
	const abort = new AbortController();
	const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
	try {
		return await fetch(target, { ...init, signal: abort.signal });
	} finally {
		clearTimeout(timer);
	}
}

/** The `contract*` and `fields` variants (above). */
async function contract(request: Request, target: URL, crypto: boolean, timed: boolean, list: boolean): Promise<Response> {
	const fields = crypto ? await identityFields(request, target) : PLAIN_FIELDS;
	let headers: HeadersInit;
	if (list) {
		// Every field in one list handed to fetch: no Headers object built and then changed.
		const entries: [string, string][] = [];
		for (const [name, value] of request.headers) if (name !== "x-bench-variant" && name !== "authorization") entries.push([name, value]);
		for (const name in fields) entries.push([name, fields[name]!]);
		headers = entries;
	} else {
		const copy = new Headers(request.headers);
		copy.delete("x-bench-variant");
		copy.delete("authorization");
		for (const name in fields) copy.set(name, fields[name]!);
		headers = copy;
	}
	const init: RequestInit = { method: request.method, headers, redirect: "manual" };
	const upstream = crypto && timed ? await fetchWithTimeout(target, init) : await fetch(target, init);
	const rate = rateFields();
	if (list) {
		const entries: [string, string][] = [...upstream.headers];
		for (const name in rate) entries.push([name, rate[name]!]);
		return new Response(upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: entries });
	}
	const response = new Response(upstream.body, upstream);
	for (const name in rate) response.headers.set(name, rate[name]!);
	return response;
}

export default {
	async fetch(request: Request, env: HeadersEnv, ctx: ExecutionContext): Promise<Response> {
		const variant = request.headers.get("x-bench-variant") ?? "forward";
		const [kind, count, set] = variant.split("-");
		const n = Number(count ?? 0);
		if (kind === "hono") return honoApp(n).fetch(request, env, ctx);
		const incoming = new URL(request.url);
		const target = new URL(incoming.pathname + incoming.search, env.ORIGIN);
		if (kind === "bare") return fetch(new Request(target, request));
		if (kind === "contract" || kind === "fields")
			return contract(request, target, kind === "contract", count !== "untimed", count === "list");
		const headers = new Headers(request.headers);
		headers.delete("x-bench-variant");
		if (kind === "request") extra(n, set === "set" ? new Headers() : headers);
		if (kind === "delete") for (let i = 0; i < n; i++) headers.delete(`x-bench-absent-${i}`);
		if (kind === "iterate" && [...headers].length === 0) throw new Error("no fields");
		const init: RequestInit = { method: request.method, headers, redirect: "manual" };
		let upstream: Response;
		if (kind === "signal") upstream = await fetchWithTimeout(target, init);
		else if (kind === "race") {
			let timer!: ReturnType<typeof setTimeout>;
			const deadline = new Promise<null>((resolve) => (timer = setTimeout(resolve, TIMEOUT_MS, null)));
			const sent = fetch(target, init);
			sent.catch(() => undefined);
			const won = await Promise.race([sent, deadline]).finally(() => clearTimeout(timer));
			if (won === null) return new Response("timeout", { status: 504 });
			upstream = won;
		} else upstream = await fetch(target, init);
		if (kind !== "response" && kind !== "rewrap") return upstream;
		const response = new Response(upstream.body, upstream);
		extra(n, response.headers);
		return response;
	},
} satisfies ExportedHandler<HeadersEnv>;
