import bundledConfig from "../../keygate.config.json";
import { credentialHeaders } from "../credentials/extract";
import type { ErrorContext } from "../errors/render";
import { normalizedFieldName } from "../pipeline/request-shape";
import { lintConfig, type ConfigLint } from "./lint";
import { compileRoutes, type CompiledRoute } from "./routes";
import { ConfigSchema, prefixKey, type ApiConfig, type Config } from "./schema";

export type { ConfigLint } from "./lint";

export interface CompiledApi extends ApiConfig {
	routeTable: CompiledRoute[];
	/** Key types (`pk`, …) whose keys may only GET, HEAD and OPTIONS. */
	readOnlyTypes: ReadonlySet<string>;
	/** Issuers whose JWTs this API accepts (`oauth.externalIssuers`): one in a URL or a forwarded header is a credential. */
	jwtIssuers: ReadonlySet<string>;
	/** Key types that are `identifier`s here and nothing else in any API (credentials/classify.ts CredentialScope). */
	identifierTypes: ReadonlySet<string>;
	/** The credential headers' names as normalizedFieldName writes them: never forwarded, however spelled. */
	credentialFieldNames: ReadonlySet<string>;
	/** How this API's refusals are written (style, realm, the 401 challenge's scheme, overrides). */
	errorContext: Readonly<ErrorContext>;
}

export interface CompiledConfig {
	config: Config;
	apis: CompiledApi[];
}

/** A valid config may still have lints (warnings: it loads); an invalid one is only its error. */
export type ConfigResult = { ok: true; value: CompiledConfig; lints: ConfigLint[] } | { ok: false; error: string };

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

function errorContextOf(api: ApiConfig): Readonly<ErrorContext> {
	const auth = api.credentials.find((s) => s.in === "authorization");
	return Object.freeze({
		style: api.errors.style,
		realm: api.errors.realm,
		scheme: auth?.in === "authorization" ? auth.scheme : "ApiKey",
		overrides: api.errors.overrides,
	});
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
		jwtIssuers: new Set((api.oauth?.externalIssuers ?? []).map((i) => i.issuer)),
		// Only a type no API of this config uses for anything but an identifier: another API's secret of that prefix stays a credential.
		identifierTypes: new Set(
			Object.entries(api.keyTypes)
				.filter(
					([name, t]) =>
						t.kind === "identifier" &&
						config.apis.every((other) => !Object.hasOwn(other.keyTypes, name) || other.keyTypes[name]!.kind === "identifier"),
				)
				.map(([name]) => name),
		),
		credentialFieldNames: new Set(credentialHeaders(api.credentials).map(normalizedFieldName)),
		errorContext: errorContextOf(api),
	}));
	return { ok: true, value: { config, apis }, lints: lintConfig(config) };
}

export interface ConfigLogLine {
	level: "error" | "warn";
	/** One JSON object, as logged. */
	line: string;
}

/**
 * What keygate logs when it loads a config: the error of an invalid one, or one line per
 * lint. `npm run config:check` prints exactly these lines.
 */
export function configLogLines(result: ConfigResult): ConfigLogLine[] {
	if (!result.ok) return [{ level: "error", line: JSON.stringify({ event: "config_invalid", error: result.error }) }];
	return result.lints.map((l) => ({ level: "warn", line: JSON.stringify({ event: "config_lint", field: l.field, message: l.message }) }));
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
	// The same lines `npm run config:check` prints (configLogLines).
	for (const { level, line } of configLogLines(result)) console[level](line);
	cached = { source, result };
	return result;
}

/**
 * Picks the API a request belongs to: the host must match when the API lists hosts; the
 * longest path prefix wins, and on the same prefix an API that names the host wins over
 * one that answers on any host (whatever their order). APIs still equal on both are
 * refused at load (schema.ts), so the order of `apis` never decides.
 */
export function selectApi(apis: CompiledApi[], host: string, path: string): CompiledApi | undefined {
	let best: CompiledApi | undefined;
	let bestRank = -1;
	for (const api of apis) {
		if (api.match.hosts && !api.match.hosts.includes(host)) continue;
		const prefix = prefixKey(api.match.pathPrefix);
		if (!pathHasPrefix(path, prefix)) continue;
		// Prefix length first, then host-specific over any host.
		const rank = (prefix === "/" ? 0 : prefix.length) * 2 + (api.match.hosts ? 1 : 0);
		if (rank > bestRank) {
			best = api;
			bestRank = rank;
		}
	}
	return best;
}

/**
 * Case-insensitive, as rules that need a key match: `/Internal/users` is `/internal/users`
 * to Express or ASP.NET, so it belongs to the `/internal` API, not to one under `/`.
 */
function pathHasPrefix(path: string, prefix: string): boolean {
	if (prefix === "/") return true;
	const p = path.length > prefix.length + 1 ? path.slice(0, prefix.length + 1).toLowerCase() : path.toLowerCase();
	const f = prefix.toLowerCase();
	return p === f || p === `${f}/`;
}
