import { describe, expect, it } from "vitest";
import { extractCredential } from "../../src/credentials/extract";

const BOTH = [
	{ in: "authorization", scheme: "Bearer" },
	{ in: "header", name: "X-API-Key" },
] as const;

describe("extractCredential: places are tried in order", () => {
	it("another Authorization scheme alone is a wrong credential, not a missing one", () => {
		expect(extractCredential(new Headers({ Authorization: "Basic Zm9vOmJhcg==" }), BOTH)).toEqual({ ok: false, reason: "wrong_scheme" });
	});
	it("another Authorization scheme beside a key in a later place: that key decides (as the README's credentials row says)", () => {
		const h = new Headers({ Authorization: "Basic Zm9vOmJhcg==", "X-API-Key": "sk_live_x" });
		expect(extractCredential(h, BOTH)).toEqual({ ok: true, value: "sk_live_x" });
	});
	it("the first place that holds a key wins, and the scheme compares case-insensitively", () => {
		const h = new Headers({ Authorization: "bearer first", "X-API-Key": "second" });
		expect(extractCredential(h, BOTH)).toEqual({ ok: true, value: "first" });
		expect(extractCredential(new Headers(), BOTH)).toEqual({ ok: false, reason: "no_credential" });
		expect(extractCredential(new Headers({ Authorization: "Bearer " }), BOTH)).toEqual({ ok: false, reason: "malformed_key" });
	});
});
