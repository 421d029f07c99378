/**
 * The console's and portal's page script decides in the browser, before a search is sent,
 * whether it holds key material (then it goes by POST, never into the address). Its
 * `keyMaterial` is a copy of classify.ts `holdsKeyMaterial` written for the browser: the two
 * must agree, or a key cut short would reach the address bar while the server refuses to
 * echo it. Run in Node, since workerd allows no code made from a string.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { generateKey } from "../../src/keys/format";
import { JS_PATH, staticAsset } from "../../src/ui/static";

/** classify.ts by a computed path: its imports reach WebCrypto types this Node project's typecheck reads otherwise. */
async function serverCheck(): Promise<(text: string) => boolean> {
	const classify = (await import(/* @vite-ignore */ `../../src/credentials/${"classify"}`)) as {
		holdsKeyMaterial: (text: string) => boolean;
	};
	return classify.holdsKeyMaterial;
}

async function browserTwin(): Promise<(text: string) => boolean> {
	const script = await staticAsset(JS_PATH)!.text();
	const start = script.indexOf("function keyMaterial(text) {");
	const end = script.indexOf("\n}\n", start);
	expect(start).toBeGreaterThan(-1);
	expect(end).toBeGreaterThan(start);
	return new Function(`${script.slice(start, end + 2)}; return keyMaterial;`)() as (text: string) => boolean;
}

describe("the page script's key-material check is the server's", () => {
	it("agrees on keys cut, one-case, glued to a letter, and on names, ids and random text", async () => {
		const [twin, holdsKeyMaterial] = [await browserTwin(), await serverCheck()];
		const key = fc.constantFrom("sk", "pk").map((type) => generateKey(type, "live"));
		const variant = fc.oneof(
			key,
			fc.tuple(key, fc.integer({ min: 0, max: 20 })).map(([k, cut]) => k.slice("sk_live_".length, k.length - cut)),
			key.map((k) => k.toLowerCase()),
			key.map((k) => `${k.toUpperCase()}x`),
			// One case, cut by up to four characters (the rule starts at 47), glued to a letter of the other case.
			fc.tuple(key, fc.integer({ min: 0, max: 4 })).map(([k, cut]) => `Q${k.slice("sk_live_".length, k.length - cut).toLowerCase()}`),
			fc.constantFrom(
				"OrderFulfillmentNotificationService",
				"GetUserByIdAndOrgIdRequestHandlerV2",
				"0123456789abcdef0123456789abcdef",
				"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				"AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ",
			),
			fc.string({ unit: fc.constantFrom(..."aB3_- xyzQ9"), maxLength: 80 }),
		);
		fc.assert(
			fc.property(variant, (text) => {
				expect(twin(text), text).toBe(holdsKeyMaterial(text));
			}),
			{ numRuns: 2000 },
		);
	});
});
