import { prefixKey, type Config, tierOpenIn } from "./schema";

/**
 * A lint: a config keygate runs, but that probably does not do what its author meant.
 * It is logged at load with the field's path; the config still loads.
 */
export interface ConfigLint {
	/** The field at fault, as in config errors: `apis[0].cors.keyTypes[1]`. */
	field: string;
	message: string;
}

/** The lints of a valid config, in field order. */
export function lintConfig(config: Config): ConfigLint[] {
	const lints: ConfigLint[] = [];
	for (const [i, api] of config.apis.entries()) {
		const at = `apis[${i}]`;
		for (const [j, type] of (api.cors?.keyTypes ?? []).entries()) {
			if (api.keyTypes[type]?.kind === "secret")
				lints.push({
					field: `${at}.cors.keyTypes[${j}]`,
					message: `"${type}" is a secret key type: with CORS a browser page can use it, and every visitor of that page can read the key; list only publishable key types`,
				});
		}
		for (const [j, origin] of (api.cors?.allowOrigins ?? []).entries()) {
			// Sandboxed iframes, file: pages and cross-origin redirects all send `Origin: null`,
			// so any site can present it: allowing it is allowing everyone (keygate never does).
			if (origin.trim().toLowerCase() === "null")
				lints.push({
					field: `${at}.cors.allowOrigins[${j}]`,
					message: `"null" is the origin of sandboxed iframes, local files and redirected requests, which any site can produce; keygate never allows it, remove it`,
				});
		}
		// External JWTs count under the first environment, with their tierClaim's tier or defaultTier: tiers there can refuse them all.
		const first = Object.keys(api.environments)[0];
		const issuers = api.oauth?.externalIssuers ?? [];
		if (first && issuers.length > 0 && !tierOpenIn(api, first, api.defaultTier))
			lints.push({
				field: `${at}.environments.${first}.tiers`,
				message: `external JWTs count under the first environment ("${first}"), with their issuer's tierClaim tier or else defaultTier ("${api.defaultTier}"), which is not listed here: every JWT without a listed tier in its claim is refused with 403; list "${api.defaultTier}", or have every issuer name a listed tier`,
			});
		const graces = api.portal?.rotationGraceChoices;
		const preselected = api.portal?.rotationGraceSeconds ?? api.keys.rotationGraceSeconds;
		if (graces && !graces.includes(preselected))
			lints.push({
				field: `${at}.portal.rotationGraceChoices`,
				message: `the preselected grace (${preselected} s, portal.rotationGraceSeconds or keys.rotationGraceSeconds) is not listed, so the portal offers it as well; list it, or set portal.rotationGraceSeconds to one that is`,
			});
		if (api.unmatchedRoutes === "authenticate") {
			const keyed = api.routes.filter((r) => !r.public);
			const catchAll = api.routes.some((r) => !r.methods && (r.path === "/**" || r.path === `${prefixKey(api.match.pathPrefix)}/**`));
			if (keyed.length > 0 && keyed.every((r) => r.scopes.length > 0) && !catchAll)
				lints.push({
					field: `${at}.unmatchedRoutes`,
					message: `"authenticate" (the default) lets any valid key, even one with no scopes, reach every path no rule lists, although every rule of this API requires scopes; set "deny"`,
				});
		}
	}
	return lints;
}
