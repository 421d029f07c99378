import { describe, expect, it } from "vitest";
import { consentPolicy } from "../../src/oauth/pending";

const formAction = (uri: string) => /form-action ([^;]*)/.exec(consentPolicy(uri))![1];

describe("the consent page's Content-Security-Policy", () => {
	it("lets its form lead to the client's redirect URI's origin, and nowhere else", () => {
		expect(formAction("https://app.example/callback?x=1")).toBe("'self' https://app.example");
		expect(formAction("http://127.0.0.1:9999/cb")).toBe("'self' http://127.0.0.1:9999");
		expect(formAction("https://[::1]:8443/cb")).toBe("'self' https://[::1]:8443");
	});

	it("names nothing a registered URI could turn into another directive", () => {
		for (const uri of ["https://a;b.example/", "https://a,b.example/", "com.example.app:/oauth"]) {
			const policy = consentPolicy(uri);
			expect(formAction(uri)).toBe("'self'");
			expect(policy.split(";").map((d) => d.trim().split(" ")[0])).toEqual(["default-src", "style-src", "form-action", "frame-ancestors"]);
		}
	});
});
