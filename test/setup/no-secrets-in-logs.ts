import { afterEach, expect } from "vitest";
import { BODY_LENGTH, parseKey } from "../../src/keys/format";
import { TEST_ADMIN_TOKEN, TEST_SIGNING_SECRET } from "../constants";

/**
 * Runs around every test of the workers project: whatever keygate or a test prints, no
 * line may hold a key (anything that passes the key checksum, real or invented) or the
 * admin token or signing secret. keygate never logs a presented credential, so any such
 * line is a leak, and the test that caused it fails.
 */
const KEY_SHAPED = new RegExp(`[a-z][a-z0-9]{0,23}_[a-z][a-z0-9]{0,23}_[0-9A-Za-z]{${BODY_LENGTH}}`, "g");
/** OAuth credentials: access tokens, codes, refresh tokens and client secrets, by their prefixes. */
const OAUTH_SHAPED = /kg(?:at|ac|rt)_[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{43}|kgcs_[A-Za-z0-9_-]{43}/g;
const leaks: string[] = [];

function inspect(line: string): void {
	if (line.includes(TEST_ADMIN_TOKEN) || line.includes(TEST_SIGNING_SECRET)) leaks.push(`secret in: ${line.slice(0, 200)}`);
	for (const m of line.matchAll(OAUTH_SHAPED))
		leaks.push(`oauth credential ${m[0].slice(0, 8)}… in: ${line.slice(0, 120).replace(OAUTH_SHAPED, "[redacted]")}`);
	for (const m of line.matchAll(KEY_SHAPED)) if (parseKey(m[0])) leaks.push(`key ${m[0].slice(0, 12)}… in: ${line.slice(0, 200)}`);
}

for (const method of ["log", "info", "warn", "error", "debug"] as const) {
	const original = console[method].bind(console);
	console[method] = (...args: unknown[]) => {
		inspect(
			args
				.map((a) =>
					typeof a === "string"
						? a
						: (() => {
								try {
									return JSON.stringify(a);
								} catch {
									return String(a);
								}
							})(),
				)
				.join(" "),
		);
		original(...args);
	};
}

afterEach(() => {
	const found = leaks.splice(0);
	expect(found, "a secret reached a log line").toEqual([]);
});
