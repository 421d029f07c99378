import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { classify, holdsCredential } from "../../src/credentials/classify";
import { generateKey } from "../../src/keys/format";
import { issueAccessToken } from "../../src/oauth/access-token";

const claims = fc.record({
	api: fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/),
	environment: fc.constantFrom("live", "test"),
	sub: fc.string({ maxLength: 40 }),
	cid: fc.string({ maxLength: 30 }),
	gid: fc.string({ maxLength: 30 }),
	scopes: fc.array(fc.string({ maxLength: 10 }), { maxLength: 5 }),
	tier: fc.string({ maxLength: 10 }),
	iat: fc.integer({ min: 0, max: 2 ** 31 }),
	exp: fc.integer({ min: 0, max: 2 ** 31 }),
});

describe("the classifier (property)", () => {
	it("never throws, and says garbage for anything that is neither a key nor a token", () => {
		fc.assert(
			fc.property(fc.string({ maxLength: 300 }), (s) => {
				const kind = classify(s).kind;
				expect(["key", "token", "jwt", "garbage"]).toContain(kind);
				if (!/[_.]/.test(s)) expect(kind).toBe("garbage");
			}),
			{ numRuns: 2000 },
		);
	});

	it("recognises every issued access token as a token, and finds it inside other text", async () => {
		await fc.assert(
			fc.asyncProperty(claims, fc.string({ maxLength: 20 }), async (c, around) => {
				const token = await issueAccessToken("secret", c);
				expect(classify(token).kind).toBe("token");
				expect(holdsCredential(`${around} ${token} ${around}`)).toBe(true);
				// A token with a character cut off or added is garbage, never a key.
				expect(classify(token.slice(0, -1)).kind).toBe("garbage");
				expect(classify(token + "A").kind).toBe("garbage");
			}),
			{ numRuns: 200 },
		);
	});

	it("says jwt for three base64url segments whose header names an alg, and garbage otherwise", () => {
		const b64 = (v: unknown) => btoa(JSON.stringify(v)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
		fc.assert(
			fc.property(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue(), (alg, other) => {
				expect(classify(`${b64({ alg })}.${b64({ sub: "x" })}.sig`)).toMatchObject({ kind: "jwt", alg });
				if (typeof other !== "object" || other === null || Array.isArray(other) || typeof (other as { alg?: unknown }).alg !== "string")
					expect(classify(`${b64(other)}.${b64({})}.sig`).kind).toBe("garbage");
			}),
		);
	});

	it("still classifies keys as keys", () => {
		fc.assert(
			fc.property(fc.constantFrom("sk", "pk"), fc.constantFrom("live", "test"), (t, e) => {
				expect(classify(generateKey(t, e)).kind).toBe("key");
			}),
		);
	});

	it("finds a key inside other text, whatever is glued to its front or back (found by a probe: `xsk_live_<key>` reached the origin)", () => {
		fc.assert(
			fc.property(
				fc.constantFrom("sk", "pk"),
				fc.constantFrom("live", "test"),
				fc.stringMatching(/^[a-z0-9]{0,30}$/),
				fc.stringMatching(/^[A-Za-z0-9=&_-]{0,10}$/),
				(t, e, before, after) => {
					const key = generateKey(t, e);
					expect(holdsCredential(`${before}${key}${after}`)).toBe(true);
					expect(holdsCredential(`k=${before}${key}`)).toBe(true);
					// Percent-encoded, once or twice: an origin may decode it.
					expect(holdsCredential(`${before}${key.replace(/_/g, "%5F")}${after}`)).toBe(true);
					expect(holdsCredential(key.replace(/_/g, "%255f"))).toBe(true);
				},
			),
			{ numRuns: 500 },
		);
	});
});
