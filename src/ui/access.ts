import { createRemoteJWKSet, jwtVerify } from "jose";

/**
 * Cloudflare Access in front of the console: Access signs every request it lets through
 * with a JWT in `Cf-Access-Jwt-Assertion`. keygate verifies it itself (signature against
 * the team's JWKS, audience, issuer, expiry) rather than trusting that Access is in front:
 * the header is client input on any path that does not go through Access.
 * https://developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
 */
export interface AccessConfig {
	teamDomain: string;
	audience: string;
}

// One key set per team, per isolate: jose caches the keys and refetches on an unknown kid.
const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function keySet(teamDomain: string) {
	let set = keySets.get(teamDomain);
	if (!set) {
		set = createRemoteJWKSet(new URL(`https://${teamDomain}/cdn-cgi/access/certs`), { timeoutDuration: 3000 });
		keySets.set(teamDomain, set);
	}
	return set;
}

/** The signed-in email, or null when the assertion is absent or does not verify. */
export async function accessIdentity(config: AccessConfig, assertion: string | undefined): Promise<string | null> {
	if (!assertion || assertion.length > 8192) return null;
	try {
		const { payload } = await jwtVerify(assertion, keySet(config.teamDomain), {
			issuer: `https://${config.teamDomain}`,
			audience: config.audience,
			algorithms: ["RS256"],
		});
		const email = typeof payload.email === "string" ? payload.email.replace(/[^\x21-\x7e]/g, "").slice(0, 100) : "";
		return email || null;
	} catch {
		return null;
	}
}
