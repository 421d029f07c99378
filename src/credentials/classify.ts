import { BODY_LENGTH, keyAtAnyStart, MAX_KEY_LENGTH, parseKey, type ParsedKey } from "../keys/format";
import { ACCESS_TOKEN_PREFIX, fromBase64url, parseAccessToken, type ParsedAccessToken } from "../oauth/access-token";

/**
 * Credential kinds, decided from the bytes alone: no I/O, no secret. Each kind has a
 * verifier (see verify.ts) that turns it into a Principal. To add a kind: a case here,
 * a pattern in CREDENTIAL_SHAPES (so it is never forwarded, logged or accepted in a
 * URL), and a verifier.
 */
export type Classified =
	| { kind: "key"; key: ParsedKey }
	| { kind: "token"; token: ParsedAccessToken }
	| { kind: "jwt"; jwt: string; alg: string }
	| { kind: "garbage" };

/** Longest JWT looked at: an identity provider's access token is well under this. */
export const MAX_JWT_LENGTH = 8192;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Part `index` of a compact JWS (0 the header, 1 the payload) as a JSON object (UTF-8), unverified; undefined if it is none. */
function jwtPart(jwt: string, index: 0 | 1): Record<string, unknown> | undefined {
	const bytes = fromBase64url(jwt.split(".", 2)[index] ?? "");
	if (!bytes) return undefined;
	try {
		const value: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
		return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
	} catch {
		return undefined;
	}
}

/** A JWS in compact form whose header is a JSON object naming a string `alg` (RFC 7515 §7.1). Its signature is the verifier's business. */
function jwtAlg(value: string): string | undefined {
	if (value.length > MAX_JWT_LENGTH || !JWT_SHAPE.test(value)) return undefined;
	const alg = jwtPart(value, 0)?.alg;
	return typeof alg === "string" && alg !== "" ? alg : undefined;
}

export function classify(value: string): Classified {
	const key = value.length <= MAX_KEY_LENGTH ? parseKey(value) : undefined;
	if (key) return { kind: "key", key };
	// A keygate access token (`kgat_…`): its MAC is checked by the verifier, still with no I/O.
	const token = parseAccessToken(value);
	if (token) return { kind: "token", token };
	const alg = jwtAlg(value);
	if (alg !== undefined) return { kind: "jwt", jwt: value, alg };
	return { kind: "garbage" };
}

/** A key inside other text; the match may start before the key (`xsk_live_…`, `?k=x<key>`). */
const KEY_IN_TEXT = new RegExp(`[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{${BODY_LENGTH}}`, "g");

/** Every key-shaped run in `text` (its checksum unchecked; a run may start before its key, see keyAtAnyStart). */
export const keyShapedIn = (text: string): string[] => text.match(KEY_IN_TEXT) ?? [];

/**
 * Most of a key's random part: a run of 32 or more base62 characters (190 bits) that looks
 * random. A key copied without its last characters is whole in effect, since they are a
 * CRC-32 of what precedes them and can be computed again (a browser QA pass rebuilt one from
 * an address bar), and one missing a few of its first body characters is a small search
 * away. "Looks random": both letter cases, and the kind of character (upper, lower, digit)
 * changing at 35% or more of the places in the run, where random base62 changes at 62%
 * (a 32-character run falls short about 11 times in 10,000, a 43-character one about 2.5
 * times in 10,000, over 2 million uniform runs of each). The rate is taken over the whole run, so a key glued to a long run of
 * one kind of character can pass unseen; testing every 32-character window instead took a
 * Microsoft Entra pairwise id (21 "A"s, then 22 random characters) for a key. Runs in one case (a UUID without dashes, a hex digest, a number) and
 * CamelCase words (OrderFulfillmentNotificationService) or ids that are mostly one letter
 * are not keys (two reviews: hex owner ids, 201 x's and such names were taken for keys).
 */
const KEY_MATERIAL = /[0-9A-Za-z]{32,}/g;
const kindOf = (c: string) => (c >= "a" ? 0 : c >= "A" ? 1 : 2);
/**
 * A whole key body in one case (a key lowercased or uppercased, with or without its prefix,
 * and whatever is glued to it): its letters' cases are a few dozen bits, which its CRC-32
 * narrows to a few hundred candidates (a seed-page pass rebuilt one in 0.13 s). Found as a
 * run of 47 or more lowercase letters and digits, or uppercase letters and digits (47: a key
 * missing its last two checksum characters still leaves about a million candidates, each
 * one online guess), holding a digit and a letter past `f`: no hex digest, number or word.
 * A later probe glued one letter of the other case to such a key, which made the whole run
 * two-case: the runs are taken per case, so that no longer hides it.
 */
const ONE_CASE_BODIES = [/[0-9a-z]{47,}/g, /[0-9A-Z]{47,}/g];
const oneCaseBody = (run: string) => /[0-9]/.test(run) && /[g-zG-Z]/.test(run);
/** A whole key body in one case (above), the part of holdsKeyMaterial that random-looking ids in URLs do not trip. */
export function holdsOneCaseBody(text: string): boolean {
	for (const pattern of ONE_CASE_BODIES) for (const run of text.match(pattern) ?? []) if (oneCaseBody(run)) return true;
	return false;
}

export function holdsKeyMaterial(text: string): boolean {
	if (holdsOneCaseBody(text)) return true;
	for (const run of text.match(KEY_MATERIAL) ?? []) {
		if (!/[a-z]/.test(run) || !/[A-Z]/.test(run)) continue;
		let changes = 0;
		for (let i = 1; i < run.length; i++) if (kindOf(run[i]!) !== kindOf(run[i - 1]!)) changes++;
		if (changes >= 0.35 * (run.length - 1)) return true;
	}
	return false;
}

/**
 * `text` with every key-shaped run and every run that holds key material (holdsKeyMaterial) as `[redacted]`:
 * for messages that quote what they refuse (an admin error naming a tier, an id), which a key pasted
 * into the wrong field would otherwise carry back to the page, the client and its logs (found by a peer).
 */
export function withoutKeyMaterial(text: string): string {
	return text.replace(KEY_IN_TEXT, "[redacted]").replace(KEY_MATERIAL, (run) => (holdsKeyMaterial(run) ? "[redacted]" : run));
}

/**
 * Whether `text` holds a key anywhere. A candidate that fails its checksum may have
 * swallowed the start of a real key (`q_q_AAAA…sk_live_…`): the search goes on from just
 * after the candidate's first `_` (every start before it was tried), not from its end.
 */
function holdsKey(text: string, publicTypes?: ReadonlySet<string>): boolean {
	KEY_IN_TEXT.lastIndex = 0;
	for (let m = KEY_IN_TEXT.exec(text); m !== null; m = KEY_IN_TEXT.exec(text)) {
		const key = keyAtAnyStart(m[0]);
		if (key !== undefined && !publicTypes?.has(key.slice(0, key.indexOf("_")))) return true;
		KEY_IN_TEXT.lastIndex = m.index + m[0].indexOf("_") + 1;
	}
	return false;
}

/** [A-Za-z0-9_-], the base64url alphabet every dotted credential is written in. */
function isBase64url(code: number): boolean {
	return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || (code >= 48 && code <= 57) || code === 95 || code === 45;
}

/** How many base64url characters start at `from`, counting no further than `cap`. */
function base64urlRun(text: string, from: number, cap = Infinity): number {
	let i = from;
	while (i < text.length && i - from < cap && isBase64url(text.charCodeAt(i))) i++;
	return i - from;
}

/**
 * Calls `found(dot)` for every `prefix` in `text` followed by `min` to `max`
 * base64url characters and a `.` (`dot`, its index), in one left-to-right pass: the part
 * after the prefix has no `.`, so its end is the end of the base64url run, which every
 * prefix inside the same run shares. A regular expression would rescan that run from each
 * prefix (`kgat_kgat_kgat_…`), quadratic in the header's length. Stops when `found` is true.
 */
function scanDotted(text: string, prefix: string, min: number, max: number, found: (dot: number) => boolean): boolean {
	let runTo = -1;
	for (let s = text.indexOf(prefix); s !== -1; s = text.indexOf(prefix, s + 1)) {
		const from = s + prefix.length;
		if (from > runTo) runTo = from + base64urlRun(text, from);
		const length = runTo - from;
		if (length >= min && length <= max && text.charCodeAt(runTo) === 46 && found(runTo)) return true;
	}
	return false;
}

/** A dotted credential (`prefix` payload `.` MAC): the MAC is `mac` base64url characters. */
const dotted =
	(prefixes: string[], min: number, max: number, mac: number) =>
	(text: string): boolean =>
		prefixes.some((prefix) => scanDotted(text, prefix, min, max, (dot) => base64urlRun(text, dot + 1, mac) === mac));

/**
 * Every shape a credential keygate accepts can take, to find one inside other text. Access
 * tokens carry a MAC, not a checksum: checking it needs the secret, so any token-shaped
 * text counts (a false positive only costs a scrubbed header). Authorization codes and
 * refresh tokens are never sent anywhere but the token endpoint's body, so one in a header
 * or a URL is a leak to stop before the origin; so is an OAuth client secret.
 */
const CREDENTIAL_SHAPES: { minLength: number; holds: (text: string, scope?: CredentialScope) => boolean }[] = [
	{ minLength: BODY_LENGTH, holds: (text, scope) => holdsKey(text, scope?.identifierTypes) },
	// Access tokens: `kgat_`, 16 to 4,000 base64url characters, `.`, a 43-character MAC.
	{ minLength: 64, holds: dotted([ACCESS_TOKEN_PREFIX], 16, 4000, 43) },
	// Authorization codes and refresh tokens: `kgac_` or `kgrt_`, 8 to 2,000 characters, `.`, 43.
	{ minLength: 56, holds: dotted(["kgac_", "kgrt_"], 8, 2000, 43) },
	// OAuth client secrets: `kgcs_` and 43.
	{ minLength: 48, holds: (text) => fixedIn(text, "kgcs_", 43) },
	// keygate's own console and portal sessions and portal entry tokens (`kgs_`, `kgps_`, `kgpe_` and 44 base62): each opens the console or a customer's keys.
	{ minLength: 48, holds: (text) => fixedIn(text, "kgs_", 44) || fixedIn(text, "kgps_", 44) || fixedIn(text, "kgpe_", 44) },
];

/** `prefix` and `length` base64url characters, anywhere; no rescan, each candidate being that short. */
function fixedIn(text: string, prefix: string, length: number): boolean {
	for (let s = text.indexOf(prefix); s !== -1; s = text.indexOf(prefix, s + 1))
		if (base64urlRun(text, s + prefix.length, length) === length) return true;
	return false;
}

/** A compact JWS whose header and payload are JSON objects (base64url of `{"` is `eyJ`), found as scanDotted finds tokens. */
function jwtIssuersIn(text: string, accept: (iss: string) => boolean): boolean {
	// Every `eyJ` in one header segment shares the payload, and only the payload names the issuer: each payload is read once.
	let lastDot = -1;
	return scanDotted(text, "eyJ", 2, 8192, (dot) => {
		if (dot === lastDot) return false;
		lastDot = dot;
		if (!text.startsWith("eyJ", dot + 1)) return false;
		const payloadEnd = dot + 4 + base64urlRun(text, dot + 4, 8193);
		if (payloadEnd - (dot + 4) < 2 || payloadEnd - (dot + 4) > 8192 || text.charCodeAt(payloadEnd) !== 46) return false;
		const iss = jwtIssuer(`.${text.slice(dot + 1, payloadEnd)}`);
		return iss !== undefined && accept(iss);
	});
}

/** The unverified `iss` of a JWT's payload, or undefined. Only to recognise one (which provider's keys to try); never to trust it. */
export function jwtIssuer(jwt: string): string | undefined {
	const iss = jwtPart(jwt, 1)?.iss;
	return typeof iss === "string" ? iss : undefined;
}

/** Each `%XX` as its byte: never throws on a malformed sequence (`%FF`), as decodeURIComponent does. */
export const percentDecoded = (text: string): string =>
	text.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));

/** What an API's own requests count as credentials beyond keygate's fixed shapes (config/load.ts compiles both per API). */
export interface CredentialScope {
	/** The issuers whose JWTs the API accepts (`oauth.externalIssuers`). */
	readonly jwtIssuers: ReadonlySet<string>;
	/** Its `identifier` key types (Novu's `app_…`), public by design: never a credential in its own requests. */
	readonly identifierTypes: ReadonlySet<string>;
}

/**
 * True when `text` contains a credential keygate would accept (checksum included), anywhere
 * in it. With an API's `scope`: a JWT naming one of its `jwtIssuers` counts as a credential
 * too (other JWTs, an Access assertion or a token the origin issues itself, are left alone:
 * keygate would not accept them), and a key of one of its `identifierTypes` does not (an
 * application identifier is "safe to use in client-side code" and authorizes nothing: a
 * widget may send it in a query or a header, and the origin may need it; found by a peer).
 * Without a scope (admin input, the dashboard's searches), every key counts.
 */
export function holdsCredential(text: string, scope?: CredentialScope, decodes = 0): boolean {
	// A percent-encoded credential (`sk%5Flive%5F…`) is one too: an origin may decode it. Twice
	// at most (`%255F`): each round is a pass over the text, and no origin decodes a third time.
	if (decodes < 2 && text.includes("%")) {
		const decoded = percentDecoded(text);
		if (decoded !== text && holdsCredential(decoded, scope, decodes + 1)) return true;
	}
	// Every keygate credential shape holds a "_" (`sk_live_…`, `kgat_…`): most header values have none.
	if (text.includes("_"))
		for (const shape of CREDENTIAL_SHAPES) if (text.length >= shape.minLength && shape.holds(text, scope)) return true;
	const jwtIssuers = scope?.jwtIssuers;
	if (jwtIssuers && jwtIssuers.size > 0 && text.includes("eyJ") && jwtIssuersIn(text, (iss) => jwtIssuers.has(iss))) return true;
	// A base64-encoded credential (`Authorization: Basic <base64 of "sk_live_…:">`, a token
	// wrapped in another token) is one too: the origin, or its logs, can decode it.
	// Most header values are shorter than any base64 run that could hold one: no scan at all.
	return (
		decodes < 2 && text.length >= MIN_BASE64_RUN && base64Decodings(text).some((decoded) => holdsCredential(decoded, scope, decodes + 1))
	);
}

/**
 * The shortest base64 run that can hold a whole credential: the shortest (`kgs_` and 44)
 * is 48 characters, which take at least 64 base64 characters wherever they start.
 */
const MIN_BASE64_RUN = 60;
const BASE64_RUN = new RegExp(`[A-Za-z0-9+/_-]{${MIN_BASE64_RUN},}`, "g");

/**
 * Each long base64 run in `text` (standard or URL alphabet, padding optional), decoded
 * from each of its first four characters as Latin-1 text: a run need not start where its
 * encoding does (`xdXNlcjpza19…`). Runs that are no base64 at an offset decode to nothing.
 */
function base64Decodings(text: string): string[] {
	const out: string[] = [];
	for (const run of text.match(BASE64_RUN) ?? []) {
		const standard = run.replace(/[-_]/g, (ch) => (ch === "-" ? "+" : "/"));
		for (let offset = 0; offset < 4; offset++) {
			const part = standard.slice(offset);
			try {
				out.push(atob(part.slice(0, part.length - (part.length % 4 === 1 ? 1 : 0))));
			} catch {
				// not base64 from this offset
			}
		}
	}
	return out;
}

/** True when any query parameter name or value contains a credential, e.g. `?api_key=`, `?auth=Bearer%20…`. */
export function queryHoldsCredential(params: URLSearchParams, scope?: CredentialScope): boolean {
	for (const [name, value] of params) if (holdsCredential(name, scope) || holdsCredential(value, scope)) return true;
	return false;
}
