import bundled from "../../keygate.config.json";

/**
 * Strict and leased mode are two implementations of one limiter (src/limits/limiter.ts,
 * src/limits/leased.ts): the limit cases run on both, each held to what its mode
 * promises (README: Consistency).
 */
export const MODES = ["strict", "leased"] as const;
export type Mode = (typeof MODES)[number];

/** Sets every tier of `api` (a config's API, as JSON) to `consistency`. */
export function tiersIn(api: any, consistency: Mode): void {
	for (const tier of Object.values(api.tiers) as any[]) tier.consistency = consistency;
}

/** The demo config with every tier in `consistency` mode, as KEYGATE_CONFIG. */
export function demoIn(consistency: Mode): unknown {
	const config = structuredClone(bundled) as any;
	tiersIn(config.apis[0], consistency);
	return config;
}
