import { Hono, type Context, type MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { listAudit } from "../admin/audit";
import { adminWait, recordAdminFailure } from "../admin/auth";
import { CreateKeyBody, MAX_GRACE_SECONDS } from "../admin/contract";
import { refuseKeysIn, refuseSecretsIn } from "../admin/input";
import {
	AdminError,
	RotationRefused,
	KEY_ID,
	createKey,
	createPair,
	deleteKey,
	keyUsage,
	revokeKey,
	predecessorWorksUntil,
	rotateKey,
	showKey,
} from "../admin/service";
import { authority, CONSOLE_FORMS } from "../authority/client";
import { holdsCredential } from "../credentials/classify";
import { describeIssues, loadConfig, type CompiledApi } from "../config/load";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { auditAddress, clientAddress } from "../env";
import { secretsEqual } from "../keys/crypto";
import type { KeyRecord } from "../keys/record";
import { logEvent } from "../util/log";
import {
	ErrorBox,
	fieldState,
	FORM_ERROR_ID,
	invalidIf,
	ExpiryChoices,
	Page,
	Status,
	Time,
	UI,
	ServiceField,
	NothingHere,
	Unavailable,
	DataTable,
	AlreadySent,
	Refused,
} from "./layout";
import {
	RevokeConfirmation,
	RevokeStatement,
	RotatedNotice,
	RotateForm,
	NoLongerPossible,
	noLongerPossible,
	RevokedNotice,
	DeletePage,
	typedName,
	DeletedNotice,
} from "./key-changes";
import { SecretsShown, RevealForm } from "./secrets";
import { UsageSections } from "./charts";
import { sampleScopes, sampleCall } from "./sample";
import { claim, newOnce, onceOf, ONCE_FIELD, release } from "./once";
import { revealed } from "./reveal";
import {
	companionLabel,
	expiryFrom,
	formMessage,
	invalidFields,
	paramHoldsKey,
	paramsHoldKey,
	pathHoldsKey,
	holdsAnyKey,
	awayFromKeyParams,
	keptValue,
	repeatedField,
	limitsText,
	maskedKey,
	pageStatus,
	parseKeyQuery,
	PASTED_KEY_NOTICE,
	lineBusyWords,
	keyNoun,
	graceTooLong,
	newKeyLabel,
	offeredGraces,
	environmentName,
	scopesText,
	listField,
} from "./present";
import { formTokens, pageNavigation, readableForm, sameOrigin, uiHeaders } from "./security";
import { SESSION_ABSOLUTE_MS, SESSION_COOKIE, closeSession, openSession, readSession } from "./session";
import { staticAsset } from "./static";
import { accessIdentity } from "./access";
import { allKeys, awayFromKey, keysPage, pastedKey } from "./data";
import { KeysFilter, KeysList } from "./keys-list";
import { apiOf, EventsTable, missing, page, type UiEnv } from "./console-shared";
import { auditPages } from "./console-audit";
import { ownerPages } from "./console-owners";

export const consoleApp = new Hono<UiEnv>();

const notFound = () => renderError("not_found", DEFAULT_ERROR_CONTEXT);

consoleApp.use("*", uiHeaders);

// Without an admin token there is no console at all: the same 404 as any unknown path.
consoleApp.use("*", async (c, next) => (c.env.ADMIN_TOKEN ? next() : notFound()));
/**
 * A hand-made address with a key in its path or in a query parameter (keygate makes neither), is
 * answered with a 303 away from it, as a pasted search is, so the page left open is not one whose
 * address holds the key (found by a browser QA pass: a 404 and the sign-in page stayed at it).
 */
consoleApp.use("*", async (c, next) => {
	if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
	const url = new URL(c.req.url);
	if (pathHoldsKey(url.pathname)) return c.redirect(`${UI}/`, 303);
	// The keys lists, the audit log and owners send a pasted key to its page, or away with a notice.
	if (SEARCHES.test(url.pathname)) return next();
	// `next` is an address: one holding a listing's cursor is no key (addressHoldsKey); every `next` is checked, not the first only.
	const away = awayFromKeyParams(url, ([name, value]) =>
		name === "next" ? holdsAnyKey(name) || addressHoldsKey(value) : paramHoldsKey([name, value]),
	);
	if (away === undefined) return next();
	// An export asked for with a key in it is not the export asked for: the audit page's notice, not a silent download of
	// everything (found by a browser pass).
	if (url.pathname === `${UI}/audit.json`) return c.redirect(awayFromKey(`${UI}/audit`, url.searchParams, ["cursor", "all"]), 303);
	return c.redirect(away, 303);
});
const SEARCHES = new RegExp(`^${UI}/(?:apis/[^/]+/keys|audit|owners)$`);

consoleApp.get(
	"/static/:name",
	(c) =>
		staticAsset(new URL(c.req.url).pathname) ??
		c.html(
			<Page title="Not found">
				<NothingHere back={`${UI}/`} label="Back to the console" />
			</Page>,
			404,
		),
);

/** CSRF: every unsafe method must come from this origin (security.ts); otherwise 403 and nothing runs. */
consoleApp.use("*", async (c, next) => {
	if (!pageNavigation(c.req.raw.headers))
		return c.html(<Refused message="This page opens only in a browser window, as a page: a script cannot fetch it." />, 403);
	if (sameOrigin(c.req.method, c.req.url, c.req.raw.headers)) return next();
	return c.html(<Refused message="This form was not sent from this console, so nothing was changed." />, 403);
});

const sessionCookie = (token: string, maxAgeSeconds: number) =>
	`${SESSION_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Priority=High; Max-Age=${maxAgeSeconds}`;

/**
 * Where sign-in goes on to: a console address (`next`, from a session that ended while the
 * operator was on it), else the console's home. Never another site, never the sign-in page,
 * never an address holding a credential.
 */
function nextPage(raw: unknown): string {
	if (typeof raw !== "string" || raw.length > 2000 || !raw.startsWith(`${UI}/`)) return `${UI}/`;
	if (/[\\\s]|\/\/|\/\.\.?(\/|$)|%2e/i.test(raw) || raw.startsWith(`${UI}/login`) || addressHoldsKey(raw)) return `${UI}/`;
	return raw;
}

/** Does a console address (path and query) hold a key, whole or cut short? */
function addressHoldsKey(raw: string): boolean {
	// holdsAnyKey: a key cut short too, which a login form's hidden `next` would otherwise hold (a second probe).
	if (holdsCredential(raw)) return true;
	// A cursor (base64url JSON, checked where it is read) always holds such a run, and is no key (a review: audit page 2 was lost).
	const at = raw.indexOf("?");
	const query = new URLSearchParams(at === -1 ? "" : raw.slice(at + 1));
	return pathHoldsKey(at === -1 ? raw : raw.slice(0, at)) || [...query].some((p) => paramHoldsKey(p));
}

/** The path and query of a same-origin Referer, else undefined. */
function refererPath(referer: string | undefined, origin: string): string | undefined {
	if (!referer) return undefined;
	try {
		const u = new URL(referer);
		return u.origin === origin ? u.pathname + u.search : undefined;
	} catch {
		return undefined;
	}
}

function loginPage(c: Context<UiEnv>, status: 200 | 401 | 429, message?: string, next?: string, said?: string) {
	return c.html(
		<Page title="Sign in">
			<h1>Sign in</h1>
			{said ? <p role="status">{said}</p> : null}
			<ErrorBox message={message} id={FORM_ERROR_ID} />
			<form method="post" action={`${UI}/login`}>
				{next && next !== `${UI}/` ? <input type="hidden" name="next" value={next} /> : null}
				<label>
					Admin token
					<input type="password" name="token" autocomplete="current-password" required {...invalidIf(status === 401)} />
				</label>
				<button type="submit">Sign in</button>
			</form>
		</Page>,
		status,
	);
}

consoleApp.get("/login", (c) =>
	c.req.query("ended") === "1"
		? loginPage(
				c,
				200,
				c.req.query("sent") === "1"
					? "Your session ended. Sign in again to go on where you were (a form you were sending was not sent)."
					: "Your session ended. Sign in again to go on where you were.",
				nextPage(c.req.query("next")),
			)
		: loginPage(
				c,
				200,
				undefined,
				nextPage(c.req.query("next")),
				// Sign-out lands here: said so (a browser QA pass: a bare sign-in page).
				c.req.query("out") === "1" ? "You have signed out." : undefined,
			),
);

/**
 * The admin token in a password field, compared in constant time, never echoed, stored or
 * put in a cookie. Wrong tokens share the admin API's per-address throttle and are
 * audited the same way (`admin.auth_failed`, the address only).
 */
consoleApp.post("/login", readableForm, async (c) => {
	const expected = c.env.ADMIN_TOKEN!;
	const ip = clientAddress(c.req.raw.headers, c.env);
	const now = Date.now();
	const wait = adminWait(ip, now);
	if (wait > 0) {
		c.header("Retry-After", String(wait));
		return loginPage(c, 429, `Too many wrong tokens from this address. Try again in ${wait} seconds.`);
	}
	const form = await c.req.parseBody();
	const given = typeof form.token === "string" ? form.token : "";
	const next = nextPage(form.next);
	if (!(await secretsEqual(given, expected))) {
		await recordAdminFailure(c.env.KEYS, ip, now, "console");
		return loginPage(c, 401, "That is not the admin token.", next);
	}
	const token = await openSession(c.env.KEYS, expected, "console", now);
	c.header("Set-Cookie", sessionCookie(token, SESSION_ABSOLUTE_MS / 1000));
	return c.redirect(next, 303);
});

/** Every page past this point needs a live session; anything else goes to the sign-in page and changes nothing. */
const requireSession: MiddlewareHandler<UiEnv> = async (c, next) => {
	const access = loadConfig(c.env);
	const accessConfig = access.ok ? access.value.config.admin?.access : undefined;
	if (accessConfig && access.ok) {
		// Behind Cloudflare Access: each request carries its own proof; no cookie is needed.
		const email = await accessIdentity(accessConfig, c.req.header("Cf-Access-Jwt-Assertion"));
		if (email) {
			const now = Date.now();
			c.set("session", { createdAt: now, lastSeenAt: now, binding: "", actor: email });
			c.set("sessionToken", "");
			c.set("services", {
				kv: c.env.KEYS,
				authority: authority(c.env),
				config: access.value,
				actor: email,
				actorType: "console",
				ip: auditAddress(c.req.raw.headers, c.env),
			});
			return next();
		}
	}
	const token = getCookie(c, SESSION_COOKIE);
	const check = token ? await readSession(c.env.KEYS, token, c.env.ADMIN_TOKEN!) : ({ ok: false, reason: "none" } as const);
	if (!check.ok || !token) {
		const url = new URL(c.req.url);
		// No cookie on a GET: not signed in here (or signed out in another tab): sign-in still comes back to this page
		// (found by a browser QA pass: it went to the home page). On a POST, the form's page had a session.
		if (!token && c.req.method === "GET") {
			const here = nextPage(url.pathname + url.search);
			return c.redirect(here === `${UI}/` ? `${UI}/login` : `${UI}/login?next=${encodeURIComponent(here)}`, 303);
		}
		c.header("Set-Cookie", sessionCookie("", 0));
		// Signing out with no live session is done, not a failure (a browser QA pass: it said a form was not sent).
		if (c.req.method === "POST" && url.pathname === `${UI}/logout`) return c.redirect(`${UI}/login?out=1`, 303);
		// A session that ended under the operator: the sign-in page says so and comes back here (a GET's address; a POST's page).
		if (c.req.method === "GET")
			return c.redirect(`${UI}/login?ended=1&next=${encodeURIComponent(nextPage(url.pathname + url.search))}`, 303);
		// A POST's page: the console page its form was on (the Referer, when it is this console's), else its own path, but
		// never a path only a POST answers (sign-out, find-key).
		const postOnly = ["/logout", "/find-key"].some((p) => url.pathname === `${UI}${p}`);
		const from = refererPath(c.req.header("Referer"), url.origin);
		const here = nextPage(from ?? (postOnly ? `${UI}/` : url.pathname));
		return c.redirect(`${UI}/login?ended=1&sent=1&next=${encodeURIComponent(here)}`, 303);
	}
	const config = loadConfig(c.env);
	// An invalid config: the console's own 503 page, as for any failure inside (the gateway answers its JSON 503).
	// It names the cause: every console page would answer the same until the config is mended (a browser QA pass).
	if (!config.ok)
		return c.html(
			<Unavailable message="keygate's configuration (KEYGATE_CONFIG) is invalid, so the console can show and change nothing, and the gateway answers 503 gateway_unavailable. Check it with `npm run config:check`; keygate's log names the field (config_invalid)." />,
			503,
		);
	c.set("session", check.session);
	c.set("sessionToken", token);
	c.set("services", {
		kv: c.env.KEYS,
		authority: authority(c.env),
		config: config.value,
		actor: check.session.actor,
		actorType: "console",
		ip: auditAddress(c.req.raw.headers, c.env),
	});
	await next();
};
consoleApp.use("*", requireSession);
// After the session check: a caller without one never gets its body parsed.
consoleApp.use("*", readableForm);
// Every form that changes something carries the session's token (security.ts): a form the origin's page submits does not.
consoleApp.use(
	"*",
	formTokens<UiEnv>(
		(c) => c.var.sessionToken || `access:${c.var.session.actor}`,
		// A page opened in an earlier session (signed out and in again in another tab) lands here too, so the page says so
		// and leads back: the form's own page when the Referer names one of the console's, else home (a browser QA pass).
		(c) => {
			const from = refererPath(c.req.header("Referer"), new URL(c.req.url).origin);
			const back = from === undefined ? `${UI}/` : nextPage(from);
			return page(
				c,
				"Not sent",
				<>
					<h1>Not sent</h1>
					<ErrorBox message="This form was not sent from a page of this console in your current session (a page opened before you last signed in counts as another), so nothing was changed." />
					<p>
						<a href={back}>{back === `${UI}/` ? "Back to the APIs" : "Open the page again"}</a> and send it from there.
					</p>
				</>,
				403,
			);
		},
	),
);

consoleApp.post("/logout", async (c) => {
	await closeSession(c.env.KEYS, c.var.sessionToken);
	c.header("Set-Cookie", sessionCookie("", 0));
	return c.redirect(`${UI}/login?out=1`, 303);
});

/** Expected refusals from the service become a page saying what went wrong; anything else is a bug. */
consoleApp.onError((err, c) => {
	if (err instanceof AdminError) {
		const status = pageStatus(err.reason);
		return page(
			c as Context<UiEnv>,
			status === 404 ? "Not found" : "Not done",
			<>
				<h1>{status === 404 ? "No such key" : "Nothing was changed"}</h1>
				<ErrorBox message={status === 404 ? "No key with that id exists." : err.message} />
				<p>
					<a href={`${UI}/`}>Back to the APIs</a>
				</p>
			</>,
			status,
		);
	}
	logEvent("internal_error", { area: "ui", error: String(err) });
	return c.html(<Unavailable back={`${UI}/`} />, 503);
});

// The home page is `/_keygate/ui/`: mounted under a prefix, Hono's "/" is the prefix
// without its slash, so the slash form is matched by an empty named segment, and the
// bare prefix redirects to it.
consoleApp.get("/", (c) => c.redirect(`${UI}/`, 308));
consoleApp.get("/:home{.{0}}", (c) => {
	const apis = c.var.services.config.apis;
	return page(
		c,
		"APIs",
		<>
			<h1>APIs</h1>
			<DataTable caption="Configured APIs" columns={["API", "Environments", "Key types", "Keys"]}>
				{apis.map((a) => (
					<tr>
						<td>{a.name}</td>
						<td>{Object.keys(a.environments).join(", ")}</td>
						<td>{Object.keys(a.keyTypes).join(", ")}</td>
						<td>
							<a href={`${UI}/apis/${a.name}/keys`}>Keys of {a.name}</a> · <a href={`${UI}/apis/${a.name}/keys/new`}>Generate new key</a>
						</td>
					</tr>
				))}
			</DataTable>
		</>,
	);
});

/**
 * A whole key typed into a search or the audit log's key id field, sent here by the page's
 * script as a POST so it never enters the address bar: found by its hash, it leads to its
 * key (or its key's events); otherwise back to `back` with a notice.
 */
consoleApp.post("/find-key", async (c) => {
	const form = await c.req.parseBody();
	const field = typeof form.keyId === "string" ? "keyId" : typeof form.owner === "string" ? "owner" : "q";
	const value = form[field];
	const back = nextPage((c.req.query("back") ?? "").split("?")[0]);
	const pasted = await pastedKey(c.var.services, typeof value === "string" ? value : "");
	if (pasted) return c.redirect(field === "keyId" ? `${UI}/audit?keyId=${pasted.id}` : `${UI}/keys/${pasted.id}`, 303);
	return c.redirect(awayFromKey(back, Object.entries(form)), 303);
});

consoleApp.get("/apis/:api/keys", async (c) => {
	const api = apiOf(c, c.req.param("api"));
	if (!api) {
		// No list here to look a pasted key up in: away from an address holding one, as on any other page (a review).
		const away = awayFromKeyParams(new URL(c.req.url), paramHoldsKey);
		return away === undefined ? missing(c) : c.redirect(away, 303);
	}
	const s = c.var.services;
	const params = new URL(c.req.url).searchParams;
	// A whole key in the search (sent without the page's script): its key's page, else a notice; never echoed.
	const pasted = await pastedKey(s, params.get("q"));
	if (pasted) return c.redirect(`${UI}/keys/${pasted.id}`, 303);
	// Away from the address that holds it, to the same list with a notice.
	if (pasted === null) return c.redirect(awayFromKey(`${UI}/apis/${api.name}/keys`, params), 303);
	// The page's links copy every parameter: one holding a key, whatever its name, leaves too (a review).
	if (paramsHoldKey(params, ["q"])) return c.redirect(awayFromKey(`${UI}/apis/${api.name}/keys`, params), 303);
	const wasKey = params.get("pasted") === "1";
	params.delete("pasted");
	const query = parseKeyQuery(params);
	const now = Date.now();
	const listed = await keysPage(s, await allKeys(s, api.name), query, now);
	const link = (p: number) => {
		const q = new URLSearchParams(params);
		q.set("page", String(p));
		return `${UI}/apis/${api.name}/keys?${q}`;
	};
	return page(
		c,
		`Keys of ${api.name}`,
		<>
			<h1>API keys: {api.name}</h1>
			<DeletedNotice done={c.req.query("done")} kind={c.req.query("kind")} />
			<p>
				<a href={`${UI}/apis/${api.name}/keys/new`}>Generate new key</a>
			</p>
			{wasKey ? <ErrorBox message={PASTED_KEY_NOTICE} /> : null}
			<KeysFilter
				action={`${UI}/apis/${api.name}/keys`}
				find={`${UI}/find-key?back=${encodeURIComponent(`${UI}/apis/${api.name}/keys`)}`}
				query={query}
				api={api}
			/>
			<KeysList
				listed={listed}
				page={query.page}
				now={now}
				caption={`Keys of ${api.name}`}
				href={(id) => `${UI}/keys/${id}`}
				link={link}
				api={api}
			/>
		</>,
	);
});

/** Scopes the API's routes name: offered as checkboxes. */
const routeScopes = (api: CompiledApi) => [...new Set(api.routes.flatMap((r) => r.scopes ?? []))];

/** The generate form; after a refusal, `values` and `scopes` put back what was sent, so nothing has to be typed or ticked again. */
function GenerateForm(props: { api: CompiledApi; error?: string; values?: Record<string, string>; scopes?: string[] }) {
	const { api } = props;
	const v = props.values ?? {};
	const bad = invalidFields(props.error);
	const ticked = props.scopes ?? sampleScopes(api);
	const types = Object.entries(api.keyTypes).filter(([, t]) => t.kind !== "identifier");
	// As the admin API: its first secret type, not whichever the config lists first (Novala's pk; a peer's suite).
	const type = v.type ?? types.find(([, d]) => d.kind === "secret")?.[0];
	const canPair = Object.values(api.keyTypes).some((t) => t.kind !== "secret");
	return (
		<form method="post" action={`${UI}/apis/${api.name}/keys`} autocomplete="off">
			<input type="hidden" name={ONCE_FIELD} value={newOnce()} />
			<ErrorBox message={props.error} id={FORM_ERROR_ID} />
			<label>
				Name
				<input name="name" required maxlength={200} value={v.name ?? ""} {...fieldState(bad, "name")} />
			</label>
			<label>
				Environment
				<select name="environment" {...fieldState(bad, "environment")}>
					{Object.keys(api.environments).map((e) => (
						<option value={e} selected={v.environment === e}>
							{environmentName(api, e)}
						</option>
					))}
				</select>
			</label>
			<label>
				Key type (single key
				{types.some(([, d]) => d.readOnly) ? "; a read-only type may only GET, HEAD and OPTIONS, whatever its scopes" : ""})
				<select name="type" {...fieldState(bad, "type")}>
					{types.map(([t, d]) => (
						<option value={t} selected={type === t}>
							{t} ({d.kind}
							{d.readOnly ? ", read-only" : ""})
						</option>
					))}
				</select>
			</label>
			{/* The tiers the admin API takes (found by a checker: the generic REST example's Pro and Enterprise were API-only); one tier is no choice. */}
			{Object.keys(api.tiers).length > 1 ? (
				<label>
					Tier
					<select name="tier" {...fieldState(bad, "tier")}>
						{Object.keys(api.tiers).map((t) => (
							<option value={t} selected={(v.tier || api.defaultTier) === t}>
								{t}
								{t === api.defaultTier ? " (default)" : ""}
							</option>
						))}
					</select>
				</label>
			) : null}
			<fieldset>
				<legend>Scopes</legend>
				{routeScopes(api).map((sc) => (
					<label>
						<input type="checkbox" name="scopes" value={sc} checked={ticked.includes(sc)} /> {sc}
					</label>
				))}
				<label>
					Other scopes (separated by commas or spaces)
					<input name="extraScopes" value={v.extraScopes ?? ""} {...fieldState(bad, "scopes")} />
				</label>
			</fieldset>
			<ExpiryChoices expiry={v.expiry} expiresOn={v.expiresOn} invalid={bad} />
			<label>
				IP allowlist (addresses or CIDR ranges, comma-separated; empty = any)
				<input name="ipAllowlist" value={v.ipAllowlist ?? ""} {...fieldState(bad, "ipAllowlist")} />
			</label>
			<ServiceField value={v.service} invalid={bad} />
			{api.owners || api.portal ? (
				<label>
					Owner{api.portal ? " (the customer whose portal lists it)" : ""}
					<input name="owner" value={v.owner ?? ""} {...fieldState(bad, "owner")} />
				</label>
			) : null}
			<p>
				<button type="submit" name="kind" value="single">
					Generate new key
				</button>{" "}
				{canPair ? (
					<button type="submit" name="kind" value="pair">
						Create Key Pair
					</button>
				) : null}
			</p>
		</form>
	);
}

consoleApp.get("/apis/:api/keys/new", (c) => {
	const api = apiOf(c, c.req.param("api"));
	if (!api) return missing(c);
	return page(
		c,
		`Generate a key for ${api.name}`,
		<>
			<h1>Generate new key: {api.name}</h1>
			<GenerateForm api={api} />
		</>,
	);
});

/** Generate: the secret is in this answer only (no redirect, no cookie, no later GET can show it). */
consoleApp.post("/apis/:api/keys", async (c) => {
	const api = apiOf(c, c.req.param("api"));
	if (!api) return missing(c);
	const form = await c.req.parseBody({ all: true });
	const once = onceOf(form);
	const one = (n: string) => (typeof form[n] === "string" ? (form[n] as string) : "");
	// The form's one-value fields (scopes are checkboxes): put back after a refusal, refused when sent twice.
	const fields = ["name", "environment", "type", "extraScopes", "expiry", "expiresOn", "ipAllowlist", "owner", "service", "tier"];
	const values = Object.fromEntries(fields.map((n) => [n, keptValue(one(n))]));
	const checked = ([] as unknown[]).concat(form.scopes ?? []).filter((x): x is string => typeof x === "string");
	const lists = { ipAllowlist: listField(one("ipAllowlist")), scopes: [...new Set([...checked, ...listField(one("extraScopes"))])] };
	const again = (message: string, kept = values, ticked = checked) =>
		page(
			c,
			`Generate a key for ${api.name}`,
			<>
				<h1>Generate new key: {api.name}</h1>
				<GenerateForm api={api} error={formMessage(message, lists)} values={kept} scopes={ticked} />
			</>,
			400,
		);
	try {
		// Before any refusal that puts the form back: a secret of this deployment is refused with the form empty, so the
		// page never holds one (a review: an expiry refusal put a SIGNING_SECRET back into the service field).
		await refuseSecretsIn(form, c.env);
	} catch (e) {
		if (e instanceof AdminError) return again(e.message, {}, []);
		throw e;
	}
	const twice = repeatedField(form, [...fields, "kind"]);
	if (twice) return again(twice);
	const expiry = expiryFrom(one("expiry"), one("expiresOn"), Date.now());
	if (!expiry.ok) return again(expiry.message);
	const body: Record<string, unknown> = {
		api: api.name,
		name: one("name"),
		environment: one("environment") || undefined,
		scopes: lists.scopes,
		expiresAt: expiry.value,
		ipAllowlist: lists.ipAllowlist.length ? lists.ipAllowlist : undefined,
		owner: one("owner") || undefined,
		service: one("service") || undefined,
		tier: one("tier") || undefined,
	};
	const pair = one("kind") === "pair";
	if (!pair) body.type = one("type") || undefined;
	try {
		// The same checks as the admin API: its schema, and no key anywhere in what is stored.
		refuseKeysIn(body);
	} catch (e) {
		if (e instanceof AdminError) return again(e.message);
		throw e;
	}
	const parsed = CreateKeyBody.safeParse(body);
	if (!parsed.success) return again(describeIssues(parsed.error));
	const s = c.var.services;
	const sentAgain = () =>
		page(c, "Already sent", <AlreadySent list={`${UI}/apis/${api.name}/keys`} again={`${UI}/apis/${api.name}/keys/new`} />, 409);
	if (!(await claim(s.authority, api.name, CONSOLE_FORMS, once))) return sentAgain();
	let shown: { label: string; k: KeyRecord & { key: string } }[];
	try {
		if (pair) {
			const { type: _t, ...input } = parsed.data;
			const made = await createPair(s, input);
			const pub = "publishable" in made ? made.publishable : made.identifier;
			shown = [
				{ label: "Your secret key", k: { ...made.secret.record, key: made.secret.key } },
				{ label: companionLabel(pub.record.kind), k: { ...pub.record, key: pub.key } },
			];
		} else {
			const made = await createKey(s, parsed.data);
			shown = [{ label: "Your new key", k: { ...made.record, key: made.key } }];
		}
	} catch (e) {
		// Nothing was made: the same form may be sent again.
		await release(s.authority, api.name, CONSOLE_FORMS, once);
		if (e instanceof AdminError && e.reason === "invalid_request") return again(e.message);
		throw e;
	}
	return page(
		c,
		"Key created",
		<>
			<h1>{pair ? "Key pair created" : "Key created"}</h1>
			<SecretsShown
				secrets={shown}
				sample={sampleCall(c.req.url, api, shown[0]!.k.environment)}
				savedHref={`${UI}/apis/${api.name}/keys`}
				api={api}
			/>
		</>,
	);
});

function keyId(c: Context<UiEnv>): string {
	const id = c.req.param("id") ?? "";
	if (!KEY_ID.test(id)) throw new AdminError("key_not_found", "No key with that id exists.");
	return id;
}

consoleApp.get("/keys/:id", async (c) => {
	const s = c.var.services;
	const k = await showKey(s, keyId(c));
	const usage = await keyUsage(s, k.id);
	const events = await listAudit(s.kv, { keyId: k.id });
	const now = Date.now();
	const api = apiOf(c, k.api);
	return page(
		c,
		k.name,
		<>
			<h1>Key: {k.name}</h1>
			<RevokedNotice k={k} done={c.req.query("done")} />
			<dl>
				<dt>Key</dt>
				<dd>
					<code>{maskedKey(k)}</code>
					<RevealForm k={k} action={`${UI}/keys/${k.id}/reveal`} now={now} />
				</dd>
				<dt>Id</dt>
				<dd class="mono">{k.id}</dd>
				<dt>API</dt>
				<dd>
					<a href={`${UI}/apis/${k.api}/keys`}>{k.api}</a>
				</dd>
				<dt>Type, environment</dt>
				<dd>
					{k.type} ({k.kind}), {environmentName(api, k.environment)}
				</dd>
				<dt>Status</dt>
				<dd>
					<Status k={k} now={now} />
				</dd>
				<dt>Scopes</dt>
				<dd>{scopesText(k, api)}</dd>
				<dt>Tier</dt>
				<dd>{k.tier}</dd>
				<dt>Rate limit</dt>
				<dd>{limitsText(k, api?.tiers ?? {})}</dd>
				<dt>IP allowlist</dt>
				<dd>{k.ipAllowlist?.join(", ") ?? "any address"}</dd>
				<dt>Owner</dt>
				<dd>{k.owner ?? "none"}</dd>
				<dt>Service or integration</dt>
				<dd>{k.service ?? "none"}</dd>
				<dt>Created</dt>
				<dd>
					<Time iso={k.createdAt} />
				</dd>
				<dt>Expires</dt>
				<dd>
					<Time iso={k.expiresAt} empty="Never" />
				</dd>
				<dt>Last used</dt>
				<dd>
					<Time iso={usage.lastUsedAt} empty="Never used" />
				</dd>
				{k.replacedBy ? (
					<>
						<dt>Replaced by</dt>
						<dd>
							<a href={`${UI}/keys/${k.replacedBy}`}>{k.replacedBy}</a>
						</dd>
					</>
				) : null}
			</dl>
			<UsageSections usage={usage} now={now} />
			<h2>Actions</h2>
			<p>
				{!noLongerPossible(k, "rotate", now) ? <a href={`${UI}/keys/${k.id}/rotate`}>Rotate</a> : null}{" "}
				{!noLongerPossible(k, "revoke", now) ? (
					<a href={`${UI}/keys/${k.id}/revoke`} data-dialog="revoke-dialog">
						Revoke
					</a>
				) : null}{" "}
				<a href={`${UI}/keys/${k.id}/delete`}>Delete</a>
			</p>
			{!noLongerPossible(k, "revoke", now) ? (
				// With JavaScript the Revoke link opens this; without, it goes to the same confirmation as a page.
				// Described by what revoking does: focus starts on Cancel, and a reader announces this with the dialog (a browser QA pass).
				<dialog id="revoke-dialog" aria-labelledby="revoke-dialog-h" aria-describedby="revoke-dialog-d">
					<h2 id="revoke-dialog-h">Revoke {k.name}?</h2>
					<RevokeStatement k={k} id="revoke-dialog-d" />
					<form method="post" action={`${UI}/keys/${k.id}/revoke`}>
						<button type="submit" class="danger">
							Revoke {keyNoun(k.kind)}
						</button>{" "}
						<button type="button" data-close="" autofocus>
							Cancel
						</button>
					</form>
				</dialog>
			) : null}
			<h2>History</h2>
			<EventsTable events={events.data} caption={`Audit events of ${k.name}`} />
			{events.cursor ? (
				<p>
					<a href={`${UI}/audit?keyId=${k.id}`}>All of this key's events in the audit log</a>
				</p>
			) : null}
		</>,
	);
});

// Only a POST shows a key: its address opened as a page (a bookmark, a sign-in that came back here) is the key's page.
consoleApp.get("/keys/:id/reveal", async (c) => c.redirect(`${UI}/keys/${keyId(c)}`, 303));

/** A working public key shown again (revealKey): the answer to the key page's "Show" button, never a GET. */
consoleApp.post("/keys/:id/reveal", async (c) => {
	const k = await showKey(c.var.services, keyId(c));
	const api = apiOf(c, k.api);
	if (!api) return missing(c);
	const answer = await revealed(c.var.services, k, api, c.req.url, UI);
	return page(c, k.name, answer.body, answer.status);
});

consoleApp.get("/keys/:id/revoke", async (c) => {
	const k = await showKey(c.var.services, keyId(c));
	if (noLongerPossible(k, "revoke", Date.now())) return page(c, `Revoke ${k.name}`, <NoLongerPossible k={k} action="revoke" base={UI} />);
	return page(c, `Revoke ${k.name}`, <RevokeConfirmation k={k} action={`${UI}/keys/${k.id}/revoke`} cancelHref={`${UI}/keys/${k.id}`} />);
});

consoleApp.post("/keys/:id/revoke", async (c) => {
	const k = await revokeKey(c.var.services, keyId(c));
	return c.redirect(`${UI}/keys/${k.id}?done=revoked`, 303);
});

consoleApp.get("/keys/:id/rotate", async (c) => {
	const s = c.var.services;
	const k = await showKey(s, keyId(c));
	const api = apiOf(c, k.api);
	if (!api) return missing(c);
	const now = Date.now();
	if (noLongerPossible(k, "rotate", now)) return page(c, `Rotate ${k.name}`, <NoLongerPossible k={k} action="rotate" base={UI} />);
	const busy = await predecessorWorksUntil(s, k.id).catch(() => null); // the POST still refuses a grace; the page need not fail with a lookup
	return rotatePage(c, k, api, busy);
});

/** The rotate form, with the API's graces; with `error`, a rotation just sent that was refused (409). */
function rotatePage(c: Context<UiEnv>, k: KeyRecord, api: CompiledApi, busy: number | null, error?: string, status: 400 | 409 = 409) {
	return page(
		c,
		`Rotate ${k.name}`,
		<RotateForm
			k={k}
			action={`${UI}/keys/${k.id}/rotate`}
			cancelHref={`${UI}/keys/${k.id}`}
			defaultSeconds={api.keys.rotationGraceSeconds}
			choices={offeredGraces(undefined, api.keys.maxRotationGraceSeconds)}
			now={Date.now()}
			lineBusyUntil={busy}
			error={error}
		/>,
		error === undefined ? 200 : status,
	);
}

consoleApp.post("/keys/:id/rotate", async (c) => {
	const s = c.var.services;
	const id = keyId(c);
	const form = await c.req.parseBody();
	const grace = Number(form.grace);
	if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS)
		throw new AdminError("invalid_request", "Choose how long the old key keeps working.");
	// Sent again (a reload of the "Key rotated" page) or too late: say why nothing was done, and where the new key is (found by a browser QA pass: a bare 409).
	const k = await showKey(s, id);
	const api = apiOf(c, k.api);
	if (!api) return missing(c);
	if (noLongerPossible(k, "rotate", Date.now()))
		return page(c, `Rotate ${k.name}`, <NoLongerPossible k={k} action="rotate" base={UI} />, 409);
	let rotated: Awaited<ReturnType<typeof rotateKey>>;
	try {
		rotated = await rotateKey(s, id, grace);
	} catch (e) {
		if (!(e instanceof RotationRefused)) throw e;
		// Its rules in the page's words, on the form again with what can work (found by a browser QA pass: the admin API's wording).
		return e.rule.name === "grace_cap"
			? rotatePage(c, k, api, null, graceTooLong(k.kind, e.rule.maxSeconds), 400)
			: rotatePage(c, k, api, e.rule.until, lineBusyWords(k.kind, e.rule.until, "refused"));
	}
	const { created, previous } = rotated;
	return page(
		c,
		"Key rotated",
		<>
			<RotatedNotice previous={previous} grace={grace} />
			<SecretsShown
				secrets={[
					{
						label: newKeyLabel(created.record.kind),
						k: { ...created.record, key: created.key },
					},
				]}
				sample={sampleCall(c.req.url, api, created.record.environment)}
				savedHref={`${UI}/keys/${created.record.id}`}
				api={api}
			/>
		</>,
	);
});

consoleApp.get("/keys/:id/delete", async (c) => {
	const k = await showKey(c.var.services, keyId(c));
	return page(c, `Delete ${k.name}`, <DeletePage k={k} base={UI} />);
});

consoleApp.post("/keys/:id/delete", async (c) => {
	const s = c.var.services;
	const k = await showKey(s, keyId(c));
	const { matches, typed } = typedName(await c.req.parseBody(), k);
	if (!matches) return page(c, `Delete ${k.name}`, <DeletePage k={k} base={UI} typed={typed} />, 400);
	await deleteKey(s, k.id);
	return c.redirect(`${UI}/apis/${k.api}/keys?done=deleted${k.kind === "identifier" ? "&kind=identifier" : ""}`, 303);
});

// The audit log and the owners' roles, each in a file of its own, behind the same session and form checks.
consoleApp.route("/", auditPages);
consoleApp.route("/", ownerPages);

consoleApp.all("*", (c) => missing(c));
