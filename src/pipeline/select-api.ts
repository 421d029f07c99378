import type { MiddlewareHandler } from "hono";
import { loadConfig, selectApi } from "../config/load";
import { findRoute, pathTwins, twinRoutes } from "../config/routes";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { reject, type GatewayEnv } from "./context";
import { canonicalPath, isAdminSpelling, methodOverrides, withoutMethodParam } from "./request-shape";
import { holdsCredential, queryHoldsCredential } from "../credentials/classify";

/** A `%` not followed by two hex digits: no escape, and never left to combine with what decoding makes of its neighbours. */
const STRAY_PERCENT = /%(?![0-9A-Fa-f]{2})/;
/** Shared by every request whose path has no `.` or `%`: frozen, so nothing can add a twin to it. */
const NO_TWINS: { paths: readonly string[]; intoSyntax: false } = Object.freeze({ paths: Object.freeze([]), intoSyntax: false });

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Stage: the config (validated once per isolate), the API this host and path belong
 * to, and the route rule. An invalid config answers 503 to everything: nothing passes
 * unchecked.
 */
export const selectApiStage: MiddlewareHandler<GatewayEnv> = async (c, next) => {
	const config = loadConfig(c.env);
	if (!config.ok) return renderError("config_invalid", DEFAULT_ERROR_CONTEXT);
	c.set("config", config.value);
	const url = new URL(c.req.url);
	// `api.example.com.` (a fully qualified name) is the same host to DNS and to Cloudflare: matched as `api.example.com`.
	if (url.hostname.endsWith(".")) url.hostname = url.hostname.slice(0, -1);
	// The admin namespace under another spelling (`/_KEYGATE/`, `//_keygate/`, `/_keygate./`) is never an API path.
	if (isAdminSpelling(url.pathname)) return renderError("not_found", DEFAULT_ERROR_CONTEXT);
	const path = canonicalPath(url.pathname);
	const api = selectApi(config.value.apis, url.hostname, path ?? url.pathname);
	if (!api) return renderError("no_api", DEFAULT_ERROR_CONTEXT);
	c.set("api", api);
	if (path === undefined)
		return reject(c, "ambiguous_path", { message: "The request path contains an encoded slash or backslash, or a ';'." });
	// `%2%65` would decode into a new escape, `%2e` (found by a probe: `/docs/%2%65%2%65/v1/admin/x` reached the origin with no key).
	if (STRAY_PERCENT.test(url.pathname))
		return reject(c, "ambiguous_path", { message: "The request path has a % that starts no escape (two hex digits must follow it)." });
	// Worked out once: the paths an origin may route this one to (`/v1/admin.json` → `/v1/admin`, `/v1/%E2%84%AAeys` → `/v1/keys`).
	const twins = path.includes(".") || path.includes("%") ? pathTwins(path) : NO_TWINS;
	// A non-ASCII character that folds into path syntax (`%E2%80%A5` is `..` after NFKC): no twin keygate can match stands for it.
	if (twins.intoSyntax)
		return reject(c, "ambiguous_path", {
			message: "The request path has a character that folds into path syntax (?, #, ;, %, \\ or a dot segment).",
		});
	// `/internal.json` is `/internal` to Rails, and `/%E2%84%AAeys` is `/keys` to a router that lowercases Unicode: when such a
	// twin belongs to another API, neither API's rules may decide alone.
	if (config.value.apis.length > 1) {
		for (const twin of twins.paths)
			if (selectApi(config.value.apis, url.hostname, twin) !== api)
				return reject(c, "ambiguous_path", {
					message: "The request path's format suffix or letters would take it to another API's path.",
				});
	}
	// A key in the query string is refused, public routes included: forwarding it would hand it to the origin and its logs.
	if (url.search && queryHoldsCredential(url.searchParams, api)) return reject(c, "key_in_query");
	// So is one in the path: `/v1/echo/<key>` would print it in the origin's request log.
	if (holdsCredential(path, api)) return reject(c, "key_in_path");
	let method = c.req.method;
	const overrides = methodOverrides(c.req.raw.headers, url.search);
	if (overrides.length > 0) {
		if (api.methodOverride === "honor") {
			// Routes and policy decide on the method the origin will act on.
			const override = overrides[0]!;
			if (overrides.some((o) => o !== override) || !KNOWN_METHODS.has(override))
				return reject(c, "invalid_request", { message: "The request's method override is not one method keygate knows." });
			if (override !== method) {
				// Express's method-override, Rack, Symfony and Laravel apply an override only to a
				// POST; on any other method an origin acts on the method as sent, so keygate would
				// authorise one method and forward another.
				if (method !== "POST") return reject(c, "invalid_request", { message: "A method override is honoured only on a POST request." });
				// An origin may read only some of the spellings and act on the POST itself, so policy must allow the POST too.
				c.set("sentAs", { method, route: findRoute(api.routeTable, method, path) });
				method = override;
			}
		} else {
			// Stripped before forwarding (proxy.ts), so the origin acts on the method keygate authorised.
			url.search = withoutMethodParam(url.search);
		}
	}
	url.pathname = path; // what the route matches is exactly what the origin gets
	c.set("url", url);
	c.set("method", method);
	const route = findRoute(api.routeTable, method, path);
	c.set("route", route);
	// `/v1/admin.json` is `/v1/admin` to Rails and to Spring's suffix matching: policy holds it to that rule too.
	const twinRules = twinRoutes(api.routeTable, method, twins.paths, route);
	const sent = c.get("sentAs");
	const sentTwins = sent && twinRoutes(api.routeTable, sent.method, twins.paths, sent.route);
	if (twinRules || sentTwins) c.set("twins", [...(twinRules ?? []), ...(sentTwins ?? [])]);
	await next();
};
