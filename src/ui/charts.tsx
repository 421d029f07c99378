import type { Child } from "hono/jsx";
import type { UsageView } from "../admin/contract";
import { HOUR_MS, dense, requests, totals, type HourBucket } from "../authority/usage-history";
import { outcomeLabel } from "./present";

/** A key's usage on its detail page: the last 24 h / 7 d / 30 d, and since creation, by outcome. */
export function UsageSections(props: { usage: UsageView; now: number }) {
	return (
		<>
			<h2>Usage over 24 hours, 7 days and 30 days, by outcome</h2>
			<HistoryChart history={props.usage.history} now={props.now} />
			<h2>Usage since creation, by outcome</h2>
			<UsageChart passed={props.usage.passed} rejected={props.usage.rejected} />
		</>
	);
}

/**
 * A chart at its own size in a focusable region that scrolls sideways on a narrow screen:
 * shrunk to fit a phone, its labels would be 5 px. Sighted users scroll it; the table
 * beside it serves screen readers.
 */
function ChartFrame(props: { label: string; children?: Child }) {
	return (
		<div class="scroll" role="region" aria-label={`${props.label} (chart)`} tabindex={0}>
			{props.children}
		</div>
	);
}

/** Usage by outcome as a server-rendered SVG bar chart, with the same numbers in a visually hidden table. */
function UsageChart(props: { passed: number; rejected: Record<string, number> }) {
	const rows: [string, number][] = [["passed", props.passed], ...Object.entries(props.rejected)];
	const max = Math.max(1, ...rows.map(([, n]) => n));
	return (
		<figure>
			<ChartFrame label="Requests by outcome">
				<svg
					class="chart"
					role="img"
					aria-label="Requests by outcome"
					width="420"
					height={rows.length * 24 + 4}
					viewBox={`0 0 420 ${rows.length * 24 + 4}`}
				>
					{rows.map(([label, n], i) => (
						<g>
							<text x="0" y={i * 24 + 16} font-size="12">
								{outcomeLabel(label)}
							</text>
							<Bar label={label} x={150} y={i * 24 + 4} width={Math.round((n / max) * 200)} />
							<text x={156 + Math.round((n / max) * 200)} y={i * 24 + 16} font-size="12">
								{n}
							</text>
						</g>
					))}
				</svg>
			</ChartFrame>
			<OutcomeTable caption="Requests by outcome" rows={rows.map(([label, n]) => [label, [n]])} />
		</figure>
	);
}

/** A chart's numbers for screen readers: an outcome per row, a column per period (none named: one column of counts). */
function OutcomeTable(props: { caption: string; columns?: string[]; rows: [string, number[]][] }) {
	return (
		<div class="sr-only">
			<table>
				<caption>{props.caption}</caption>
				{props.columns ? (
					<thead>
						<tr>
							<th scope="col">Outcome</th>
							{props.columns.map((name) => (
								<th scope="col">{name}</th>
							))}
						</tr>
					</thead>
				) : null}
				<tbody>
					{props.rows.map(([label, ns]) => (
						<tr>
							<th scope="row">{outcomeLabel(label)}</th>
							{ns.map((n) => (
								<td>{thousands(n)}</td>
							))}
						</tr>
					))}
				</tbody>
			</table>
		</div>
	);
}

/** One outcome's bar: green for passed, red for any refusal (classes for forced colours). */
function Bar(props: { label: string; x: number; y: number; width: number }) {
	const passed = props.label === "passed";
	return (
		<rect x={props.x} y={props.y} height="16" width={props.width} fill={passed ? "#116329" : "#a40e26"} class={passed ? "pass" : "bad"} />
	);
}

/** 1234567 as "1,234,567", the same wherever the Worker runs. */
const thousands = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");

/** The admin API's history (ISO hour starts) back as hour buckets. */
const buckets = (history: UsageView["history"]): HourBucket[] =>
	history.map((b) => ({ hour: Math.floor(Date.parse(b.hourStart) / HOUR_MS), passed: b.passed, rejected: b.rejected }));

const SPARK_HOURS = 36;

/**
 * The last 36 hours, one bar per UTC hour (refusals in red on top of passes), and the
 * total. In forced colours the bars take system colours (static.ts), or they would keep
 * fixed ones under 3:1 against a dark theme (a browser QA pass). Server-rendered SVG attributes only: the CSP allows no inline style.
 */
export function Sparkline(props: { history: UsageView["history"]; now: number }) {
	const hours = dense(buckets(props.history), props.now, SPARK_HOURS);
	const total = hours.reduce((t, b) => t + requests(b), 0);
	const max = Math.max(1, ...hours.map(requests));
	const refused = total - hours.reduce((t, b) => t + b.passed, 0);
	// The refusals by number too: in red alone they are a colour, which forced colours and some eyes do not see (a browser QA pass).
	const label = `${thousands(total)} requests in the last 36 hours${refused > 0 ? `, ${thousands(refused)} refused` : ""}`;
	const H = 20;
	return (
		<span class="spark">
			<svg role="img" aria-label={label} width={SPARK_HOURS * 3} height={H} viewBox={`0 0 ${SPARK_HOURS * 3} ${H}`} data-total={total}>
				<title>{label}</title>
				<line x1="0" y1={H - 0.5} x2={SPARK_HOURS * 3} y2={H - 0.5} stroke="#d0d7de" stroke-width="1" />
				{hours.map((b, i) => {
					const all = Math.round((requests(b) / max) * (H - 1));
					const bad = Math.round(((requests(b) - b.passed) / max) * (H - 1));
					return all === 0 ? null : (
						<g>
							<rect x={i * 3} y={H - all + bad} width="2" height={all - bad} fill="#116329" class="pass" />
							{bad > 0 ? <rect x={i * 3} y={H - all} width="2" height={bad} fill="#a40e26" class="bad" /> : null}
						</g>
					);
				})}
			</svg>{" "}
			<span aria-hidden="true">{thousands(total)}</span>
		</span>
	);
}

const PERIODS = [
	{ hours: 24, short: "24 h", long: "Last 24 hours" },
	{ hours: 24 * 7, short: "7 d", long: "Last 7 days" },
	{ hours: 24 * 30, short: "30 d", long: "Last 30 days" },
] as const;

/**
 * Requests over the last 24 h, 7 d and 30 d by outcome (passed, refused by reason): one
 * column of bars per period, scaled within the column, with the same numbers in a
 * visually hidden table.
 */
function HistoryChart(props: { history: UsageView["history"]; now: number }) {
	const h = buckets(props.history);
	const sums = PERIODS.map((p) => totals(h, props.now, p.hours));
	const reasons = Object.keys(sums[2]!.rejected).sort();
	const rows: [string, number[]][] = [
		["passed", sums.map((t) => t.passed)],
		...reasons.map((r): [string, number[]] => [r, sums.map((t) => t.rejected[r] ?? 0)]),
	];
	const maxes = PERIODS.map((_, j) => Math.max(1, ...rows.map(([, ns]) => ns[j]!)));
	const height = rows.length * 24 + 28;
	return (
		<figure>
			<ChartFrame label="Requests by outcome over the last 24 hours, 7 days and 30 days">
				<svg
					class="chart"
					role="img"
					aria-label="Requests by outcome over the last 24 hours, 7 days and 30 days"
					width="600"
					height={height}
					viewBox={`0 0 600 ${height}`}
				>
					{PERIODS.map((p, j) => (
						<text x={160 + j * 150} y="16" font-size="12" font-weight="bold">
							{p.short}
						</text>
					))}
					{rows.map(([label, ns], i) => (
						<g>
							<text x="0" y={i * 24 + 44} font-size="12">
								{outcomeLabel(label)}
							</text>
							{ns.map((n, j) => {
								const w = Math.round((n / maxes[j]!) * 90);
								return (
									<g>
										<Bar label={label} x={160 + j * 150} y={i * 24 + 32} width={w} />
										<text x={164 + j * 150 + w} y={i * 24 + 44} font-size="12">
											{thousands(n)}
										</text>
									</g>
								);
							})}
						</g>
					))}
				</svg>
			</ChartFrame>
			<OutcomeTable
				caption="Requests by outcome over the last 24 hours, 7 days and 30 days"
				columns={PERIODS.map((p) => p.long)}
				rows={rows}
			/>
		</figure>
	);
}
