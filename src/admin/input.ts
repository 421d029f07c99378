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

/** Two polynomial hashes of a window of UTF-16 code units, mod two primes under 2^31 (products stay exact in a double). */
const PRIMES = [2_147_483_647, 2_147_483_629] as const;
/** Bases drawn once per isolate, on first use (the Workers runtime makes no random values at load), under 2^21: nothing an input can aim at. */
let BASES: [number, number] = [0, 0];
function drawBases(): void {
	if (BASES[0] === 0) BASES = [...crypto.getRandomValues(new Uint32Array(2))].map((b) => (b % 2_000_000) + 1_000) as [number, number];
}

const mulMod = (a: number, b: number, p: number) => (a * b) % p;

function windowHash(text: string, from: number, length: number, k: 0 | 1): number {
	let h = 0;
	for (let i = from; i < from + length; i++) h = (mulMod(h, BASES[k], PRIMES[k]) + text.charCodeAt(i)) % PRIMES[k];
	return h;
}

/** Every start in `text` where a window of `length` has the hashes `want` (Rabin-Karp: the same steps for every input). */
function* hashMatches(text: string, length: number, want: [number, number]): Generator<number> {
	if (text.length < length) return;
	const h: [number, number] = [windowHash(text, 0, length, 0), windowHash(text, 0, length, 1)];
	// BASE^(length-1) mod p: the weight of the code unit that leaves the window.
	const top = ([0, 1] as const).map((k) => {
		let w = 1;
		for (let i = 1; i < length; i++) w = mulMod(w, BASES[k], PRIMES[k]);
		return w;
	});
	for (let start = 0; ; start++) {
		if (h[0] === want[0] && h[1] === want[1]) yield start;
		const next = start + length;
		if (next >= text.length) return;
		for (const k of [0, 1] as const) {
			const p = PRIMES[k];
			const out = mulMod(text.charCodeAt(start), top[k]!, p);
			h[k] = (mulMod((h[k] - out + p) % p, BASES[k], p) + text.charCodeAt(next)) % p;
		}
	}
}

/**
 * Refuses input holding the deployment's own ADMIN_TOKEN or SIGNING_SECRET anywhere in it (found by a probe: an admin
 * token pasted as a key's name or service was stored, shown on the customer's portal page and sent to the origin in
 * X-Keygate-Service; a review: a base64 token inside `token=…` slipped past a search by words). Every window as long
 * as a secret is hashed in one pass (Rabin-Karp, under bases drawn at random per isolate), the same steps whatever the
 * secret holds, and a window whose hashes match is then compared in constant time: no timing tells how much of a
 * secret an input shares. The message names no value.
 */
export async function refuseSecretsIn(values: unknown, env: { ADMIN_TOKEN?: string; SIGNING_SECRET?: string }): Promise<void> {
	const secrets = [env.ADMIN_TOKEN, env.SIGNING_SECRET].filter((v): v is string => typeof v === "string" && v !== "");
	if (secrets.length === 0) return;
	drawBases();
	const texts = stringsIn(values);
	for (const secret of secrets) {
		const want: [number, number] = [windowHash(secret, 0, secret.length, 0), windowHash(secret, 0, secret.length, 1)];
		for (const text of texts)
			for (const at of hashMatches(text, secret.length, want))
				if (await secretsEqual(text.slice(at, at + secret.length), secret))
					throw new AdminError("invalid_request", "input holds this deployment's ADMIN_TOKEN or SIGNING_SECRET; keygate never stores them");
	}
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
