import { BODY_LENGTH, parseKey } from "../keys/format";

const KEY_SHAPED = new RegExp(`[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{${BODY_LENGTH}}`, "g");

/**
 * The path keygate matches route rules against and forwards, or undefined when it will
 * not route it. The URL parser has already resolved `.` and `..` (also as %2e) and
 * turned backslashes into slashes. Left are two ways for the origin to read a path
 * differently from the rules: repeated slashes (`//v1//x`, which most servers read as
 * `/v1/x`) are collapsed, so the rule that matched is the path the origin gets; and an
 * encoded slash or backslash (`%2F`, `%5C`), which some origins decode into a separator
 * after routing, is refused.
 */
export function canonicalPath(pathname: string): string | undefined {
	if (/%2f|%5c/i.test(pathname)) return undefined;
	return pathname.includes("//") ? pathname.replace(/\/{2,}/g, "/") : pathname;
}

/** True when any query parameter name or value contains a key (checksum included), e.g. `?api_key=`, `?auth=Bearer%20…`. */
export function queryHoldsKey(params: URLSearchParams): boolean {
	for (const [name, value] of params) {
		for (const text of [name, value]) {
			if (text.length < BODY_LENGTH) continue;
			for (const match of text.matchAll(KEY_SHAPED)) if (parseKey(match[0])) return true;
		}
	}
	return false;
}
