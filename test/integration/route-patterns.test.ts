import { afterEach, describe, expect, it, vi } from "vitest";
import demo from "../../keygate.config.json";
import { createKey, gatewayFor } from "../helpers/gateway";
import { fakeOrigin } from "../helpers/origin";

afterEach(() => vi.restoreAllMocks());

function demoWith(rules: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
	return { apis: [{ ...demo.apis[0]!, ...extra, routes: [...rules, ...demo.apis[0]!.routes] }] };
}

describe("route patterns that would open more than they say (issue 11, items 12 and 13)", () => {
	it("a public rule with ** in the middle is refused at load: GET /v1/private/data with no key never reaches the origin", async () => {
		const origin = fakeOrigin();
		const gw = gatewayFor(demoWith([{ methods: ["GET"], path: "/v1/**/health", public: true }]));
		for (const path of ["/v1/private/data", "/v1/health", "/v1/x/health"]) {
			const res = await gw.call(path);
			expect(res.status).toBe(503);
			expect(await res.json()).toMatchObject({ error: "gateway_unavailable" });
		}
		expect(origin.calls).toHaveLength(0);
	});

	it.each(["/v1/users/:id", "/v1/(users|accounts)", "/v1/users/{id}"])(
		"%s with scope admin is refused at load, so a key without admin gets no 200 under unmatchedRoutes: authenticate",
		async (path) => {
			const origin = fakeOrigin();
			const key = await createKey({ scopes: ["read", "write"] });
			const gw = gatewayFor(demoWith([{ path, scopes: ["admin"] }]));
			const res = await gw.call("/v1/users/7", { key: key.key });
			expect(res.status).toBe(503);
			expect(origin.calls).toHaveLength(0);
		},
	);
});
