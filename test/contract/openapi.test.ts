import SwaggerParser from "@apidevtools/swagger-parser";
import { describe, expect, it } from "vitest";
import document from "../../src/admin/openapi.json";
import { checkResponse, operationsOf, resolve, validate, type OpenApiDocument } from "../helpers/openapi-check";

const doc = document as unknown as OpenApiDocument & Record<string, any>;
/** swagger-parser resolves references in place, so each call gets its own copy. */
const copy = () => structuredClone(document) as any;

const record = {
	id: "key_0123456789012345678901",
	api: "demo",
	name: "billing",
	type: "sk",
	kind: "secret",
	environment: "live",
	start: "sk_live_4fT0",
	last4: "m1x3",
	scopes: ["read"],
	tier: "free",
	rateLimit: null,
	owner: null,
	service: null,
	ipAllowlist: null,
	metadata: { team: "a" },
	pairId: null,
	createdAt: "2026-11-22T17:40:00.000Z",
	expiresAt: null,
	revokedAt: null,
	rotatedAt: null,
	replacedBy: null,
	graceEndsAt: null,
};
const Key = { $ref: "#/components/schemas/Key" };

describe("the generated OpenAPI document", () => {
	it("is a valid OpenAPI 3.1 document (swagger-parser)", async () => {
		await expect(SwaggerParser.validate(copy())).resolves.toBeTruthy();
	});

	it("is refused by swagger-parser when broken, so the check above can fail", async () => {
		const broken = copy();
		delete broken.components.schemas.Key;
		await expect(SwaggerParser.validate(broken)).rejects.toThrow(/Key/);
		const undescribed = copy();
		delete undescribed.paths["/keys"].post.responses["201"].description;
		await expect(SwaggerParser.validate(undescribed)).rejects.toThrow(/description/);
	});

	it("documents what the hand-written document left out: the identifier pair, `previous`, the grace-period maximum", () => {
		const pair = resolve(doc, "#/components/schemas/KeyPair");
		expect(pair.anyOf.map((o: any) => Object.keys(o.properties).sort())).toEqual([
			["publishable", "secret"],
			["identifier", "secret"],
		]);
		const rotated = resolve(doc, "#/components/schemas/RotatedKey");
		expect(rotated.required).toEqual(expect.arrayContaining(["key", "previous"]));
		expect(rotated.properties.previous).toEqual(Key);
		expect(resolve(doc, "#/components/schemas/RotateKeyRequest").properties.gracePeriodSeconds).toMatchObject({
			minimum: 0,
			maximum: 30 * 86_400,
		});
	});

	it("documents 401, 429 with Retry-After, and 503 on every operation", () => {
		const ops = operationsOf(doc);
		expect(ops.length).toBeGreaterThanOrEqual(12);
		for (const op of ops) {
			const [method, path] = op.split(" ") as [string, string];
			const responses = doc.paths[path]![method.toLowerCase()]!.responses;
			expect(Object.keys(responses), op).toEqual(expect.arrayContaining(["400", "401", "429", "503"]));
		}
		expect(resolve(doc, "#/components/responses/rate_limit_exceeded").headers["Retry-After"].required).toBe(true);
	});
});

describe("the response checker", () => {
	it("accepts a record that matches its schema", () => {
		expect(validate(doc, Key, record)).toEqual([]);
	});

	it.each<[string, unknown, RegExp]>([
		["an undocumented field (additionalProperties false)", { ...record, hash: "9f86d08" }, /\$\.hash: not documented/],
		["a missing required field", (({ id: _id, ...rest }) => rest)(record), /missing required "id"/],
		["a wrong type", { ...record, scopes: "read" }, /\$\.scopes: expected array, got string/],
		["a wrong type inside an array", { ...record, scopes: [1] }, /\$\.scopes\[0\]: expected string/],
		["null where null is not allowed", { ...record, createdAt: null }, /\$\.createdAt: expected string, got null/],
		["a value outside an enum", { ...record, kind: "master" }, /\$\.kind: "master" is not one of/],
		["a time that is not a date-time", { ...record, createdAt: "yesterday" }, /not an RFC 3339 date-time/],
		["a bad nested object behind a $ref", { ...record, rateLimit: { limit: 1, burst: 1 } }, /missing required "window"/],
	])("refuses %s", (_name, value, problem) => {
		const problems = validate(doc, Key, value);
		expect(problems.join("\n")).toMatch(problem);
	});

	it("throws on a keyword it does not implement, rather than passing it", () => {
		expect(() => validate(doc, { type: "string", contentEncoding: "base64" }, "x")).toThrow(
			/unsupported JSON Schema keyword "contentEncoding"/,
		);
		expect(() => validate(doc, { type: "string", format: "email" }, "x")).toThrow(/unsupported format/);
	});

	const show = doc.paths["/keys/{id}"]!.get!;
	const json = new Headers({ "Content-Type": "application/json" });
	const error = (code: string) => JSON.stringify({ error: code, message: "m" });

	it("accepts a documented answer, and refuses an undocumented status, content type, body or error code", () => {
		expect(checkResponse(doc, show, { status: 200, headers: json, body: JSON.stringify(record) })).toEqual([]);
		expect(checkResponse(doc, show, { status: 404, headers: json, body: error("key_not_found") })).toEqual([]);
		expect(checkResponse(doc, show, { status: 409, headers: json, body: error("conflict") })[0]).toMatch(/status 409 is not documented/);
		expect(
			checkResponse(doc, show, { status: 200, headers: new Headers({ "Content-Type": "text/plain" }), body: JSON.stringify(record) })[0],
		).toMatch(/content type "text\/plain" is not documented/);
		expect(checkResponse(doc, show, { status: 200, headers: json, body: "not json" })[0]).toMatch(/not JSON/);
		expect(checkResponse(doc, show, { status: 404, headers: json, body: error("not_found") }).join()).toMatch(/expected "key_not_found"/);
	});

	it("refuses a body where none is documented, and a missing required header", () => {
		const remove = doc.paths["/keys/{id}"]!.delete!;
		expect(checkResponse(doc, remove, { status: 204, headers: new Headers(), body: "" })).toEqual([]);
		expect(checkResponse(doc, remove, { status: 204, headers: new Headers(), body: "{}" })[0]).toMatch(/no body is documented/);
		expect(checkResponse(doc, show, { status: 429, headers: json, body: error("rate_limit_exceeded") })).toEqual([
			"header Retry-After is required but missing",
		]);
		const withRetry = new Headers({ "Content-Type": "application/json", "Retry-After": "42" });
		expect(checkResponse(doc, show, { status: 429, headers: withRetry, body: error("rate_limit_exceeded") })).toEqual([]);
	});
});
