// An access token for the bench, through keygate's own OAuth flow (README "OAuth 2.0"):
// an OAuth client from the admin API, /oauth/authorize, the API's login (played here: an
// HS256 assertion under the bench's SIGNING_SECRET, as demo/origin.mjs signs it), the
// consent form, then /oauth/token. Nothing is minted behind keygate's back, so the
// subject's OAuthGrants object holds the grant exactly as in production.
import { decodeJwt, SignJWT } from "jose";

const REDIRECT = "https://bench.example/callback";

/**
 * `request(url, {method, headers, body})` is the bench's HTTP client; `admin(base, method,
 * route, body)` its admin call. `tier` should be one without a limit the load would hit.
 */
export async function oauthAccessToken({ base, request, admin, api, signingSecret, subject, tier }) {
	if (!api.oauth) throw new Error(`the bench config's API "${api.name}" has no oauth block`);
	const client = await admin(base, "POST", "/oauth/clients", { name: `bench ${subject}`, redirectUris: [REDIRECT], tier });
	const scopes = api.oauth.scopes.join(" ");
	const authorize = await request(
		`${base}/oauth/authorize?client_id=${client.id}&redirect_uri=${encodeURIComponent(REDIRECT)}&response_type=code&scope=${encodeURIComponent(scopes)}&state=bench`,
	);
	if (authorize.status !== 302) throw new Error(`authorize: ${authorize.status} ${authorize.text}`);
	const login = new URL(authorize.headers.location);
	const cookie = String(authorize.headers["set-cookie"] ?? "").split(";")[0];
	const { nonce } = decodeJwt(login.searchParams.get("request"));
	const now = Math.floor(Date.now() / 1000);
	const assertion = await new SignJWT({ nonce })
		.setProtectedHeader({ alg: "HS256" })
		.setIssuer(login.origin)
		.setAudience(api.oauth.issuer)
		.setSubject(subject)
		.setIssuedAt(now)
		.setExpirationTime(now + 60)
		.sign(new TextEncoder().encode(signingSecret));
	const page = await request(`${base}/oauth/callback?assertion=${assertion}`, { headers: { Cookie: cookie } });
	const ticket = /name="ticket" value="([^"]+)"/.exec(page.text)?.[1];
	if (page.status !== 200 || !ticket) throw new Error(`callback: ${page.status} ${page.text.slice(0, 300)}`);
	const consent = await request(`${base}/oauth/consent`, {
		method: "POST",
		headers: { Cookie: cookie, "Content-Type": "application/x-www-form-urlencoded" },
		body: new URLSearchParams({ ticket, decision: "allow" }).toString(),
	});
	const code = consent.headers.location ? new URL(consent.headers.location).searchParams.get("code") : null;
	if (consent.status !== 302 || !code) throw new Error(`consent: ${consent.status} ${consent.text}`);
	const token = await request(`${base}/oauth/token`, {
		method: "POST",
		body: { grant_type: "authorization_code", code, client_id: client.id, client_secret: client.secret, redirect_uri: REDIRECT },
	});
	if (token.status !== 200 || !token.json?.access_token) throw new Error(`token: ${token.status} ${token.text}`);
	return token.json.access_token;
}
