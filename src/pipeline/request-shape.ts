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
	let path = pathname.includes("%") ? pathname.replace(/%([0-9A-Fa-f]{2})/g, decodeUnreserved) : pathname;
	if (path.includes("//")) path = path.replace(/\/{2,}/g, "/");
	return path;
}

function decodeUnreserved(escape: string, hex: string): string {
	const ch = String.fromCharCode(parseInt(hex, 16));
	return /[A-Za-z0-9\-._~]/.test(ch) ? ch : escape;
}
