/**
 * What the console's page files share: the console's Hono environment, its page frame,
 * and the audit events table (a key's page and the audit page both show one).
 */
import type { Context } from "hono";
import type { ACTOR_TYPES, AuditEvent } from "../admin/contract";
import type { Services } from "../admin/service";
import type { CompiledApi } from "../config/load";
import type { Bindings } from "../env";
import { DataTable, NothingHere, Page, Time, UI } from "./layout";
import type { UiSession } from "./session";

export type UiEnv = { Bindings: Bindings; Variables: { services: Services; session: UiSession; sessionToken: string } };

export const page = (c: Context<UiEnv>, title: string, body: unknown, status: 200 | 400 | 403 | 404 | 409 | 503 = 200) =>
	c.html(
		<Page title={title} signedIn here={c.req.path}>
			{body as never}
		</Page>,
		status,
	);

/** An address inside the console that names nothing (an unknown API, a mistyped path): a page, not the gateway's JSON. */
export const missing = (c: Context<UiEnv>) => page(c, "Not found", <NothingHere back={`${UI}/`} label="Back to the APIs" />, 404);

export function apiOf(c: Context<UiEnv>, name: string): CompiledApi | undefined {
	return c.var.services.config.apis.find((a) => a.name === name);
}

/** How an actor came in, as the audit page names it. */
export const ACTOR_TYPE_LABELS: Record<(typeof ACTOR_TYPES)[number], string> = {
	token: "Admin token",
	console: "Console session",
	portal: "Portal owner",
	system: "System",
};

/** A wrong token is nobody's session: its event is named as the failed attempt it was. */
const actorLabel = (e: AuditEvent) =>
	e.action === "admin.auth_failed"
		? e.actorType === "console"
			? "Failed console sign-in"
			: "Failed admin token"
		: (ACTOR_TYPE_LABELS[e.actorType] ?? e.actorType);

export function EventsTable(props: { events: AuditEvent[]; caption: string }) {
	return (
		<DataTable caption={props.caption} columns={["Time", "Actor", "Action", "Target", "Details", "IP"]}>
			{props.events.map((e) => (
				<tr>
					<td>
						<Time iso={e.at} />
					</td>
					<td>
						{e.actor} <span class="muted">({actorLabel(e)})</span>
					</td>
					<td>{e.action}</td>
					<td>
						{e.keyId ? (
							<a href={`${UI}/keys/${e.keyId}`} class="mono">
								{e.keyId}
							</a>
						) : (
							(e.owner ?? e.api ?? "")
						)}
					</td>
					<td class="mono details">{JSON.stringify(e.details)}</td>
					<td>{typeof e.details.ip === "string" ? e.details.ip : ""}</td>
				</tr>
			))}
		</DataTable>
	);
}
