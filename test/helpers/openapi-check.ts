/**
 * Checks a real response against an OpenAPI 3.1 document: the status is documented for the
 * operation, required headers are there, the content type is documented, and the body
 * validates against the response schema. Plain TypeScript, so it runs in workerd (on every
 * admin response the workers suite sees, test/helpers/gateway.ts) and in Node (its own
 * tests, test/contract).
 *
 * The schema validator covers the JSON Schema subset the generated document uses, and
 * throws on any keyword outside it, so a schema it does not understand can never pass
 * silently.
 */

type Schema = Record<string, unknown> | boolean;
type Json = Record<string, any>;

export interface OpenApiDocument {
	paths: Record<string, Record<string, Json>>;
	components?: Json;
}

/** Keywords that only annotate: they never make a value invalid. */
const ANNOTATIONS = new Set(["description", "title", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"]);
const ASSERTIONS = new Set([
	"$ref",
	"type",
	"enum",
	"const",
	"properties",
	"required",
	"additionalProperties",
	"propertyNames",
	"minProperties",
	"maxProperties",
	"items",
	"minItems",
	"maxItems",
	"anyOf",
	"oneOf",
	"allOf",
	"minLength",
	"maxLength",
	"pattern",
	"format",
	"minimum",
	"maximum",
	"exclusiveMinimum",
	"exclusiveMaximum",
]);

/** RFC 3339 §5.6 date-time. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

function typeOf(value: unknown): string {
	if (value === null) return "null";
	if (Array.isArray(value)) return "array";
	if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
	return typeof value;
}

function hasType(value: unknown, type: string): boolean {
	const actual = typeOf(value);
	return actual === type || (type === "number" && actual === "integer");
}

/** Follows a local `#/…` reference. */
export function resolve(doc: unknown, ref: string): Json {
	if (!ref.startsWith("#/")) throw new Error(`only local references are supported: ${ref}`);
	let node: any = doc;
	for (const part of ref.slice(2).split("/")) {
		node = node?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
		if (node === undefined) throw new Error(`unresolved reference ${ref}`);
	}
	return node as Json;
}

/** Every way `value` breaks `schema`, as `$.path: problem` lines; empty when it is valid. */
export function validate(doc: unknown, schema: Schema, value: unknown, at = "$"): string[] {
	if (schema === true) return [];
	if (schema === false) return [`${at}: no value is allowed here`];
	for (const keyword of Object.keys(schema)) {
		if (!ASSERTIONS.has(keyword) && !ANNOTATIONS.has(keyword)) throw new Error(`${at}: unsupported JSON Schema keyword "${keyword}"`);
	}
	const s = schema as Json;
	const out: string[] = [];
	if (s.$ref !== undefined) out.push(...validate(doc, resolve(doc, s.$ref), value, at));
	if (s.type !== undefined) {
		const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
		if (!types.some((t) => hasType(value, t))) return [...out, `${at}: expected ${types.join(" or ")}, got ${typeOf(value)}`];
	}
	if (s.enum !== undefined && !(s.enum as unknown[]).some((e) => deepEqual(e, value)))
		out.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
	if ("const" in s && !deepEqual(s.const, value)) out.push(`${at}: expected ${JSON.stringify(s.const)}, got ${JSON.stringify(value)}`);
	if (s.allOf) for (const sub of s.allOf as Schema[]) out.push(...validate(doc, sub, value, at));
	if (s.anyOf) {
		const results = (s.anyOf as Schema[]).map((sub) => validate(doc, sub, value, at));
		if (!results.some((r) => r.length === 0)) out.push(`${at}: matches none of anyOf (${results.map((r) => r[0]).join(" | ")})`);
	}
	if (s.oneOf) {
		const results = (s.oneOf as Schema[]).map((sub) => validate(doc, sub, value, at));
		const passing = results.filter((r) => r.length === 0).length;
		if (passing !== 1) out.push(`${at}: matches ${passing} of oneOf, not exactly 1 (${results.map((r) => r[0] ?? "ok").join(" | ")})`);
	}
	if (typeof value === "string") {
		const length = [...value].length;
		if (s.minLength !== undefined && length < s.minLength) out.push(`${at}: shorter than ${s.minLength}`);
		if (s.maxLength !== undefined && length > s.maxLength) out.push(`${at}: longer than ${s.maxLength}`);
		if (s.pattern !== undefined && !new RegExp(s.pattern).test(value)) out.push(`${at}: does not match ${s.pattern}`);
		if (s.format !== undefined) {
			if (s.format !== "date-time") throw new Error(`${at}: unsupported format "${s.format}"`);
			if (!DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) out.push(`${at}: not an RFC 3339 date-time: ${value}`);
		}
	}
	if (typeof value === "number") {
		if (s.minimum !== undefined && value < s.minimum) out.push(`${at}: below the minimum ${s.minimum}`);
		if (s.maximum !== undefined && value > s.maximum) out.push(`${at}: above the maximum ${s.maximum}`);
		if (s.exclusiveMinimum !== undefined && value <= s.exclusiveMinimum) out.push(`${at}: not above ${s.exclusiveMinimum}`);
		if (s.exclusiveMaximum !== undefined && value >= s.exclusiveMaximum) out.push(`${at}: not below ${s.exclusiveMaximum}`);
	}
	if (Array.isArray(value)) {
		if (s.minItems !== undefined && value.length < s.minItems) out.push(`${at}: fewer than ${s.minItems} items`);
		if (s.maxItems !== undefined && value.length > s.maxItems) out.push(`${at}: more than ${s.maxItems} items`);
		if (s.items !== undefined) value.forEach((item, i) => out.push(...validate(doc, s.items, item, `${at}[${i}]`)));
	}
	if (typeOf(value) === "object") {
		const object = value as Record<string, unknown>;
		const names = Object.keys(object);
		if (s.minProperties !== undefined && names.length < s.minProperties) out.push(`${at}: fewer than ${s.minProperties} properties`);
		if (s.maxProperties !== undefined && names.length > s.maxProperties) out.push(`${at}: more than ${s.maxProperties} properties`);
		for (const name of (s.required as string[] | undefined) ?? []) if (!(name in object)) out.push(`${at}: missing required "${name}"`);
		const properties = (s.properties ?? {}) as Record<string, Schema>;
		for (const name of names) {
			const path = `${at}.${name}`;
			if (s.propertyNames !== undefined) out.push(...validate(doc, s.propertyNames, name, `${path} (name)`));
			if (name in properties) out.push(...validate(doc, properties[name]!, object[name], path));
			else if (s.additionalProperties === false) out.push(`${path}: not documented (additionalProperties is false)`);
			else if (s.additionalProperties !== undefined) out.push(...validate(doc, s.additionalProperties, object[name], path));
		}
	}
	return out;
}

function deepEqual(a: unknown, b: unknown): boolean {
	return JSON.stringify(a) === JSON.stringify(b);
}

/** The documented operation a request is for: its path template and operation object. */
export function findOperation(doc: OpenApiDocument, method: string, path: string): { template: string; operation: Json } | undefined {
	const segments = path.split("/");
	for (const [template, item] of Object.entries(doc.paths)) {
		const operation = item[method.toLowerCase()];
		if (!operation) continue;
		const parts = template.split("/");
		if (parts.length !== segments.length) continue;
		if (parts.every((p, i) => (/^\{.+\}$/.test(p) ? segments[i] !== "" : p === segments[i]))) return { template, operation };
	}
	return undefined;
}

export interface ActualResponse {
	status: number;
	headers: Headers;
	body: string;
}

/** Every way a response breaks its operation's documented responses; empty when it conforms. */
export function checkResponse(doc: OpenApiDocument, operation: Json, res: ActualResponse): string[] {
	let documented = operation.responses?.[String(res.status)] ?? operation.responses?.default;
	if (!documented) return [`status ${res.status} is not documented (documented: ${Object.keys(operation.responses ?? {}).join(", ")})`];
	if (documented.$ref) documented = resolve(doc, documented.$ref);
	const out: string[] = [];
	for (const [name, header] of Object.entries<Json>(documented.headers ?? {})) {
		const h = header.$ref ? resolve(doc, header.$ref) : header;
		const value = res.headers.get(name);
		if (value === null) {
			if (h.required) out.push(`header ${name} is required but missing`);
		} else if (h.schema) out.push(...validate(doc, h.schema, value, `header ${name}`));
	}
	const content = documented.content as Record<string, Json> | undefined;
	if (!content) {
		if (res.body !== "") out.push(`no body is documented, got ${res.body.length} characters`);
		return out;
	}
	const mediaType = (res.headers.get("Content-Type") ?? "").split(";")[0]!.trim().toLowerCase();
	const media = content[mediaType];
	if (!media) return [...out, `content type "${mediaType}" is not documented (documented: ${Object.keys(content).join(", ")})`];
	let body: unknown;
	try {
		body = JSON.parse(res.body);
	} catch {
		return [...out, `the body is not JSON: ${res.body.slice(0, 100)}`];
	}
	if (media.schema) out.push(...validate(doc, media.schema, body));
	return out;
}

/** Every documented operation, as `METHOD /template`. */
export function operationsOf(doc: OpenApiDocument): string[] {
	const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
	return Object.entries(doc.paths).flatMap(([path, item]) =>
		Object.keys(item)
			.filter((m) => methods.includes(m))
			.map((m) => `${m.toUpperCase()} ${path}`),
	);
}
