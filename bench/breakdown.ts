/**
 * bench "breakdown" (bench/breakdown.mjs): keygate's own stages, cut after stage N, so
 * the cost of each stage on a warm valid key is the difference between two cuts measured
 * in the same run. The request header `x-bench-cut` picks the cut:
 *
 *   forward      nothing but a plain forward to the origin (the bare Worker, in this isolate)
 *   select       + API, route and path checks (selectApiStage), OAuth endpoints, CORS
 *   credential   + find the credential and classify it by its bytes
 *   verify       + the key's verifier: SHA-256, isolate cache (KV only on a miss)
 *   policy       + scopes, read-only types, owner's role, IP allowlist
 *   limit-stub   + the rate-limit stage, its Durable Object answered in this isolate
 *   limit        + the rate-limit stage with the real Durable Object call
 *   full-stub    the whole app (keygate's proxy: header scrub, identity signing), DO answered here
 *   full         the whole app, as src/index.ts serves it
 *
 * Every cut but `full*` ends in the same plain forward as `forward`, its answer rewrapped after `forward` itself (the
 * CORS stage sets fields on it; the rewrap alone costs about what `npm run bench:headers`' `rewrap` prices). Never deployed.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { app } from "../src/app";
import type { CheckResult, KeyAuthority } from "../src/authority/key-authority";
import { oauthStage } from "../src/oauth/endpoints";
import type { GatewayEnv } from "../src/pipeline/context";
import { cors } from "../src/pipeline/cors";
import { credential, verifyStage } from "../src/pipeline/credential";
import { policy } from "../src/pipeline/policy";
import { rateLimit } from "../src/pipeline/rate-limit";
import { selectApiStage } from "../src/pipeline/select-api";

export * from "../src/index";

type BenchEnv = Env & { BENCH_ORIGIN: string };

/** The bare Worker's forward: the request as received, to the origin. */
const forward: MiddlewareHandler<GatewayEnv> = (c) => {
	const incoming = new URL(c.req.url);
	return fetch(new Request(new URL(incoming.pathname + incoming.search, (c.env as BenchEnv).BENCH_ORIGIN), c.req.raw));
};

/**
 * The forward at the end of every cut after `forward`: the origin's answer rewrapped, since the CORS stage (the demo
 * config has `cors`) sets fields on the response, which `fetch`'s own answer does not allow. keygate's proxy rewraps too.
 */
const forwardRewrapped: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const res = (await forward(c, next)) as Response;
	return new Response(res.body, res);
};

const STAGES: [string, MiddlewareHandler<GatewayEnv>[]][] = [
	["forward", []],
	["select", [selectApiStage, oauthStage, cors]],
	["credential", [credential]],
	["verify", [verifyStage]],
	["policy", [policy]],
	["limit", [rateLimit]],
];

const cuts = new Map<string, Hono<GatewayEnv>>();
const chain: MiddlewareHandler<GatewayEnv>[] = [];
for (const [name, stages] of STAGES) {
	chain.push(...stages);
	const cut = new Hono<GatewayEnv>();
	for (const stage of chain) cut.use("*", stage);
	cut.all("*", name === "forward" ? forward : forwardRewrapped);
	cuts.set(name, cut);
}
cuts.set("limit-stub", cuts.get("limit")!);
cuts.set("full", app as unknown as Hono<GatewayEnv>);
cuts.set("full-stub", app as unknown as Hono<GatewayEnv>);

/** A KEY_AUTHORITY namespace whose every check passes at once, in this isolate: what the request path costs without the RPC. */
function stubbedAuthority(): DurableObjectNamespace<KeyAuthority> {
	const answer = (): CheckResult => {
		const reset = Math.ceil(Date.now() / 1000) + 1;
		const burst = { limit: 1_000_000, remaining: 999_999, reset };
		return {
			ok: true,
			rate: { limit: burst.limit, remaining: burst.remaining, reset, window: null, burst },
			deprecatedAt: null,
			graceEndsAt: null,
		};
	};
	const stub = { check: async () => answer() };
	return { idFromName: (name: string) => name, get: () => stub } as unknown as DurableObjectNamespace<KeyAuthority>;
}
const STUBBED = stubbedAuthority();

export default {
	async fetch(request: Request, env: BenchEnv, ctx: ExecutionContext): Promise<Response> {
		const name = request.headers.get("x-bench-cut") ?? "full";
		const cut = cuts.get(name);
		if (!cut) return new Response(`unknown cut "${name}"`, { status: 400 });
		const cutEnv = name.endsWith("-stub") ? { ...env, KEY_AUTHORITY: STUBBED } : env;
		return cut.fetch(request, cutEnv, ctx);
	},
} satisfies ExportedHandler<BenchEnv>;
