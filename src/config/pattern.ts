/**
 * The route path grammar, defined once: the config schema refuses anything outside it
 * (and publishes the same regular expression to editors), and `matchPath` in routes.ts
 * implements exactly these meanings.
 *
 *   pattern  = "/" | segment+ [ "/" ] | segment* "/**"
 *   segment  = "/" ( "*" | literal )
 *   literal  = 1*( unreserved | sub-delim-safe | "@" | ":" | pct-encoded ), not starting with ":"
 *
 * - A literal segment matches that segment only (case and a trailing slash are folded for
 *   rules that need a key, see routes.ts; public rules match exactly).
 * - `*` stands alone for exactly one non-empty segment. It is never part of a literal.
 * - `**` stands alone, only as the last segment, for the rest of the path (zero or more
 *   segments). Anywhere else it would open every path beneath it, so it is refused.
 * - `.` and `..` are not segments (the URL parser has already resolved them in a request).
 * - `:name`, `{name}`, `(a|b)`, `[…]`, `?` and `+`-style syntax from other frameworks are
 *   refused with keygate's equivalent, never taken as literal text.
 */
const LITERAL_FIRST = "(?:[A-Za-z0-9._~!$&'+,=@-]|%[0-9A-Fa-f]{2})";
const LITERAL_REST = "(?:[A-Za-z0-9._~!$&'+,=:@-]|%[0-9A-Fa-f]{2})";
const SEGMENT = `/(?:\\*|(?!\\.{1,2}(?:/|$))${LITERAL_FIRST}${LITERAL_REST}*)`;

export const PATH_PATTERN = new RegExp(`^(?:/|(?:${SEGMENT})+/?|(?:${SEGMENT})*/\\*\\*)$`);
export const PATH_PATTERN_GRAMMAR =
	"a path pattern: literal segments, * alone for one segment, ** alone as the last segment for the rest of the path";

/**
 * Why `pattern` is outside the grammar, with keygate's equivalent where it looks like
 * another framework's syntax; undefined when it is valid.
 */
export function patternProblem(pattern: string): string | undefined {
	if (!pattern.startsWith("/")) return `"${pattern}" must start with /`;
	const segments = pattern === "/" ? [] : pattern.slice(1).split("/");
	if (pattern.endsWith("/**/")) return `"${pattern}": ** is already the rest of the path; drop the trailing slash`;
	if (segments.length > 0 && segments[segments.length - 1] === "") segments.pop(); // one trailing slash
	const equivalent = (i: number, replacement: string[]) =>
		"/" + [...segments.slice(0, i), ...replacement, ...segments.slice(i + 1)].join("/");
	for (const [i, s] of segments.entries()) {
		if (s === "") return `"${pattern}" has an empty segment (//)`;
		if (s === "**") {
			if (i !== segments.length - 1)
				return `"${pattern}": ** may only be the last segment (it matches the whole rest of the path, so here it would open every path beneath "/${segments.slice(0, i).join("/")}"); write one rule per path, with * for one segment, e.g. "${equivalent(i, ["*"])}"`;
			continue;
		}
		if (s === "*") continue;
		if (s === "." || s === "..") return `"${pattern}": "${s}" is not a path segment`;
		if (/^:[A-Za-z_]/.test(s))
			return `"${pattern}": ":${s.slice(1)}" is a parameter in other frameworks; keygate writes one segment as *: "${equivalent(i, ["*"])}"`;
		if (/^\{[^}]*\}$/.test(s))
			return `"${pattern}": "${s}" is a parameter in other frameworks; keygate writes one segment as *: "${equivalent(i, ["*"])}"`;
		if (/^\(.*\|.*\)$/.test(s))
			return `"${pattern}": "${s}" is a regular expression alternative; keygate takes no regular expressions: write one rule per alternative, e.g. "${equivalent(i, [s.slice(1, -1).split("|")[0]!])}"`;
		if (s.includes("*")) return `"${pattern}": * must stand alone as a whole segment ("${s}" is not allowed); use * or ** as a segment`;
		if (/[(){}[\]|?\\^$]/.test(s))
			return `"${pattern}": "${s}" holds regular-expression or template syntax, which keygate does not take; use literal segments, * and a final **`;
		if (!new RegExp(`^${SEGMENT}$`).test("/" + s))
			return `"${pattern}": "${s}" holds characters a path segment cannot (use percent-encoding)`;
	}
	return undefined;
}
