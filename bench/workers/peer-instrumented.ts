/**
 * bench "peer-instrumented": the peer (bench/workers/peer-app.ts) with the same counting
 * proxies as keygate-instrumented, so the two can be costed side by side.
 */
import { DurableObjectRateLimiter as BaseLimiter } from "@hono-rate-limiter/cloudflare";
import { benchControl, countGlobalFetch, countingEnv, countStorage } from "./instrument";
import { app, type PeerBindings } from "./peer-app";

export class DurableObjectRateLimiter extends BaseLimiter {
	constructor(ctx: DurableObjectState, env: unknown) {
		countStorage(ctx, "DurableObjectRateLimiter");
		super(ctx as never, env as never);
	}
}

countGlobalFetch();

export default {
	async fetch(request: Request, env: PeerBindings, ctx: ExecutionContext): Promise<Response> {
		const control = await benchControl(request);
		if (control) return control;
		return app.fetch(request, countingEnv(env), ctx);
	},
} satisfies ExportedHandler<PeerBindings>;
