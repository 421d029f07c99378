import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeOrigin } from "../helpers/origin";
import { call, createKey, expectError } from "../helpers/gateway";

afterEach(() => vi.restoreAllMocks());

describe("smoke", () => {
	it("passes a valid key through and refuses a missing one", async () => {
		const origin = fakeOrigin();
		const { key } = await createKey();
		const res = await call("/v1/things?x=1", { key });
		const text = await res.text();
		expect(res.status, text).toBe(200);
		expect(origin.calls).toHaveLength(1);
		const missing = await call("/v1/things");
		await expectError(missing, 401, "missing_api_key", "No API key provided in the Authorization header.");
		expect(origin.calls).toHaveLength(1);
	});
});
