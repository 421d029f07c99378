/**
 * Counting proxies for the bench's instrumented Workers. They wrap the bindings a
 * Worker is given (every KV namespace and every Durable Object namespace found in
 * `env`), the storage of its Durable Objects, and the global `fetch`, and count each
 * call, so the bench reports what a request type actually costs instead of what the
 * code is believed to do.
 *
 * Counters are module state. workerd runs a Worker's fetch handler and its Durable
 * Objects in the same isolate, so one set of counters sees both. Bench-only: none of
 * this is in the deployed bundle.
 */

export interface BenchCounters {
	/** KV binding calls, by `<binding>.<method>`; a bulk get of N keys counts N. */
	kv: Record<string, number>;
	/** Durable Object stub calls (each RPC call is one billed DO request), by `<binding>.<method>`. */
	doCalls: Record<string, number>;
	/** Storage calls made inside Durable Objects, by `<class>.<api>.<method>`. */
	storage: Record<string, number>;
	/** Subrequests through the global fetch (to the origin). */
	fetch: number;
}

export const counters: BenchCounters = { kv: {}, doCalls: {}, storage: {}, fetch: 0 };

export function resetCounters(): void {
	counters.kv = {};
	counters.doCalls = {};
	counters.storage = {};
	counters.fetch = 0;
}

function bump(bucket: Record<string, number>, name: string, by = 1): void {
	bucket[name] = (bucket[name] ?? 0) + by;
}

type AnyObject = Record<PropertyKey, unknown>;

/** A proxy whose listed methods are counted; everything else passes through bound to the real object. */
function countMethods<T extends object>(target: T, methods: ReadonlySet<string>, onCall: (method: string, args: unknown[]) => void): T {
	return new Proxy(target, {
		get(t, prop) {
			const value = (t as AnyObject)[prop];
			if (typeof value !== "function") return value;
			if (typeof prop === "string" && methods.has(prop)) {
				return (...args: unknown[]) => {
					onCall(prop, args);
					return Reflect.apply(value as (...a: unknown[]) => unknown, t, args);
				};
			}
			return (value as (...a: unknown[]) => unknown).bind(t);
		},
	});
}

const KV_METHODS = new Set(["get", "getWithMetadata", "list", "put", "delete"]);

export function countingKv(kv: KVNamespace, label: string): KVNamespace {
	return countMethods(kv, KV_METHODS, (method, args) =>
		bump(counters.kv, `${label}.${method}`, Array.isArray(args[0]) ? args[0].length : 1),
	);
}

/** Properties of a stub that are not RPC calls. */
const STUB_PROPERTIES = new Set(["then", "id", "name", "toJSON", "constructor"]);

function countingStub<T extends object>(stub: T, label: string): T {
	return new Proxy(stub, {
		get(t, prop) {
			const value = (t as AnyObject)[prop];
			if (typeof prop !== "string" || STUB_PROPERTIES.has(prop) || typeof value !== "function") return value;
			return (...args: unknown[]) => {
				bump(counters.doCalls, `${label}.${prop}`);
				return Reflect.apply(value as (...a: unknown[]) => unknown, t, args);
			};
		},
	});
}

export function countingNamespace<T extends DurableObjectNamespace>(ns: T, label: string): T {
	return new Proxy(ns, {
		get(t, prop) {
			const value = (t as unknown as AnyObject)[prop];
			if (typeof value !== "function") return value;
			if (prop === "get" || prop === "getByName") {
				return (...args: unknown[]) => countingStub(Reflect.apply(value as (...a: unknown[]) => object, t, args), label);
			}
			return (value as (...a: unknown[]) => unknown).bind(t);
		},
	});
}

const isKv = (b: unknown): b is KVNamespace =>
	typeof b === "object" &&
	b !== null &&
	typeof (b as AnyObject).getWithMetadata === "function" &&
	typeof (b as AnyObject).list === "function";
const isDoNamespace = (b: unknown): b is DurableObjectNamespace =>
	typeof b === "object" && b !== null && typeof (b as AnyObject).idFromName === "function";

const wrappedEnvs = new WeakMap<object, object>();

/** `env` with every KV and Durable Object namespace replaced by a counting proxy. */
export function countingEnv<E extends object>(env: E): E {
	const cached = wrappedEnvs.get(env);
	if (cached) return cached as E;
	const out: AnyObject = {};
	for (const [name, binding] of Object.entries(env)) {
		out[name] = isKv(binding) ? countingKv(binding, name) : isDoNamespace(binding) ? countingNamespace(binding, name) : binding;
	}
	wrappedEnvs.set(env, out);
	return out as E;
}

const STORAGE_METHODS = new Set([
	"get",
	"put",
	"delete",
	"list",
	"deleteAll",
	"getAlarm",
	"setAlarm",
	"deleteAlarm",
	"transaction",
	"sync",
]);
const SYNC_KV_METHODS = new Set(["get", "put", "delete", "list"]);
const SQL_METHODS = new Set(["exec"]);

/** Which Durable Object class a storage object belongs to, for the counter names. */
const storageLabels = new WeakMap<object, string>();
const patchedPrototypes = new WeakSet<object>();

/**
 * Counts calls to `methods` on every object sharing `sample`'s prototype. The runtime
 * refuses a proxied DurableObjectState, so the storage classes' prototypes are patched
 * instead (once per isolate); each call is attributed through `storageLabels`.
 */
function patchPrototype(sample: object, methods: ReadonlySet<string>, api: string): void {
	const proto = Object.getPrototypeOf(sample) as AnyObject | null;
	if (!proto || patchedPrototypes.has(proto)) return;
	patchedPrototypes.add(proto);
	for (const method of methods) {
		const original = proto[method];
		if (typeof original !== "function") continue;
		Object.defineProperty(proto, method, {
			configurable: true,
			writable: true,
			value: function (this: object, ...args: unknown[]) {
				const label = storageLabels.get(this) ?? "DurableObject";
				bump(counters.storage, `${label}.${api}.${method}`, method !== "exec" && Array.isArray(args[0]) ? args[0].length : 1);
				return Reflect.apply(original as (...a: unknown[]) => unknown, this, args);
			},
		});
	}
}

/** Counts a Durable Object's storage calls (async API, synchronous `kv` API, `sql.exec`). Call before `super(ctx, env)`. */
export function countStorage(ctx: DurableObjectState, label: string): void {
	const storage = ctx.storage;
	storageLabels.set(storage, label);
	patchPrototype(storage, STORAGE_METHODS, "storage");
	for (const [name, methods] of [
		["kv", SYNC_KV_METHODS],
		["sql", SQL_METHODS],
	] as const) {
		try {
			const api = (storage as unknown as AnyObject)[name];
			if (typeof api !== "object" || api === null) continue;
			storageLabels.set(api, label);
			patchPrototype(api, methods, name);
		} catch {
			// not available on this storage backend
		}
	}
}

/** Counts subrequests made through the global fetch (origin calls). Call once per isolate. */
export function countGlobalFetch(): void {
	const real = globalThis.fetch;
	globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
		counters.fetch++;
		return real(...args);
	}) as typeof fetch;
}

/** Answers the bench-only control paths; undefined for anything else. */
export async function benchControl(request: Request): Promise<Response | undefined> {
	const url = new URL(request.url);
	if (!url.pathname.startsWith("/__bench/")) return undefined;
	if (url.pathname === "/__bench/counters" && request.method === "GET") return Response.json(counters);
	if (url.pathname === "/__bench/reset" && request.method === "POST") {
		resetCounters();
		return Response.json(counters);
	}
	return undefined;
}
