import { Hono } from "hono";
import { adminApp } from "./admin/routes";
import { oauthStage } from "./oauth/endpoints";
import { consoleApp } from "./ui/console";
import { portalApp } from "./ui/portal";
import { renderError, DEFAULT_ERROR_CONTEXT } from "./errors/render";
import { isPublic, type GatewayEnv } from "./pipeline/context";
import { cors } from "./pipeline/cors";
import { credential, verifyStage } from "./pipeline/credential";
import { policy } from "./pipeline/policy";
import { proxy, serviceWorkerGuard } from "./pipeline/proxy";
import { rateLimit } from "./pipeline/rate-limit";
import { selectApiStage } from "./pipeline/select-api";
import { logEvent } from "./util/log";
import { withUsableSecrets, type Bindings } from "./env";

/** Public routes skip the key stages entirely and go straight to the origin. */
const unlessPublic =
	(stage: typeof credential): typeof credential =>
	(c, next) =>
		isPublic(c) ? next() : stage(c, next);

export const app = new Hono<GatewayEnv>();

app.route("/_keygate/v1", adminApp);
app.route("/_keygate/ui", consoleApp);
app.route("/_keygate/portal", portalApp);
// The admin namespace never reaches an origin.
app.all("/_keygate/*", () => renderError("not_found", DEFAULT_ERROR_CONTEXT));

// The request path, in order: every stage either ends the request with a documented
// error or hands on to the next.
app.all(
	"*",
	selectApiStage, //   config, API by host and path, route rule
	serviceWorkerGuard, // a service worker script that would cover /_keygate/: never fetched
	oauthStage, //        an API with `oauth`: its token, revocation and metadata endpoints
	cors, //              preflight, and CORS headers for the key types that get them
	unlessPublic(credential), // find the credential, classify it by its bytes (no I/O)
	unlessPublic(verifyStage), // its kind's verifier -> the Principal (key: cache -> KV -> record state)
	unlessPublic(policy), //     scopes, read-only types, owner's role, IP allowlist
	unlessPublic(rateLimit), //  the key's authority (Durable Object): revocation and counters
	proxy, //             the origin
);

// A secret too short to be one is no secret: taken out of the bindings before anything reads them (env.ts).
// Done around the app's own fetch, not as a middleware, so every caller (the Worker, the tests, the bench) gets it
// for the cost of two length checks.
const dispatch = app.fetch;
app.fetch = (request, bindings, ctx) => dispatch(request, bindings ? withUsableSecrets(bindings as Bindings) : bindings, ctx);

// Anything thrown is a bug; it still fails closed with a JSON error, never a bare 500.
app.onError((err, c) => {
	logEvent("internal_error", { error: String(err), path: new URL(c.req.url).pathname });
	return renderError("internal_error", DEFAULT_ERROR_CONTEXT);
});
