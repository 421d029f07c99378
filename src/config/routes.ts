import type { RouteRule } from "./schema";

export interface CompiledRoute {
	/** Position in the config (for messages); the rule's own bucket is named by its methods and pattern (limits/effective.ts). */
	index: number;
	methods?: ReadonlySet<string>;
	segments: string[];
	public: boolean;
	scopes: string[];
	pattern: string;
	cost: number;
	rateLimit: RouteRule["rateLimit"];
	category: string | undefined;
}

export function compileRoutes(rules: RouteRule[]): CompiledRoute[] {
	return rules.map((r, index) => ({
		index,
		methods: r.methods ? new Set(r.methods) : undefined,
		segments: r.public ? exactSegments(r.path) : foldedSegments(r.path),
		public: r.public,
		scopes: r.scopes,
		pattern: r.path,
		cost: r.cost,
		rateLimit: r.rateLimit,
		category: r.category,
	}));
}

function exactSegments(path: string): string[] {
	const parts = path.split("/");
	parts.shift(); // the empty segment before the leading slash
	return parts;
}

/**
 * Segments as lenient servers read them: case folded and a trailing slash ignored
 * (`/v1/Jobs/` is `/v1/jobs` to Express). Rules that require a key match this way, so
 * every spelling an origin might treat as the same path is held to the rule. Public
 * rules match exactly instead: leniency there would open a path a strict origin treats
 * as different.
 */
function foldedSegments(path: string): string[] {
	const parts = exactSegments(path.toLowerCase());
	if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
	return parts;
}

/**
 * Matches a pattern against a path segment by segment (grammar in pattern.ts): `*` is
 * exactly one non-empty segment, a final `**` is the rest (zero or more segments),
 * anything else is literal. Segments are compared
 * as they arrive (still percent-encoded), so `%2F` never splits a segment: a path only
 * matches a rule when the origin will see the same segments.
 */
export function matchPath(segments: string[], path: string[]): boolean {
	for (let i = 0; i < segments.length; i++) {
		const s = segments[i]!;
		// Only a final ** matches the rest; the config refuses it anywhere else, and were one
		// to get through it would match one segment here, never open the paths beneath it.
		if (s === "**" && i === segments.length - 1) return true;
		if (i >= path.length) return false;
		if (s === "*" || s === "**" ? path[i] === "" : s !== path[i]) return false;
	}
	return segments.length === path.length;
}

/** The first rule that covers this method and path, or undefined. */
export function findRoute(table: CompiledRoute[], method: string, path: string): CompiledRoute | undefined {
	const exact = exactSegments(path);
	let folded: string[] | undefined;
	for (const r of table) {
		if (r.methods && !r.methods.has(method)) continue;
		if (matchPath(r.segments, r.public ? exact : (folded ??= foldedSegments(path)))) return r;
	}
	return undefined;
}
