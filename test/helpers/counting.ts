import { env } from "cloudflare:workers";

/** Real bindings wrapped to count what keygate asks of them: KV reads, Durable Object calls. */
export function countingBindings() {
	const counts = { kvReads: 0, doCalls: 0 };
	const KEYS = new Proxy(env.KEYS, {
		get(target, prop) {
			const value = Reflect.get(target, prop, target);
			if (prop === "get" || prop === "getWithMetadata") {
				return (...args: unknown[]) => {
					counts.kvReads++;
					return (value as (...a: unknown[]) => unknown).apply(target, args);
				};
			}
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	// Stubs are host objects: wrap the methods the request path calls rather than proxying the stub.
	interface AnyNamespace {
		idFromName(name: string): DurableObjectId;
		get(id: DurableObjectId): unknown;
	}
	const wrapNamespace = (ns: AnyNamespace, methods: string[]) => ({
		idFromName: (name: string) => ns.idFromName(name),
		get: (id: DurableObjectId) => {
			const stub = ns.get(id) as Record<string, (...a: unknown[]) => unknown>;
			return Object.fromEntries(
				methods.map((m) => [
					m,
					(...args: unknown[]) => {
						counts.doCalls++;
						return stub[m]!(...args);
					},
				]),
			);
		},
	});
	return {
		counts,
		bindings: {
			KEYS,
			KEY_AUTHORITY: wrapNamespace(env.KEY_AUTHORITY as unknown as AnyNamespace, ["check", "lease", "recordRejection"]),
			OWNER_ROLES: wrapNamespace(env.OWNER_ROLES as unknown as AnyNamespace, ["getRole"]),
			// Every method the request path calls on a subject's grants object (src/authority/client.ts `grants`).
			OAUTH_GRANTS: wrapNamespace(env.OAUTH_GRANTS as unknown as AnyNamespace, ["check", "spend", "refusalVerdict", "resend"]),
		},
		reset() {
			counts.kvReads = 0;
			counts.doCalls = 0;
		},
	};
}
