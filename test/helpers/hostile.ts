import { expect } from "vitest";
import { catalogueEntry, type PublicCode } from "../../src/errors/catalogue";

/**
 * Shared checks for the hostile-input, nasty-request and secrecy suites.
 */

/** What a documented error looks like: the status and the codes allowed for it. */
export type Allowed = Partial<Record<number, readonly PublicCode[]>>;

/**
 * Asserts a documented JSON error (default style): one of the allowed statuses, with one
 * of the codes allowed for it, the catalogue's message (or, for 429, the catalogue's
 * message with the real wait filled in), `Cache-Control: no-store`, and on a 401 a
 * `WWW-Authenticate` challenge. Never a 5xx. Returns the parsed body.
 */
export async function expectDocumented(res: Response, allowed: Allowed, what = ""): Promise<{ error: string; message: string }> {
	const text = await res.text();
	const label = `${what} -> ${res.status} ${text.slice(0, 300)}`;
	if (!Object.keys(allowed).some((s) => Number(s) >= 500)) expect(res.status, label).toBeLessThan(500);
	expect(Object.keys(allowed).map(Number), label).toContain(res.status);
	expect(res.headers.get("Content-Type"), label).toBe("application/json");
	expect(res.headers.get("Cache-Control"), label).toBe("no-store");
	const body = JSON.parse(text) as { error: string; message: string };
	expect(allowed[res.status], label).toContain(body.error);
	const entry = catalogueEntry(body.error as PublicCode);
	expect(entry.status, label).toBe(res.status);
	if (res.status === 429) {
		const wait = res.headers.get("Retry-After");
		expect(Number(wait), label).toBeGreaterThan(0);
		expect(body.message, label).toBe(entry.message.replace("{retryAfter}", String(wait)));
	} else if (body.error !== "invalid_request" && body.error !== "key_not_found" && body.error !== "conflict") {
		// Admin 400/404/409 messages name the field or the id; every other message is the catalogue's.
		expect(body.message, label).toBe(entry.message);
	} else {
		expect(typeof body.message, label).toBe("string");
		expect(body.message.length, label).toBeGreaterThan(0);
	}
	if (res.status === 401) expect(res.headers.get("WWW-Authenticate"), label).toMatch(/^Bearer realm="keygate/);
	return body;
}

/**
 * How a typical origin (or a proxy in front of it) reads a path: repeated slashes merged,
 * `.` and `..` segments (also percent-encoded, `%2e`) resolved. (keygate refuses an
 * encoded slash or backslash outright, so how an origin would decode one never matters.)
 */
export function originView(path: string): string {
	const out: string[] = [];
	for (const raw of path.split("/")) {
		const seg = raw.replace(/%2e/gi, ".");
		if (seg === "" || seg === ".") continue;
		if (seg === "..") {
			out.pop();
			continue;
		}
		out.push(raw);
	}
	return "/" + out.join("/");
}

/**
 * A string made safe for a header value the way an HTTP client would send text a header
 * cannot hold: UTF-8, with every byte outside printable ASCII percent-encoded. (workerd
 * accepts raw non-ASCII only by re-encoding it with a warning per value, which would
 * flood the output of a property run; the corpus sends a few raw ones.)
 */
export function headerSafe(s: string): string {
	let out = "";
	for (const b of new TextEncoder().encode(s))
		out += b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
	return out;
}

/** Control bytes a header value may carry (everything below 0x20 but NUL, LF and CR; and DEL). */
export const HEADER_CONTROL_BYTES: string[] = [
	...Array.from({ length: 0x20 }, (_, i) => i).filter((i) => i !== 0x00 && i !== 0x0a && i !== 0x0d),
	0x7f,
].map((i) => String.fromCharCode(i));

/** SHA-256 of text or bytes, lowercase hex. */
export async function sha256(data: string | Uint8Array): Promise<string> {
	const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
	const digest = await crypto.subtle.digest("SHA-256", bytes);
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
