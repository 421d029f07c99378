import { Hono } from "hono";
import { adminApp } from "./admin/routes";
import { renderError, DEFAULT_ERROR_CONTEXT } from "./errors/render";
import type { GatewayEnv } from "./pipeline/context";
import { cors } from "./pipeline/cors";
import { credential } from "./pipeline/credential";
import { keyLookup } from "./pipeline/key-lookup";
import { policy } from "./pipeline/policy";
import { proxy } from "./pipeline/proxy";
import { rateLimit } from "./pipeline/rate-limit";
import { selectApiStage } from "./pipeline/select-api";

/** Public routes skip the key stages entirely and go straight to the origin. */
const unlessPublic =
	(stage: typeof credential): typeof credential =>
	(c, next) =>
		c.var.route?.public ? next() : stage(c, next);

export const app = new Hono<GatewayEnv>();

app.route("/_keygate/v1", adminApp);
// The admin namespace never reaches an origin.
app.all("/_keygate/*", () => renderError("not_found", DEFAULT_ERROR_CONTEXT));

// The request path, in order: every stage either ends the request with a documented
// error or hands on to the next.
app.all(
	"*",
	selectApiStage, //   config, API by host and path, route rule
	cors, //              preflight, and CORS headers for the key types that get them
	unlessPublic(credential), // credential -> format and checksum
	unlessPublic(keyLookup), //  isolate cache -> KV -> revoked / expired / wrong API or environment
	unlessPublic(policy), //     scopes, read-only types, IP allowlist
	unlessPublic(rateLimit), //  the key's Durable Object: revocation authority and counters
	proxy, //             the origin
);

// Anything thrown is a bug; it still fails closed with a JSON error, never a bare 500.
app.onError((err, c) => {
	console.error(JSON.stringify({ event: "internal_error", error: String(err), path: new URL(c.req.url).pathname }));
	return renderError("internal_error", DEFAULT_ERROR_CONTEXT);
});
