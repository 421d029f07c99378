import bundledConfig from "../../keygate.config.json";
import { logEvent } from "../util/log";
import { compileRoutes, type CompiledRoute } from "./routes";
import { ConfigSchema, type ApiConfig, type Config } from "./schema";

export interface CompiledApi extends ApiConfig {
	routeTable: CompiledRoute[];
	/** Key types (`pk`, …) whose keys may only GET, HEAD and OPTIONS. */
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

/** A copy with no prototype, so `record[name]` and `name in record` see only its own entries. */
function ownOnly<T>(record: Record<string, T>): Record<string, T> {
	return Object.assign(Object.create(null) as Record<string, T>, record);
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
		// Lookups by names a request or an admin body supplies (a key's type and environment,
		// a tier, a role) must never reach Object.prototype: "constructor" is no key type.
		environments: ownOnly(api.environments),
		keyTypes: ownOnly(api.keyTypes),
		tiers: ownOnly(Object.fromEntries(Object.entries(api.tiers).map(([n, t]) => [n, { ...t, categories: ownOnly(t.categories) }]))),
		owners: api.owners && { ...api.owners, roles: ownOnly(api.owners.roles) },
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
// A string source is compared by value (cheap: equal strings of one binding are usually
// the same object), an object source by identity, so nothing is re-serialised per request.
let cached: { source: unknown; result: ConfigResult } | undefined;

/** The config in force: the `KEYGATE_CONFIG` binding when set, else the bundled `keygate.config.json`. */
export function loadConfig(env: { KEYGATE_CONFIG?: unknown }): ConfigResult {
	const source = env.KEYGATE_CONFIG ?? bundledConfig;
	if (cached && cached.source === source) return cached.result;
	const result = parseConfig(source);
	if (!result.ok) logEvent("config_invalid", { error: result.error });
	cached = { source, result };
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
