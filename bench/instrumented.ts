/**
 * bench "keygate-instrumented": keygate's own `app` and Durable Object classes, with
 * every KV namespace, Durable Object namespace, Durable Object storage and the global
 * fetch wrapped in counting proxies (bench/workers/instrument.ts). Bench-only paths:
 *
 *   GET  /__bench/counters   what has been counted since the last reset
 *   POST /__bench/reset      zero the counters
 *   POST /__bench/mint       {"type","environment","count"} -> well-formed keys (valid
 *                            checksum) made by keygate's own generateKey, never stored:
 *                            "unknown" keys for the bench
 *
 * Everything else goes to `app.fetch` exactly as src/index.ts does, with the wrapped env.
 */
import { app } from "../src/app";
import { generateKey } from "../src/keys/format";
import { KeyAuthority as BaseKeyState } from "../src/authority/key-authority";
import { OAuthGrants as BaseOAuthGrants } from "../src/authority/oauth-grants";
import { OwnerRoles as BaseOwnerState } from "../src/authority/owner-roles";
import { benchControl, countGlobalFetch, countingEnv, countStorage } from "./workers/instrument";

// Any Durable Object class src/index.ts exports is exported here too; the three below,
// whose storage is counted, take precedence over the star export.
export * from "../src/index";

export class KeyAuthority extends BaseKeyState {
	constructor(ctx: DurableObjectState, env: Env) {
		countStorage(ctx, "KeyAuthority");
		super(ctx, env);
	}
}

export class OwnerRoles extends BaseOwnerState {
	constructor(ctx: DurableObjectState, env: Env) {
		countStorage(ctx, "OwnerRoles");
		super(ctx, env);
	}
}

export class OAuthGrants extends BaseOAuthGrants {
	constructor(ctx: DurableObjectState, env: Env) {
		countStorage(ctx, "OAuthGrants");
		super(ctx, env);
	}
}

countGlobalFetch();

export default {
	async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
		const control = await benchControl(request);
		if (control) return control;
		const url = new URL(request.url);
		if (url.pathname === "/__bench/mint" && request.method === "POST") {
			const body = (await request.json()) as { type?: string; environment?: string; count?: number };
			const count = Math.min(Math.max(1, body.count ?? 1), 100_000);
			const keys: string[] = [];
			for (let i = 0; i < count; i++) keys.push(generateKey(body.type ?? "sk", body.environment ?? "live"));
			return Response.json({ keys });
		}
		return app.fetch(request, countingEnv(env), ctx);
	},
} satisfies ExportedHandler<Env>;
