import bundledConfig from "../../keygate.config.json";
import { compileRoutes, type CompiledRoute } from "./routes";
import { ConfigSchema, type ApiConfig, type Config } from "./schema";

export interface CompiledApi extends ApiConfig {
	routeTable: CompiledRoute[];
	/** Key prefixes this API accepts, e.g. `sk_live_`. */
	readOnlyTypes: ReadonlySet<string>;
}

export interface CompiledConfig {
	config: Config;
	apis: CompiledApi[];
}

export type ConfigResult = { ok: true; value: CompiledConfig } | { ok: false; error: string };

/** Formats a zod issue path as `apis[0].tiers.free.burst`. */
function fieldName(path: PropertyKey[]): string {
	let out = "";
	for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
	return out || "(root)";
}

export function describeIssues(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
	return error.issues.map((i) => `${fieldName(i.path)}: ${i.message}`).join("; ");
}

/** Validates and compiles a config; the error names the first offending fields. */
export function parseConfig(raw: unknown): ConfigResult {
	let input = raw;
	if (typeof raw === "string") {
		try {
			input = JSON.parse(raw);
		} catch (e) {
			return { ok: false, error: `config is not valid JSON: ${(e as Error).message}` };
		}
	}
	const parsed = ConfigSchema.safeParse(input);
	if (!parsed.success) return { ok: false, error: `invalid config: ${describeIssues(parsed.error)}` };
	const config = parsed.data;
	const apis = config.apis.map((api) => ({
		...api,
		routeTable: compileRoutes(api.routes),
		readOnlyTypes: new Set(
			Object.entries(api.keyTypes)
				.filter(([, t]) => t.readOnly)
				.map(([name]) => name),
		),
	}));
	return { ok: true, value: { config, apis } };
}

// The config is validated once per isolate (and again only if the binding's text
// changes), so the hot path pays nothing for it.
let cached: { source: unknown; result: ConfigResult } | undefined;

/** The config in force: the `KEYGATE_CONFIG` binding when set, else the bundled `keygate.config.json`. */
export function loadConfig(env: { KEYGATE_CONFIG?: unknown }): ConfigResult {
	const source = env.KEYGATE_CONFIG ?? bundledConfig;
	const key = typeof source === "string" ? source : JSON.stringify(source);
	if (cached && cached.source === key) return cached.result;
	const result = parseConfig(source);
	if (!result.ok) console.error(JSON.stringify({ event: "config_invalid", error: result.error }));
	cached = { source: key, result };
	return result;
}

/** Picks the API a request belongs to: host must match when the API lists hosts, longest path prefix wins. */
export function selectApi(apis: CompiledApi[], host: string, path: string): CompiledApi | undefined {
	let best: CompiledApi | undefined;
	for (const api of apis) {
		if (api.match.hosts && !api.match.hosts.includes(host)) continue;
		const prefix = api.match.pathPrefix;
		if (!pathHasPrefix(path, prefix)) continue;
		if (!best || prefix.length > best.match.pathPrefix.length) best = api;
	}
	return best;
}

function pathHasPrefix(path: string, prefix: string): boolean {
	if (prefix === "/") return true;
	const p = prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
	return path === p || path.startsWith(p + "/");
}
