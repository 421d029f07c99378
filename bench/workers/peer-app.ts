/**
 * The bench's peer: what a Workers user would assemble instead of keygate, from the usual
 * parts, following each library's documentation:
 *
 *   - Hono's `bearerAuth` with `verifyToken`: SHA-256 of the presented token, looked up in
 *     KV (no isolate cache: the documented pattern reads KV on every request);
 *   - `hono-rate-limiter` with the Durable Object store from `@hono-rate-limiter/cloudflare`
 *     (one object per key, 1000 requests per hour unless the key's record says otherwise);
 *   - then the request, minus the Authorization header, forwarded to the origin.
 *
 * A key record in PEER_KEYS is `{ "name": string, "limit"?: number }` under the key's
 * SHA-256 hex. The bench gives its throughput key a very high `limit` so that, like
 * keygate's throughput key, it is never refused; every request still makes the same
 * KV read and Durable Object call.
 */
import { DurableObjectStore } from "@hono-rate-limiter/cloudflare";
import { Hono, type Context } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { rateLimiter } from "hono-rate-limiter";

export interface PeerBindings {
	PEER_KEYS: KVNamespace;
	RATE_LIMITER: DurableObjectNamespace;
	ORIGIN: string;
}

interface PeerKey {
	name: string;
	limit?: number;
}

type PeerEnv = { Bindings: PeerBindings; Variables: { keyHash: string; peerKey: PeerKey } };

const DEFAULT_LIMIT = 1000;
const WINDOW_MS = 60 * 60 * 1000;

const encoder = new TextEncoder();
async function sha256Hex(value: string): Promise<string> {
	const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(value)));
	let out = "";
	for (const b of digest) out += b.toString(16).padStart(2, "0");
	return out;
}

export const app = new Hono<PeerEnv>();

app.use(
	"*",
	bearerAuth({
		verifyToken: async (token, context) => {
			const c = context as unknown as Context<PeerEnv>;
			const hash = await sha256Hex(token);
			const record = await c.env.PEER_KEYS.get<PeerKey>(hash, { type: "json", cacheTtl: 60 });
			if (!record) return false;
			c.set("keyHash", hash);
			c.set("peerKey", record);
			return true;
		},
	}),
);

// The store needs the binding, which only exists per request: this is the pattern the
// library's README shows for Cloudflare.
app.use("*", (c, next) =>
	rateLimiter<PeerEnv>({
		windowMs: WINDOW_MS,
		limit: (c) => c.var.peerKey.limit ?? DEFAULT_LIMIT,
		standardHeaders: "draft-6",
		keyGenerator: (c) => c.var.keyHash,
		store: new DurableObjectStore({ namespace: c.env.RATE_LIMITER as never }),
	})(c, next),
);

app.all("*", (c) => {
	const incoming = new URL(c.req.url);
	const headers = new Headers(c.req.raw.headers);
	headers.delete("Authorization");
	const method = c.req.method;
	const hasBody = method !== "GET" && method !== "HEAD";
	return fetch(new URL(incoming.pathname + incoming.search, c.env.ORIGIN), {
		method,
		headers,
		body: hasBody ? c.req.raw.body : null,
		redirect: "manual",
	});
});
