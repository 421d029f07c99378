/**
 * The token and revocation endpoints' parameters, parsed strictly (RFC 6749 §3.2:
 * "parameters sent without a value MUST be treated as if they were omitted", "request
 * and response parameters MUST NOT be included more than once"). Seed 004 sends JSON;
 * RFC 6749 sends application/x-www-form-urlencoded: both are accepted, nothing else.
 */
import { readCapped } from "../util/body";

export const MAX_BODY_BYTES = 16 * 1024;

export type Params = { ok: true; params: Map<string, string> } | { ok: false; description: string };

/** The media type alone, lowercased, or undefined when the header is not one `type/subtype[; params]`. */
export function mediaType(contentType: string | null): string | undefined {
	if (contentType === null) return undefined;
	const m = /^\s*([a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+)\s*(;.*)?$/i.exec(contentType);
	return m ? m[1]!.toLowerCase() : undefined;
}

export async function readParams(request: Request): Promise<Params> {
	const type = mediaType(request.headers.get("Content-Type"));
	if (type !== "application/json" && type !== "application/x-www-form-urlencoded")
		return { ok: false, description: "Content-Type must be application/x-www-form-urlencoded or application/json." };
	const declared = Number(request.headers.get("Content-Length") ?? "0");
	if (declared > MAX_BODY_BYTES) return { ok: false, description: "The request body is too large." };
	const text = await readCapped(request.body, MAX_BODY_BYTES);
	if (text === undefined) return { ok: false, description: "The request body is too large." };
	if (text === null) return { ok: false, description: "The request body is not UTF-8 text." };
	const params = new Map<string, string>();
	if (type === "application/x-www-form-urlencoded") {
		for (const [name, value] of new URLSearchParams(text)) {
			if (params.has(name)) return { ok: false, description: `The parameter ${safeName(name)} is repeated.` };
			if (value !== "") params.set(name, value);
		}
		return { ok: true, params };
	}
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch {
		return { ok: false, description: "The request body is not valid JSON." };
	}
	if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
		return { ok: false, description: "The request body must be a JSON object." };
	for (const [name, value] of Object.entries(parsed)) {
		if (typeof value !== "string") return { ok: false, description: `The parameter ${safeName(name)} must be a string.` };
		if (value !== "") params.set(name, value);
	}
	const repeated = repeatedMember(text);
	if (repeated !== undefined) return { ok: false, description: `The parameter ${safeName(repeated)} is repeated.` };
	return { ok: true, params };
}

/** A parameter name as it may appear in a description: RFC 6749 limits error_description to %x20-21 / %x23-5B / %x5D-7E. */
const safeName = (name: string) => (/^[a-z_]{1,40}$/.test(name) ? name : "(unnamed)");

/**
 * JSON.parse keeps the last of repeated names silently; a name given twice is refused, as a
 * repeated form parameter is. Names are compared decoded, so `client\u005fid` is `client_id`
 * (found by a probe). Only for a flat object of strings (checked before): every string
 * literal, read left to right, is a member name when a colon follows it.
 */
function repeatedMember(text: string): string | undefined {
	const seen = new Set<string>();
	for (const m of text.matchAll(/"(?:[^"\\]|\\.)*"(\s*:)?/g)) {
		if (m[1] === undefined) continue;
		const name = JSON.parse(m[0].slice(0, m[0].length - m[1].length)) as string;
		if (seen.has(name)) return name;
		seen.add(name);
	}
	return undefined;
}
