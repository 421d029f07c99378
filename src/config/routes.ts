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
	const parts = exactSegments((path.includes("%") ? lowerNonAscii(path) : path).toLowerCase());
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

/**
 * The path as a framework that reads a format suffix would route it: the last segment cut
 * at its first dot (Spring's suffix pattern, `admin.*`) and at its last (Rails'
 * `(.:format)`, `admin.json` → `admin`). A dot that starts the segment (`/.well-known`)
 * is no suffix. A trailing slash is ignored, as rules that need a key ignore it.
 */
export function formatTwinPaths(path: string): string[] {
	const trimmed = path.length > 1 && path.endsWith("/") ? path.replace(/\/+$/, "") : path;
	const slash = trimmed.lastIndexOf("/");
	const first = trimmed.indexOf(".", slash + 2);
	if (first === -1) return [];
	const last = trimmed.lastIndexOf(".");
	const twins = [trimmed.slice(0, first)];
	if (last !== first) twins.push(trimmed.slice(0, last));
	return twins;
}

/** A percent-encoded byte of a non-ASCII character. */
const NON_ASCII_ESCAPE = /%[89a-f][0-9a-f]/i;

/** Runs of percent-encoded bytes of 0x80 and above: the UTF-8 of non-ASCII characters (the URL parser encodes every one). */
const NON_ASCII_RUN = /(?:%[89a-f][0-9a-f])+/gi;
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });
// A bad byte read as U+FFFD, as Python's `unquote` and Java's decoders read it: one bad byte must not hide the rest.
const lenientUtf8 = new TextDecoder("utf-8");
const bytesOf = (run: string) => Uint8Array.from(run.slice(1).split("%"), (h) => parseInt(h, 16));
/** Non-ASCII characters percent-encoded again; ASCII left as it is. */
const encodeNonAscii = (s: string) => s.replace(/[^\x00-\x7f]+/gu, (m) => encodeURIComponent(m));

/**
 * The path with its encoded non-ASCII letters in Unicode lower case (`%C3%84` → `%C3%A4`),
 * so a rule and a path that differ only there fold alike, as they do to a router that
 * lowercases both. Runs that are not UTF-8 are left as they are; ASCII escapes too.
 */
function lowerNonAscii(path: string): string {
	return path.replace(NON_ASCII_RUN, (run) => {
		try {
			return encodeNonAscii(strictUtf8.decode(bytesOf(run)).toLowerCase());
		} catch {
			return run;
		}
	});
}

/** A segment's trailing dots and blanks, as Windows and IIS drop them: `.` (also `%2e`), space, tab, no-break space. */
const TAIL_PIECES = [".", "%2e", "%20", "%09", "%c2%a0"];

/** `segment` without its trailing dots and blanks; a segment of nothing else is kept (it is `.`, `..` or a blank name). Linear: each piece is cut once, from the end. */
function trimTail(segment: string): string {
	const lower = segment.toLowerCase();
	let end = lower.length;
	for (let cut = true; cut && end > 0;) {
		cut = false;
		for (const piece of TAIL_PIECES)
			if (end >= piece.length && lower.startsWith(piece, end - piece.length)) {
				end -= piece.length;
				cut = true;
				break;
			}
	}
	return end === 0 ? segment : segment.slice(0, end);
}

/** The path cut at its first NUL (C string handling), and with every segment's tail trimmed (trimTail); those that differ from it. */
function looseReadings(path: string): string[] {
	const out: string[] = [];
	const nul = path.search(/%00/);
	if (nul !== -1) out.push(path.slice(0, nul) || "/");
	if (/\.|%2e|%20|%09|%c2%a0/i.test(path)) {
		const trimmed = path.split("/").map(trimTail).join("/");
		if (trimmed !== path) out.push(trimmed);
	}
	return out;
}

/**
 * The paths that servers which read a path loosely route this one to (found by a probe):
 * - cut at its first NUL (`%00`), as C string handling does;
 * - each segment without its trailing dots and blanks (`/admin./`, `/admin%20/`), as
 *   Windows and IIS read a name;
 * - decoded once more (`%252e%252e` is `%2e%2e`, then `..`; `%252f` a slash), with its dot
 *   segments resolved, as an origin that decodes twice reads it; and that path read both
 *   ways above too (`/v1/admin%2520/x` is `/v1/admin/x` to one that decodes twice and trims).
 */
function lenientTwins(path: string): string[] {
	const twins = looseReadings(path);
	if (/%25/i.test(path)) {
		const once = path.replace(/%25/gi, "%").replace(/%2f|%5c/gi, "/");
		try {
			const decoded = new URL(once, "http://h").pathname.replace(/\/{2,}/g, "/");
			twins.push(decoded, ...looseReadings(decoded));
		} catch {
			// not a path the URL parser reads: no twin
		}
	}
	return twins;
}

/**
 * Every other path an origin may route this one to (`paths`): its format-suffix twins,
 * and its folded twins and theirs. Folded twins read the path's non-ASCII letters the ways
 * lenient routers read them, where that differs: Unicode lowercasing (the Kelvin sign
 * `%E2%84%AA` is `k` to JavaScript's `toLowerCase`, and so to find-my-way's
 * case-insensitive routes), upper- then lowercasing (`ı` and `ſ` are `i` and `s` to Java's
 * `equalsIgnoreCase`; `İ` is `i` to Java's lowercasing, where JavaScript adds a combining
 * dot), and NFKC with format characters dropped (full-width `ｋ` is `k`). Bytes that are
 * not UTF-8 read as U+FFFD, so one bad byte does not hide the rest; ASCII escapes stay
 * encoded, as rules compare them.
 *
 * `intoSyntax`: a non-ASCII character folds (NFKC) into path syntax: `?`, `#`, `;`, `%`, a
 * backslash, or a `.` or `..` segment (`%E2%80%A5` is `..`). A router that folds would
 * read another path than any twin keygate can match, so the request is refused.
 */
export function pathTwins(path: string): { paths: string[]; intoSyntax: boolean } {
	const paths = formatTwinPaths(path);
	for (const p of lenientTwins(path)) if (p !== path && !paths.includes(p)) paths.push(p);
	if (!NON_ASCII_ESCAPE.test(path)) return { paths, intoSyntax: false };
	let intoSyntax = false;
	const decoded = path.replace(NON_ASCII_RUN, (run) => {
		const text = lenientUtf8.decode(bytesOf(run));
		if (/[?#;%\\]/.test(text.normalize("NFKC"))) intoSyntax = true;
		return text;
	});
	const nfkc = decoded.normalize("NFKC").replace(/\p{Cf}/gu, "");
	if (/(^|\/)\.\.?(\/|$)/.test(nfkc)) intoSyntax = true;
	const lowered = path.toLowerCase();
	for (const v of [decoded.toLowerCase(), decoded.toUpperCase().toLowerCase(), nfkc.toLowerCase(), nfkc.toUpperCase().toLowerCase()]) {
		// A segment of format characters alone folds to nothing: `/v1/\u200b/admin` is `/v1/admin` once slashes collapse, as the path's own do.
		const folded = encodeNonAscii(v.replace(/i\u0307/g, "i")).replace(/\/{2,}/g, "/");
		if (folded.toLowerCase() === lowered) continue;
		for (const p of [folded, ...formatTwinPaths(folded)]) if (p !== path && !paths.includes(p)) paths.push(p);
	}
	return { paths, intoSyntax };
}

/**
 * The rules that the path's twins (`pathTwins`) fall under, where they differ from `route`
 * (the literal path's rule): a suffix must not move a request to a laxer rule than the
 * path an origin may route it to. Undefined when there are none, and for a public rule
 * that names its path exactly (`/openapi.json`): the operator meant that path. A public
 * rule with a wildcard (`/docs/**`) is no such statement, so its twins still count, and a
 * twin that needs a key makes the request need one (isPublic).
 */
export function twinRoutes(
	table: CompiledRoute[],
	method: string,
	twins: readonly string[],
	route: CompiledRoute | undefined,
): { method: string; route: CompiledRoute }[] | undefined {
	if (twins.length === 0 || (route?.public && !route.segments.some((seg) => seg === "*" || seg === "**"))) return undefined;
	let found: { method: string; route: CompiledRoute }[] | undefined;
	for (const twin of twins) {
		const r = findRoute(table, method, twin);
		if (r && r !== route && !found?.some((t) => t.route === r)) (found ??= []).push({ method, route: r });
	}
	return found;
}
