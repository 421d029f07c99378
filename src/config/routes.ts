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
/** ASCII control characters and the space percent-encoded, as the URL parser leaves them in a path. */
const encodeBlanks = (s: string) => s.replace(/[\x00-\x20]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0").toUpperCase()}`);

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

/**
 * Blanks a segment's end may hold that loose servers drop, as escapes (lower case): every
 * control character and the space (Java's `trim` drops all of U+0000-U+0020; JavaScript's
 * and Python's whitespace are among them), and the Unicode spaces JavaScript's `trim` and
 * Python's `strip` drop (U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
 * U+205F, U+3000, U+FEFF). A probe found `%0a`, `%0d` and U+3000 passing where `%09` did not.
 */
const isControlOrSpace = (escape: string) => /^%(?:[01][0-9a-f]|20)$/.test(escape);
const UNICODE_BLANKS = new Set([
	"%c2%85",
	"%c2%a0",
	"%e1%9a%80",
	...Array.from({ length: 11 }, (_, i) => `%e2%80%8${i.toString(16)}`),
	"%e2%80%a8",
	"%e2%80%a9",
	"%e2%80%af",
	"%e2%81%9f",
	"%e3%80%80",
	"%ef%bb%bf",
]);
/** A cheap first test: could the path hold a dot or blank to trim (trimEnds)? */
const MAY_TRIM = /\.|%2e|%[01][0-9a-f]|%20|%c2%|%e1%9a%80|%e2%8[01]%|%e3%80%80|%ef%bb%bf/i;

/** How many characters of a blank `lower` holds at `at` (0: none): one escape, or one Unicode space's UTF-8 escapes. */
function blankAt(lower: string, at: number): number {
	if (isControlOrSpace(lower.slice(at, at + 3))) return 3;
	if (UNICODE_BLANKS.has(lower.slice(at, at + 6))) return 6;
	if (UNICODE_BLANKS.has(lower.slice(at, at + 9))) return 9;
	return 0;
}

/** How many characters of a trailing dot or blank end `lower` at `end` (0: none). */
function tailPiece(lower: string, end: number): number {
	if (lower[end - 1] === ".") return 1;
	if (end >= 3 && lower.startsWith("%2e", end - 3)) return 3;
	return tailBlank(lower, end);
}

/**
 * `segment` as loose servers read its ends: without leading and trailing blanks (Java's
 * `trim`, JavaScript's, Python's `strip`: found by a probe, `/v1/%20admin/x` passed where
 * `/v1/admin%20/x` did not), then without trailing dots (Windows and IIS). A leading dot is
 * part of the name (`.well-known`). A segment of blanks alone reads as nothing (found by a
 * probe: `/v1/%20/admin/x` is `/v1/admin/x` once slashes collapse); one of dots and blanks
 * reads as its dots (`..%20` is `..`, which the caller refuses). Linear: each piece is cut once.
 */
function trimEnds(segment: string): string {
	const lower = segment.toLowerCase();
	let start = 0;
	for (let cut = blankAt(lower, start); cut > 0; cut = blankAt(lower, start)) start += cut;
	if (start === lower.length) return "";
	let end = lower.length;
	for (let cut = tailBlank(lower, end); cut > 0 && end - cut >= start; cut = tailBlank(lower, end)) end -= cut;
	const trimmed = segment.slice(start, end).replace(/%2e/gi, ".");
	if (trimmed === "." || trimmed === "..") return trimmed;
	// Windows also drops trailing dots (and blanks between them), unless that leaves nothing.
	let bare = end;
	for (let cut = tailPiece(lower, bare); cut > 0 && bare - cut > start; cut = tailPiece(lower, bare)) bare -= cut;
	return segment.slice(start, bare);
}

/** How many characters of a trailing blank end `lower` at `end` (0: none). */
function tailBlank(lower: string, end: number): number {
	if (end >= 3 && blankAt(lower, end - 3) === 3) return 3;
	if (end >= 6 && blankAt(lower, end - 6) === 6) return 6;
	if (end >= 9 && blankAt(lower, end - 9) === 9) return 9;
	return 0;
}

/**
 * The path cut at its first NUL (C string handling); each segment cut at an encoded `;`
 * (`%3B`, which a server that decodes before it drops path parameters reads as one: a
 * literal `;` is refused, canonicalPath); each of these and the path itself with every
 * segment trimmed (trimEnds: a server may cut and then trim, found by a review), repeated
 * slashes collapsed; those that differ from the path.
 */
function looseReadings(path: string): string[] {
	const cuts: string[] = [];
	const nul = path.search(/%00/);
	if (nul !== -1) cuts.push(path.slice(0, nul) || "/");
	if (/%3b/i.test(path)) {
		// A segment that was nothing but parameters leaves nothing: `/v1/%3B/admin/x` is `/v1/admin/x` (found by a probe).
		const cut =
			path
				.split("/")
				.map((segment) => segment.replace(/%3b.*$/i, ""))
				.join("/")
				.replace(/\/{2,}/g, "/") || "/";
		if (cut !== path) cuts.push(cut);
	}
	const out = [...cuts];
	for (const reading of [path, ...cuts])
		if (MAY_TRIM.test(reading)) {
			const trimmed =
				reading
					.split("/")
					.map(trimEnds)
					.join("/")
					.replace(/\/{2,}/g, "/") || "/";
			if (trimmed !== reading) out.push(trimmed);
		}
	return out.filter((p) => p !== path);
}

/** Lead bytes of overlong UTF-8 encodings: C0, C1, E0 then 80-9F, F0 then 80-8F. */
const OVERLONG_UTF8 = /%c[01]|%e0%[89][0-9a-f]|%f0%8[0-9a-f]/i;

/** A reading with a `.` or `..` segment: a loose server resolves it (`/docs/..%3Bx/v1` is `/v1`), so no rule keygate matches stands for it (found by a probe). */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

/** Percent-encoded unreserved characters decoded (RFC 3986 §2.3: `%61` is `a`), every other escape kept. */
export function decodeUnreserved(path: string): string {
	return path.includes("%")
		? path.replace(/%([0-9A-Fa-f]{2})/g, (escape, hex: string) => {
				const ch = String.fromCharCode(parseInt(hex, 16));
				return /[A-Za-z0-9\-._~]/.test(ch) ? ch : escape;
			})
		: path;
}

/**
 * Whether a `%` that starts no escape would start one once the escapes after it are decoded
 * (`%2%65` is `%2e`, `%%36%31` is `%61`). A `%` that stays stray (`50%off`, from `50%2525off`)
 * is only a percent sign. Linear: the two hex digits come from at most the next 6 characters.
 */
function strayMakesEscape(path: string): boolean {
	for (let at = path.indexOf("%"); at !== -1; at = path.indexOf("%", at + 1))
		if (!/^[0-9a-f]{2}/i.test(path.slice(at + 1, at + 3)) && /^[0-9a-f]{2}/i.test(decodeUnreserved(path.slice(at + 1, at + 7))))
			return true;
	return false;
}

/** How many decodes beyond the URL parser's an origin is assumed to make at most. */
const MAX_EXTRA_DECODES = 3;

/**
 * The path as an origin that decodes twice reads it (`%252e%252e` is `..`, `%252f` a
 * slash): decoded once more, its dot segments resolved, repeated slashes collapsed, and its
 * unreserved escapes decoded as the path's own are (`%2561` is `a`). Two ways, where they
 * differ: dots resolved first, as the URL standard does (`/docs//../v1` is `/docs/v1`), and
 * as Go's `path.Clean`, Node's `path.normalize`, Python's `normpath` and nginx do, with
 * segments cut at `;`, trimmed and slashes merged first (`/docs//../v1` is `/v1`; found by a
 * probe). Undefined when there is nothing to decode again.
 */
function decodedOnceMore(path: string): string[] | undefined | "ambiguous" {
	if (!/%25/i.test(path)) return undefined;
	const once = path.replace(/%25/gi, "%").replace(/%2f|%5c/gi, "/");
	// A stray `%` there would combine with what decoding makes of its neighbours (`%2%65` is `%2e`), and a `?` or `#` would end
	// the path for an origin that parses again: neither is a path keygate can match (found by a probe).
	if (/%3f|%23/i.test(once) || strayMakesEscape(once)) return "ambiguous";
	const merged = once
		.split("/")
		.map((segment) => trimEnds(segment.replace(/%3b.*$/i, "")))
		.join("/")
		.replace(/\/{2,}/g, "/");
	const readings: string[] = [];
	for (const form of once === merged ? [once] : [once, merged]) {
		try {
			const read = decodeUnreserved(new URL(form, "http://h").pathname).replace(/\/{2,}/g, "/");
			if (!readings.includes(read)) readings.push(read);
		} catch {
			// not a path the URL parser reads: no twin
		}
	}
	return readings.length > 0 ? readings : undefined;
}

/**
 * Every other path an origin may route this one to (`paths`): its own readings
 * (`readingsOf`), and, for an origin that decodes twice, the path decoded once more
 * (decodedOnceMore) with all of its readings too, so no step is skipped on that path
 * (found by a probe: `/docs/%252e%252e/v%2531/x` reached `/v1/x` with no key, as the twin
 * kept `%31` encoded and no rule matched it).
 *
 * `intoSyntax`: a non-ASCII character folds (NFKC) into path syntax: `?`, `#`, `;`, `%`, a
 * backslash, or a `.` or `..` segment (`%E2%80%A5` is `..`). A router that folds would
 * read another path than any twin keygate can match, so the request is refused.
 */
export function pathTwins(path: string): { paths: string[]; intoSyntax: boolean } {
	const own = readingsOf(path);
	const paths: string[] = [];
	const add = (p: string) => {
		if (p !== path && !paths.includes(p)) paths.push(p);
	};
	own.paths.forEach(add);
	let intoSyntax = own.intoSyntax;
	// Decoded once more, and once more again: an origin may decode twice, or thrice (found by a probe: `%25252e`). Each
	// level has at most two readings, so at most 2 + 4 + 8 paths are read in all.
	let deeper = [path];
	for (let level = 0; level < MAX_EXTRA_DECODES && deeper.length > 0; level++) {
		const next: string[] = [];
		for (const p of deeper) {
			const readings = decodedOnceMore(p);
			if (readings === undefined) continue;
			if (readings === "ambiguous") return { paths, intoSyntax: true };
			for (const reading of readings) {
				const more = readingsOf(reading);
				add(reading);
				more.paths.forEach(add);
				intoSyntax ||= more.intoSyntax;
				next.push(reading);
			}
		}
		deeper = next;
	}
	return { paths, intoSyntax };
}

/**
 * One path's other readings: its format-suffix twins, the loose servers' readings
 * (looseReadings), and its folded twins and theirs. Folded twins read the path's non-ASCII
 * letters the ways lenient routers read them, where that differs: Unicode lowercasing (the
 * Kelvin sign `%E2%84%AA` is `k` to JavaScript's `toLowerCase`, and so to find-my-way's
 * case-insensitive routes), upper- then lowercasing (`ı` and `ſ` are `i` and `s` to Java's
 * `equalsIgnoreCase`; `İ` is `i` to Java's lowercasing, where JavaScript adds a combining
 * dot), and NFKC with format characters dropped (full-width `ｋ` is `k`). Bytes that are
 * not UTF-8 read as U+FFFD, so one bad byte does not hide the rest; ASCII escapes stay
 * encoded, as rules compare them. A folded twin is trimmed as the path is (U+3000 is a
 * space once NFKC has read it).
 */
function readingsOf(path: string): { paths: string[]; intoSyntax: boolean } {
	const paths = formatTwinPaths(path);
	const add = (p: string) => {
		if (p !== path && !paths.includes(p)) paths.push(p);
	};
	// Overlong UTF-8 (`%C0%AE` is `.` to old Tomcat and IIS decoders) is never valid UTF-8, so no ordinary path holds it (a probe).
	let intoSyntax = OVERLONG_UTF8.test(path);
	for (const loose of looseReadings(path)) {
		if (DOT_SEGMENT.test(loose)) intoSyntax = true;
		// `/v1/admin.json%00/x` is `/v1/admin.json` to C, and that is `/v1/admin` to Rails (found by a probe).
		for (const p of [loose, ...formatTwinPaths(loose)]) add(p);
	}
	if (!NON_ASCII_ESCAPE.test(path)) return { paths, intoSyntax };
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
		// A blank NFKC made of a Unicode space (U+3000 is a space) is encoded as the path's own are, so it is trimmed as they are (found by a review).
		const folded = encodeBlanks(encodeNonAscii(v.replace(/i\u0307/g, "i"))).replace(/\/{2,}/g, "/");
		if (folded.toLowerCase() === lowered) continue;
		for (const loose of looseReadings(folded)) if (DOT_SEGMENT.test(loose)) intoSyntax = true;
		for (const p of [folded, ...formatTwinPaths(folded), ...looseReadings(folded)]) add(p);
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
): { method: string; route: CompiledRoute | undefined }[] | undefined {
	if (twins.length === 0 || (route?.public && !route.segments.some((seg) => seg === "*" || seg === "**"))) return undefined;
	let found: { method: string; route: CompiledRoute | undefined }[] | undefined;
	for (const twin of twins) {
		// A twin no rule covers is an unmatched path: it needs a key, and `unmatchedRoutes: "deny"` refuses it (found by a
		// probe: `/docs/%252e%252e/v2/x` reached an unlisted `/v2/x` with no key).
		const r = findRoute(table, method, twin);
		if (r !== route && !found?.some((t) => t.route === r)) (found ??= []).push({ method, route: r });
	}
	return found;
}
