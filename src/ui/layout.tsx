import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { CompiledApi } from "../config/load";
import type { KeyRecord } from "../keys/record";
import type { SampleCall } from "./sample";
import { CSS_PATH, JS_PATH } from "./static";
import {
	atLimitWords,
	keptValue,
	formatTime,
	graceChoices,
	keyNoun,
	keyStatus,
	lineBusyWords,
	maskedKey,
	worksUntil,
	publicNoun,
	environmentName,
	shortId,
	capitalized,
	scopesText,
} from "./present";

export const UI = "/_keygate/ui";
export const PORTAL = "/_keygate/portal";

/** The page frame. Hono JSX escapes every string it is given: user-typed names render as text. */
export function Page(props: {
	title: string;
	signedIn?: boolean;
	portal?: { title: string; returnUrl: string | null };
	/** The header's name when there is no portal session: the portal's own pages say "API keys", not "keygate console". */
	heading?: string;
	/** This page's path: its link in the main navigation says it is the current page. */
	here?: string;
	children?: Child;
}) {
	const current = (href: string) => (props.here === href ? { "aria-current": "page" } : {});
	return (
		<>
			{raw("<!doctype html>")}
			<html lang="en">
				<head>
					<meta charset="utf-8" />
					<meta name="viewport" content="width=device-width, initial-scale=1" />
					<meta name="referrer" content="same-origin" />
					<title>{`${props.title} · keygate`}</title>
					{/* No favicon: without this, the browser asks the gateway for /favicon.ico on every page (a 401). */}
					<link rel="icon" href="data:," />
					<link rel="stylesheet" href={CSS_PATH} />
					<script src={JS_PATH} defer></script>
				</head>
				<body>
					<a class="skip" href="#main">
						Skip to content
					</a>
					<header class="top">
						<strong>{props.portal ? props.portal.title : (props.heading ?? "keygate console")}</strong>
						{props.portal ? (
							<>
								<nav aria-label="Main">
									<a href={`${PORTAL}/`} {...current(`${PORTAL}/`)}>
										Your keys
									</a>
									{props.portal.returnUrl ? <a href={props.portal.returnUrl}>Back to the app</a> : null}
								</nav>
								<form method="post" action={`${PORTAL}/logout`}>
									<button type="submit">Sign out</button>
								</form>
							</>
						) : null}
						{props.signedIn ? (
							<>
								<nav aria-label="Main">
									<a href={`${UI}/`} {...current(`${UI}/`)}>
										APIs
									</a>
									<a href={`${UI}/owners`} {...current(`${UI}/owners`)}>
										Owners
									</a>
									<a href={`${UI}/audit`} {...current(`${UI}/audit`)}>
										Audit log
									</a>
								</nav>
								<form method="post" action={`${UI}/logout`}>
									<button type="submit">Sign out</button>
								</form>
							</>
						) : null}
					</header>
					<main id="main" tabindex={-1}>
						{props.children}
					</main>
				</body>
			</html>
		</>
	);
}

export function Time(props: { iso: string | null; empty?: string }) {
	if (!props.iso) return <span class="muted">{props.empty ?? "—"}</span>;
	return (
		<time datetime={props.iso} data-relative="">
			{formatTime(props.iso)}
		</time>
	);
}

export function Status(props: { k: KeyRecord; now: number }) {
	const s = keyStatus(props.k, props.now);
	return <span class={`status-${s.word}`}>{s.label}</span>;
}

/** The new keys of a POST's answer (each shown once), then the link that leaves them behind. */
/** `customer`: the portal's page, which never names the owner id keygate files the customer under (found by a browser QA pass). */
export function SecretsShown(props: {
	secrets: { label: string; k: KeyRecord & { key: string } }[];
	sample: SampleCall;
	savedHref: string;
	customer?: boolean;
	/** Names the keys' environment by its label (environmentName). */
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	const noun = props.secrets.length === 1 && props.secrets[0]!.k.kind === "identifier" ? "identifier" : "key";
	return (
		<>
			{props.secrets.map((x, i) => (
				<SecretBox api={props.api} k={x.k} label={x.label} sample={props.sample} id={`secret-${i}`} customer={props.customer} />
			))}
			<form method="get" action={props.savedHref}>
				<button type="submit" data-saved="">
					{props.secrets.length > 1 ? "I've saved these keys" : `I've saved this ${noun}`}
				</button>
			</form>
		</>
	);
}

/** What a rotation did to the old key, stated with its cut-off. */
export function RotatedNotice(props: { previous: KeyRecord; grace: number; heading?: string }) {
	return (
		<>
			<h1>{props.heading ?? "Key rotated"}</h1>
			{props.previous.kind === "identifier" ? (
				<p>
					The old identifier <code>{maskedKey(props.previous)}</code>{" "}
					{props.grace === 0 ? "is marked revoked now." : `is marked revoked from ${formatTime(worksUntil(props.previous))}.`}{" "}
					{IDENTIFIER_UNCHANGED}
				</p>
			) : (
				<p>
					The old key <code>{maskedKey(props.previous)}</code>{" "}
					{props.grace === 0
						? "stopped working now."
						: worksUntil(props.previous) !== props.previous.graceEndsAt
							? `keeps working until it expires, ${formatTime(worksUntil(props.previous))}, before its grace period would end.`
							: `keeps working until ${formatTime(props.previous.graceEndsAt)}.`}
				</p>
			)}
		</>
	);
}

/** A 403 page of the console or the portal (`heading`: the portal's "API keys"): what was refused, and that nothing changed. */
export function Refused(props: { message: string; heading?: string }) {
	return (
		<Page title="Refused" heading={props.heading}>
			<h1>Refused</h1>
			<p>{props.message}</p>
		</Page>
	);
}

/**
 * What ending an application identifier (Novu's `app_…`) changes for requests: nothing, since it
 * authorizes nothing alone and is passed on as sent beside a secret key (found by a seed-page pass:
 * its revoke page promised a 401 it never had).
 */
export const IDENTIFIER_UNCHANGED =
	"It is an identifier, which authorizes nothing alone: requests that send it beside a secret key pass as before.";

/** What a revoke did, on the key's page it leads to (`?done=revoked`), in the console and the portal alike. */
export function RevokedNotice(props: { k: KeyRecord; done: string | undefined }) {
	if (props.done !== "revoked" || props.k.revokedAt === null) return null;
	return (
		<p class="notice" role="status">
			{props.k.kind === "identifier" ? (
				<>
					Revoked: <code>{maskedKey(props.k)}</code> is marked revoked. {IDENTIFIER_UNCHANGED}
				</>
			) : (
				<>
					Revoked: requests with <code>{maskedKey(props.k)}</code> get 401 from the next request.
				</>
			)}
		</p>
	);
}

/** What revoking does, as both confirmations (the dialog and the page without JavaScript) say it. */
export function RevokeStatement(props: { k: KeyRecord; id?: string }) {
	return (
		<p id={props.id}>
			{props.k.kind === "identifier" ? (
				<>
					<code>{maskedKey(props.k)}</code> will be marked revoked. {IDENTIFIER_UNCHANGED} This cannot be undone.
				</>
			) : (
				<>
					Requests with <code>{maskedKey(props.k)}</code> get 401 from the next request. This cannot be undone.
				</>
			)}
		</p>
	);
}

/** The revoke confirmation as a page (without JavaScript, or reached by its URL). */
export function RevokeConfirmation(props: { k: KeyRecord; action: string; cancelHref: string }) {
	return (
		<>
			<h1>Revoke {props.k.name}?</h1>
			<RevokeStatement k={props.k} />
			<form method="post" action={props.action}>
				<button type="submit" class="danger">
					Revoke {keyNoun(props.k.kind)}
				</button>{" "}
				<a href={props.cancelHref}>Cancel</a>
			</form>
		</>
	);
}

/** A grace's cut-off as the rotate form states it: the key's expiry when that comes first, said so (a browser QA pass). */
function cutOff(k: KeyRecord, graceEnd: number): string {
	const ends = new Date(graceEnd).toISOString();
	const until = worksUntil({ graceEndsAt: ends, expiresAt: k.expiresAt });
	return until === ends ? formatTime(ends) : `${formatTime(until)}, when the ${keyNoun(k.kind)} expires`;
}

/** The rotate confirmation: grace choices with their exact cut-offs, the default preselected. */
export function RotateForm(props: {
	k: KeyRecord;
	action: string;
	cancelHref: string;
	defaultSeconds: number;
	/** The graces offered (the portal's `rotationGraceChoices`); absent: the usual four. */
	choices?: number[];
	now: number;
	/** Set while a key this one replaced still works (Unix ms): only "Immediately" is offered until then. */
	lineBusyUntil?: number | null;
	/** Set (the portal's maxKeysPerOwner) when the owner holds that many live keys: a grace would hold one more, so only "Immediately". */
	atKeyLimit?: number | null;
	/** Why a rotation just sent was refused, in the page's words. */
	error?: string;
	/** The action's word (the portal's `labels.rotate`, e.g. Novu's "Regenerate"). */
	verb?: string;
}) {
	const verb = props.verb ?? "Rotate";
	// A public key's page can show it again (keys/public-key.ts); a secret key is shown once.
	const again = props.k.kind !== "secret";
	const busy = props.lineBusyUntil ?? null;
	const full = props.atKeyLimit ?? null;
	const identifier = props.k.kind === "identifier";
	const onlyNow = busy !== null || full !== null;
	const def = onlyNow ? 0 : props.defaultSeconds;
	const choices = onlyNow ? [0] : props.choices;
	const offered = graceChoices(def, choices);
	// An API that offers only "Immediately" (Novu's "Regenerate"): said as a fact, not asked with one choice (a seed-page pass).
	const atOnce = !onlyNow && offered.length === 1 && offered[0]!.seconds === 0;
	return (
		<>
			<h1>
				{verb} {props.k.name}?
			</h1>
			{identifier ? (
				<p>
					A new identifier replaces <code>{maskedKey(props.k)}</code>; {again ? "its page can show it again" : "it is shown once"}.{" "}
					{atOnce ? "The old one is marked revoked at once." : "When should the old one be marked revoked?"} {IDENTIFIER_UNCHANGED}
				</p>
			) : (
				<p>
					A new key replaces <code>{maskedKey(props.k)}</code>;{" "}
					{again ? "its page can show the new key again" : "the new key is shown once"}.{" "}
					{atOnce ? "The old key stops working at once: it gets 401 from the next request." : "How long should the old key keep working?"}
				</p>
			)}
			{/* A refusal just sent says the same in its alert, next to the form: not said twice (a browser QA pass). */}
			{busy === null || props.error !== undefined ? null : <p>{lineBusyWords(props.k.kind, busy, "form")}</p>}
			{full === null || props.error !== undefined ? null : <p>{atLimitWords(props.k.kind, full, "form")}</p>}
			<form method="post" action={props.action}>
				<ErrorBox message={props.error} />
				{atOnce ? (
					<input type="hidden" name="grace" value="0" />
				) : (
					<fieldset>
						<legend>{identifier ? "Old identifier marked revoked" : "Old key keeps working"}</legend>
						{offered.map((g) => (
							<label>
								<input type="radio" name="grace" value={String(g.seconds)} checked={g.seconds === def} /> {g.label}
								{g.seconds === 0
									? identifier
										? " (old identifier marked revoked at once)"
										: " (old key gets 401 from the next request)"
									: ` (until ${cutOff(props.k, props.now + g.seconds * 1000)})`}
								{/* Not when it is the only choice left (a browser QA pass: "Immediately (the default)" where the default is a day). */}
								{g.seconds === def && !(onlyNow && props.defaultSeconds !== 0) ? " (the default)" : ""}
							</label>
						))}
					</fieldset>
				)}
				<button type="submit">
					{verb} {keyNoun(props.k.kind)}
				</button>{" "}
				<a href={props.cancelHref}>Cancel</a>
			</form>
		</>
	);
}

/** The generate form's expiry choices (`expiry`, and `expiresOn` for a date; see expiryFrom). */
export function ExpiryChoices(props: { expiry?: string; expiresOn?: string; invalid?: Set<string> }) {
	const state = fieldState(props.invalid, "expiresAt");
	return (
		<fieldset>
			<legend>Expires</legend>
			{[
				["7", "In 7 days"],
				["30", "In 30 days"],
				["90", "In 90 days"],
				["never", "Never"],
				["custom", "On a date"],
			].map(([val, label]) => (
				<label>
					<input type="radio" name="expiry" value={val} checked={(props.expiry ?? "never") === val} {...state} /> {label}
				</label>
			))}
			<label>
				Custom date (UTC; from tomorrow)
				<input
					type="date"
					name="expiresOn"
					value={props.expiresOn ?? ""}
					min={new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}
					{...state}
				/>
			</label>
		</fieldset>
	);
}

/**
 * A data table: its caption (for screen readers), its column heads and its rows, in a
 * region that scrolls sideways on a narrow screen (the page itself never does); the region
 * is focusable, so the keyboard can scroll it.
 */
export function DataTable(props: { caption: string; columns: string[]; children?: Child }) {
	return (
		<div class="scroll" role="region" aria-label={props.caption} tabindex={0}>
			<table>
				<caption class="sr-only">{props.caption}</caption>
				<thead>
					<tr>
						{props.columns.map((name) => (
							<th scope="col">{name}</th>
						))}
					</tr>
				</thead>
				<tbody>{props.children}</tbody>
			</table>
		</div>
	);
}

/**
 * A plaintext key, inline in the answer to the POST that made it (or to its page's Show
 * button): a secret key shown once, a public key said to be shown again from its page.
 */
export function SecretBox(props: {
	k: KeyRecord & { key: string };
	label: string;
	sample: SampleCall;
	id: string;
	customer?: boolean;
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	// The line is the same for every key of the API: say when this one cannot pass it (found by a browser QA pass).
	const identifier = props.k.kind === "identifier";
	const lacking = identifier ? [] : props.sample.scopes.filter((scope) => !props.k.scopes.includes(scope));
	return (
		<section class="secret" aria-labelledby={`${props.id}-h`}>
			<h2 id={`${props.id}-h`}>{props.label}</h2>
			{/* A public key's page can show it again (keys/public-key.ts); a secret key is shown once. */}
			{props.k.kind !== "secret" ? (
				<p>
					This {publicNoun(props.k.kind)} is public by design, so its page can show it again while it works (keygate keeps only its hash,
					and derives it again). Masked in lists as <code>{maskedKey(props.k)}</code>.
				</p>
			) : (
				<p>
					Copy it now: keygate keeps only its hash, so it cannot be shown again. Masked from now on as <code>{maskedKey(props.k)}</code>.
				</p>
			)}
			<p>
				Settings: {props.k.name}, {props.k.type} ({props.k.kind}), {environmentName(props.api, props.k.environment)}
				{/* The console's form offers a tier; the confirmation restates it (a browser QA pass). */}
				{props.customer ? "" : `, tier ${props.k.tier}`}; scopes {scopesText(props.k, props.api)}; expires{" "}
				<Time iso={props.k.expiresAt} empty="never" />; IP allowlist {props.k.ipAllowlist?.join(", ") ?? "any address"}
				{props.k.owner && !props.customer ? `; owner ${props.k.owner}` : ""}
				{props.k.service ? `; service ${props.k.service}` : ""}.
			</p>
			<p>
				<code id={props.id} data-secret="">
					{props.k.key}
				</code>
			</p>
			<p>
				{/* Shown by the script, which makes it work: without it the key is selected and copied by hand (found by a browser QA pass). */}
				<button type="button" data-copy={props.id} hidden>
					Copy<span class="sr-only"> {props.label}</span>
				</button>
				<span id={`${props.id}-said`} class="sr-only" role="status" aria-live="polite"></span>
			</p>
			{/* An identifier authorizes nothing alone: a line that can only fail is no line to try (a browser QA pass). */}
			{identifier ? (
				<p>
					This is an identifier: it names the application beside its secret key and authorizes nothing alone, so there is no call to try
					with it. Send it where your application names itself; call the API with the secret key.
				</p>
			) : (
				<>
					<p>Try it:</p>
					<pre>
						<code data-secret="">{`curl ${props.sample.host ? `-H "Host: ${props.sample.host}" ` : ""}-H "${props.sample.field}${props.k.key}" ${props.sample.url}`}</code>
					</pre>
				</>
			)}
			{lacking.length > 0 ? (
				<p>
					This call needs the scope{lacking.length > 1 ? "s" : ""} {lacking.join(", ")}, which this key does not have: it gets 403. The key
					works on the routes its scopes allow.
				</p>
			) : null}
			{props.k.ipAllowlist && !identifier ? (
				<p>This key is accepted only from {props.k.ipAllowlist.join(", ")}: from anywhere else the call gets 403.</p>
			) : null}
		</section>
	);
}

/**
 * On a working public key's page: the button that shows it again (a POST, so no GET ever
 * holds a key, and the answer is never cached). A secret key has none.
 */
export function RevealForm(props: { k: KeyRecord; action: string; now: number }) {
	if (props.k.kind === "secret" || noLongerPossible(props.k, "revoke", props.now)) return null;
	return (
		<form method="post" action={props.action}>
			<button type="submit">Show the {publicNoun(props.k.kind)}</button>
		</form>
	);
}

/** The answer to "Show" when keygate will not show the key (revealKey's refusal, in its words): nothing was shown or changed. */
export function NotShown(props: { k: KeyRecord; message: string; back: string }) {
	return (
		<>
			<h1>Not shown: {props.k.name}</h1>
			<p class="error" role="alert">
				{props.message}
			</p>
			<p>
				<a href={props.back}>Back to the {keyNoun(props.k.kind)}</a>
			</p>
		</>
	);
}

/** A public key shown again: the same box as when it was made, then back to its page. */
export function ShownAgain(props: {
	k: KeyRecord & { key: string };
	sample: SampleCall;
	back: string;
	customer?: boolean;
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	const noun = publicNoun(props.k.kind);
	return (
		<>
			<h1>
				{capitalized(noun)}: {props.k.name}
			</h1>
			<SecretsShown
				secrets={[{ label: `Your ${noun}`, k: props.k }]}
				sample={props.sample}
				savedHref={props.back}
				customer={props.customer}
				api={props.api}
			/>
		</>
	);
}

export function KeySummary(props: { k: KeyRecord }) {
	return (
		<span>
			<a href={`${UI}/keys/${props.k.id}`}>{props.k.name}</a> <code>{maskedKey(props.k)}</code>{" "}
			<span class="muted mono">{shortId(props.k.id)}</span>
		</span>
	);
}

/** The answer to a generate form sent again (a reload of the page that showed the key): nothing made, nothing shown. */
export function AlreadySent(props: { list: string; again: string; againLabel?: string }) {
	return (
		<>
			<h1>This form was already sent</h1>
			<p>
				It made a key, which was shown then. A secret key cannot be shown again: keygate keeps only its hash (a publishable key or an
				identifier can, from its page). Sending the form again made no second key.
			</p>
			<p>
				<a href={props.list}>See your keys</a> (masked) · <a href={props.again}>{props.againLabel ?? "Generate another key"}</a>
			</p>
		</>
	);
}

/** The body of the console's and the portal's 404 page: an address inside them that names nothing. */
export function NothingHere(props: { back: string; label: string }) {
	return (
		<>
			<h1>Not found</h1>
			<p>There is no page at this address.</p>
			<p>
				<a href={props.back}>{props.label}</a>
			</p>
		</>
	);
}

/**
 * An action page (revoke, rotate) opened for a key it no longer applies to: says why,
 * instead of a form whose sending could only be refused.
 */
export function NoLongerPossible(props: { k: KeyRecord; action: "revoke" | "rotate"; base: string; verb?: string }) {
	const { k } = props;
	const keyHref = (id: string) => `${props.base}/keys/${id}`;
	const expired = k.expiresAt !== null && Date.parse(k.expiresAt) <= Date.now();
	return (
		<>
			<h1>
				{props.action === "revoke" ? "Revoke" : (props.verb ?? "Rotate")} {k.name}
			</h1>
			<p role="status">
				{k.revokedAt ? (
					<>
						Nothing to do: this key was revoked <Time iso={k.revokedAt} />.
					</>
				) : expired && props.action === "revoke" ? (
					// Expired, during its rotation's grace or not: the reason it gets 401 is its expiry (a review).
					<>
						Nothing to do: this {keyNoun(k.kind)} expired <Time iso={k.expiresAt} />.
					</>
				) : k.replacedBy && props.action === "revoke" ? (
					// Asked to revoke a key replaced past its grace: what matters is that it already gets 401 (a browser QA pass).
					<>
						Nothing to do: this {keyNoun(k.kind)} was replaced and its grace period has ended
						{k.kind === "identifier" ? ", so it is marked revoked." : ": requests with it already get 401."}{" "}
						<a href={keyHref(k.replacedBy)}>The {keyNoun(k.kind)} that replaced it</a>.
					</>
				) : k.replacedBy && k.kind !== "secret" ? (
					<>
						Nothing to do: this {keyNoun(k.kind)} was already replaced. The page of{" "}
						<a href={keyHref(k.replacedBy)}>the {keyNoun(k.kind)} that replaced it</a> can show it.
					</>
				) : k.replacedBy ? (
					<>
						Nothing to do: this key was already replaced. Its new key was shown once, when it was made, and cannot be shown again (keygate
						keeps only its hash): <a href={keyHref(k.replacedBy)}>the key that replaced it</a>.
					</>
				) : expired ? (
					<>
						Nothing to do: this key expired <Time iso={k.expiresAt} />.
					</>
				) : (
					"Nothing to do."
				)}
			</p>
			<p>
				<a href={keyHref(k.id)}>Back to the key</a>
			</p>
		</>
	);
}

/** True when `action` no longer applies to `k`: a revoked key cannot be revoked again, nor a revoked, replaced or expired one rotated. */
export function noLongerPossible(k: KeyRecord, action: "revoke" | "rotate", now: number): boolean {
	if (k.revokedAt) return true;
	// A key in its rotation grace may still be revoked (ending the grace early); one past it, or expired, no longer
	// authenticates, so a revoke form would promise a 401 it already has (found by a browser pass).
	if (action === "revoke") return keyStatus(k, now).word === "expired";
	return k.replacedBy !== null || (k.expiresAt !== null && Date.parse(k.expiresAt) <= now);
}

/**
 * What the console and the portal answer when something inside fails (a Durable Object or
 * KV cannot be reached): a page, not the gateway's JSON, saying nothing was changed. The
 * action that failed did not complete: every write those pages make is all or nothing.
 */
export function Unavailable(props: { heading?: string; back?: string; message?: string }) {
	return (
		<Page title="Unavailable" heading={props.heading}>
			<h1>Not available right now</h1>
			<p class="error" role="alert">
				{props.message ?? "Something keygate depends on did not answer, so nothing was changed. Try again in a moment."}
			</p>
			{props.back ? (
				<p>
					<a href={props.back}>Back</a>
				</p>
			) : null}
		</Page>
	);
}

/**
 * A key's service or integration, in both generate forms: optional, validated by the admin
 * contract's `service` (so the same refusal), for telling per-service keys apart (issue 14).
 */
export function ServiceField(props: { value?: string; invalid?: Set<string> }) {
	return (
		<label>
			Service or integration (optional)
			<input name="service" maxlength={200} value={props.value ?? ""} {...fieldState(props.invalid, "service")} />
		</label>
	);
}

/** The id of a refused form's message, which its refused fields name in `aria-describedby`. */
export const FORM_ERROR_ID = "form-error";

/** A form field's state after a refusal: marked invalid and described by the message when the refusal names it. */
export const fieldState = (invalid: Set<string> | undefined, field: string): Record<string, string> =>
	invalidIf(invalid?.has(field) === true);

/** A field marked invalid and described by the form's message, when `refused`. */
export const invalidIf = (refused: boolean): Record<string, string> =>
	refused ? { "aria-invalid": "true", "aria-describedby": FORM_ERROR_ID } : {};

export function ErrorBox(props: { message?: string; id?: string }) {
	if (!props.message) return null;
	return (
		<p class="error" role="alert" id={props.id}>
			{props.message}
		</p>
	);
}

/** The delete page (console and portal): its heading and confirmation; `typed`, a name that did not match, kept. */
export function DeletePage(props: { k: KeyRecord; base: string; typed?: string }) {
	return (
		<>
			<h1>Delete {props.k.name}?</h1>
			<DeleteForm
				k={props.k}
				base={props.base}
				typed={props.typed}
				error={props.typed === undefined ? undefined : "The name typed does not match; nothing was deleted."}
			/>
		</>
	);
}

/** The name typed to confirm a delete, when it is the key's (spaces around it are not part of it; inner ones are); else what was typed. */
export function typedName(form: Record<string, unknown>, k: KeyRecord): { matches: boolean; typed: string } {
	const typed = typeof form.confirm === "string" ? form.confirm : "";
	return { matches: typed.trim() === k.name.trim(), typed };
}

/** The delete confirmation (console and portal): what deleting changes for requests, and the key's name typed to confirm. */
export function DeleteForm(props: { k: KeyRecord; base: string; error?: string; typed?: string }) {
	const noun = keyNoun(props.k.kind);
	return (
		<form method="post" action={`${props.base}/keys/${props.k.id}/delete`}>
			<ErrorBox message={props.error} id={FORM_ERROR_ID} />
			{props.k.kind === "identifier" ? (
				<p>
					<code>{maskedKey(props.k)}</code> disappears from every list. {IDENTIFIER_UNCHANGED} Its audit events stay.
				</p>
			) : noLongerPossible(props.k, "revoke", Date.now()) ? (
				// Revoked, expired or replaced past its grace: it gets 401 already (a browser QA pass: "from the next request").
				<p>
					Requests with <code>{maskedKey(props.k)}</code> already get 401; the key disappears from every list. Its audit events stay.
				</p>
			) : (
				<p>
					Requests with <code>{maskedKey(props.k)}</code> get 401 from the next request, and the key disappears from every list. Its audit
					events stay.
				</p>
			)}
			<label>
				Type the {noun}'s name, <strong>{props.k.name}</strong>, to confirm
				<input name="confirm" autocomplete="off" required value={keptValue(props.typed ?? "")} {...invalidIf(props.error !== undefined)} />
			</label>
			<button type="submit" class="danger">
				Delete {noun}
			</button>{" "}
			<a href={`${props.base}/keys/${props.k.id}`}>Cancel</a>
		</form>
	);
}

/** On the list a delete lands on: what was deleted, and what that changed for requests. */
export function DeletedNotice(props: { done: string | undefined; kind: string | undefined }) {
	if (props.done !== "deleted") return null;
	return (
		<p class="notice" role="status">
			{props.kind === "identifier"
				? "The identifier was deleted. It authorized nothing alone: requests that send it beside a secret key pass as before."
				: "The key was deleted: requests with it get 401."}
		</p>
	);
}
