/**
 * bench "headers" (bench/headers.mjs): the bare forward with a few extras, each picked by
 * the `x-bench-variant` request header, to price what a gateway must add to every
 * request: fields on the origin request, fields on the response, and how the origin
 * timeout is armed. Never deployed.
 *
 *   forward        the bare Worker's forward, its fields copied into a new Headers
 *   request-N      + N fields (32-byte values) on the origin request
 *   request-N-set  + the same N fields set on a Headers that is never sent (the JS cost alone)
 *   response-N     + N fields on the response (the origin's response rewrapped first)
 *   delete-N       + N deletes of fields the request does not have (a hop-by-hop strip's usual case)
 *   iterate        + one pass over the request's fields ([...headers])
 *   rewrap         the response rewrapped with no field added
 *   signal         the origin timeout as an AbortController whose signal fetch gets, cleared after the headers
 *   race           the origin timeout as a deadline raced against fetch (src/pipeline/proxy.ts)
 *   hono-N         the plain forward served by a Hono app through N middlewares that each set a
 *                  context variable and await the next (keygate's app has 9 stages on a key's path)
 */
import { Hono, type MiddlewareHandler } from "hono";

interface HeadersEnv {
	ORIGIN: string;
}

const VALUE = "abcdefghijklmnopqrstuvwxyz012345";
const TIMEOUT_MS = 30_000;

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

export default {
	async fetch(request: Request, env: HeadersEnv, ctx: ExecutionContext): Promise<Response> {
		const variant = request.headers.get("x-bench-variant") ?? "forward";
		const [kind, count, set] = variant.split("-");
		const n = Number(count ?? 0);
		if (kind === "hono") return honoApp(n).fetch(request, env, ctx);
		const incoming = new URL(request.url);
		const target = new URL(incoming.pathname + incoming.search, env.ORIGIN);
		const headers = new Headers(request.headers);
		headers.delete("x-bench-variant");
		if (kind === "request") extra(n, set === "set" ? new Headers() : headers);
		if (kind === "delete") for (let i = 0; i < n; i++) headers.delete(`x-bench-absent-${i}`);
		if (kind === "iterate" && [...headers].length === 0) throw new Error("no fields");
		const init: RequestInit = { method: request.method, headers, redirect: "manual" };
		let upstream: Response;
		if (kind === "signal") {
			const abort = new AbortController();
			const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
			init.signal = abort.signal;
			try {
				upstream = await fetch(target, init);
			} finally {
				clearTimeout(timer);
			}
		} else if (kind === "race") {
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
