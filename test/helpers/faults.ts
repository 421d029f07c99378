import { env } from "cloudflare:workers";

/** A rejected promise, as a failing binding call returns. */
export const fail = () => Promise.reject(new Error("injected failure"));
/** A promise that never settles, as a hung binding call returns. */
export const never = () => new Promise<never>(() => {});

/** The real KV with one method replaced; the others stay bound to the real binding. */
export function kvWith(method: "get" | "put", replacement: () => Promise<unknown>): KVNamespace {
	return new Proxy(env.KEYS, {
		get(target, prop) {
			if (prop === method) return replacement;
			const value = Reflect.get(target, prop, target);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

type StubMethod = (...args: unknown[]) => Promise<unknown>;
/** What the gateway and the admin API call on a key's object (authority/client.ts). */
const KEY_AUTHORITY_METHODS = [
	"check",
	"lease",
	"recordRejection",
	"getStatus",
	"getUsage",
	"getSnapshot",
	"revoke",
	"startGrace",
	"abandonGrace",
	"carryCountersTo",
	"predecessorGrace",
	"markDeleted",
];

/**
 * The real KEY_AUTHORITY namespace whose stubs have some methods replaced: each
 * replacement gets the real stub, so it can run the real call and then fail (an answer
 * lost after the object acted), or fail without calling it.
 */
export function authorityWith(replacements: Record<string, (real: Record<string, StubMethod>, ...args: unknown[]) => Promise<unknown>>) {
	return {
		idFromName: (name: string) => env.KEY_AUTHORITY.idFromName(name),
		get: (id: DurableObjectId) => {
			const real = env.KEY_AUTHORITY.get(id) as unknown as Record<string, StubMethod>;
			const stub: Record<string, StubMethod> = {};
			for (const name of KEY_AUTHORITY_METHODS) {
				const replacement = replacements[name];
				stub[name] = replacement ? (...args) => replacement(real, ...args) : (...args) => real[name]!(...args);
			}
			return stub;
		},
	};
}

/** The real KV whose `put` fails for the keys `failing` picks (given the key and the put's 1-based count). */
export function kvPutFailing(failing: (key: string, n: number) => boolean): KVNamespace {
	let n = 0;
	return new Proxy(env.KEYS, {
		get(target, prop) {
			if (prop === "put")
				return (key: string, ...rest: unknown[]) =>
					failing(key, ++n) ? fail() : (target.put as (...args: unknown[]) => Promise<void>)(key, ...rest);
			const value = Reflect.get(target, prop, target);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}
