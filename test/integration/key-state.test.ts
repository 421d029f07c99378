import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call, createKey } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

describe("the key's Durable Object writes counters behind, within a second", () => {
	it("schedules one alarm for a burst of requests and writes counters and usage in one row when it fires", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 10, window: 3600, burst: 100 } });
		for (let i = 0; i < 3; i++) expect((await call("/v1/a", { key })).status).toBe(200);
		const stub = env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(id));
		const scheduled = await runInDurableObject(stub, async (_instance, state) => ({
			alarm: await state.storage.getAlarm(),
			live: state.storage.kv.get("live"),
		}));
		expect(scheduled.alarm).not.toBeNull();
		expect(scheduled.alarm!).toBeLessThanOrEqual(Date.now() + 1_000);
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		const live = await runInDurableObject(stub, (_instance, state) =>
			state.storage.kv.get<{ counters: { key: { windowCount: number } }; usage: { passed: number } }>("live"),
		);
		expect(live?.counters.key.windowCount).toBe(3);
		expect(live?.usage.passed).toBe(3);
	});

	it("keeps exact limits across a restart once the counters are written", async () => {
		const { id, key } = await createKey({ rateLimit: { limit: 4, window: 3600, burst: 100 } });
		for (let i = 0; i < 3; i++) expect((await call("/v1/a", { key })).status).toBe(200);
		await runDurableObjectAlarm(env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(id)));
		await abortAllDurableObjects(); // every object restarts from storage
		expect((await call("/v1/a", { key })).status).toBe(200);
		expect((await call("/v1/a", { key })).status).toBe(429);
		expect(origin.calls).toHaveLength(4);
	});
});
