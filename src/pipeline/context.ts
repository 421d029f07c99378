import type { Context } from "hono";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Reason } from "../errors/catalogue";
import { renderError, type ErrorContext, type ErrorDetails } from "../errors/render";
import type { ParsedKey } from "../keys/format";
import type { StoredKey } from "../keys/record";
import type { RateInfo } from "../limiter/window";

export type Bindings = Env & {
	/** Optional: the config's JSON, replacing the bundled keygate.config.json. */
	KEYGATE_CONFIG?: unknown;
};

export interface Variables {
	api: CompiledApi;
	errors: ErrorContext;
	route: CompiledRoute | undefined;
	credential: ParsedKey;
	key: StoredKey;
	rate: RateInfo | undefined;
	/** Set while a rotated key is in its grace period (Unix ms). */
	deprecation: { at: number; sunset: number } | undefined;
}

export type GatewayEnv = { Bindings: Bindings; Variables: Variables };
export type GatewayContext = Context<GatewayEnv>;

/** Ends the request with the documented error for `reason`, in this API's style. */
export function reject(c: GatewayContext, reason: Reason, details?: ErrorDetails): Response {
	return renderError(reason, c.var.errors, details);
}
