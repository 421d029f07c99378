import { decodeUnreserved } from "../config/routes";

/**
 * The path keygate matches route rules against and forwards, or undefined when it will
 * not route it. The URL parser has already resolved `.` and `..` (also as %2e) and
 * turned backslashes into slashes. What is left are the ways an origin could read a path
 * differently from the rules, each closed here so that the rule that matched is the
 * path the origin gets:
 * - repeated slashes (`//v1//x`, which most servers read as `/v1/x`) are collapsed;
 * - percent-encoded unreserved characters (`/v1/%6Aobs`) are decoded (RFC 3986 §2.3:
 *   they are the same path);
 * - an encoded slash or backslash (`%2F`, `%5C`), which some origins decode into a
 *   separator after routing, and `;` path parameters, which some drop, are refused.
 * Route matching also ignores case and a trailing slash (see routes.ts), as many
 * frameworks do, so a differently spelled path is held to at least the same rule.
 */
export function canonicalPath(pathname: string): string | undefined {
	if (/%2f|%5c|;/i.test(pathname)) return undefined;
	let path = decodeUnreserved(pathname);
	if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
	return path;
}

/**
 * True when `pathname`, read the way any server might read it (percent-decoded, any case,
 * full-width letters as ASCII, format characters dropped, repeated slashes or backslashes
 * collapsed, the first segment cut at its first character outside [a-z0-9_-]), starts
 * with keygate's admin namespace. Such a request never reaches an origin.
 */
export function isAdminSpelling(pathname: string): boolean {
	// Plain ASCII with no escape can only spell it as itself, in some case: most paths end here.
	if (!pathname.includes("%") && !/[^\x00-\x7f]/.test(pathname) && !pathname.toLowerCase().includes("_keygate")) return false;
	let path = pathname;
	try {
		path = decodeURIComponent(pathname);
	} catch {
		path = pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
	}
	// Full-width letters read as their ASCII twins, and invisible format characters as nothing.
	if (/[^\x00-\x7f]/.test(path)) path = path.normalize("NFKC").replace(/\p{Cf}/gu, "");
	const first =
		path
			.toLowerCase()
			.replace(/[\\/]+/g, "/")
			.split("/")[1] ?? "";
	// Cut at the first character no name holds (NUL, `;`, `#`, `?`, a dot, a space...):
	// an origin or framework that stops reading a segment there would read `_keygate`.
	return /^[a-z0-9_-]*/.exec(first)![0] === "_keygate";
}

/** Header fields that other frameworks read as "treat this request as another method". */
export const METHOD_OVERRIDE_HEADERS = ["x-http-method-override", "x-method-override", "x-http-method"];
/** The query parameter Rails, Laravel and Express's method-override read. */
export const METHOD_OVERRIDE_PARAM = "_method";

/**
 * A query parameter's name as PHP registers it: cut at a NUL, leading spaces dropped, the name before a
 * `[…]` index, and ` `, `.` and an unclosed `[` read as `_`. So `.method`, `[method`,
 * ` _method` and `_method[]` all reach a PHP framework (Laravel, Symfony) as `_method`.
 */
function phpBaseName(raw: string): string {
	// PHP measures the name as a C string: it ends at the first NUL (`_method%00x` is `_method`).
	const nul = raw.indexOf("\0");
	const name = (nul === -1 ? raw : raw.slice(0, nul)).replace(/^ +/, "");
	const open = name.indexOf("[");
	const base = open === -1 ? name : name.indexOf("]", open) === -1 ? name.slice(0, open) + "_" + name.slice(open + 1) : name.slice(0, open);
	return base.replace(/[ .[]/g, "_");
}

/** True for `_method` in any case, and for every name PHP reads as it (`.method`, `[method`, `_method[]`, `_method[x]`). */
const isMethodParam = (name: string) => phpBaseName(name).toLowerCase() === METHOD_OVERRIDE_PARAM;

/**
 * The form content types whose fields Rails (Rack::MethodOverride), Laravel and Symfony read
 * `_method` from on a POST. Cut where any of them cuts it (`;`, `,` or a space), any
 * `multipart/*` (Rack parses them all), and no type at all as urlencoded (Rack reads that
 * as a form too).
 */
export function formType(contentType: string | null): "urlencoded" | "multipart" | undefined {
	const type = (contentType ?? "")
		.trim()
		.split(/[;,\s]/)[0]!
		.toLowerCase();
	if (type === "" || type === "application/x-www-form-urlencoded") return "urlencoded";
	return type.startsWith("multipart/") ? "multipart" : undefined;
}

/** Percent escapes decoded byte by byte, leniently (a bad one stays as sent): an ASCII name reads as PHP, Rack and URLSearchParams read it, and nothing throws. */
const percentDecoded = (raw: string) =>
	raw.replace(/\+/g, " ").replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/**
 * The one rule for "this field name is a method override", for the query and for bodies
 * alike: a name some framework reads as `_method`, as PHP registers it (isMethodParam),
 * with the brackets Rack 2 and qs drop (`[_method]`, `]_method`, `_method]`), with the
 * backslash escapes Rack undoes in a quoted name (`_\method`), and percent-decoded.
 */
/** Every override name holds "method", an escape that could spell it, or a backslash inside it. */
const OVERRIDE_MARK = /method|%|\\/i;

export function isOverrideName(raw: string): boolean {
	// Cheap first.
	if (!OVERRIDE_MARK.test(raw)) return false;
	for (const name of [raw, percentDecoded(raw)]) {
		const unescaped = name.replace(/\\(.)/g, "$1");
		for (const n of [name, unescaped]) if (isMethodParam(n) || isMethodParam(n.replace(/[[\]]/g, ""))) return true;
	}
	return false;
}

/** Content types whose body Laravel (and so Symfony's method override) reads as JSON: any holding `/json` or `+json`. */
export const isJsonType = (contentType: string | null) => /[/+]json/i.test(contentType ?? "");

/**
 * True when a body carries a method override field: any name Rails (Rack 2 and 3), PHP
 * (Laravel, Symfony) or qs read as `_method`. Read more broadly than any of them reads it,
 * in one linear pass, so that no parser's reading escapes it:
 * - urlencoded: pairs split at `&` and also at `;` (Rack 2 splits at both);
 * - multipart: every `name=` anywhere in the body (quoted with `"` or `'` up to the line's
 *   end, or bare; folded; every one of several) and every `Content-ID:` (Rack names a part
 *   by it), not only in well-formed part headers. A file whose content holds
 *   `name="_method"` reads as one too: refused, never let through;
 * - JSON: the top-level object's keys (Laravel reads them as the form's).
 */
export function bodyHasMethodOverride(type: "urlencoded" | "multipart" | "json", bytes: Uint8Array): boolean {
	if (type === "json") {
		let parsed: unknown;
		try {
			parsed = JSON.parse(new TextDecoder().decode(bytes));
		} catch {
			return false; // no parser reads fields from a body that is not JSON
		}
		if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return false;
		return Object.keys(parsed).some(isOverrideName);
	}
	// latin1: one character per byte, so no sequence is lost to UTF-8 decoding.
	const text = new TextDecoder("latin1").decode(bytes);
	if (type === "urlencoded") {
		for (const pair of text.split(/[&;]/)) {
			const eq = pair.indexOf("=");
			if (isOverrideName(eq === -1 ? pair : pair.slice(0, eq))) return true;
		}
		return false;
	}
	// Each try starts with a literal and each quantifier stops at a different character
	// class, so the scan stays linear in the body's size. A quoted value ends at its quote
	// or at the line's end, so an unclosed quote cannot swallow the header after it.
	for (const m of text.matchAll(/name\s*=\s*(?:"([^"\r\n]*)|'([^'\r\n]*)|([^;,\s"']+))|content-id\s*:\s*<?([^\r\n>;]*)/gi)) {
		if (isOverrideName((m[1] ?? m[2] ?? m[3] ?? m[4] ?? "").trim())) return true;
	}
	return false;
}

/** A header name as CGI, WSGI and PHP read it: case folded, `_` the same as `-`. */
export const normalizedFieldName = (name: string) => name.toLowerCase().replace(/_/g, "-");

/**
 * The method overrides a request carries (headers in any spelling, and `_method` in the
 * query), upper-cased. Empty when it carries none.
 */
export function methodOverrides(headers: Headers, search: string): string[] {
	const found: string[] = [];
	// Headers iterate with lowercase names, and every override field's name holds "method".
	for (const [name, value] of headers)
		if (name.includes("method") && METHOD_OVERRIDE_HEADERS.includes(normalizedFieldName(name))) found.push(value.trim().toUpperCase());
	// Pairs split at `&` and also at `;`, as Rack 2, Go before 1.17 and Python before 3.9.2 split a query (the body's rule too).
	// A query holding none of isOverrideName's cheap marks (`method`, an escape, a backslash) holds no override: not split.
	if (search && OVERRIDE_MARK.test(search))
		for (const part of search.slice(1).split(/[&;]/))
			for (const [name, value] of new URLSearchParams(part)) if (isOverrideName(name)) found.push(value.trim().toUpperCase());
	return found;
}

/** `search` without any `_method` parameter, every other byte as it was. */
export function withoutMethodParam(search: string): string {
	if (!search) return search;
	const kept: string[] = [];
	for (const pair of search.slice(1).split("&")) {
		// `a=1;_method=DELETE` loses only its override; a pair that was nothing but overrides goes whole.
		const parts = pair.split(";").filter((part) => {
			// Decoded exactly as methodOverrides decodes it (URLSearchParams keeps a bad escape as it is), so whatever counts as an override is what goes.
			for (const name of new URLSearchParams(part).keys()) return !isOverrideName(name);
			return true;
		});
		if (parts.length > 0) kept.push(parts.join(";"));
	}
	return kept.length > 0 ? "?" + kept.join("&") : "";
}
