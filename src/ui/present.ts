import { decodeCursor } from "../admin/cursor";
import { holdsCredential, holdsKeyMaterial, keyShapedIn, percentDecoded } from "../credentials/classify";
import type { AdminError } from "../admin/service";
import type { KeyRecord } from "../keys/record";
import type { CompiledApi } from "../config/load";

/** How soon an expiry counts as "Expires soon": less than the shortest expiry the forms offer (7 days), so a key made with one of those is not "soon" at birth (a custom date may be). */
export const EXPIRES_SOON_MS = 3 * 86_400_000;
export const PAGE_SIZE = 50;

export type KeyStatusWord = "active" | "soon" | "rotating" | "revoked" | "expired";

/** Pure: a key's status in words, as both halves show it. */
export function keyStatus(k: KeyRecord, now: number): { word: KeyStatusWord; label: string } {
	if (k.revokedAt) return { word: "revoked", label: "Revoked" };
	if (k.expiresAt && Date.parse(k.expiresAt) <= now) return { word: "expired", label: "Expired" };
	if (k.graceEndsAt) {
		const ends = Date.parse(k.graceEndsAt);
		// A rotated key past its grace was replaced, not expired: its page links the key that replaced it.
		// It works until its grace ends or it expires, whichever is first (a browser QA pass: a cut-off it never reached).
		return ends <= now
			? { word: "expired", label: "Replaced" }
			: { word: "rotating", label: `Rotating until ${formatTime(worksUntil(k))}` };
	}
	if (k.expiresAt && Date.parse(k.expiresAt) - now <= EXPIRES_SOON_MS) return { word: "soon", label: "Expires soon" };
	return { word: "active", label: "Active" };
}

/** When a rotated key stops working: its grace's end, or its expiry when that comes first. */
export function worksUntil(k: Pick<KeyRecord, "graceEndsAt" | "expiresAt">): string | null {
	if (k.graceEndsAt === null) return k.expiresAt;
	if (k.expiresAt === null) return k.graceEndsAt;
	return Date.parse(k.expiresAt) < Date.parse(k.graceEndsAt) ? k.expiresAt : k.graceEndsAt;
}

/**
 * The key as it may be shown after creation: type and environment, then the last 4
 * characters kept at creation (the hash cannot give them back). Keys created before
 * `last4` was kept show their `start` instead.
 */
export function maskedKey(k: Pick<KeyRecord, "type" | "environment" | "start" | "last4">): string {
	return k.last4 ? `${k.type}_${k.environment}_…${k.last4}` : `${k.start}…`;
}

/**
 * A pair's public half by its kind: an identifier (Novu's application identifier) is no key
 * and authorizes nothing, so it is not called one (found by a checker: "Your publishable key").
 * Both are stored only as hashes, so the page's "Copy it now" holds for either.
 */
export const companionLabel = (kind: KeyRecord["kind"]): string =>
	kind === "identifier" ? "Your application identifier" : "Your publishable key";

export const shortId = (id: string) => id.slice(0, 12);

/** A window in the words people use: "hour", "day", "5 minutes", else seconds (a browser QA pass: "per 3,600 s"). */
export function windowWords(seconds: number): string {
	const n = (x: number) => x.toLocaleString("en-US");
	for (const [size, one, many] of [
		[86_400, "day", "days"],
		[3_600, "hour", "hours"],
		[60, "minute", "minutes"],
	] as const)
		if (seconds % size === 0) return seconds === size ? one : `${n(seconds / size)} ${many}`;
	return seconds === 1 ? "second" : `${n(seconds)} s`;
}

/** A limit in words: "1,000 per hour, at most 50 per second", or "no window limit, at most 50 per second". */
function limitWords(l: { limit: number | null; window: number; burst: number }): string {
	const n = (x: number) => x.toLocaleString("en-US");
	return `${l.limit === null ? "no window limit" : `${n(l.limit)} per ${windowWords(l.window)}`}, at most ${n(l.burst)} per second`;
}

/**
 * The limits a key is held to, in words: its own `rateLimit` (which replaces its tier's), else its tier's.
 * An application identifier authorizes no request alone, so nothing is ever counted against it.
 */
export function limitsText(
	k: Pick<KeyRecord, "tier" | "rateLimit" | "kind">,
	tiers: Record<
		string,
		{
			limit: number | null;
			window: number;
			burst: number;
			categories?: Record<string, { limit: number | null; window: number; burst: number }>;
		}
	>,
): string {
	if (k.kind === "identifier") return "none: it authorizes no request alone, so nothing is counted against it";
	if (k.rateLimit) return `${limitWords(k.rateLimit)} (this key's own, instead of tier ${k.tier}'s)`;
	const tier = Object.hasOwn(tiers, k.tier) ? tiers[k.tier] : undefined;
	return tier ? `${limitWords(tier)} (tier ${k.tier})${categoryWords(tier.categories)}` : `tier ${k.tier}`;
}

/** A tier's per-endpoint-category buckets, which hold beside its own limit (Novu's "per plan and endpoint category"; a seed-page pass). */
function categoryWords(categories: Record<string, { limit: number | null; window: number; burst: number }> | undefined): string {
	const named = Object.entries(categories ?? {});
	if (named.length === 0) return "";
	return `; and per endpoint category, each its own budget: ${named.map(([name, l]) => `${name} ${limitWords(l)}`).join("; ")}`;
}

/**
 * A key's scopes in words. With none, where no route of the API asks for one (Novu's secret key "grants full
 * administrative access"), "none" would read as "can do nothing" (a seed-page pass): said as what it is.
 */
export function scopesText(k: Pick<KeyRecord, "scopes">, api: { routes: readonly { scopes?: readonly string[] }[] } | undefined): string {
	if (k.scopes.length > 0) return k.scopes.join(", ");
	const asked = api?.routes.some((r) => (r.scopes ?? []).length > 0) ?? true;
	return asked ? "none" : "none needed: no route of this API asks for a scope";
}

/** ISO time shown to people: minutes, UTC, said so. */
export function formatTime(iso: string | null): string {
	if (!iso) return "";
	return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

/** The keys lists' sort orders, as the `sort` parameter spells them, with their labels. */
export const SORTS = [
	["lastUsed", "Last used"],
	["created", "Created"],
	["expires", "Expires"],
	["name", "Name"],
] as const;
export type SortField = (typeof SORTS)[number][0];
/** Other spellings people type for a sort order. */
const SORT_ALIASES: Record<string, SortField> = { last_used: "lastUsed", "last-used": "lastUsed", lastused: "lastUsed" };

export interface KeyQuery {
	q: string;
	status: KeyStatusWord | "";
	environment: string;
	sort: SortField;
	order: "asc" | "desc";
	page: number;
}

export function parseKeyQuery(params: URLSearchParams): KeyQuery {
	const status = params.get("status") ?? "";
	const sort = params.get("sort") ?? "created";
	const page = Number.parseInt(params.get("page") ?? "1", 10);
	return {
		q: (params.get("q") ?? "").trim().slice(0, 200),
		status: (["active", "soon", "rotating", "revoked", "expired"].includes(status) ? status : "") as KeyQuery["status"],
		environment: (params.get("environment") ?? "").slice(0, 24),
		sort: SORTS.find(([s]) => s === sort)?.[0] ?? SORT_ALIASES[sort.toLowerCase()] ?? "created",
		order: params.get("order") === "asc" ? "asc" : "desc",
		page: Number.isFinite(page) && page > 0 ? Math.min(page, 10_000) : 1,
	};
}

/** Pure: the keys that match the search (name, id, prefix) and the filters (status, environment). */
export function matchKeys<K extends KeyRecord>(keys: K[], query: KeyQuery, now: number): K[] {
	const q = query.q.toLowerCase();
	return keys.filter(
		(k) =>
			(!q ||
				k.name.toLowerCase().includes(q) ||
				k.id.toLowerCase().includes(q) ||
				maskedKey(k).toLowerCase().startsWith(q) ||
				// The last 4 characters, as the masked key shows them (`…978R`).
				(q.length >= 4 &&
					maskedKey(k)
						.toLowerCase()
						.endsWith(q.replace(/^(\.\.\.|…)/, ""))) ||
				k.start.toLowerCase().startsWith(q)) &&
			(!query.status || keyStatus(k, now).word === query.status) &&
			(!query.environment || k.environment === query.environment),
	);
}

/**
 * Pure: search, filter, sort, one page of PAGE_SIZE. Sorting by last used needs each
 * key's last use (`lastUsed`, from the key's authority; a key missing from it sorts as
 * never used). Never-used keys are the oldest: last when newest first, first when oldest
 * first. Ties keep the newest-created first.
 */
export function selectKeys<K extends KeyRecord>(
	keys: K[],
	query: KeyQuery,
	now: number,
	lastUsed?: ReadonlyMap<string, string | null>,
): { rows: K[]; total: number; pages: number } {
	const matched = matchKeys(keys, query, now);
	const field = (k: K): string => {
		switch (query.sort) {
			case "name":
				return k.name.toLowerCase();
			case "expires":
				// After every date (found by a browser QA pass: "9999" sorted before 9999-12-31).
				return k.expiresAt ?? "\uffff";
			case "lastUsed":
				return lastUsed?.get(k.id) ?? "";
			default:
				return k.createdAt;
		}
	};
	const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
	matched.sort((a, b) => cmp(field(a), field(b)) * (query.order === "asc" ? 1 : -1) || cmp(b.createdAt, a.createdAt));
	const pages = Math.max(1, Math.ceil(matched.length / PAGE_SIZE));
	const page = Math.min(query.page, pages);
	return { rows: matched.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE), total: matched.length, pages };
}

/** The expiry choices of the generate form, as an ISO time or null (never). */
export function expiryFrom(
	choice: string,
	custom: string,
	now: number,
): { ok: true; value: string | undefined } | { ok: false; message: string } {
	// A date typed while another choice is ticked is a contradiction: refused, never silently dropped.
	if (choice !== "custom" && custom.trim() !== "")
		return {
			ok: false,
			message: 'Expiry: a custom date was entered but another choice is ticked. Tick "On a date" to use the date, or clear it.',
		};
	const days = { "7": 7, "30": 30, "90": 90 }[choice];
	if (days) return { ok: true, value: new Date(now + days * 86_400_000).toISOString() };
	if (choice === "never" || choice === "") return { ok: true, value: undefined };
	if (choice === "custom") {
		if (custom.trim() === "") return { ok: false, message: 'Expiry: "On a date" is ticked but no date was entered.' };
		// A day the calendar lacks (2027-02-30) is not rolled over into the next month, and a date in another form is no date
		// (a browser QA pass; the date field sends YYYY-MM-DD, and only a hand-made form sends anything else).
		const at = realDate(custom);
		if (at === undefined) return { ok: false, message: "Expiry: the custom date is no date: enter it as YYYY-MM-DD, e.g. 2027-06-30." };
		if (at <= now) return { ok: false, message: "Expiry: the custom date must be in the future." };
		return { ok: true, value: new Date(at).toISOString() };
	}
	return { ok: false, message: "Expiry: choose 7, 30 or 90 days, a custom date, or never." };
}

/** Rotation grace choices, in seconds, with the API's default added when it is none of them. */
export function graceChoices(defaultSeconds: number, offered: number[] = GRACES): { seconds: number; label: string }[] {
	const seconds = offered.includes(defaultSeconds) ? offered : [...offered, defaultSeconds];
	return [...new Set(seconds)].map((s) => ({ seconds: s, label: GRACE_LABELS[s] ?? `${s} seconds` }));
}

/** The graces offered when the config names none (the portal's `rotationGraceChoices`). */
const GRACES = [0, 3600, 86_400, 604_800];
const GRACE_LABELS: Record<number, string> = { 0: "Immediately", 3600: "1 hour", 86_400: "24 hours", 604_800: "7 days" };

/** A grace past `keys.maxRotationGraceSeconds`, refused in the pages' words (the admin API names gracePeriodSeconds). */
export const graceTooLong = (kind: KeyRecord["kind"], maxSeconds: number): string =>
	maxSeconds === 0
		? `Not rotated: this API's ${keyNoun(kind)}s are rotated only Immediately.`
		: `Not rotated: on this API the old ${keyNoun(kind)} is kept for at most ${graceChoices(maxSeconds, [maxSeconds])[0]!.label} after a rotation.`;

/** The graces a form offers: the config's, else the usual four, none longer than `keys.maxRotationGraceSeconds`. */
export const offeredGraces = (listed: number[] | undefined, maxSeconds: number | undefined): number[] | undefined =>
	listed ?? (maxSeconds === undefined ? undefined : GRACES.filter((g) => g <= maxSeconds));

/** What a refused form puts back into a field: what was typed, unless it holds an API key, which is never written into a page. */
/** Shown instead of a whole key typed into a search or filter field, which is never echoed or kept in a link. */
export const pastedKeyNotice = (advice: string) =>
	`That was a whole API key, not a search: it is not shown or kept here, and no key here has it. ${advice}`;
export const PASTED_KEY_NOTICE = pastedKeyNotice("Search by name, id, the key's first characters or its last 4.");

/** A credential, or a key's shape even with a typo (its checksum unchecked): never written into a page or an address. */
export const looksLikeKey = (value: string): boolean => holdsCredential(value) || keyShapedIn(value).length > 0;

export const keptValue = (value: string): string => (holdsAnyKey(value) ? "" : value);

/** A form's list field (IP allowlist, extra scopes): its items, split at blanks and commas. */
export const listField = (s: string | undefined): string[] =>
	(s ?? "")
		.split(/[\s,]+/)
		.map((x) => x.trim())
		.filter(Boolean);

/**
 * A plain date as the date fields send it (YYYY-MM-DD), as the Unix ms of its UTC start; undefined for anything else,
 * and for a day the calendar lacks (2027-02-30 is not rolled over into March).
 */
export function realDate(day: string): number | undefined {
	if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
	const at = Date.parse(`${day}T00:00:00Z`);
	return Number.isFinite(at) && new Date(at).toISOString().slice(0, 10) === day ? at : undefined;
}

/**
 * What an address must never hold: a credential, a key's shape, or a key cut short
 * (classify.ts holdsKeyMaterial). Searches, filters and `next` are checked with it.
 */
export const holdsAnyKey = (value: string): boolean => looksLikeKey(value) || holdsKeyMaterial(value);

/**
 * A key in an address's path or a query value, as sent or percent-decoded once or twice (`%5F`, `%255F`), byte by
 * byte so that one malformed sequence (`%FF`) cannot stop the decoding (a review): an address's own decoding undoes one.
 */
export function pathHoldsKey(text: string): boolean {
	if (holdsAnyKey(text)) return true;
	if (!text.includes("%")) return false;
	const once = percentDecoded(text);
	return holdsAnyKey(once) || holdsAnyKey(percentDecoded(once));
}

/**
 * Where a GET to a console or portal address goes when one of its query parameters holds a key
 * (`held` decides): the same path without those parameters, or undefined when none does. Pages
 * that look a pasted key up themselves (the keys lists, the audit log, owners) answer their own.
 */
export function awayFromKeyParams(url: URL, held: (param: [string, string]) => boolean): string | undefined {
	const params = [...url.searchParams];
	if (!params.some((param) => held(param))) return undefined;
	const kept = new URLSearchParams(params.filter((param) => !held(param)));
	return kept.size > 0 ? `${url.pathname}?${kept}` : url.pathname;
}

/**
 * Whether any query parameter holds a key, the first value of each name in `looked` aside: the page
 * looks that one up itself (a pasted search). A repeated one is never looked up, so it is checked
 * like any other (found by a probe: `q=&q=<key>` got a page, with the key in its "Next page" link).
 */
export function paramsHoldKey(params: URLSearchParams, looked: string[]): boolean {
	const seen = new Set<string>();
	for (const [name, value] of params) {
		const first = looked.includes(name) && !seen.has(name);
		seen.add(name);
		// The first value's plain key is the page's to look up; an encoded one it would not find, so it is checked here.
		if (first ? holdsAnyKey(name) || (value.includes("%") && pathHoldsKey(value)) : paramHoldsKey([name, value])) return true;
	}
	return false;
}

/**
 * A query parameter an address must not keep: its name or its value holds a key. `except`
 * names parameters checked elsewhere; a `cursor` that is a listing's cursor (base64url of a
 * JSON object, validated where it is read) always holds a long run and is none (a review:
 * the audit log's next page was lost), but any other value under that name is checked.
 */
export function paramHoldsKey([name, value]: [string, string], except: string[] = []): boolean {
	if (pathHoldsKey(name)) return true;
	if (except.includes(name) || (name === "cursor" && cursorIsNoKey(value))) return false;
	return pathHoldsKey(value);
}

/**
 * A listing's cursor as keygate writes them (admin/cursor.ts, admin/audit.ts: `p`, `c`, `a`, `k`, each a string or
 * null) holding no key: none in its listing, last entry or check, and no key's shape in KV's own cursor (`c`), a long
 * random run that key material's rule would take for one. Any other base64url JSON is an ordinary value (a second and
 * a third review: any JSON object was let through, a key in it too).
 */
function cursorIsNoKey(value: string): boolean {
	const decoded = decodeCursor(value);
	if (decoded === undefined) return false;
	for (const [field, v] of Object.entries(decoded)) {
		if (!["p", "c", "a", "k"].includes(field) || (v !== null && typeof v !== "string")) return false;
		if (v !== null && (field === "c" ? looksLikeKey(v) : pathHoldsKey(v))) return false;
	}
	return true;
}

/**
 * The refusal of a form whose one-value field came more than once (undefined when none did):
 * named, not read as a default (a probe sent two `tier` fields and got the default tier).
 */
export function repeatedField(form: Record<string, unknown>, names: string[]): string | undefined {
	const name = names.find((n) => Array.isArray(form[n]));
	return name === undefined ? undefined : `${FORM_ONLY_LABELS[name] ?? FIELD_LABELS[name] ?? name}: sent more than once; send it once.`;
}

const FIELD_LABELS: Record<string, string> = {
	name: "Name",
	scopes: "Scopes",
	ipAllowlist: "IP allowlist",
	owner: "Owner",
	service: "Service or integration",
	expiresAt: "Expiry",
	environment: "Environment",
	type: "Key type",
	tier: "Tier",
};

/** The generate forms' own fields that are no admin field (the rest read as FIELD_LABELS). */
const FORM_ONLY_LABELS: Record<string, string> = {
	kind: "Single key or pair",
	expiry: "Expiry",
	expiresOn: "Expiry date",
	extraScopes: "Other scopes",
};

/**
 * A refusal in the form's words: the admin contract's field paths (`ipAllowlist[1]:`) as the
 * form's labels, naming the value refused (`IP allowlist "10.0.0.0/33":`) unless it holds a
 * key or is long. `lists` holds the list fields as sent, in the order the body had them.
 */
export function formMessage(message: string, lists: Record<string, string[]> = {}): string {
	return plainSizes(message).replace(
		/(^|; )(name|scopes|ipAllowlist|owner|service|expiresAt|environment|type|tier)(?:\[(\d+)\])?:/g,
		(_m, start: string, field: string, index: string | undefined) => {
			const label = FIELD_LABELS[field]!;
			if (index === undefined) return `${start}${label}:`;
			const value = lists[field]?.[Number(index)];
			const shown = value !== undefined && value.length <= 60 && !holdsAnyKey(value);
			return shown ? `${start}${label} "${value}":` : `${start}${label} (entry ${Number(index) + 1}):`;
		},
	);
}

/**
 * The form fields a refusal names (in `formMessage`'s words: `Name:`, `IP allowlist "x":`,
 * `Scopes (entry 2):`), so the page can mark them `aria-invalid` and point them at the
 * message (found by a browser QA pass: a screen reader heard the message but not which field).
 */
export function invalidFields(message: string | undefined): Set<string> {
	const found = new Set<string>();
	if (!message) return found;
	for (const [field, label] of Object.entries(FIELD_LABELS)) {
		// A quoted value may hold quotes itself: it ends at the first `":` (a review).
		const at = new RegExp(`(?:^|; )${label}(?: "(?:[^"]|"(?!:))*"| \\(entry \\d+\\))?:`);
		if (at.test(message)) found.add(field);
	}
	return found;
}

/** The validator's size words (`Too big: expected string to have <=200 characters`) as a person says them (found by a browser QA pass). */
const plainSizes = (message: string) =>
	message.replace(
		/Too (big|small): expected (string|array) to have (<=|>=)(\d+) (characters|items)/g,
		(_m, _size: string, kind: string, op: string, n: string) =>
			`${op === "<=" ? "at most" : "at least"} ${n} ${kind === "string" ? (n === "1" ? "character" : "characters") : n === "1" ? "entry" : "entries"}`,
	);

const OUTCOME_WORDS: Record<string, string> = {
	passed: "Passed",
	rate_limited: "Rate limited (429)",
	missing_scope: "Missing scope (403)",
	read_only_key: "Read-only key (403)",
	ip_not_allowed: "Address refused (403)",
	route_denied: "Route refused (403)",
	owner_not_permitted: "Owner's role (403)",
	tier_not_in_environment: "Tier not in environment (403)",
	revoked: "Revoked (401)",
	expired: "Expired (401)",
	grace_ended: "Grace over (401)",
	origin_unreachable: "Origin down (502)",
	origin_timed_out: "Origin timeout (504)",
};

/** A request outcome as the usage charts name it, short enough for the label column: words and the status, not the reason code (`rate_limited`); an unknown code as it is. */
export const outcomeLabel = (outcome: string): string => (Object.hasOwn(OUTCOME_WORDS, outcome) ? OUTCOME_WORDS[outcome]! : outcome);

/**
 * The status of a console or portal page for a refusal of the admin service: one exhaustive
 * switch, so a new reason cannot fall into a 400. KV or a Durable Object that could not be
 * reached is a 503, as the README's "Failures inside" promises (the portal answered 400: stop 28).
 */
export function pageStatus(reason: AdminError["reason"]): 400 | 404 | 409 | 503 {
	switch (reason) {
		case "invalid_request":
			return 400;
		case "key_not_found":
		case "not_found":
			return 404;
		case "key_conflict":
			return 409;
		case "kv_failed":
		case "limiter_failed":
			return 503;
	}
}

/** What a rotation's page calls the new key it shows once: an identifier is no key (companionLabel). */
export const newKeyLabel = (kind: KeyRecord["kind"]): string =>
	kind === "identifier" ? "Your new application identifier" : "Your new key";

/** An environment as the pages name it: its `label` beside its name ("Production (live)"), or its name alone. */
export function environmentName(api: Pick<CompiledApi, "environments"> | undefined, environment: string): string {
	const label = api && Object.hasOwn(api.environments, environment) ? api.environments[environment]!.label : undefined;
	if (!label) return environment;
	return label.toLowerCase() === environment.toLowerCase() ? label : `${label} (${environment})`;
}

/** "1 working key", "2 working keys": the portal's count of keys that still authenticate (its key cap's unit). */
export const workingKeys = (n: number): string => `${n} working key${n === 1 ? "" : "s"}`;

/** A public key's name on the pages that show it again: "publishable key" or "identifier". */
export const publicNoun = (kind: KeyRecord["kind"]): string => (kind === "identifier" ? "identifier" : "publishable key");

/** What the pages call a key of this kind: an application identifier authorizes nothing, so it is not called a key. */
export const keyNoun = (kind: KeyRecord["kind"]): "identifier" | "key" => (kind === "identifier" ? "identifier" : "key");

export const capitalized = (text: string) => text[0]!.toUpperCase() + text.slice(1);

/**
 * The two-key rule (a line holds at most two live keys) while the key this one replaced
 * still works, in every page's words: on the rotate form (`form`), as a refusal of a grace
 * just sent (`refused`), and where no "Immediately" is on offer (`later`). An identifier
 * authorizes nothing, so it is "marked revoked", never said to work.
 */
export function lineBusyWords(kind: KeyRecord["kind"], until: number, when: "form" | "refused" | "later"): string {
	const at = formatTime(new Date(until).toISOString());
	const identifier = kind === "identifier";
	const replaced = identifier
		? `the identifier this one replaced is marked revoked only from ${at}`
		: `the key this one replaced still works until ${at}`;
	const rule = identifier ? "so that a line holds no more than two at once" : "so that no more than two keys of one line work at once";
	const self = identifier ? "this one" : "this key";
	if (when === "form") return `${capitalized(replaced)}: until then ${self} can be rotated only Immediately, ${rule}.`;
	if (when === "refused") return `Not rotated: ${replaced}, and until then ${self} can be rotated only Immediately, ${rule}.`;
	return `${capitalized(replaced)}. ${capitalized(self)} can be rotated after then, ${rule}.`;
}

/**
 * At `portal.maxKeysPerOwner` a rotation with a grace would hold one live key more: on the
 * rotate form (`form`, only "Immediately" left) and where no "Immediately" is on offer (`later`).
 */
export function atLimitWords(kind: KeyRecord["kind"], full: number, when: "form" | "later"): string {
	const identifier = kind === "identifier";
	const held = `You hold ${workingKeys(full)}, the most allowed here${identifier ? " (an identifier whose key is gone counts)" : ""}`;
	if (when === "form")
		return identifier
			? `${held}. With a grace the old identifier would stay beside the new one, one more, so it can be rotated only Immediately (or revoke another key first).`
			: `${held}. With a grace the old key would keep working beside the new one, one key more, so this key can be rotated only Immediately (or revoke another key first).`;
	const kept = identifier ? "keep the old identifier beside the new one" : "keep the old key working";
	return `${held}, and this API's rotations all ${kept} for a while: revoke another key first, then rotate this one.`;
}
