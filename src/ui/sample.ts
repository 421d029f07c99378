import type { CompiledApi } from "../config/load";
import { findRoute } from "../config/routes";

/** The path the curl line calls: the portal's samplePath, else the first keyed GET route's, its wildcards filled in. */
function samplePath(api: CompiledApi): string {
	if (api.portal?.samplePath) return api.portal.samplePath;
	const route = api.routes.find((r) => !r.public && (!r.methods || r.methods.includes("GET")));
	const path = route ? route.path.replace(/\*\*$/, "hello").replace(/\*/g, "1") : api.match.pathPrefix;
	return path.startsWith("/") ? path : `/${path}`;
}

/** The route the curl line's GET takes, found as the gateway finds it (a samplePath may match any rule). */
const sampleRoute = (api: CompiledApi) => findRoute(api.routeTable, "GET", samplePath(api));

/** The scopes the curl line's route needs: a new key's form ticks them, so the line it shows works as shown. */
export const sampleScopes = (api: CompiledApi): string[] => sampleRoute(api)?.scopes ?? [];

/** The curl line a new key's page shows: its address, the field the key goes in, and the scopes its route needs. */
export interface SampleCall {
	url: string;
	/** The header line before the key, where the API takes keys first: `Authorization: ApiKey `, `X-API-Key: ` (found by a review: always Bearer). */
	field: string;
	scopes: string[];
	/** A `Host` header the line sends: only on a loopback page the API does not answer on (see sampleAddress). */
	host?: string;
}

export function sampleCall(requestUrl: string, api: CompiledApi, environment: string): SampleCall {
	const first = api.credentials[0]!;
	const field = first.in === "authorization" ? `Authorization: ${first.scheme} ` : `${first.name}: `;
	const { url, host } = sampleAddress(requestUrl, api, environment);
	return { url, field, scopes: sampleScopes(api), ...(host ? { host } : {}) };
}

/** The names a page served from this machine has (`URL.hostname` writes IPv6 in brackets). */
const LOOPBACK = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * A sample call for the curl line: the first keyed GET route, its wildcards filled in, at
 * the address the key's requests go to: this page's own origin when the API answers on it,
 * else the first host its environment (or the API) names, over https. A page on a loopback
 * host (`wrangler dev`, the examples) sends the line to itself with that host in `Host`:
 * keygate picks the API by Host, and `https://api.novapulse.io` is not reachable from a
 * laptop (found by a checker: curl's "could not resolve host").
 */
export function sampleAddress(requestUrl: string, api: CompiledApi, environment: string): { url: string; host?: string } {
	const path = samplePath(api);
	const here = new URL(requestUrl);
	const hosts = api.environments[environment]?.hosts ?? api.match.hosts;
	const at = (origin: string) => origin + path;
	if (!hosts || hosts.includes(here.hostname)) return { url: at(here.origin) };
	if (LOOPBACK.has(here.hostname)) return { url: at(here.origin), host: hosts[0] };
	return { url: at(`https://${hosts[0]}`) };
}
