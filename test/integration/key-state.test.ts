import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { shardName, type KeyStatus } from "../../src/authority/key-authority";
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

describe("a rotation's grace step asked again", () => {
	it("is pushed again to a shard that missed it, and a different replacement is still refused", async () => {
		const { id } = await createKey({ rateLimit: { limit: 100, window: 3600, burst: 100, shards: 2 } });
		const primary = env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(id));
		const shard = env.KEY_AUTHORITY.get(env.KEY_AUTHORITY.idFromName(shardName(id, 1)));
		await primary.registerShard(shardName(id, 1));
		const at = Date.now();
		const first = await primary.startGrace(at, at + 60_000, "key_replacementAAAAAAAAAAAAA");
		expect(first.ok).toBe(true);
		expect((await shard.getStatus()).replacedBy).toBe("key_replacementAAAAAAAAAAAAA");
		// The shard as if the first push never reached it (the reason the admin API asks again).
		const blank: KeyStatus = { revokedAt: null, deletedAt: null, deprecatedAt: null, graceEndsAt: null, replacedBy: null };
		await runInDurableObject(shard, (instance, state) => {
			(instance as unknown as { status: KeyStatus }).status = { ...blank };
			state.storage.kv.put("status", { ...blank });
		});
		expect((await shard.getStatus()).replacedBy).toBeNull();
		const again = await primary.startGrace(at + 5, at + 60_005, "key_replacementAAAAAAAAAAAAA");
		expect(again.ok).toBe(true);
		// The first step's times stand, on the key's object and on the shard.
		expect(again.status).toMatchObject({ deprecatedAt: at, graceEndsAt: at + 60_000, replacedBy: "key_replacementAAAAAAAAAAAAA" });
		expect(await shard.getStatus()).toMatchObject({
			deprecatedAt: at,
			graceEndsAt: at + 60_000,
			replacedBy: "key_replacementAAAAAAAAAAAAA",
		});
		const other = await primary.startGrace(at + 10, at + 60_010, "key_replacementBBBBBBBBBBBBB");
		expect(other.ok).toBe(false);
		expect((await shard.getStatus()).replacedBy).toBe("key_replacementAAAAAAAAAAAAA");
	});
});
