import { describe, expect, it } from "vitest";
import { BODY_LENGTH, crc32, generateKey, keyStart, parseKey } from "../../src/keys/format";

describe("key format", () => {
	it("computes the standard CRC-32 check value", () => {
		expect(crc32("123456789")).toBe(0xcbf43926);
	});

	it("generates <type>_<environment>_<body> keys that parse back", () => {
		const key = generateKey("sk", "live");
		expect(key).toMatch(new RegExp(`^sk_live_[0-9A-Za-z]{${BODY_LENGTH}}$`));
		expect(parseKey(key)).toEqual({ type: "sk", environment: "live", plaintext: key });
	});

	it("never generates the same key twice", () => {
		const keys = new Set(Array.from({ length: 1000 }, () => generateKey("pk", "test")));
		expect(keys.size).toBe(1000);
	});

	it("rejects every single-character typo through the checksum", () => {
		const key = generateKey("nvp", "test");
		const body = key.indexOf("_", 4) + 1;
		for (let i = body; i < key.length; i++) {
			const replacement = key[i] === "a" ? "b" : "a";
			expect(parseKey(key.slice(0, i) + replacement + key.slice(i + 1)), `typo at ${i}`).toBeUndefined();
		}
	});

	it.each([
		["empty", ""],
		["no prefix", "abc"],
		["uppercase type", "SK_live_" + "a".repeat(BODY_LENGTH)],
		["short body", "sk_live_abc"],
		["random body of the right length", "sk_live_" + "a".repeat(BODY_LENGTH)],
		["non-ASCII", "sk_live_" + "é".repeat(BODY_LENGTH)],
		["huge", "sk_live_" + "a".repeat(16_384)],
	])("refuses a malformed key (%s)", (_name, candidate) => {
		expect(parseKey(candidate)).toBeUndefined();
	});

	it("shows only the type, environment and four characters as the start", () => {
		const key = generateKey("sk", "test");
		expect(keyStart(key)).toBe(key.slice(0, "sk_test_".length + 4));
	});
});
