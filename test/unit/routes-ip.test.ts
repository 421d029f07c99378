import { describe, expect, it } from "vitest";
import { compileRoutes, findRoute } from "../../src/config/routes";
import { ipAllowed, parseCidr, parseIp, throttleUnit } from "../../src/util/ip";

const table = compileRoutes([
	{ methods: ["GET"], path: "/health", public: true, scopes: [], cost: 1 },
	{ methods: ["GET", "HEAD"], path: "/v1/**", public: false, scopes: ["read"], cost: 1 },
	{ path: "/v1/**", public: false, scopes: ["write"], cost: 1 },
	{ path: "/v2/*/items", public: false, scopes: ["items"], cost: 1 },
]);

describe("route matching", () => {
	it.each([
		["GET", "/health", "/health"],
		["POST", "/health", undefined],
		["GET", "/v1", "/v1/**"],
		["GET", "/v1/a/b/c", "/v1/**"],
		["HEAD", "/v1/a", "/v1/**"],
		["DELETE", "/v1/a", "/v1/**"],
		["GET", "/v10/a", undefined],
		["GET", "/v2/x/items", "/v2/*/items"],
		["GET", "/v2/x/y/items", undefined],
		["GET", "/v2/a%2Fb/items", "/v2/*/items"],
	])("%s %s matches %s", (method, path, pattern) => {
		expect(findRoute(table, method, path)?.pattern).toBe(pattern);
	});

	it("takes the first matching rule", () => {
		expect(findRoute(table, "GET", "/v1/x")?.scopes).toEqual(["read"]);
		expect(findRoute(table, "PUT", "/v1/x")?.scopes).toEqual(["write"]);
	});
});

describe("IP allowlist", () => {
	it.each([
		["203.0.113.7", ["203.0.113.0/24"], true],
		["203.0.114.7", ["203.0.113.0/24"], false],
		["203.0.113.7", ["203.0.113.7"], true],
		["2001:db8::1", ["2001:db8::/32"], true],
		["2001:db9::1", ["2001:db8::/32"], false],
		["::ffff:203.0.113.7", ["203.0.113.0/24"], true],
		["10.0.0.1", ["0.0.0.0/0"], true],
		["not-an-ip", ["0.0.0.0/0"], false],
		[undefined, ["0.0.0.0/0"], false],
	])("%s against %j is %s", (ip, list, allowed) => {
		expect(ipAllowed(ip, list)).toBe(allowed);
	});

	it("parses addresses and refuses junk", () => {
		expect(parseIp("1.2.3.4")).toBeDefined();
		expect(parseIp("1.2.3.256")).toBeUndefined();
		expect(parseIp("1::2::3")).toBeUndefined();
		expect(parseCidr("1.2.3.4/33")).toBeUndefined();
		expect(parseCidr("::/129")).toBeUndefined();
		expect(parseCidr("::/0")).toBeDefined();
	});
});

describe("throttleUnit: what a failed-credential budget counts (found by a probe: every IPv6 /128 had its own)", () => {
	it("an IPv6 address by its /64, in any spelling; IPv4 and anything else as given", () => {
		expect(throttleUnit("2001:db8:1:2::1")).toBe("2001:0db8:0001:0002::/64");
		expect(throttleUnit("2001:DB8:1:2:ffff:ffff:ffff:ffff")).toBe("2001:0db8:0001:0002::/64");
		expect(throttleUnit("2001:db8:1:3::1")).not.toBe(throttleUnit("2001:db8:1:2::1"));
		expect(throttleUnit("::1")).toBe("0000:0000:0000:0000::/64");
		expect(throttleUnit("198.51.100.7")).toBe("198.51.100.7");
		// An IPv4 client in IPv6 form is that IPv4 address: every such client sharing ::/64 would throttle them all together.
		expect(throttleUnit("::ffff:198.51.100.7")).toBe("198.51.100.7");
		expect(throttleUnit("::ffff:c633:6408")).toBe("198.51.100.8");
		expect(throttleUnit("not-an-address")).toBe("not-an-address");
	});
});
