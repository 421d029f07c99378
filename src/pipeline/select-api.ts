import type { MiddlewareHandler } from "hono";
import { loadConfig, selectApi, type CompiledApi } from "../config/load";
import { findRoute } from "../config/routes";
import { DEFAULT_ERROR_CONTEXT, renderError, type ErrorContext } from "../errors/render";
import type { GatewayEnv } from "./context";

export function errorContextFor(api: CompiledApi): ErrorContext {
	const auth = api.credentials.find((s) => s.in === "authorization");
	return {
		style: api.errors.style,
		realm: api.errors.realm,
		scheme: auth?.in === "authorization" ? auth.scheme : "ApiKey",
		overrides: api.errors.overrides,
	};
}

/**
 * Stage: the config (validated once per isolate), the API this host and path belong
 * to, and the route rule. An invalid config answers 503 to everything: nothing passes
 * unchecked.
 */
export const selectApiStage: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const config = loadConfig(c.env);
	if (!config.ok) return renderError("config_invalid", DEFAULT_ERROR_CONTEXT);
	const url = new URL(c.req.url);
	const api = selectApi(config.value.apis, url.hostname, url.pathname);
	if (!api) return renderError("no_api", DEFAULT_ERROR_CONTEXT);
	c.set("api", api);
	c.set("errors", errorContextFor(api));
	c.set("route", findRoute(api.routeTable, c.req.method, url.pathname));
	await next();
};
