import { catalogueEntry, publicCode, type PublicCode, type Reason } from "./catalogue";

/** The error body shapes an API may choose (`errors.style`); see the README's error catalogue. */
export const ERROR_STYLES = ["default", "nested", "minimal", "problem"] as const;
export type ErrorStyle = (typeof ERROR_STYLES)[number];

export interface ErrorContext {
	style: ErrorStyle;
	/** `realm` for WWW-Authenticate. */
	realm: string;
	/** The scheme named in the WWW-Authenticate challenge on 401s. */
	scheme: string;
	/** Per-API replacements for a public code's code and message. */
	overrides?: Record<string, { code?: string; message?: string }>;
}

export const DEFAULT_ERROR_CONTEXT: ErrorContext = { style: "default", realm: "keygate", scheme: "Bearer" };

export interface ErrorDetails {
	/** Seconds, for 429: fills `{retryAfter}` in the message and the Retry-After header. */
	retryAfter?: number;
	/** Replaces the catalogue message (used for admin 400s that name the field). */
	message?: string;
	headers?: Headers | Record<string, string>;
}

const REASON_PHRASES: Record<number, string> = {
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	409: "Conflict",
	429: "Too Many Requests",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
};

/** RFC 6750 §3.1 error code for the challenge: none when no credential was sent. */
function challengeError(code: PublicCode): string | undefined {
	return code === "missing_api_key" ? undefined : "invalid_token";
}

function body(style: ErrorStyle, status: number, code: string, message: string): unknown {
	switch (style) {
		case "default":
			return { error: code, message };
		case "nested":
			return { error: { code, message } };
		case "minimal":
			return { error: REASON_PHRASES[status] ?? "Error" };
		case "problem":
			return { type: `urn:keygate:error:${code}`, title: REASON_PHRASES[status] ?? "Error", status, detail: message, code };
	}
}

/**
 * Every error keygate answers is built here, in the API's style. Bodies are
 * pretty-printed with two spaces, as the documented pages print them, so a body can be
 * compared byte for byte with its documentation.
 */
export function renderError(reason: Reason, ctx: ErrorContext, details: ErrorDetails = {}): Response {
	const entry = catalogueEntry(publicCode(reason));
	const override = ctx.overrides?.[entry.code];
	const code = override?.code ?? entry.code;
	let message = details.message ?? override?.message ?? entry.message;
	if (details.retryAfter !== undefined) message = message.replace("{retryAfter}", String(details.retryAfter));

	const headers = new Headers(details.headers);
	headers.set("Content-Type", ctx.style === "problem" ? "application/problem+json" : "application/json");
	headers.set("Cache-Control", "no-store");
	if (entry.status === 401 && entry.code !== "invalid_admin_token") {
		const error = challengeError(entry.code);
		// RFC 6750 §3: the description is the catalogue's fixed text, never an override, so it stays a safe quoted-string.
		const description = entry.code === "token_expired" ? `, error_description="${entry.message}"` : "";
		headers.set("WWW-Authenticate", `${ctx.scheme} realm="${ctx.realm}"${error ? `, error="${error}"` : ""}${description}`);
	} else if (entry.code === "invalid_admin_token") {
		headers.set("WWW-Authenticate", `Bearer realm="keygate-admin"`);
	}
	if (details.retryAfter !== undefined) headers.set("Retry-After", String(details.retryAfter));
	return new Response(JSON.stringify(body(ctx.style, entry.status, code, message), null, 2), {
		status: entry.status,
		headers,
	});
}
