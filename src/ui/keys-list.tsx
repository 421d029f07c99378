import type { CompiledApi } from "../config/load";
import type { ListedKey } from "./data";
import { Sparkline } from "./charts";
import { DataTable, Status, Time } from "./layout";
import { SORTS, environmentName, maskedKey, shortId, type KeyQuery } from "./present";

const STATUSES = [
	["", "Any"],
	["active", "Active"],
	["soon", "Expires soon"],
	["rotating", "Rotating"],
	["revoked", "Revoked"],
	// A rotated key past its grace shows "Replaced" and is listed under this one (found by a browser QA pass: no filter found it).
	["expired", "Expired or replaced"],
] as const;

/** The keys list's search, filters and sort: one GET form, the same in the console and the portal. */
/** `find`: where the page's script sends a whole key typed into the search instead (a POST, so it never enters the address). */
export function KeysFilter(props: { action: string; find: string; query: KeyQuery; api: CompiledApi }) {
	const { query } = props;
	return (
		<form method="get" action={props.action} class="filters" role="search" data-find={props.find}>
			<label>
				Search
				<input type="search" name="q" value={query.q} placeholder="name, id, prefix or last 4" />
			</label>
			<label>
				Status
				<select name="status">
					{STATUSES.map(([v, l]) => (
						<option value={v} selected={query.status === v}>
							{l}
						</option>
					))}
				</select>
			</label>
			<label>
				Environment
				<select name="environment">
					<option value="">Any</option>
					{Object.keys(props.api.environments).map((e) => (
						<option value={e} selected={query.environment === e}>
							{environmentName(props.api, e)}
						</option>
					))}
				</select>
			</label>
			<label>
				Sort
				<select name="sort">
					{SORTS.map(([v, l]) => (
						<option value={v} selected={query.sort === v}>
							{l}
						</option>
					))}
				</select>
			</label>
			<label>
				Order
				<select name="order">
					<option value="desc" selected={query.order === "desc"}>
						Newest / Z first
					</option>
					<option value="asc" selected={query.order === "asc"}>
						Oldest / A first
					</option>
				</select>
			</label>
			<button type="submit">Apply</button>
		</form>
	);
}

/** The keys table both halves show; `href` is where a key's name links to. */
export function KeysTable(props: {
	rows: ListedKey[];
	now: number;
	caption: string;
	href: (id: string) => string;
	/** Names each key's environment by its label (environmentName). */
	api: Pick<CompiledApi, "environments">;
}) {
	return (
		<DataTable
			caption={props.caption}
			columns={[
				"Name",
				"Id",
				"Key",
				"Type",
				"Environment",
				"Scopes",
				"Created",
				"Last used",
				"Requests",
				"Last 36 hours",
				"Expires",
				"Status",
			]}
		>
			{props.rows.map(({ k, usage }) => (
				<tr data-key-id={k.id}>
					{/* The row's header, and a link name that tells two keys of one name apart (a rotation, a pair): found by a browser QA pass. */}
					<th scope="row" class="name">
						<a href={props.href(k.id)}>
							{k.name}
							<span class="sr-only"> ({maskedKey(k)})</span>
						</a>
						{/* Under the name rather than a thirteenth column: per-service keys told apart at a glance (issue 14). */}
						{k.service ? <span class="muted service">{k.service}</span> : null}
					</th>
					<td class="mono">{shortId(k.id)}</td>
					<td>
						<code>{maskedKey(k)}</code>
					</td>
					<td>{k.type}</td>
					<td>{environmentName(props.api, k.environment)}</td>
					<td>{k.scopes.join(", ") || <span class="muted">none</span>}</td>
					<td>
						<Time iso={k.createdAt} />
					</td>
					<td>{usage ? <Time iso={usage.lastUsedAt} empty="Never used" /> : <span class="muted">unknown</span>}</td>
					<td>{usage ? usage.requests : ""}</td>
					<td>{usage ? <Sparkline history={usage.history} now={props.now} /> : <span class="muted">usage unavailable</span>}</td>
					<td>
						<Time iso={k.expiresAt} empty="Never" />
					</td>
					<td>
						<Status k={k} now={props.now} />
					</td>
				</tr>
			))}
		</DataTable>
	);
}

/** The count, the table and the pages of a keys list; `link` keeps the query and sets the page. */
export function KeysList(props: {
	listed: { rows: ListedKey[]; total: number; pages: number };
	page: number;
	now: number;
	caption: string;
	href: (id: string) => string;
	link: (page: number) => string;
	api: Pick<CompiledApi, "environments">;
}) {
	const { listed } = props;
	const current = Math.min(props.page, listed.pages);
	return (
		<>
			<p>
				{listed.total} {listed.total === 1 ? "key" : "keys"}; page {current} of {listed.pages}
			</p>
			<KeysTable rows={listed.rows} now={props.now} caption={props.caption} href={props.href} api={props.api} />
			<nav aria-label="Pages">
				{current > 1 ? <a href={props.link(current - 1)}>Previous page</a> : null}{" "}
				{current < listed.pages ? <a href={props.link(current + 1)}>Next page</a> : null}
			</nav>
		</>
	);
}
