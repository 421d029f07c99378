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
