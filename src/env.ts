/** The Worker's bindings (wrangler.toml, secrets), plus the optional config override. */
export type Bindings = Env & {
	/** Optional: the config's JSON, replacing the bundled keygate.config.json. */
	KEYGATE_CONFIG?: unknown;
};
