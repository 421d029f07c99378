/** The portal's rotation: its page (the graces this API offers) and its POST, within the key limit and the two-key rule. */
import { type Context, Hono } from "hono";
import { predecessorWorksUntil, rotateKey, RotationRefused } from "../admin/service";
import { type KeyRecord } from "../keys/record";
import { PORTAL } from "./layout";
import { NoLongerPossible, noLongerPossible, RotatedNotice, RotateForm } from "./key-changes";
import { SecretsShown } from "./secrets";
import { counted, ownKey, ownKeys, page, type PortalEnv, rotationOffer, withinLimit } from "./portal-shared";
import { atLimitWords, graceChoices, keyNoun, lineBusyWords, newKeyLabel } from "./present";
import { sampleCall } from "./sample";

export const rotatePages = new Hono<PortalEnv>();

/** The rotate page when this API offers no "Immediately" and nothing it offers can work yet. */
function notYet(c: Context<PortalEnv>, k: KeyRecord, why: string, status: 200 | 400 | 409 = 200) {
	return page(
		c,
		`${c.var.api.portal.labels.rotate} ${k.name}`,
		<>
			<h1>
				{c.var.api.portal.labels.rotate} {k.name}?
			</h1>
			<p>{why}</p>
			<p>
				<a href={`${PORTAL}/keys/${k.id}`}>Back to the key</a>
			</p>
		</>,
		status,
	);
}

rotatePages.get("/keys/:id/rotate", async (c) => {
	const k = await ownKey(c);
	const { grace, graces } = rotationOffer(c.var.api);
	const now = Date.now();
	if (noLongerPossible(k, "rotate", now))
		return page(
			c,
			`${c.var.api.portal.labels.rotate} ${k.name}`,
			<NoLongerPossible k={k} action="rotate" base={PORTAL} verb={c.var.api.portal.labels.rotate} />,
		);
	const busy = await predecessorWorksUntil(c.var.services, k.id).catch(() => null); // the POST still refuses a grace; the page need not fail with a lookup
	// At the key limit a grace needs room for one more live key, which the POST would refuse (found by a peer and a browser QA pass).
	const max = c.var.api.portal.maxKeysPerOwner;
	// Nothing to say where every choice is "Immediately" (Novu): no grace to make room for (a browser QA pass: it said to revoke a key first).
	const offersGrace = graceChoices(grace, graces).some((g) => g.seconds > 0);
	const mine = await ownKeys(c);
	const inCount = counted(c.var.api, mine, now);
	const full = offersGrace && inCount.some((key) => key.id === k.id) && inCount.length >= max ? max : null;
	// This API offers no "Immediately": nothing to choose until there is room, or the older key's grace ends.
	if (graces !== undefined && !graces.includes(0)) {
		if (full !== null) return notYet(c, k, atLimitWords(k.kind, full, "later"));
		if (busy !== null) return notYet(c, k, lineBusyWords(k.kind, busy, "later"));
	}
	return rotatePage(c, k, { grace, graces }, { now, busy, full });
});

/** The rotate form in the portal's words (its `labels.rotate`), with the graces this API offers. */
function rotatePage(
	c: Context<PortalEnv>,
	k: KeyRecord,
	offered: { grace: number; graces: number[] | undefined },
	state: { now: number; busy: number | null; full: number | null; error?: string },
	status: 200 | 400 | 409 = 200,
) {
	return page(
		c,
		`${c.var.api.portal.labels.rotate} ${k.name}`,
		<RotateForm
			verb={c.var.api.portal.labels.rotate}
			k={k}
			action={`${PORTAL}/keys/${k.id}/rotate`}
			cancelHref={`${PORTAL}/keys/${k.id}`}
			defaultSeconds={offered.grace}
			choices={offered.graces}
			now={state.now}
			lineBusyUntil={state.busy}
			atKeyLimit={state.full}
			error={state.error}
		/>,
		status,
	);
}

rotatePages.post("/keys/:id/rotate", async (c) => {
	const k = await ownKey(c);
	const form = await c.req.parseBody();
	const grace = Number(form.grace);
	const offered = rotationOffer(c.var.api);
	if (noLongerPossible(k, "rotate", Date.now()))
		return page(
			c,
			`${c.var.api.portal.labels.rotate} ${k.name}`,
			<NoLongerPossible k={k} action="rotate" base={PORTAL} verb={c.var.api.portal.labels.rotate} />,
			409,
		);
	// With a grace, the old key keeps working beside the new one: one more live key, so
	// within the limit (otherwise rotating again and again would hold any number).
	const rotate = async () => {
		const r = await rotateKey(c.var.services, k.id, grace);
		return { made: r, ids: [r.created.record.id] };
	};
	// Refused in the page's words, on the form again with only what can work (found by a browser QA pass: the admin API's wording).
	const again = (status: 400 | 409, error: string, busy: number | null, full: number | null) =>
		// With no "Immediately" on offer, a form offering only it would be refused too (a review): the page that says when instead.
		offered.graces !== undefined && !offered.graces.includes(0) && (busy !== null || full !== null)
			? notYet(c, k, full !== null ? atLimitWords(k.kind, full, "later") : lineBusyWords(k.kind, busy!, "later"), status)
			: rotatePage(c, k, offered, { now: Date.now(), busy, full, error }, status);
	// A grace the form does not offer (sent by hand; the offer is within keys.maxRotationGraceSeconds): refused with the
	// form again, in its words (a browser regression pass: a bare "Nothing was changed" page).
	if (!graceChoices(offered.grace, offered.graces).some((g) => g.seconds === grace))
		return again(400, `Not rotated: choose one of the times offered here for the old ${keyNoun(k.kind)}.`, null, null);
	// A rotation without a grace adds no key; an identifier's beside a live key of its pair adds none that counts.
	// As the form decides (counted()): only a key that counts needs room for its successor during a grace.
	const mine = grace > 0 ? await ownKeys(c) : [];
	const needsRoom = counted(c.var.api, mine, Date.now()).some((key) => key.id === k.id);
	let rotated: Awaited<ReturnType<typeof rotate>>["made"] | null;
	try {
		rotated = needsRoom ? await withinLimit(c, 1, rotate, mine) : (await rotate()).made;
	} catch (e) {
		// The two-key rule in the page's words, on the form again (a browser QA pass); the slot withinLimit held is freed.
		if (e instanceof RotationRefused && e.rule.name === "line_busy")
			return again(409, lineBusyWords(k.kind, e.rule.until, "refused"), e.rule.until, null);
		throw e;
	}
	if (rotated === null) {
		const max = c.var.api.portal.maxKeysPerOwner;
		return again(
			400,
			`You may hold at most ${max} working keys, and a key in its rotation grace still counts. Rotate with "Immediately", or revoke a key first.`,
			null,
			max,
		);
	}
	const { created, previous } = rotated;
	return page(
		c,
		c.var.api.portal.labels.rotated,
		<>
			<RotatedNotice previous={previous} grace={grace} heading={c.var.api.portal.labels.rotated} />
			<SecretsShown
				customer
				secrets={[
					{
						label: newKeyLabel(created.record.kind),
						k: { ...created.record, key: created.key },
					},
				]}
				sample={sampleCall(c.req.url, c.var.api, created.record.environment)}
				savedHref={`${PORTAL}/`}
				api={c.var.api}
			/>
		</>,
	);
});
