import { describe, expect, it } from "vitest";
import demo from "../../keygate.config.json";
import { call, createKey, gatewayFor } from "../helpers/gateway";
import { verifyIdentity as verify } from "../helpers/identity";
import { type FakeOrigin, useFakeOrigin } from "../helpers/origin";

const origin = useFakeOrigin();

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

	it("finds a key behind a decoy that swallowed its start (found by a probe): scrubbed from a header, refused in the path and the query", async () => {
		const { key } = await createKey();
		const decoy = `q_q_${"A".repeat(47)}`;
		const res = await call("/v1/a", { key, headers: { "X-Debug": `${decoy}${key}` } });
		expect(res.status).toBe(200);
		expect(origin.calls[0]!.headers.has("x-debug")).toBe(false);
		expect((await call(`/v1/echo/${decoy}${key}`, { key })).status).toBe(401);
		expect((await call(`/v1/a?note=${decoy}${key}`, { key })).status).toBe(401);
		expect((await call(`/health?token=${decoy}${key}`)).status).toBe(401);
		expect(origin.calls).toHaveLength(1);
	});

	it("a header of thousands of nested %25 escapes is decoded twice at most and forwarded, never an exception", async () => {
		const { key } = await createKey();
		const nested = `%${"25".repeat(5000)}41`;
		const res = await call("/v1/a", { key, headers: { "X-Nested": nested, "X-Twice": key.replace(/_/g, "%255F") } });
		expect(res.status).toBe(200);
		const seen = origin.calls[0]!;
		expect(seen.headers.get("x-nested")).toBe(nested);
		expect(seen.headers.has("x-twice"), "a key encoded twice is still a key").toBe(false);
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
		expect(seen.headers.get("X-Keygate-Signature")).toMatch(/^t=\d+,v3=[0-9a-f]{64}$/);
		expect(seen.headers.get("X-Keygate-Request-Id")).toMatch(/^req_[0-9A-Za-z]{22}$/);
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
		const otherId = new Headers(seen.headers);
		otherId.set("X-Keygate-Request-Id", "req_0000000000000000000000");
		expect(await verify({ ...seen, headers: otherId })).toBe(false);
	});

	it("cover the body: a signature captured for one body does not verify with another (RFC 9530 Content-Digest)", async () => {
		const { key } = await createKey();
		await call("/v1/transfer?to=alice", { key, method: "POST", body: '{"amount":1}', headers: { "Content-Type": "application/json" } });
		const seen = origin.calls[0]!;
		expect(seen.body).toBe('{"amount":1}');
		expect(seen.headers.get("Content-Digest")).toMatch(/^sha-256=:[A-Za-z0-9+/]+=*:$/);
		expect(await verify(seen)).toBe(true);
		expect(await verify({ ...seen, body: '{"amount":1000000}' })).toBe(false);
		// Swapping in the digest of the other body breaks the HMAC instead.
		const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode('{"amount":1000000}')));
		const swapped = new Headers(seen.headers);
		swapped.set("Content-Digest", `sha-256=:${btoa(String.fromCharCode(...hash))}:`);
		expect(await verify({ ...seen, headers: swapped, body: '{"amount":1000000}' })).toBe(false);
	});

	it("give every request its own id, so an origin can refuse a replay", async () => {
		const { key } = await createKey();
		await call("/v1/a", { key });
		await call("/v1/a", { key });
		const [a, b] = origin.calls;
		expect(a!.headers.get("X-Keygate-Request-Id")).not.toBe(b!.headers.get("X-Keygate-Request-Id"));
	});

	it("a body over signing.maxBodyBytes streams through whole, with no Content-Digest (a client's own is dropped)", async () => {
		const api = { ...demo.apis[0]!, signing: { maxBodyBytes: 16 } };
		const gw = gatewayFor({ apis: [api] });
		const { key } = await gw.createKey({ name: "big", scopes: ["read", "write"] });
		const big = "x".repeat(5000);
		const small = "tiny";
		await gw.call("/v1/upload", { key, method: "POST", body: big, headers: { "Content-Digest": "sha-256=:forged=:" } });
		await gw.call("/v1/upload", {
			key,
			method: "POST",
			// Typed: an untyped POST is read as a form (as Rack reads it), and one too large to check is refused (hardening.test.ts).
			headers: { "Content-Type": "application/octet-stream" },
			body: new ReadableStream({
				start(c) {
					for (let i = 0; i < 5; i++) c.enqueue(new TextEncoder().encode(big.slice(i * 1000, (i + 1) * 1000)));
					c.close();
				},
			}),
		});
		await gw.call("/v1/upload", { key, method: "POST", body: small });
		const [declared, chunked, fits] = origin.calls;
		for (const unsigned of [declared!, chunked!]) {
			expect(unsigned.body).toBe(big);
			expect(unsigned.headers.has("Content-Digest")).toBe(false);
			expect(await verify(unsigned)).toBe(true); // identity still signed, with an empty digest line
		}
		expect(fits!.headers.has("Content-Digest")).toBe(true);
		expect(await verify(fits!)).toBe(true);
	});

	it("cannot be forged by the client: every X-Keygate-* it sends is dropped", async () => {
		const { id, key } = await createKey({ owner: "user_1", scopes: ["read"] });
		const forged = {
			"X-Keygate-Key-Id": "key_admin",
			"X-Keygate-Owner": "root",
			"X-Keygate-Scopes": "read,write,admin",
			"X-Keygate-Signature": "t=1,v3=" + "0".repeat(64),
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
	/** The demo API reading only X-API-Key, a key for it, and another key to send elsewhere. */
	const xApiKeyOnly = async () => {
		const config = structuredClone(demo) as any;
		config.apis[0].credentials = [{ in: "header", name: "X-API-Key" }];
		return { gw: gatewayFor(config), key: (await createKey()).key, other: await createKey() };
	};

	it("a key in a header keygate does not read is not forwarded either", async () => {
		const { gw, key, other } = await xApiKeyOnly();
		const res = await gw.call("/v1/a", {
			headers: { "X-API-Key": key, Authorization: `Bearer ${other.key}`, "X-Note": `see ${other.key}`, "X-Plain": "kept" },
		});
		expect(res.status).toBe(200);
		const seen = origin.calls.at(-1)!;
		expect(seen.headers.has("authorization")).toBe(false);
		expect(seen.headers.has("x-note")).toBe(false);
		expect(seen.headers.get("x-plain")).toBe("kept");
		expect(JSON.stringify([...seen.headers])).not.toContain(other.key);
	});

	it("nor is a base64-encoded one (HTTP Basic, a token wrapped in another): the origin could decode it", async () => {
		const { gw, key, other } = await xApiKeyOnly();
		const basic = btoa(`${other.key}:`);
		const wrapped = btoa(JSON.stringify({ note: "x", key: other.key }))
			.replace(/=+$/, "")
			.replace(/\+/g, "-")
			.replace(/\//g, "_");
		const res = await gw.call("/v1/a", {
			headers: {
				"X-API-Key": key,
				Authorization: `Basic ${basic}`,
				"X-Wrapped": `v1.${wrapped}`,
				"X-Plain": btoa("a harmless value, long enough to be looked at twice over"),
			},
		});
		expect(res.status).toBe(200);
		const seen = origin.calls.at(-1)!;
		expect(seen.headers.has("authorization")).toBe(false);
		expect(seen.headers.has("x-wrapped")).toBe(false);
		expect(seen.headers.has("x-plain")).toBe(true);
	});
});

describe("service workers (found by a probe: a page the origin serves shares the console's origin)", () => {
	it("a worker script whose folder takes in /_keygate/ is refused before the origin; one in a subfolder is served", async () => {
		const refused = await call("/health", { headers: { "Service-Worker": "script" } });
		expect(refused.status).toBe(400);
		expect(await refused.text()).toContain("service worker");
		expect(origin.calls).toHaveLength(0);
		const { key } = await createKey();
		const fine = await call("/v1/assets/sw.js", { key, headers: { "Service-Worker": "script" } });
		expect(fine.status).toBe(200);
		expect(origin.calls).toHaveLength(1);
		// Without the browser's header it is any other request.
		expect((await call("/health")).status).toBe(200);
	});

	it("the refusal is the same 400 with or without a key, before the route's own checks (found by a peer's suite: /sw.js got 401)", async () => {
		const { key } = await createKey();
		for (const init of [{}, { key }, { key: "sk_live_nonsense" }]) {
			const res = await call("/sw.js", { ...init, headers: { "Service-Worker": "script" } });
			expect(res.status).toBe(400);
			expect(((await res.json()) as { error: string }).error).toBe("invalid_request");
		}
		expect(origin.calls).toHaveLength(0);
	});

	it("an origin's Service-Worker-Allowed that would widen a worker over /_keygate/ is dropped; a narrower one is kept", async () => {
		const { key } = await createKey();
		const { vi } = await import("vitest");
		for (const [allowed, kept] of [
			["/", false],
			["/_keygate/ui/", false],
			["../..", false],
			["/v1/", true],
		] as const) {
			vi.spyOn(globalThis, "fetch").mockImplementation(
				async () =>
					new Response("self.onfetch = () => {};", { headers: { "Service-Worker-Allowed": allowed, "Content-Type": "text/javascript" } }),
			);
			// Also on a plain fetch of the script: the browser may cache it and only revalidate it when registering (found by a review).
			for (const headers of [{ "Service-Worker": "script" }, {}] as Record<string, string>[]) {
				const res = await call("/v1/assets/sw.js", { key, headers });
				expect(res.status).toBe(200);
				expect(res.headers.get("Service-Worker-Allowed"), allowed).toBe(kept ? allowed : null);
			}
		}
	});

	it("an origin's Clear-Site-Data never clears cookies: the console's and the portal's sessions are cookies of the same origin (found by a probe)", async () => {
		const { key } = await createKey();
		const { vi } = await import("vitest");
		for (const [sent, got] of [
			['"cookies"', null],
			['"*"', '"cache", "storage", "executionContexts"'],
			['"cache", "Cookies"', '"cache"'],
			['"cache", "storage"', '"cache", "storage"'],
		] as const) {
			vi.spyOn(globalThis, "fetch").mockImplementation(async () => new Response("{}", { headers: { "Clear-Site-Data": sent } }));
			const res = await call("/v1/logout", { key });
			expect(res.headers.get("Clear-Site-Data"), sent).toBe(got);
		}
	});

	it("an origin's Cross-Origin-Opener-Policy: same-origin is sent as same-origin-allow-popups: with the console's own policy, its page would keep a handle on a console window it opens (found by a review)", async () => {
		const { key } = await createKey();
		const { vi } = await import("vitest");
		for (const [sent, got] of [
			["same-origin", "same-origin-allow-popups"],
			['same-origin; report-to="coop"', "same-origin-allow-popups"],
			// Two fields, joined: a browser may read either (found by a probe).
			["unsafe-none, same-origin", "same-origin-allow-popups"],
			["same-origin-allow-popups", "same-origin-allow-popups"],
			["unsafe-none", "unsafe-none"],
		] as const) {
			vi.spyOn(globalThis, "fetch").mockImplementation(
				async () => new Response("<!doctype html>", { headers: { "Cross-Origin-Opener-Policy": sent } }),
			);
			const res = await call("/v1/page", { key });
			expect(res.headers.get("Cross-Origin-Opener-Policy"), sent).toBe(got);
		}
	});
});
