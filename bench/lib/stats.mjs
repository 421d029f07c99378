// Small helpers: percentiles over raw samples, process CPU time, table rendering.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** Nearest-rank percentile of an ascending array; null when empty. */
export function percentile(sorted, p) {
	if (sorted.length === 0) return null;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function sortedCopy(values) {
	const a = Float64Array.from(values);
	a.sort();
	return a;
}

export function median(values) {
	return percentile(sortedCopy(values), 50);
}

let clockTicks;
function ticksPerSecond() {
	if (clockTicks === undefined) {
		try {
			clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
		} catch {
			clockTicks = 100;
		}
	}
	return clockTicks;
}

/** `/proc/<pid>/stat` fields after the command name (which may hold spaces and parentheses). */
function statFields(pid) {
	const text = readFileSync(`/proc/${pid}/stat`, "utf8");
	return { comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")), rest: text.slice(text.lastIndexOf(")") + 2).split(" ") };
}

/** User + system CPU time of a process (all its threads), in ms; null where /proc is unavailable. */
export function processCpuMs(pid) {
	try {
		const { rest } = statFields(pid);
		// rest[0] is field 3 (state): utime is field 14, stime field 15.
		return ((Number(rest[11]) + Number(rest[12])) / ticksPerSecond()) * 1000;
	} catch {
		return null;
	}
}

/** CPU time all processes on the machine have used since boot (busy, not idle), in ms; null without /proc. */
export function systemBusyMs() {
	try {
		const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
		const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
		return ((user + nice + system + irq + softirq + (steal || 0)) / ticksPerSecond()) * 1000;
	} catch {
		return null;
	}
}

/** Pids of the direct children of `parent` whose command name is `comm`. */
export function childPids(parent, comm) {
	const found = [];
	let entries = [];
	try {
		entries = readdirSync("/proc");
	} catch {
		return found;
	}
	for (const entry of entries) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const { comm: name, rest } = statFields(entry);
			if (Number(rest[1]) === parent && name === comm) found.push(Number(entry));
		} catch {
			// the process ended while we looked
		}
	}
	return found;
}

/** Renders rows (arrays of strings) as an aligned text table; `align` holds "l" or "r" per column. */
export function table(header, rows, align) {
	const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? "").length)));
	const cell = (v, i) => (align[i] === "r" ? String(v ?? "").padStart(widths[i]) : String(v ?? "").padEnd(widths[i]));
	const line = (r) => r.map(cell).join("  ").trimEnd();
	return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export const fmt = {
	int: (n) => (n === null || n === undefined || Number.isNaN(n) ? "-" : Math.round(n).toLocaleString("en-US")),
	ms: (n) => (n === null || n === undefined || Number.isNaN(n) ? "-" : n < 10 ? n.toFixed(2) : n.toFixed(1)),
	ratio: (n) => (n === null || n === undefined || !Number.isFinite(n) ? "-" : `${n.toFixed(2)}x`),
	num: (n, d = 2) => (n === null || n === undefined || Number.isNaN(n) ? "-" : n.toFixed(d)),
	usd: (n) => (n === null || n === undefined || Number.isNaN(n) ? "-" : `$${n.toFixed(n < 0.1 ? 4 : 3)}`),
};
