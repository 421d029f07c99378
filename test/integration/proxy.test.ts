import { describe, expect, it } from "vitest";
import { hmacHex } from "../../src/keys/crypto";
import { signedMessage } from "../../src/pipeline/proxy";
import { TEST_SIGNING_SECRET } from "../constants";
import { call, createKey } from "../helpers/gateway";
import { type FakeOrigin, type OriginCall, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

/** What an origin does to trust the identity headers (the README's snippet, in test form). */
async function verify(received: OriginCall, maxAgeSeconds = 300): Promise<boolean> {
	const signature = received.headers.get("X-Keygate-Signature") ?? "";
	const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(signature);
	if (!m) return false;
	const t = Number(m[1]);
	if (Math.abs(Date.now() / 1000 - t) > maxAgeSeconds) return false;
	const identity = Object.fromEntries(
		["X-Keygate-Key-Id", "X-Keygate-Environment", "X-Keygate-Scopes", "X-Keygate-Owner", "X-Keygate-Service"].map((h) => [
			h,
			received.headers.get(h) ?? "",
		]),
	);
	const expected = await hmacHex(
		TEST_SIGNING_SECRET,
		signedMessage(t, received.method, received.url.pathname + received.url.search, identity),
	);
	return expected === m[2];
}

describe("passing through", () => {
	it("forwards method, path, query and body unchanged, and streams the origin's answer back", async () => {
		const { key } = await createKey();
		const body = JSON.stringify({ hello: "world", n: [1, 2, 3] });
		const res = await call("/v1/orders/42?expand=items&x=%20y", {
			key,
			method: "PATCH",
			body,
			headers: { "Content-Type": "application/json", "X-Custom": "kept" },
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("X-Origin")).toBe("fake");
		const seen = origin.calls[0]!;
		expect(seen.method).toBe("PATCH");
		expect(seen.url.pathname).toBe("/v1/orders/42");
		expect(seen.url.search).toBe("?expand=items&x=%20y");
		expect(seen.body).toBe(body);
		expect(seen.headers.get("X-Custom")).toBe("kept");
		expect(seen.headers.get("Content-Type")).toBe("application/json");
	});

	it("never lets the origin see the key, in any header or the body it sent", async () => {
		const { key } = await createKey();
		await call("/v1/a", { key });
		await call("/v1/a", { headers: { "X-API-Key": key } });
		expect(origin.calls).toHaveLength(2);
		for (const seen of origin.calls) {
			expect(seen.headers.has("authorization")).toBe(false);
			expect(seen.headers.has("x-api-key")).toBe(false);
			expect(JSON.stringify([...seen.headers])).not.toContain(key);
			expect(seen.url.href).not.toContain(key);
		}
	});

	it("removes hop-by-hop headers and those the Connection header names", async () => {
		const { key } = await createKey();
		await call("/v1/a", {
			key,
			headers: {
				Connection: "close, X-Secret-Hop",
				"X-Secret-Hop": "1",
				"Keep-Alive": "timeout=5",
				TE: "trailers",
				"Proxy-Authorization": "Basic x",
			},
		});
		const seen = origin.calls[0]!;
		for (const name of ["x-secret-hop", "keep-alive", "te", "proxy-authorization"]) expect(seen.headers.has(name), name).toBe(false);
	});
});

describe("identity headers", () => {
	it("are present and carry the key's id, environment, scopes and owner", async () => {
		const { id, key } = await createKey({ environment: "test", scopes: ["read", "write"], owner: "user_42", service: "billing-sync" });
		await call("/v1/a", { key });
		const seen = origin.calls[0]!;
		expect(seen.headers.get("X-Keygate-Key-Id")).toBe(id);
		expect(seen.headers.get("X-Keygate-Environment")).toBe("test");
		expect(seen.headers.get("X-Keygate-Scopes")).toBe("read,write");
		expect(seen.headers.get("X-Keygate-Owner")).toBe("user_42");
		expect(seen.headers.get("X-Keygate-Service")).toBe("billing-sync");
		expect(seen.headers.get("X-Keygate-Signature")).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
	});

	it("verify with the signing secret, and fail if any value or the path is changed", async () => {
		const { key } = await createKey({ owner: "user_1" });
		await call("/v1/a?q=1", { key });
		const seen = origin.calls[0]!;
		expect(await verify(seen)).toBe(true);
		const tampered = new Headers(seen.headers);
		tampered.set("X-Keygate-Owner", "admin");
		expect(await verify({ ...seen, headers: tampered })).toBe(false);
		expect(await verify({ ...seen, url: new URL("https://origin.test/v1/admin?q=1") })).toBe(false);
		expect(await verify({ ...seen, method: "DELETE" })).toBe(false);
	});

	it("cannot be forged by the client: every X-Keygate-* it sends is dropped", async () => {
		const { id, key } = await createKey({ owner: "user_1", scopes: ["read"] });
		const forged = {
			"X-Keygate-Key-Id": "key_admin",
			"X-Keygate-Owner": "root",
			"X-Keygate-Scopes": "read,write,admin",
			"X-Keygate-Signature": "t=1,v1=" + "0".repeat(64),
			"x-keygate-extra": "sneaky",
		};
		await call("/v1/a", { key, headers: forged });
		await call("/health", { headers: forged });
		const [authenticated, publicCall] = origin.calls;
		expect(authenticated!.headers.get("X-Keygate-Key-Id")).toBe(id);
		expect(authenticated!.headers.get("X-Keygate-Owner")).toBe("user_1");
		expect(authenticated!.headers.get("X-Keygate-Scopes")).toBe("read");
		expect(authenticated!.headers.has("x-keygate-extra")).toBe(false);
		expect(await verify(authenticated!)).toBe(true);
		expect([...publicCall!.headers.keys()].filter((h) => h.startsWith("x-keygate-"))).toEqual([]);
	});
});

describe("keys in other headers", () => {
	it("a key in a header keygate does not read is not forwarded either", async () => {
		const config = structuredClone((await import("../../keygate.config.json")).default) as any;
		config.apis[0].credentials = [{ in: "header", name: "X-API-Key" }];
		const { gatewayFor } = await import("../helpers/gateway");
		const { key } = await createKey();
		const other = await createKey();
		const res = await gatewayFor(config).call("/v1/a", {
			headers: { "X-API-Key": key, Authorization: `Bearer ${other.key}`, "X-Note": `see ${other.key}`, "X-Plain": "kept" },
		});
		expect(res.status).toBe(200);
		const seen = origin.calls.at(-1)!;
		expect(seen.headers.has("authorization")).toBe(false);
		expect(seen.headers.has("x-note")).toBe(false);
		expect(seen.headers.get("x-plain")).toBe("kept");
		expect(JSON.stringify([...seen.headers])).not.toContain(other.key);
	});
});
