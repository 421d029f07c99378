import type { Authority } from "../authority/client";
import { randomId } from "../keys/crypto";
import { logEvent } from "../util/log";

/**
 * A generate form is sent once. Its answer shows the new secret inline (never through a
 * redirect, so the page cannot Post/Redirect/Get), which means a reload or "Confirm Form
 * Resubmission" would send the form again and make a second key, shown to whoever is at
 * the screen. Each rendered form therefore carries a random `once` value; a form whose
 * value has made (or is making) a key is answered "already sent" and makes nothing.
 *
 * The claim lives a day (a page left open longer gets a new form on any refusal). A
 * request without the field (a script posting the form directly) is not protected this
 * way and is not refused.
 */
export const ONCE_FIELD = "once";
const ONCE = /^once_[0-9A-Za-z]{22}$/;
const SENT_TTL_MS = 86_400_000;

export const newOnce = (): string => randomId("once");

/** The form's `once` value when well formed; anything else is treated as absent. */
export function onceOf(form: Record<string, unknown>): string | undefined {
	// Sent twice (by hand: a browser never does), the first value counts.
	const raw = form[ONCE_FIELD];
	const v = Array.isArray(raw) ? raw[0] : raw;
	return typeof v === "string" && ONCE.test(v) ? v : undefined;
}

/**
 * Claims the form just before it makes its key: false when it was already sent. The claim
 * is decided in a Durable Object (OwnerRoles.claimForm: the console's per API, a customer's
 * in its owner's object), one call at a time, so of two sends of one form, however close,
 * exactly one goes on. If that object cannot be reached the call throws and the page
 * answers 503 with nothing made.
 */
export async function claim(authority: Authority, api: string, owner: string, once: string | undefined): Promise<boolean> {
	if (!once) return true;
	const now = Date.now();
	return authority.claimForm(api, owner, once, now + SENT_TTL_MS, now);
}

/** Gives the claim back when the form made nothing (refused), so the same form may be sent again once corrected. */
export async function release(authority: Authority, api: string, owner: string, once: string | undefined): Promise<void> {
	if (!once) return;
	try {
		await authority.releaseForm(api, owner, once);
	} catch (e) {
		// The form stays claimed: sent again, it answers "already sent", and a fresh form works.
		logEvent("form_release_failed", { error: String(e) });
	}
}
