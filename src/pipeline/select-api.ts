import type { MiddlewareHandler } from "hono";
import { loadConfig, selectApi, type CompiledApi } from "../config/load";
import { findRoute } from "../config/routes";
import { DEFAULT_ERROR_CONTEXT, renderError, type ErrorContext } from "../errors/render";
import { reject, type GatewayEnv } from "./context";
import { queryHoldsCredential } from "../credentials/classify";
import { canonicalPath } from "./request-shape";

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
	const path = canonicalPath(url.pathname);
	const api = selectApi(config.value.apis, url.hostname, path ?? url.pathname);
	if (!api) return renderError("no_api", DEFAULT_ERROR_CONTEXT);
	c.set("api", api);
	c.set("errors", errorContextFor(api));
	if (path === undefined)
		return reject(c, "ambiguous_path", { message: "The request path contains an encoded slash or backslash, or a ';'." });
	// A key in the query string is refused, public routes included: forwarding it would hand it to the origin and its logs.
	if (url.search && queryHoldsCredential(url.searchParams)) return reject(c, "key_in_query");
	url.pathname = path; // what the route matches is exactly what the origin gets
	c.set("url", url);
	c.set("route", findRoute(api.routeTable, c.req.method, path));
	await next();
};
