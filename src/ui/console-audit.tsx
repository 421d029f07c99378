/** The console's audit log: `/audit` (filters, pages) and `/audit.json` (the export). */
import { Hono } from "hono";
import { listAudit, parseAuditQuery } from "../admin/audit";
import { ACTOR_TYPES, AUDIT_ACTIONS, type AuditEvent } from "../admin/contract";
import type { Services } from "../admin/service";
import { ErrorBox, FORM_ERROR_ID, invalidIf, UI } from "./layout";
import { paramsHoldKey, pastedKeyNotice, realDate } from "./present";
import { awayFromKey, pastedKey } from "./data";
import { ACTOR_TYPE_LABELS, EventsTable, page, type UiEnv } from "./console-shared";

export const auditPages = new Hono<UiEnv>();

/**
 * A date filter: a date picker for a plain date; a text field for anything else the
 * address holds (an RFC 3339 time, or a mistake), so what is in force is shown and kept.
 */
function DateFilter(props: { name: string; value: string; invalid: boolean }) {
	// A real calendar date only: a date picker given 2026-13-45 shows it blank, hiding the mistake (found by a browser QA pass).
	const plain = props.value === "" || realDate(props.value) !== undefined;
	const state = invalidIf(props.invalid);
	return <input name={props.name} type={plain ? "date" : "text"} value={props.value} {...state} />;
}

/** The audit filters' labels, for a refusal in the page's words (the admin API's message names its query parameters). */
const AUDIT_FILTER_LABELS: Record<string, string> = { keyId: "Key id", action: "Action", actorType: "Actor type", from: "From", to: "To" };

/** The filters a refusal names, and the refusal in the filter form's words. */
function auditRefusal(message: string): { fields: Set<string>; text: string } {
	if (message === "from must be before to.")
		return { fields: new Set(["from", "to"]), text: "From must be before To (both in UTC; To takes in its whole day)." };
	const field = /^(keyId|action|actorType|from|to|cursor):/.exec(message)?.[1];
	if (!field || field === "cursor") return { fields: new Set(), text: message };
	return { fields: new Set([field]), text: `${AUDIT_FILTER_LABELS[field]}:${message.slice(field.length + 1)}` };
}

/**
 * Every refused filter, not only the first the query parser meets: each filter is checked
 * on its own, so two mistakes are named and marked at once (found by a browser QA pass: the
 * second came to light only after the first was fixed). What only the whole query refuses
 * (From not before To, a cursor) is named as the parser named it.
 */
function auditRefusals(params: URLSearchParams, message: string): { fields: Set<string>; text: string } {
	const each = Object.keys(AUDIT_FILTER_LABELS).flatMap((name) => {
		const alone = new URLSearchParams();
		for (const value of params.getAll(name)) alone.append(name, value);
		const parsed = parseAuditQuery(alone);
		return parsed.ok ? [] : [auditRefusal(parsed.message)];
	});
	if (each.length === 0) return auditRefusal(message);
	return { fields: new Set(each.flatMap((r) => [...r.fields])), text: each.map((r) => r.text).join(" ") };
}

/** The audit filters from the address: a page, or the reason a filter was refused (the page then lists nothing). */
async function auditPage(s: Services, params: URLSearchParams) {
	const parsed = parseAuditQuery(params);
	if (!parsed.ok) return { error: parsed.message, data: [] as AuditEvent[], cursor: null };
	const got = await listAudit(s.kv, parsed.query);
	return { error: undefined, data: got.data, cursor: got.cursor };
}

auditPages.get("/audit", async (c) => {
	const params = new URL(c.req.url).searchParams;
	// A whole key in the key id field: its key's events, else a notice; never echoed.
	const pasted = await pastedKey(c.var.services, params.get("keyId"));
	if (pasted) {
		params.set("keyId", pasted.id);
		params.delete("cursor");
		return c.redirect(`${UI}/audit?${params}`, 303);
	}
	if (pasted === null) return c.redirect(awayFromKey(`${UI}/audit`, params, ["cursor"]), 303);
	// A key in any other filter (From, To, Action…) is never echoed into the form or a link either (a second probe).
	// Not the cursor: base64url JSON always holds a run of both cases, and readCursor checks it (a review: "Older events" led to the notice).
	if (paramsHoldKey(params, ["keyId"])) return c.redirect(awayFromKey(`${UI}/audit`, params, ["cursor"]), 303);
	const wasKey = params.get("pasted") === "1";
	if (wasKey) params.delete("keyId");
	params.delete("pasted");
	const found = await auditPage(c.var.services, params);
	const { data, cursor } = found;
	const refusal = found.error === undefined ? undefined : auditRefusals(params, found.error);
	const error = refusal?.text;
	const filterState = (name: string) => invalidIf(refusal?.fields.has(name) === true);
	// The key id filter was dropped (it held a key): the events below are every key's, and the notice says so (found by a browser QA pass).
	const notice = wasKey
		? pastedKeyNotice("Key id takes a key's id (key_…), as the key's page shows it. The events below are not filtered by key.")
		: undefined;
	const value = (name: string) => (params.get(name) ?? "").trim();
	const next = new URLSearchParams(params);
	if (cursor) next.set("cursor", cursor);
	const first = new URLSearchParams(params);
	first.delete("cursor");
	const withAll = new URLSearchParams(first);
	withAll.set("all", "1");
	return page(
		c,
		"Audit log",
		<>
			<h1>Audit log</h1>
			<form method="get" class="filters" role="search" data-find={`${UI}/find-key?back=${encodeURIComponent(`${UI}/audit`)}`}>
				<label>
					Key id
					<input name="keyId" value={value("keyId")} {...filterState("keyId")} />
				</label>
				<label>
					Action
					<select name="action" {...filterState("action")}>
						<option value="">Any</option>
						{AUDIT_ACTIONS.map((a) => (
							<option value={a} selected={value("action") === a}>
								{a}
							</option>
						))}
					</select>
				</label>
				<label>
					Actor type
					<select name="actorType" {...filterState("actorType")}>
						<option value="">Any</option>
						{ACTOR_TYPES.map((t) => (
							<option value={t} selected={value("actorType") === t}>
								{ACTOR_TYPE_LABELS[t]}
							</option>
						))}
					</select>
				</label>
				<label>
					From (UTC)
					<DateFilter name="from" value={value("from")} invalid={!!refusal?.fields.has("from")} />
				</label>
				<label>
					To (UTC, inclusive)
					<DateFilter name="to" value={value("to")} invalid={!!refusal?.fields.has("to")} />
				</label>
				<button type="submit">Apply</button>
			</form>
			{error ? <ErrorBox message={`${error} No events are listed until it is corrected.`} id={FORM_ERROR_ID} /> : null}
			<ErrorBox message={notice} />
			<p hidden={!!error}>
				<a href={`${UI}/audit.json?${params}`}>Export this page as JSON</a> ·{" "}
				<a href={`${UI}/audit.json?${withAll}`}>Export all matching events as JSON</a> (up to 500 at a time)
			</p>
			<EventsTable events={data} caption="Audit events, newest first" />
			{data.length === 0 && !error ? <p>No events match these filters{params.has("cursor") ? " on this page" : ""}.</p> : null}
			<nav aria-label="Pages">
				{params.has("cursor") ? <a href={`${UI}/audit?${first}`}>Newest events</a> : null}{" "}
				{cursor ? <a href={`${UI}/audit?${next}`}>Older events</a> : null}
			</nav>
		</>,
		error ? 400 : 200,
	);
});

/** Pages one export follows: up to 500 events, and about 560 KV operations, well inside a Worker's per-request limit. */
const EXPORT_PAGES = 10;

/**
 * This page's events as JSON; with `all=1`, every event the filters match from here on,
 * following cursors for up to EXPORT_PAGES pages, and the cursor to go on from.
 */
auditPages.get("/audit.json", async (c) => {
	const params = new URL(c.req.url).searchParams;
	const parsed = parseAuditQuery(params);
	if (!parsed.ok) return c.json({ error: "invalid_request", message: parsed.message }, 400);
	const pages = params.get("all") === "1" ? EXPORT_PAGES : 1;
	const data: AuditEvent[] = [];
	let cursor: string | null = parsed.query.cursor ?? null;
	for (let i = 0; i < pages; i++) {
		const got = await listAudit(c.var.services.kv, { ...parsed.query, cursor: cursor ?? undefined });
		data.push(...got.data);
		cursor = got.cursor;
		if (!cursor) break;
	}
	c.header("Content-Disposition", 'attachment; filename="keygate-audit.json"');
	return c.json({ data, cursor });
});
