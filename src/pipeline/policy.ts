import type { MiddlewareHandler } from "hono";
import type { CompiledApi } from "../config/load";
import type { CompiledRoute } from "../config/routes";
import type { Reason } from "../errors/catalogue";
import type { StoredKey } from "../keys/record";
import { reject, type GatewayEnv } from "./context";
import { ipAllowed } from "./ip";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Pure: may this key make this request? Returns the reason it may not. */
export function authorize(
	key: StoredKey,
	api: CompiledApi,
	route: CompiledRoute | undefined,
	method: string,
	clientIp: string | undefined,
): Reason | undefined {
	if (!route && api.unmatchedRoutes === "deny") return "route_denied";
	if (api.readOnlyTypes.has(key.type) && !SAFE_METHODS.has(method)) return "read_only_key";
	if (route && !route.scopes.every((s) => key.scopes.includes(s))) return "missing_scope";
	if (key.ipAllowlist && !ipAllowed(clientIp, key.ipAllowlist)) return "ip_not_allowed";
	return undefined;
}

/** Stage: scopes, read-only types, IP allowlist (from CF-Connecting-IP, which Cloudflare sets). */
export const policy: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const reason = authorize(c.var.key, c.var.api, c.var.route, c.req.method, c.req.header("CF-Connecting-IP"));
	if (reason) return reject(c, reason);
	await next();
};
