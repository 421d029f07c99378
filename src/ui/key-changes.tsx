/** The pages and forms that change a key: rotate, revoke, delete, and the notices they land on. */
import type { KeyRecord } from "../keys/record";
import { ErrorBox, FORM_ERROR_ID, invalidIf, Time } from "./layout";
import { atLimitWords, keptValue, formatTime, graceChoices, keyNoun, keyStatus, lineBusyWords, maskedKey, worksUntil } from "./present";

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

/**
 * What ending an application identifier (Novu's `app_…`) changes for requests: nothing, since it
 * authorizes nothing alone and is passed on as sent beside a secret key (found by a seed-page pass:
 * its revoke page promised a 401 it never had).
 */
const IDENTIFIER_UNCHANGED =
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
function DeleteForm(props: { k: KeyRecord; base: string; error?: string; typed?: string }) {
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
