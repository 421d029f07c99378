import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { listAudit } from "../admin/audit";
import { type AuditEvent, CreateKeyBody } from "../admin/contract";
import { refuseKeysIn } from "../admin/input";
import { AdminError, createKey, createPair, deleteKey, keyUsage, revokeKey } from "../admin/service";
import { authority } from "../authority/client";
import { type CompiledApi, describeIssues, loadConfig } from "../config/load";
import { auditAddress } from "../env";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { type KeyRecord } from "../keys/record";
import { logEvent } from "../util/log";
import { UsageSections } from "./charts";
import { awayFromKey, keysPage, pastedKey } from "./data";
import { KeysFilter, KeysList } from "./keys-list";
import {
	AlreadySent,
	DataTable,
	ErrorBox,
	ExpiryChoices,
	fieldState,
	FORM_ERROR_ID,
	NothingHere,
	Page,
	PORTAL,
	Refused,
	ServiceField,
	Status,
	Time,
	Unavailable,
} from "./layout";
import { DeletedNotice, DeletePage, NoLongerPossible, noLongerPossible, RevokeConfirmation, RevokedNotice, typedName } from "./key-changes";
import { RevealForm, SecretsShown } from "./secrets";
import { claim, newOnce, ONCE_FIELD, onceOf, release } from "./once";
import { rotatePages } from "./portal-rotate";
import {
	backCookie,
	clearedBackCookie,
	closePortalSession,
	openPortalSession,
	PORTAL_BACK_COOKIE,
	PORTAL_COOKIE,
	readBack,
	PORTAL_SESSION_SECONDS,
	readPortalSession,
	redeemEntry,
} from "./portal-session";
import { allowed, counted, ownKey, ownKeys, page, pairPlaces, type Portal, type PortalEnv, withinLimit } from "./portal-shared";
import {
	awayFromKeyParams,
	companionLabel,
	environmentName,
	expiryFrom,
	formMessage,
	invalidFields,
	keptValue,
	limitsText,
	maskedKey,
	pageStatus,
	paramHoldsKey,
	paramsHoldKey,
	parseKeyQuery,
	PASTED_KEY_NOTICE,
	pathHoldsKey,
	repeatedField,
	workingKeys,
	scopesText,
	listField,
} from "./present";
import { revealed } from "./reveal";
import { sampleCall, sampleScopes } from "./sample";
import { formTokens, pageNavigation, readableForm, sameOrigin, uiHeaders } from "./security";
/**
 * The customer portal: what the API's own customers see, sent here by the API's backend
 * (POST /_keygate/v1/portal-sessions). A session is one owner of one API: every page and
 * action is limited to that owner's keys of that API, within the API's `portal` block, and
 * any other key id answers exactly as a key that does not exist.
 */
export const portalApp = new Hono<PortalEnv>();

const notFound = () => renderError("not_found", DEFAULT_ERROR_CONTEXT);

portalApp.use("*", uiHeaders);
portalApp.use("*", async (c, next) => (c.env.ADMIN_TOKEN ? next() : notFound()));
/**
 * A hand-made address with a key in its path or a query parameter (keygate makes none): a 303 away from it, as in the
 * console (a browser QA pass). The home page answers a pasted search itself; `/enter`'s token is a `kgpe_` credential.
 */
portalApp.use("*", async (c, next) => {
	if (c.req.method !== "GET" && c.req.method !== "HEAD") return next();
	const url = new URL(c.req.url);
	if (pathHoldsKey(url.pathname)) return c.redirect(`${PORTAL}/`, 303);
	if (url.pathname === `${PORTAL}/`) return next();
	const entering = url.pathname === `${PORTAL}/enter`;
	const away = awayFromKeyParams(
		url,
		([name, value]) => !(entering && name === "token" && ENTRY_TOKEN.test(value)) && paramHoldsKey([name, value]),
	);
	return away === undefined ? next() : c.redirect(away, 303);
});
/** A portal entry token as POST /portal-sessions makes it (portal-session.ts). */
const ENTRY_TOKEN = /^kgpe_[0-9A-Za-z]{44}$/;
portalApp.use("*", async (c, next) => {
	if (!pageNavigation(c.req.raw.headers))
		return c.html(
			<Refused heading="API keys" message="This page opens only in a browser window, as a page: a script cannot fetch it." />,
			403,
		);
	if (sameOrigin(c.req.method, c.req.url, c.req.raw.headers)) return next();
	return c.html(<Refused heading="API keys" message="This form was not sent from this page, so nothing was changed." />, 403);
});

const cookie = (token: string, maxAge: number) =>
	`${PORTAL_COOKIE}=${token}; Path=/; Secure; HttpOnly; SameSite=Strict; Priority=High; Max-Age=${maxAge}`;

function plainError(c: Context<PortalEnv>, status: 400 | 404, message: string) {
	return notice(c, status, "Link not valid", "This link cannot be used", message);
}

/**
 * A page of the portal outside a session: a heading and one sentence, and the way back to the app (`back`, else the
 * return address kept from the last entry, see backCookie).
 */
async function notice(
	c: Context<PortalEnv>,
	status: 200 | 400 | 404,
	title: string,
	heading: string,
	message: string,
	back?: string | null,
) {
	back ??= await readBack(c.env.ADMIN_TOKEN!, getCookie(c, PORTAL_BACK_COOKIE));
	return c.html(
		<Page title={title} heading="API keys">
			<h1>{heading}</h1>
			<p>{message}</p>
			{back ? (
				<p>
					<a href={back}>Back to the app</a>
				</p>
			) : null}
		</Page>,
		status,
	);
}

/**
 * Step 1, the cross-site arrival: a page and nothing else. It does not use the token, so
 * a link previewer fetching the URL cannot burn it. Its form continues with a same-origin
 * POST (submitted by the script at once, or by the button without JavaScript): a
 * SameSite=Strict cookie set in answer to a cross-site navigation would not be sent on
 * that navigation's next hop, but one set in answer to a same-origin POST is.
 */
portalApp.get("/enter", (c) => {
	// Only a well-formed entry token goes into the page (a review: any `token`, a key too, was written into the form).
	const given = c.req.query("token") ?? "";
	const token = ENTRY_TOKEN.test(given) ? given : "";
	return c.html(
		<Page title="Opening your API keys" heading="API keys">
			<h1>Opening your API keys…</h1>
			<form method="post" action={`${PORTAL}/enter`} data-autosubmit="">
				<input type="hidden" name="token" value={token} />
				<button type="submit">Continue</button>
			</form>
		</Page>,
	);
});

/** Step 2: the token, once, for a session cookie; then the portal, with no token in the address bar. */
portalApp.post("/enter", readableForm, async (c) => {
	const form = await c.req.parseBody();
	const grant = await redeemEntry(c.env.KEYS, authority(c.env), typeof form.token === "string" ? form.token : "");
	if (!grant)
		return plainError(
			c,
			404,
			"This link has already been used, has expired, or is not valid. Go back to the app and open your API keys again.",
		);
	const session = await openPortalSession(c.env.KEYS, grant);
	c.header("Set-Cookie", cookie(session, PORTAL_SESSION_SECONDS));
	// A session with no returnUrl clears the last one's: its link could be another app's (a review).
	c.header("Set-Cookie", grant.returnUrl ? await backCookie(c.env.ADMIN_TOKEN!, grant.returnUrl) : clearedBackCookie, { append: true });
	return c.redirect(`${PORTAL}/`, 303);
});

const requirePortal: MiddlewareHandler<PortalEnv> = async (c, next) => {
	const token = getCookie(c, PORTAL_COOKIE);
	const grant = token ? await readPortalSession(c.env.KEYS, token) : null;
	const config = loadConfig(c.env);
	// An invalid config: the portal's own 503 page, as for any failure inside (the gateway answers its JSON 503).
	if (!config.ok) return c.html(<Unavailable heading="API keys" />, 503);
	const api = grant ? config.value.apis.find((a) => a.name === grant.api) : undefined;
	if (!grant || !token || !api?.portal) {
		// A form sent after the session ended made nothing: said so (a browser QA pass). No cookie at all: never
		// signed in here, so nothing "ended".
		const sent = c.req.method !== "GET" && c.req.method !== "HEAD" ? " Nothing was changed." : "";
		// The home page, exempt from the guard above for its own search, has no search without a session (a review).
		const away = sent === "" ? awayFromKeyParams(new URL(c.req.url), paramHoldsKey) : undefined;
		if (away !== undefined) return c.redirect(away, 303);
		if (!token) return notice(c, 404, "Not signed in", "Open your API keys from the app", `This page opens from the app you use.${sent}`);
		c.header("Set-Cookie", cookie("", 0));
		return notice(c, 404, "Session ended", "Your session has ended", `Go back to the app and open your API keys again.${sent}`);
	}
	c.set("grant", grant);
	c.set("sessionToken", token);
	c.set("api", api as CompiledApi & { portal: Portal });
	c.set("services", {
		kv: c.env.KEYS,
		authority: authority(c.env),
		config: config.value,
		actor: `portal:${grant.owner}`,
		actorType: "portal",
		ip: auditAddress(c.req.raw.headers, c.env),
	});
	await next();
};
portalApp.use("*", requirePortal);
// After the session check: a caller without one never gets its body parsed.
portalApp.use("*", readableForm);
// Every form that changes something carries the session's token (security.ts): a form the origin's page submits does not.
portalApp.use(
	"*",
	formTokens<PortalEnv>(
		(c) => c.var.sessionToken,
		// A page opened in an earlier visit (the app opened the keys again in another tab) lands here too: said, with a way back.
		(c) =>
			page(
				c,
				"Not sent",
				<>
					<h1>Not sent</h1>
					<ErrorBox message="This form was not sent from a page of your API keys in this visit (a page opened before you last opened them counts as another), so nothing was changed." />
					<p>
						<a href={`${PORTAL}/`}>Back to your keys</a> to send it again from there.
					</p>
				</>,
				403,
			),
	),
);

portalApp.post("/logout", async (c) => {
	await closePortalSession(c.env.KEYS, c.var.sessionToken);
	c.header("Set-Cookie", cookie("", 0));
	// The app's address the session was opened with, as the header's link had it (found by a browser QA pass: no way back).
	return notice(
		c,
		200,
		"Signed out",
		"Signed out",
		"You have signed out of your API keys. Go back to the app to open them again.",
		c.var.grant.returnUrl,
	);
});

portalApp.onError((err, c) => {
	const ctx = c as Context<PortalEnv>;
	if (err instanceof AdminError && ctx.var.api) {
		const status = pageStatus(err.reason);
		// Another owner's key and a key that does not exist get this same page, byte for byte.
		const message = status === 404 ? "No key with that id exists." : err.message;
		return page(
			ctx,
			status === 404 ? "Not found" : "Not done",
			<>
				<h1>{status === 404 ? "No such key" : "Nothing was changed"}</h1>
				<ErrorBox message={message} />
				<p>
					<a href={`${PORTAL}/`}>Back to your keys</a>
				</p>
			</>,
			status,
		);
	}
	logEvent("internal_error", { area: "portal", error: String(err) });
	return c.html(<Unavailable heading="API keys" back={`${PORTAL}/`} />, 503);
});

// `/_keygate/portal/` is the home page (see console.tsx for why it is spelled this way).
portalApp.get("/", (c) => c.redirect(`${PORTAL}/`, 308));
/** A whole key typed into the search, sent by the page's script as a POST (never in the address): the customer's own key, else back with a notice. */
portalApp.post("/find-key", async (c) => {
	const form = await c.req.parseBody();
	const pasted = await pastedKey(c.var.services, typeof form.q === "string" ? form.q : "");
	// The record names its API and owner: no listing needed (the same test as ownKey).
	const mine = pasted ? pasted.api === c.var.grant.api && pasted.owner === c.var.grant.owner : false;
	return c.redirect(mine ? `${PORTAL}/keys/${pasted!.id}` : awayFromKey(`${PORTAL}/`, Object.entries(form)), 303);
});

portalApp.get("/:home{.{0}}", async (c) => {
	const api = c.var.api;
	const now = Date.now();
	const keys = await ownKeys(c);
	const params = new URL(c.req.url).searchParams;
	// A whole key in the search (sent without the page's script): the customer's own key's page, else a notice; never echoed.
	const pasted = await pastedKey(c.var.services, params.get("q"));
	if (pasted && keys.some((k) => k.id === pasted.id)) return c.redirect(`${PORTAL}/keys/${pasted.id}`, 303);
	// Any other key: away from the address that holds it, to the list with the same notice as for a key that exists nowhere.
	if (pasted !== undefined) return c.redirect(awayFromKey(`${PORTAL}/`, params), 303);
	// The page's links copy every parameter: one holding a key, whatever its name, leaves too (a review).
	if (paramsHoldKey(params, ["q"])) return c.redirect(awayFromKey(`${PORTAL}/`, params), 303);
	const wasKey = params.get("pasted") === "1";
	params.delete("pasted");
	// Said once, on the page a delete lands on: not carried into the list's links.
	const done = params.get("done") ?? undefined;
	const doneKind = params.get("kind") ?? undefined;
	params.delete("done");
	params.delete("kind");
	const query = parseKeyQuery(params);
	const listed = await keysPage(c.var.services, keys, query, now);
	const a = await allowed(c);
	const held = counted(api, keys, now).length;
	const link = (p: number) => {
		const q = new URLSearchParams(params);
		q.set("page", String(p));
		return `${PORTAL}/?${q}`;
	};
	return page(
		c,
		api.portal.title,
		<>
			<h1>{api.portal.title}</h1>
			<DeletedNotice done={done} kind={doneKind} />
			{wasKey ? <ErrorBox message={PASTED_KEY_NOTICE} /> : null}
			<KeysFilter action={`${PORTAL}/`} find={`${PORTAL}/find-key`} query={query} api={api} />
			<KeysList
				listed={listed}
				page={query.page}
				now={now}
				caption="Your keys"
				href={(id) => `${PORTAL}/keys/${id}`}
				link={link}
				api={api}
			/>
			{keys.length === 0 ? <p>You have no keys yet.</p> : null}
			<h2 id="generate">{a.createLabel}</h2>
			{/* Said before the form is filled in, not only after it is sent (a browser QA pass). */}
			{held >= api.portal.maxKeysPerOwner ? (
				<p class="note" id="at-limit">
					You hold {workingKeys(held)}, the most allowed here: revoke one before you generate another.
				</p>
			) : a.pairs && pairPlaces(api) === 2 && held === api.portal.maxKeysPerOwner - 1 ? (
				// A pair of two live keys needs two places (a review: said only after a refused send).
				<p class="note" id="at-limit">
					You hold {workingKeys(held)} of the {api.portal.maxKeysPerOwner} allowed here:{" "}
					{a.singles ? "room for one more key, not a pair, which takes two." : "no room for a pair, which takes two: revoke a key first."}
				</p>
			) : (
				// The cap said up front, in the words the list's statuses use (a browser QA pass: "9 active keys" beside 8 "Active").
				<p class="note">
					You hold {held} of the {api.portal.maxKeysPerOwner} working keys allowed here: active ones, and an old key in its rotation grace.
				</p>
			)}
			<PortalForm c={c} a={a} />
		</>,
	);
});

/** The portal's generate form; after a refusal, `values` and `scopes` put back what was sent. */
function PortalForm(props: {
	c: Context<PortalEnv>;
	a: Awaited<ReturnType<typeof allowed>>;
	error?: string;
	values?: Record<string, string>;
	scopes?: string[];
}) {
	const { a } = props;
	const v = props.values ?? {};
	const bad = invalidFields(props.error);
	const labels = props.c.var.api.portal.labels;
	const ticked = props.scopes ?? sampleScopes(props.c.var.api);
	// As the admin API: the first secret type offered, not whichever the config lists first (Novala's pk; a peer's suite).
	const type = v.type ?? a.types.find((t) => props.c.var.api.keyTypes[t]?.kind === "secret") ?? a.types[0];
	return (
		<form method="post" action={`${PORTAL}/keys`} autocomplete="off">
			<input type="hidden" name={ONCE_FIELD} value={newOnce()} />
			<ErrorBox message={props.error} id={FORM_ERROR_ID} />
			<label>
				Name
				<input name="name" required maxlength={200} value={v.name ?? ""} {...fieldState(bad, "name")} />
			</label>
			<label>
				Environment
				<select name="environment" {...fieldState(bad, "environment")}>
					{a.environments.map((e) => (
						<option value={e} selected={v.environment === e}>
							{environmentName(props.c.var.api, e)}
						</option>
					))}
				</select>
			</label>
			{a.types.length > 1 && a.singles ? (
				<label>
					Key type
					<select name="type" {...fieldState(bad, "type")}>
						{a.types.map((t) => {
							// As the console names them: "pk (publishable, read-only)", not just "pk" (a browser QA pass).
							const d = props.c.var.api.keyTypes[t];
							return (
								<option value={t} selected={type === t}>
									{t}
									{d ? ` (${d.kind}${d.readOnly ? ", read-only" : ""})` : ""}
								</option>
							);
						})}
					</select>
				</label>
			) : (
				<input type="hidden" name="type" value={type} />
			)}
			{/* Said whether or not the API has scopes: Nuvion's portal has none (found by a seed-page pass: the note never showed there). */}
			{a.methods && !a.scopes.length ? (
				<p class="note">Your account may only make {a.methods.join(", ")} requests: every key it has is held to them.</p>
			) : null}
			{a.scopes.length ? (
				<fieldset>
					<legend>Scopes</legend>
					{a.methods ? (
						<p class="note">
							Your account may only make {a.methods.join(", ")} requests: every key it has is held to them, whatever its scopes.
						</p>
					) : null}
					{a.scopes.map((s) => (
						<label>
							<input type="checkbox" name="scopes" value={s} checked={ticked.includes(s)} {...fieldState(bad, "scopes")} /> {s}
						</label>
					))}
				</fieldset>
			) : null}
			<ServiceField value={v.service} invalid={bad} />
			<ExpiryChoices expiry={v.expiry} expiresOn={v.expiresOn} invalid={bad} />
			<label>
				IP allowlist (comma-separated; empty = any)
				<input name="ipAllowlist" value={v.ipAllowlist ?? ""} {...fieldState(bad, "ipAllowlist")} />
			</label>
			<p>
				{a.singles ? (
					<button type="submit" name="kind" value="single">
						{labels.generate}
					</button>
				) : null}{" "}
				{a.pairs ? (
					<button type="submit" name="kind" value="pair">
						{labels.pair}
					</button>
				) : null}
			</p>
		</form>
	);
}

portalApp.post("/keys", async (c) => {
	const api = c.var.api;
	const a = await allowed(c);
	const form = await c.req.parseBody({ all: true });
	const once = onceOf(form);
	const one = (n: string) => (typeof form[n] === "string" ? (form[n] as string) : "");
	// The form's one-value fields (scopes are checkboxes): put back after a refusal, refused when sent twice.
	const fields = ["name", "environment", "type", "expiry", "expiresOn", "ipAllowlist", "service"];
	const values = Object.fromEntries(fields.map((n) => [n, keptValue(one(n))]));
	const sentScopes = ([] as unknown[]).concat(form.scopes ?? []).filter((x): x is string => typeof x === "string");
	const allowlist = listField(one("ipAllowlist"));
	const again = (message: string) =>
		page(
			c,
			api.portal.title,
			<>
				<h1>{a.createLabel}</h1>
				<PortalForm c={c} a={a} error={formMessage(message, { ipAllowlist: allowlist })} values={values} scopes={sentScopes} />
				<p>
					<a href={`${PORTAL}/`}>Back to your keys</a>
				</p>
			</>,
			400,
		);
	const twice = repeatedField(form, [...fields, "kind"]);
	if (twice) return again(twice);
	const pair = one("kind") === "pair";
	if (pair && !a.pairs) return again("Key pairs are not offered here.");
	if (!pair && !a.singles) return again("Single keys are not offered here: create a key pair.");
	const type = one("type");
	if (!pair && !a.types.includes(type)) return again("Key type: not one you may create.");
	const environment = one("environment");
	if (!a.environments.includes(environment)) return again("Environment: not one you may create keys in.");
	const scopes = sentScopes;
	const extra = scopes.filter((s) => !a.scopes.includes(s));
	// What was sent is named only when it holds no key: a pasted key is never written into a page.
	if (extra.length)
		return again(
			extra.some((x) => keptValue(x) === "")
				? "Scopes: a scope holds an API key; keygate never stores keys."
				: `Scopes: you may not give a key ${extra.join(", ")}.`,
		);
	const now = Date.now();
	const expiry = expiryFrom(one("expiry"), one("expiresOn"), now);
	if (!expiry.ok) return again(expiry.message);
	const body: Record<string, unknown> = {
		api: api.name,
		name: one("name"),
		environment,
		scopes: [...new Set(scopes)],
		expiresAt: expiry.value,
		ipAllowlist: allowlist.length ? allowlist : undefined,
		owner: c.var.grant.owner,
		service: one("service") || undefined,
		tier: c.var.grant.tier,
	};
	if (!pair) body.type = type;
	try {
		refuseKeysIn(body);
	} catch (e) {
		if (e instanceof AdminError) return again(e.message);
		throw e;
	}
	const parsed = CreateKeyBody.safeParse(body);
	if (!parsed.success) return again(describeIssues(parsed.error));
	const owners = c.var.services.authority;
	if (!(await claim(owners, api.name, c.var.grant.owner, once)))
		return page(c, "Already sent", <AlreadySent list={`${PORTAL}/`} again={`${PORTAL}/#generate`} againLabel={a.createLabel} />, 409);
	const places = pair ? pairPlaces(api) : 1;
	const shown = await withinLimit(c, places, async () => {
		let made: { label: string; k: KeyRecord & { key: string } }[];
		if (pair) {
			const { type: _t, ...input } = parsed.data;
			const both = await createPair(c.var.services, input);
			const pub = "publishable" in both ? both.publishable : both.identifier;
			made = [
				{ label: "Your secret key", k: { ...both.secret.record, key: both.secret.key } },
				{ label: companionLabel(pub.record.kind), k: { ...pub.record, key: pub.key } },
			];
		} else {
			const one = await createKey(c.var.services, parsed.data);
			made = [{ label: "Your new key", k: { ...one.record, key: one.key } }];
		}
		return { made, ids: made.filter((m) => m.k.kind !== "identifier").map((m) => m.k.id) };
	}).catch(async (e: unknown) => {
		// Nothing was made: the same form may be sent again.
		await release(owners, api.name, c.var.grant.owner, once);
		throw e;
	});
	if (shown === null) {
		await release(owners, api.name, c.var.grant.owner, once);
		return again(
			places === 2
				? `A pair takes two of the ${api.portal.maxKeysPerOwner} working keys you may hold here, and fewer than two places are left: revoke a key first${a.singles ? ", or create a single key if one place is left" : ""}.`
				: `You may hold at most ${api.portal.maxKeysPerOwner} working keys. Revoke one first.`,
		);
	}
	return page(
		c,
		"Key created",
		<>
			<h1>{pair ? "Key pair created" : "Key created"}</h1>
			<SecretsShown
				secrets={shown}
				sample={sampleCall(c.req.url, api, shown[0]!.k.environment)}
				savedHref={`${PORTAL}/`}
				customer
				api={api}
			/>
		</>,
	);
});

/** Who did it, in the customer's words: an operator's name or address is not theirs to see. */
function whoDid(e: AuditEvent): string {
	// A portal session acts only on its own owner's keys, so a portal event on this key is the customer's own.
	if (e.actorType === "portal") return "You";
	if (e.actorType === "system") return "keygate";
	return "The API's team";
}

const ACTION_WORDS: Partial<Record<AuditEvent["action"], string>> = {
	"key.created": "Created",
	"key.rotated": "Rotated",
	"key.revoked": "Revoked",
	"key.deleted": "Deleted",
	"key.updated": "Changed",
	"key.revealed": "Shown again",
};

/** The key's own audit events, newest first: when, who (in the customer's words) and what; never the details an operator sees. */
function KeyHistory(props: { events: AuditEvent[] }) {
	return (
		<section aria-labelledby="history-h">
			<h2 id="history-h">History</h2>
			{props.events.length === 0 ? (
				<p>No recorded events.</p>
			) : (
				<DataTable caption="Events of this key, newest first" columns={["Time", "By", "Event"]}>
					{props.events.map((e) => (
						<tr>
							<td>
								<Time iso={e.at} />
							</td>
							<td>{whoDid(e)}</td>
							<td>{ACTION_WORDS[e.action] ?? e.action}</td>
						</tr>
					))}
				</DataTable>
			)}
		</section>
	);
}

portalApp.get("/keys/:id", async (c) => {
	const k = await ownKey(c);
	const [usage, history] = await Promise.all([keyUsage(c.var.services, k.id), listAudit(c.var.services.kv, { keyId: k.id })]);
	const now = Date.now();
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
					<RevealForm k={k} action={`${PORTAL}/keys/${k.id}/reveal`} now={now} />
				</dd>
				<dt>Id</dt>
				<dd class="mono">{k.id}</dd>
				<dt>Type, environment</dt>
				<dd>
					{k.type} ({k.kind}), {environmentName(c.var.api, k.environment)}
				</dd>
				<dt>Status</dt>
				<dd>
					<Status k={k} now={now} />
				</dd>
				<dt>Scopes</dt>
				<dd>{scopesText(k, c.var.api)}</dd>
				<dt>Tier</dt>
				<dd>{k.tier}</dd>
				<dt>Rate limit</dt>
				<dd>{limitsText(k, c.var.api.tiers)}</dd>
				<dt>IP allowlist</dt>
				<dd>{k.ipAllowlist?.join(", ") ?? "any address"}</dd>
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
							<a href={`${PORTAL}/keys/${k.replacedBy}`}>{k.replacedBy}</a>
						</dd>
					</>
				) : null}
			</dl>
			<UsageSections usage={usage} now={now} />
			<KeyHistory events={history.data} />
			<p>
				{!noLongerPossible(k, "rotate", now) ? <a href={`${PORTAL}/keys/${k.id}/rotate`}>{c.var.api.portal.labels.rotate}</a> : null}{" "}
				{!noLongerPossible(k, "revoke", now) ? <a href={`${PORTAL}/keys/${k.id}/revoke`}>Revoke</a> : null}{" "}
				<a href={`${PORTAL}/keys/${k.id}/delete`}>Delete</a>
			</p>
		</>,
	);
});

// Only a POST shows a key: its address opened as a page (a bookmark, a sign-in that came back here) is the key's page.
portalApp.get("/keys/:id/reveal", async (c) => c.redirect(`${PORTAL}/keys/${(await ownKey(c)).id}`, 303));

/** A working public key of this owner's shown again (revealKey): the answer to the key page's "Show" button, never a GET. */
portalApp.post("/keys/:id/reveal", async (c) => {
	const k = await ownKey(c);
	const answer = await revealed(c.var.services, k, c.var.api, c.req.url, PORTAL, true);
	return page(c, k.name, answer.body, answer.status);
});

portalApp.get("/keys/:id/revoke", async (c) => {
	const k = await ownKey(c);
	if (noLongerPossible(k, "revoke", Date.now()))
		return page(c, `Revoke ${k.name}`, <NoLongerPossible k={k} action="revoke" base={PORTAL} />);
	return page(
		c,
		`Revoke ${k.name}`,
		<RevokeConfirmation k={k} action={`${PORTAL}/keys/${k.id}/revoke`} cancelHref={`${PORTAL}/keys/${k.id}`} />,
	);
});

portalApp.post("/keys/:id/revoke", async (c) => {
	const k = await ownKey(c);
	await revokeKey(c.var.services, k.id);
	return c.redirect(`${PORTAL}/keys/${k.id}?done=revoked`, 303);
});

// Deleting a key of one's own, as Nuvion's page asks of keys no longer in use (a seed-page pass): the console's confirmation.
portalApp.get("/keys/:id/delete", async (c) => {
	const k = await ownKey(c);
	return page(c, `Delete ${k.name}`, <DeletePage k={k} base={PORTAL} />);
});

portalApp.post("/keys/:id/delete", async (c) => {
	const k = await ownKey(c);
	const { matches, typed } = typedName(await c.req.parseBody(), k);
	if (!matches) return page(c, `Delete ${k.name}`, <DeletePage k={k} base={PORTAL} typed={typed} />, 400);
	await deleteKey(c.var.services, k.id);
	return c.redirect(`${PORTAL}/?done=deleted${k.kind === "identifier" ? "&kind=identifier" : ""}`, 303);
});

// Rotation, in a file of its own (portal-rotate.tsx), behind the same session and form checks.
portalApp.route("/", rotatePages);

// An address inside the portal that names nothing: a page, not the gateway's JSON.
portalApp.all("*", (c) => page(c, "Not found", <NothingHere back={`${PORTAL}/`} label="Back to your keys" />, 404));
