import type { Context } from "hono";
import type * as z from "zod/mini";
import { describeIssues } from "../config/load";
import { holdsCredential as holdsKey, holdsKeyMaterial, holdsOneCaseBody } from "../credentials/classify";
import { secretsEqual } from "../keys/crypto";
import { readCapped } from "../util/body";
import { AdminError } from "./service";

/**
 * Admin input that holds an API key is refused, wherever it is: whatever the admin API
 * accepts it stores (records, the audit log, Durable Object names) and shows again, so a
 * key pasted into `metadata` or X-Keygate-Actor would become a plaintext key at rest.
 * "Holds" means keygate would accept it: a key-shaped string whose checksum is right
 * (`holdsKey`), anywhere in the value. Messages name the field, never the value.
 */
export function refuseKey(field: string, value: string | undefined, label = isLabel(field)): void {
	if (value !== undefined && (holdsKey(value) || (label && holdsKeyMaterial(value)) || (isUrl(field) && holdsOneCaseBody(value))))
		throw new AdminError("invalid_request", `${field}: holds an API key; keygate never stores keys`);
}

/**
 * Fields keygate shows as labels and sends to the origin as identity headers: there, most of
 * a key's random part counts as a key too (classify.ts holdsKeyMaterial), since the key
 * without its prefix, or with its checksum cut or mistyped, can be completed (a second probe:
 * a key's body stored as `service` reached the origin in X-Keygate-Service). Elsewhere
 * (metadata may hold a base64 blob) only a key keygate would accept is refused.
 */
const LABELS = new Set(["name", "owner", "service", "X-Keygate-Actor"]);
/** A scope too: keys list it and the origin gets it in X-Keygate-Scopes (found by a peer: a key's body as a scope reached the origin). */
const isLabel = (field: string) => LABELS.has(field) || /^scopes\[\d+\]$/.test(field);
/**
 * The URLs keygate stores and sends back in `Location` (an OAuth client's redirect URIs, a portal session's `returnUrl`;
 * a probe stored a key's body in one): there a whole key body in one case is refused, but not the "looks random" rule,
 * which real callback URLs trip (a review: 65% of Google Apps Script's `/macros/d/<id>/usercallback`, half of 32-byte
 * base64url `state` values).
 */
const isUrl = (field: string) => /^redirectUris\[\d+\]$/.test(field) || field === "returnUrl";

const fieldName = (path: string) => path || "(root)";

/**
 * Walks a parsed JSON body, breadth first and without recursion (JSON.parse accepts
 * nesting deeper than the call stack), and refuses the first string or property name
 * that holds a key. A property name is never echoed: the message names its parent.
 */
export function refuseKeysIn(body: unknown): void {
	const queue: [unknown, string][] = [[body, ""]];
	for (let i = 0; i < queue.length; i++) {
		const [value, path] = queue[i]!;
		if (typeof value === "string") refuseKey(fieldName(path), value);
		else if (Array.isArray(value)) value.forEach((item, n) => queue.push([item, `${path}[${n}]`]));
		else if (value !== null && typeof value === "object") {
			for (const [name, item] of Object.entries(value)) {
				// JSON.parse makes `"__proto__"` (or `"\u005f_proto__"`) an own field, which the schema's records would drop without a word.
				if (name === "__proto__") throw new AdminError("invalid_request", `${fieldName(path)}: a field named __proto__ is not allowed`);
				if (holdsKey(name))
					throw new AdminError("invalid_request", `${fieldName(path)}: a property name holds an API key; keygate never stores keys`);
				queue.push([item, path ? `${path}.${name}` : name]);
			}
		}
	}
}

/** The strings of a parsed body, property names included, breadth first and without recursion. */
function stringsIn(body: unknown): string[] {
	const out: string[] = [];
	const queue: unknown[] = [body];
	for (let i = 0; i < queue.length; i++) {
		const value = queue[i];
		if (typeof value === "string") out.push(value);
		else if (Array.isArray(value)) queue.push(...value);
		else if (value !== null && typeof value === "object")
			for (const [name, item] of Object.entries(value)) (out.push(name), queue.push(item));
	}
	return out;
}

/**
 * Refuses input holding the deployment's own ADMIN_TOKEN or SIGNING_SECRET (found by a probe: an admin token pasted
 * as a key's name or service was stored, shown on the customer's portal page and sent to the origin in
 * X-Keygate-Service). Each value is cut into words (at blanks, quotes, `,` and `;`, and again at `=`, `:`, `/`, `?`,
 * `&` and `#`), and a word as long as a secret is compared with it in constant time, so no timing tells how much of
 * a secret a word shares. The message names no value.
 */
export async function refuseSecretsIn(values: unknown, env: { ADMIN_TOKEN?: string; SIGNING_SECRET?: string }): Promise<void> {
	const secrets = [env.ADMIN_TOKEN, env.SIGNING_SECRET].filter((v): v is string => typeof v === "string" && v !== "");
	if (secrets.length === 0) return;
	const lengths = new Set(secrets.map((v) => v.length));
	const words = new Set<string>();
	for (const text of stringsIn(values))
		for (const word of text.split(/[\s"'`,;<>]+/))
			for (const part of [word, ...word.split(/[=:/?&#]+/)]) if (lengths.has(part.length)) words.add(part);
	for (const word of words)
		for (const secret of secrets)
			if (await secretsEqual(word, secret))
				throw new AdminError("invalid_request", "input holds this deployment's ADMIN_TOKEN or SIGNING_SECRET; keygate never stores them");
}

/** Refuses a query parameter (name or value) that holds a key. */
export function refuseKeysInQuery(params: URLSearchParams): void {
	for (const [name, value] of params) {
		if (holdsKey(name)) throw new AdminError("invalid_request", "query: a parameter name holds an API key; keygate never stores keys");
		refuseKey(name, value);
	}
}

/**
 * The largest admin body read: above any valid one (the largest, an OAuth client with 20
 * redirect URIs of 2,000 characters, is about 120 KB in 3-byte UTF-8; a review found 64 KiB
 * refused it), and far below what parsing and the key scan can take (a 10 MB body
 * overflowed the stack: a 503 where a 400 was due, found by a probe).
 */
export const MAX_ADMIN_BODY_BYTES = 256 * 1024;

/** The body as JSON, with no key anywhere in it, validated by `schema` (an empty body is `{}` when `optional`). */
export async function readBody<S extends z.ZodMiniType>(c: Context, schema: S, optional = false): Promise<z.output<S>> {
	const tooLarge = () => new AdminError("invalid_request", `body: at most ${MAX_ADMIN_BODY_BYTES} bytes of UTF-8 JSON`);
	// Refused unread: a body never touched leaves the connection sound (util/body.ts).
	if (Number(c.req.header("Content-Length") ?? "0") > MAX_ADMIN_BODY_BYTES) throw tooLarge();
	const text = await readCapped(c.req.raw.body, MAX_ADMIN_BODY_BYTES);
	if (text === undefined) throw tooLarge();
	// Not a size problem: said as what it is (a probe read the size message for a body that was not UTF-8).
	if (text === null) throw new AdminError("invalid_request", "body: not UTF-8 text; send the JSON as UTF-8");
	let json: unknown = {};
	if (text.trim() !== "" || !optional) {
		try {
			json = JSON.parse(text);
		} catch {
			throw new AdminError("invalid_request", "body: expected a JSON object");
		}
	}
	// Before the schema: its messages may quote what they refuse (an unknown field's name).
	refuseKeysIn(json);
	await refuseSecretsIn(json, c.env as { ADMIN_TOKEN?: string; SIGNING_SECRET?: string });
	const parsed = schema.safeParse(json);
	if (!parsed.success) throw new AdminError("invalid_request", describeIssues(parsed.error));
	return parsed.data;
}
