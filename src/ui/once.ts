import { randomId } from "../keys/crypto";
import { logEvent } from "../util/log";

/**
 * A generate form is sent once. Its answer shows the new secret inline (never through a
 * redirect, so the page cannot Post/Redirect/Get), which means a reload or "Confirm Form
 * Resubmission" would send the form again and make a second key, shown to whoever is at
 * the screen. Each rendered form therefore carries a random `once` value; a form whose
 * value has made (or is making) a key is answered "already sent" and makes nothing.
 *
 * KV: `form-sent:<once>` -> "1", expiring after a day (a page left open longer gets a new
 * form on any refusal). A request without the field (a script posting the form directly)
 * is not protected this way and is not refused.
 */
export const ONCE_FIELD = "once";
const ONCE = /^once_[0-9A-Za-z]{22}$/;
const SENT_TTL_SECONDS = 86_400;

export const newOnce = (): string => randomId("once");

/** The form's `once` value when well formed; anything else is treated as absent. */
export function onceOf(form: Record<string, unknown>): string | undefined {
	// Sent twice (by hand: a browser never does), the first value counts.
	const raw = form[ONCE_FIELD];
	const v = Array.isArray(raw) ? raw[0] : raw;
	return typeof v === "string" && ONCE.test(v) ? v : undefined;
}

/** True when this form already made a key. A KV failure reads as "not sent": the form's own checks still run. */
async function alreadySent(kv: KVNamespace, once: string | undefined): Promise<boolean> {
	if (!once) return false;
	try {
		return (await kv.get(`form-sent:${once}`)) !== null;
	} catch (e) {
		logEvent("kv_failed", { step: "form once check", error: String(e) });
		return false;
	}
}

/**
 * Claims the form just before it makes its key: false when it was already sent. The claim
 * is written first, so a second send that arrives while the first is still making its key
 * finds it; KV has no compare-and-set, so two sends within the same few milliseconds can
 * still both pass (the page's script sends a form once; this guards reloads and resubmits).
 */
export async function claim(kv: KVNamespace, once: string | undefined): Promise<boolean> {
	if (!once) return true;
	if (await alreadySent(kv, once)) return false;
	try {
		await kv.put(`form-sent:${once}`, "1", { expirationTtl: SENT_TTL_SECONDS });
	} catch (e) {
		logEvent("kv_failed", { step: "form once record", error: String(e) });
	}
	return true;
}

/** Gives the claim back when the form made nothing (refused), so the same form may be sent again once corrected. */
export async function release(kv: KVNamespace, once: string | undefined): Promise<void> {
	if (!once) return;
	try {
		await kv.delete(`form-sent:${once}`);
	} catch (e) {
		logEvent("kv_failed", { step: "form once release", error: String(e) });
	}
}
