import { describe, expect, it } from "vitest";
import type { Services } from "../../src/admin/service";
import type { KeyRecord } from "../../src/keys/record";
import { withActivity } from "../../src/ui/data";

const key = (i: number) =>
	({ id: `key_${String(i).padStart(22, "0")}`, revokedAt: null, rotatedAt: null, graceEndsAt: null, replacedBy: null }) as KeyRecord;
const status = { revokedAt: null, deletedAt: null, deprecatedAt: null, graceEndsAt: null, replacedBy: null };
const usage = { passed: 1, rejected: { rate_limited: 2 }, lastUsedAt: 1_700_000_000_000, hourly: [] };

/** Services whose authority answers each snapshot after `delayMs`, failing for the ids in `failing`. */
function services(delayMs: number, failing = new Set<string>()): { s: Services; asked: string[] } {
	const asked: string[] = [];
	const snapshot = async (id: string) => {
		asked.push(id);
		await new Promise((r) => setTimeout(r, delayMs));
		if (failing.has(id)) throw new Error("injected");
		return { status, usage };
	};
	return { s: { authority: { snapshot } } as unknown as Services, asked };
}

describe("a keys list's calls to the authorities (withActivity)", () => {
	it("keeps the keys' order, counts requests, and shows a failing authority's key as usage unavailable", async () => {
		const keys = Array.from({ length: 40 }, (_, i) => key(i));
		const { s } = services(1, new Set([keys[7]!.id]));
		const rows = await withActivity(s, keys);
		expect(rows.map((r) => r.k.id)).toEqual(keys.map((k) => k.id));
		expect(rows[0]!.usage).toMatchObject({ requests: 3, lastUsedAt: new Date(1_700_000_000_000).toISOString() });
		expect(rows[7]!.usage).toBeNull();
	});

	it("stops asking at its deadline: the keys not asked by then show usage unavailable", async () => {
		const keys = Array.from({ length: 200 }, (_, i) => key(i));
		const { s, asked } = services(20);
		const rows = await withActivity(s, keys, 50);
		expect(asked.length).toBeLessThan(keys.length);
		expect(rows).toHaveLength(keys.length);
		expect(rows.map((r) => r.k.id)).toEqual(keys.map((k) => k.id));
		expect(rows.filter((r) => r.usage === null)).toHaveLength(keys.length - asked.length);
	});
});
