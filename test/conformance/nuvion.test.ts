/**
 * Conformance: keygate running examples/nuvion/keygate.config.json behaves as Nuvion's
 * "API keys" page (../shared/seeds/003_*.txt) promises. One describe per bullet of the
 * Nuvion section of the seeds index.
 */
import { describe, expect, it, vi } from "vitest";
import config from "../../examples/nuvion/keygate.config.json";
import { parseConfig } from "../../src/config/load";
import { gatewayFor, sleep, expectBody } from "../helpers/gateway";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const SANDBOX = "https://api.nuvion.dev";
const PRODUCTION = "https://api.nuvion.co";

/** The page's bodies, printed as the page prints them. */
const UNAUTHORIZED = `{
  "error": {
    "code": "unauthorized",
    "message": "No valid API key provided."
  }
}`;
const FORBIDDEN = `{
  "error": {
    "code": "forbidden",
    "message": "Your API key does not have permission to perform this action."
  }
}`;

const sandbox = gatewayFor(config, SANDBOX);
const production = gatewayFor(config, PRODUCTION);

const origin = useFakeOrigin();

const expectUnauthorized = (res: Response) => expectBody(res, 401, UNAUTHORIZED);
const expectForbidden = (res: Response) => expectBody(res, 403, FORBIDDEN);

const uniqueOwner = () => `user_${crypto.randomUUID().slice(0, 8)}`;

async function setRole(owner: string, role: "admin" | "readonly"): Promise<void> {
	const res = await sandbox.admin(`/owners/${owner}`, { method: "PUT", body: JSON.stringify({ role }) });
	expect(res.status, await res.clone().text()).toBe(200);
}

/** A key whose creator is an admin (keys inherit their creator's permissions). */
async function adminKey(body: Record<string, unknown> = {}) {
	const owner = uniqueOwner();
	await setRole(owner, "admin");
	return sandbox.createKey({ name: "test key", owner, ...body });
}

it("the example config is valid", () => {
	expect(parseConfig(config)).toMatchObject({ ok: true });
});

describe("Bearer nv_test_ keys for the sandbox and nv_live_ keys for production, each with its own base URL", () => {
	it("a sandbox key is an nv_test_ key sent as a Bearer token, and it reaches the sandbox origin without the key", async () => {
		const { id, key } = await adminKey();
		expect(key).toMatch(/^nv_test_[0-9A-Za-z]{49}$/);
		const res = await sandbox.call("/accounts?limit=2", { key });
		expect(res.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		expect(origin.calls[0]!.url.href).toBe("http://127.0.0.1:8788/sandbox/accounts?limit=2");
		expect(origin.calls[0]!.headers.has("authorization")).toBe(false);
		expect(origin.calls[0]!.headers.get("X-Keygate-Key-Id")).toBe(id);
		expect(origin.calls[0]!.headers.get("X-Keygate-Environment")).toBe("test");
	});

	it("a production key is an nv_live_ key, created separately, and it reaches the production origin", async () => {
		const { key, environment } = await adminKey({ environment: "live" });
		expect(key).toMatch(/^nv_live_/);
		expect(environment).toBe("live");
		expect((await production.call("/accounts", { key })).status).toBe(200);
		expect(origin.calls.map((c) => c.url.href)).toEqual(["http://127.0.0.1:8788/production/accounts"]);
	});

	it("an nv_test_ key on the production base URL and an nv_live_ key on the sandbox base URL are 401s", async () => {
		const test = await adminKey();
		const live = await adminKey({ environment: "live" });
		await expectUnauthorized(await production.call("/accounts", { key: test.key }));
		await expectUnauthorized(await sandbox.call("/accounts", { key: live.key }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("errors: 401 unauthorized and 403 forbidden, byte for byte", () => {
	it("a request without a key is a 401 with the page's body", async () => {
		await expectUnauthorized(await sandbox.call("/accounts"));
		await expectUnauthorized(await sandbox.call("/accounts", { headers: { Authorization: "Bearer" } }));
		expect(origin.calls).toHaveLength(0);
	});

	it("an invalid key (made up, mistyped, or sent with another scheme) is a 401 with the same body", async () => {
		const { key } = await adminKey();
		const last = key.at(-1) === "A" ? "B" : "A";
		await expectUnauthorized(await sandbox.call("/accounts", { key: "nv_test_xxxxx" }));
		await expectUnauthorized(await sandbox.call("/accounts", { key: key.slice(0, -1) + last }));
		await expectUnauthorized(await sandbox.call("/accounts", { key, scheme: "Basic" }));
		await expectUnauthorized(await sandbox.call("/accounts", { headers: { "X-API-Key": key } }));
		expect(origin.calls).toHaveLength(0);
	});

	it("a revoked key is a 401 with the same body on the next request", async () => {
		const { id, key } = await adminKey();
		expect((await sandbox.call("/accounts", { key })).status).toBe(200);
		expect((await sandbox.admin(`/keys/${id}/revoke`, { method: "POST" })).status).toBe(200);
		await expectUnauthorized(await sandbox.call("/accounts", { key }));
		expect(origin.calls).toHaveLength(1);
	});

	it("an expired key is a 401 with the same body", async () => {
		const { key } = await adminKey({ expiresAt: new Date(Date.now() + 1_000).toISOString() });
		expect((await sandbox.call("/accounts", { key })).status).toBe(200);
		await sleep(1_100);
		await expectUnauthorized(await sandbox.call("/accounts", { key }));
		expect(origin.calls).toHaveLength(1);
	});

	it("a key that lacks the permission is a 403 with the page's body", async () => {
		const owner = uniqueOwner();
		await setRole(owner, "readonly");
		const { key } = await sandbox.createKey({ name: "reporting", owner });
		await expectForbidden(await sandbox.call("/transfers", { key, method: "POST", body: "{}" }));
		expect(origin.calls).toHaveLength(0);
	});
});

describe("a key inherits the permissions of the user who created it", () => {
	it("an admin's key can do everything", async () => {
		const { key } = await adminKey();
		for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]) {
			expect((await sandbox.call("/accounts/acc_1", { key, method })).status, method).toBe(200);
		}
		expect(origin.calls.map((c) => c.method)).toEqual(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);
	});

	it("a read-only user's key can only make GET requests", async () => {
		const owner = uniqueOwner();
		await setRole(owner, "readonly");
		const { key } = await sandbox.createKey({ name: "dashboard", owner });
		expect((await sandbox.call("/accounts", { key })).status).toBe(200);
		for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
			await expectForbidden(await sandbox.call("/accounts/acc_1", { key, method }));
		}
		expect(origin.calls.map((c) => c.method)).toEqual(["GET"]);
	});

	it("a key whose creator has no role recorded gets read-only rights, never more", async () => {
		const { key } = await sandbox.createKey({ name: "unowned" });
		expect((await sandbox.call("/accounts", { key })).status).toBe(200);
		await expectForbidden(await sandbox.call("/accounts", { key, method: "POST" }));
		expect(origin.calls).toHaveLength(1);
	});

	it("changing a user's role changes what all of that user's keys can do on the next request, in both directions", async () => {
		const owner = uniqueOwner();
		await setRole(owner, "readonly");
		const first = await sandbox.createKey({ name: "service a", owner });
		const second = await sandbox.createKey({ name: "service b", owner });
		for (const { key } of [first, second]) await expectForbidden(await sandbox.call("/transfers", { key, method: "POST" }));
		expect(origin.calls).toHaveLength(0);

		await setRole(owner, "admin");
		for (const { key } of [first, second]) expect((await sandbox.call("/transfers", { key, method: "POST" })).status).toBe(200);
		expect(origin.calls).toHaveLength(2);

		await setRole(owner, "readonly");
		for (const { key } of [first, second]) await expectForbidden(await sandbox.call("/transfers", { key, method: "POST" }));
		for (const { key } of [first, second]) expect((await sandbox.call("/transfers", { key })).status).toBe(200);
		expect(origin.calls.map((c) => c.method)).toEqual(["POST", "POST", "GET", "GET"]);
	});
});

describe("one key per service, to limit the blast radius and audit which service made a request", () => {
	it("each service's key records its service and who created it, and the origin learns which key made each request", async () => {
		const owner = uniqueOwner();
		await setRole(owner, "admin");
		const create = async (service: string) => {
			const res = await sandbox.admin("/keys", {
				method: "POST",
				headers: { "X-Keygate-Actor": "alice@nuvion.example" },
				body: JSON.stringify({ name: `${service} key`, owner, service }),
			});
			expect(res.status).toBe(201);
			return res.json<{ id: string; key: string; service: string }>();
		};
		const billing = await create("billing-worker");
		const payouts = await create("payouts-cron");
		expect(billing.service).toBe("billing-worker");

		expect((await sandbox.call("/accounts", { key: billing.key })).status).toBe(200);
		expect((await sandbox.call("/payouts", { key: payouts.key, method: "POST" })).status).toBe(200);
		const byKey = origin.calls.map((c) => [c.url.pathname, c.headers.get("X-Keygate-Key-Id")]);
		expect(byKey).toEqual([
			["/sandbox/accounts", billing.id],
			["/sandbox/payouts", payouts.id],
		]);
		// The key id the origin saw names the service.
		expect((await (await sandbox.admin(`/keys/${payouts.id}`)).json<{ service: string }>()).service).toBe("payouts-cron");

		const audit = await (await sandbox.admin(`/audit?keyId=${billing.id}`)).json<{ data: any[] }>();
		expect(audit.data).toHaveLength(1);
		expect(audit.data[0]).toMatchObject({
			action: "key.created",
			actor: "alice@nuvion.example",
			api: "nuvion",
			keyId: billing.id,
			owner,
			details: { service: "billing-worker", environment: "test" },
		});
		await sleep(20); // usage is counted after the response
		expect(await (await sandbox.admin(`/keys/${payouts.id}/usage`)).json()).toMatchObject({ passed: 1 });
	});
});

describe("rotation without downtime, and deleting keys no longer in use", () => {
	it("a new key created before the old one is deleted: both work in between, then the deleted one is a 401", async () => {
		const old = await adminKey({ service: "ledger-sync" });
		const replacement = await adminKey({ service: "ledger-sync" });
		expect((await sandbox.call("/accounts", { key: old.key })).status).toBe(200);
		expect((await sandbox.call("/accounts", { key: replacement.key })).status).toBe(200);

		const deleted = await sandbox.admin(`/keys/${old.id}`, { method: "DELETE", headers: { "X-Keygate-Actor": "bob@nuvion.example" } });
		expect(deleted.status).toBe(204);
		await expectUnauthorized(await sandbox.call("/accounts", { key: old.key }));
		expect((await sandbox.call("/accounts", { key: replacement.key })).status).toBe(200);
		expect(origin.calls).toHaveLength(3);
	});

	it("deleting an unused key makes it a 401 at once, and the audit log records who deleted it", async () => {
		const { id, key } = await adminKey({ service: "old-import-job" });
		const deleted = await sandbox.admin(`/keys/${id}`, { method: "DELETE", headers: { "X-Keygate-Actor": "bob@nuvion.example" } });
		expect(deleted.status).toBe(204);
		await expectUnauthorized(await sandbox.call("/accounts", { key }));
		expect(origin.calls).toHaveLength(0);
		expect((await sandbox.admin(`/keys/${id}`)).status).toBe(404);
		const audit = await (await sandbox.admin(`/audit?keyId=${id}`)).json<{ data: any[] }>();
		expect(audit.data.map((e) => [e.action, e.actor])).toEqual([
			["key.deleted", "bob@nuvion.example"],
			["key.created", "admin"],
		]);
	});
});

describe("IP allowlisting", () => {
	// The page offers allowlisting for webhook deliveries (Nuvion calling its customers);
	// keygate's side of it is a per-key allowlist on calls into the API.
	it("a key with an IP allowlist passes from a listed address and gets the 403 body from any other", async () => {
		const { key } = await adminKey({ ipAllowlist: ["203.0.113.0/24", "2001:db8::/32"] });
		expect((await sandbox.call("/accounts", { key, headers: { "CF-Connecting-IP": "203.0.113.7" } })).status).toBe(200);
		expect((await sandbox.call("/accounts", { key, headers: { "CF-Connecting-IP": "2001:db8::1" } })).status).toBe(200);
		await expectForbidden(await sandbox.call("/accounts", { key, headers: { "CF-Connecting-IP": "198.51.100.1" } }));
		await expectForbidden(await sandbox.call("/accounts", { key }));
		expect(origin.calls).toHaveLength(2);
	});
});

describe("keys are never in logs", () => {
	it("no plaintext key reaches the console across creation, use, refusals, rotation and an origin failure", async () => {
		const logged: string[] = [];
		for (const level of ["log", "error", "warn", "info", "debug"] as const) {
			vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
				logged.push(args.map((a) => (typeof a === "string" ? a : JSON.stringify(a))).join(" "));
			});
		}
		const owner = uniqueOwner();
		await setRole(owner, "readonly");
		const { id, key } = await sandbox.createKey({ name: "logged", owner });
		const keys = [key];

		expect((await sandbox.call("/accounts", { key })).status).toBe(200);
		await expectForbidden(await sandbox.call("/accounts", { key, method: "DELETE" }));
		await expectUnauthorized(await production.call("/accounts", { key }));
		await expectUnauthorized(await sandbox.call("/accounts", { key: key.slice(0, -1) + (key.at(-1) === "A" ? "B" : "A") }));
		origin.failing = true;
		expect((await sandbox.call("/accounts", { key })).status).toBe(502);
		origin.failing = false;
		const rotated = await (await sandbox.admin(`/keys/${id}/rotate`, { method: "POST" })).json<{ id: string; key: string }>();
		keys.push(rotated.key);
		expect((await sandbox.call("/accounts", { key: rotated.key })).status).toBe(200);
		await sandbox.admin(`/keys/${rotated.id}/revoke`, { method: "POST" });
		await expectUnauthorized(await sandbox.call("/accounts", { key: rotated.key }));

		// The spy saw something (the origin failure is logged), and nothing of a key's secret body.
		expect(logged.some((line) => line.includes("origin_unreachable"))).toBe(true);
		const text = logged.join("\n");
		for (const k of keys) {
			expect(text).not.toContain(k);
			expect(text).not.toContain(k.slice("nv_test_".length));
		}
		// Nor does the origin (and so its logs) ever see one.
		expect(origin.calls.every((c) => !c.headers.has("authorization"))).toBe(true);
	});
});
