import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import type { KeyRecord } from "../keys/record";
import { CSS_PATH, JS_PATH } from "./static";
import { formatTime, keyStatus } from "./present";

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

/** A 403 page of the console or the portal (`heading`: the portal's "API keys"): what was refused, and that nothing changed. */
export function Refused(props: { message: string; heading?: string }) {
	return (
		<Page title="Refused" heading={props.heading}>
			<h1>Refused</h1>
			<p>{props.message}</p>
		</Page>
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
