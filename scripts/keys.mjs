#!/usr/bin/env node
// keygate's key CLI: a thin client for the admin API at <url>/_keygate/v1.
//
//   npm run keys -- create --name demo --scopes read,write
//   npm run keys -- list
//   npm run keys -- help
//
// Plain Node (>= 20), no dependencies. Exit codes: 0 done, 1 the request failed (an
// error answer or no answer), 2 the command line was wrong.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export const DEFAULT_URL = "http://localhost:8787";
const ADMIN_PREFIX = "/_keygate/v1";
const REQUEST_TIMEOUT_MS = 30_000;

const USAGE = `Usage: npm run keys -- <command> [options]

Commands:
  create            Create a key                         POST   /keys
  pair              Create a publishable + secret pair   POST   /key-pairs
  list              List keys                            GET    /keys
  show <id>         Show one key                         GET    /keys/<id>
  revoke <id>       Revoke a key now                     POST   /keys/<id>/revoke
  reveal <id>       Show a publishable key or an         POST   /keys/<id>/reveal
                    identifier again (never a secret key)
  rotate <id>       Replace a key; the old one keeps     POST   /keys/<id>/rotate
                    working for a grace period
  delete <id>       Delete a key                         DELETE /keys/<id>
  usage <id>        Show a key's usage counters          GET    /keys/<id>/usage
  update <id>       Change a key's fields                PATCH  /keys/<id>
  audit             List key-management events           GET    /audit
  owner <owner>     Show an owner's role, or set it      GET|PUT /owners/<owner>
                    with --role
  oauth-client      Register an OAuth client             POST   /oauth/clients
  oauth-clients     List an API's OAuth clients          GET    /oauth/clients
  oauth-client-show <id>    Show an OAuth client         GET    /oauth/clients/<id>
  oauth-client-rotate <id>  New client secret            POST   /oauth/clients/<id>/rotate-secret
  oauth-client-delete <id>  Delete a client, revoking    DELETE /oauth/clients/<id>
                    its grants
  oauth-grants      List grants (--subject or            GET    /oauth/grants
                    --client-id)
  oauth-revoke      Revoke grants (--subject,            POST   /oauth/grants/revoke
                    --client-id, --grant-id)
  help              Show this help

create and pair:
  --name NAME              required
  --api NAME               configured API (default: the first)
  --type TYPE              key type, e.g. sk or pk (create only; default: the API's first secret type)
  --environment ENV        e.g. live or test (default: the API's first)
  --scopes a,b             comma-separated scopes
  --tier NAME              rate-limit tier (default: the API's defaultTier)
  --limit N|null           per-key limit per window (null = unlimited); with --burst,
  --window SECONDS         and optionally --window (default 3600), replaces the tier
  --burst N                requests per second
  --expires-at ISO         e.g. 2030-01-01T00:00:00Z
  --ip-allowlist a,b       addresses or CIDR ranges
  --owner TEXT             who the key belongs to
  --service TEXT           the service or integration using the key (for audit)
  --metadata JSON          a JSON object, at most 4096 bytes
update: the same flags as create (except --api, --type, --environment), all optional;
        null clears --expires-at, --ip-allowlist, --owner, --service or --metadata
audit:
  --key-id ID              only this key's events
  --action ACTION          only this action (key.created, key.revoked, ...)
  --actor-type TYPE        token, console, portal or system
  --from DATE              at or after: 2026-12-05 (that UTC day's start) or an RFC 3339 time
  --to DATE                up to: 2026-12-05 (inclusive) or an RFC 3339 time (exclusive)
  --cursor CURSOR          the next page
owner:
  --role NAME              set the owner's role (else show it)
  --api NAME               configured API (default: the first)
list:
  --api NAME               only this API's keys
  --cursor CURSOR          the next page (the "cursor" of the previous answer)
oauth-client:
  --name NAME              required
  --redirect-uris a,b      required; exact URLs
  --type TYPE              confidential (default) or public (PKCE, no secret)
  --api, --scopes, --tier, --environment as for create
oauth-clients, oauth-grants, oauth-revoke: --api NAME; oauth-grants, oauth-revoke: --subject, --client-id
rotate:
  --grace-period SECONDS   how long the old key keeps working (default the API's
                           keys.rotationGraceSeconds, 86400 unless configured; at most its
                           keys.maxRotationGraceSeconds when set: 400 otherwise; a key whose
                           predecessor still works takes only 0: 409 conflict otherwise)

Global options:
  --url URL                keygate's base URL (default: $KEYGATE_URL, else http://localhost:$KEYGATE_PORT, else ${DEFAULT_URL})
  --token TOKEN            admin token (default: $ADMIN_TOKEN, else ADMIN_TOKEN in ./.dev.vars)
  -h, --help               show this help

Answers are printed to stdout as JSON (delete prints {"id": ..., "deleted": true}).
A new key's plaintext "key" is shown once only: keygate stores just its hash.
Exit codes: 0 success, 1 the request failed, 2 bad command line.`;

class UsageError extends Error {}

const GLOBAL_FLAGS = ["url", "token"];
const KEY_FLAGS = [
	"name",
	"api",
	"environment",
	"scopes",
	"tier",
	"limit",
	"window",
	"burst",
	"expires-at",
	"ip-allowlist",
	"owner",
	"service",
	"metadata",
];

/** Each command: the flags it takes, whether it takes an <id>, and the request it makes. */
const COMMANDS = {
	create: {
		flags: [...KEY_FLAGS, "type"],
		id: false,
		request: (_id, f) => ({ method: "POST", path: "/keys", body: keyBody(f) }),
		secret: true,
	},
	pair: { flags: KEY_FLAGS, id: false, request: (_id, f) => ({ method: "POST", path: "/key-pairs", body: keyBody(f) }), secret: true },
	list: {
		flags: ["api", "cursor"],
		id: false,
		request: (_id, f) => {
			const query = new URLSearchParams();
			if (f.api !== undefined) query.set("api", f.api);
			if (f.cursor !== undefined) query.set("cursor", f.cursor);
			const qs = query.toString();
			return { method: "GET", path: `/keys${qs ? `?${qs}` : ""}` };
		},
	},
	show: { flags: [], id: true, request: (id) => ({ method: "GET", path: `/keys/${enc(id)}` }) },
	revoke: { flags: [], id: true, request: (id) => ({ method: "POST", path: `/keys/${enc(id)}/revoke` }) },
	reveal: { flags: [], id: true, request: (id) => ({ method: "POST", path: `/keys/${enc(id)}/reveal` }) },
	rotate: {
		flags: ["grace-period"],
		id: true,
		request: (id, f) => ({
			method: "POST",
			path: `/keys/${enc(id)}/rotate`,
			body: f["grace-period"] === undefined ? {} : { gracePeriodSeconds: integer("--grace-period", f["grace-period"], 0) },
		}),
		secret: true,
	},
	delete: { flags: [], id: true, request: (id) => ({ method: "DELETE", path: `/keys/${enc(id)}` }) },
	usage: { flags: [], id: true, request: (id) => ({ method: "GET", path: `/keys/${enc(id)}/usage` }) },
	update: {
		flags: KEY_FLAGS.filter((f) => f !== "api" && f !== "environment"),
		id: true,
		request: (id, f) => ({ method: "PATCH", path: `/keys/${enc(id)}`, body: keyBody(f, false) }),
	},
	audit: {
		flags: ["key-id", "action", "actor-type", "from", "to", "cursor"],
		id: false,
		request: (_id, f) => {
			const query = new URLSearchParams();
			const names = { "key-id": "keyId", action: "action", "actor-type": "actorType", from: "from", to: "to", cursor: "cursor" };
			for (const [flag, name] of Object.entries(names)) if (f[flag] !== undefined) query.set(name, f[flag]);
			const qs = query.toString();
			return { method: "GET", path: `/audit${qs ? `?${qs}` : ""}` };
		},
	},
	owner: {
		flags: ["role", "api"],
		id: true,
		request: (owner, f) =>
			f.role === undefined
				? { method: "GET", path: `/owners/${enc(owner)}${f.api !== undefined ? `?api=${enc(f.api)}` : ""}` }
				: { method: "PUT", path: `/owners/${enc(owner)}`, body: { role: f.role, ...(f.api !== undefined ? { api: f.api } : {}) } },
	},
	"oauth-client": {
		flags: ["name", "api", "redirect-uris", "type", "scopes", "tier", "environment"],
		id: false,
		request: (_id, f) => {
			if (f.name === undefined || f["redirect-uris"] === undefined) throw new UsageError("--name and --redirect-uris are required");
			const body = { name: f.name, redirectUris: list(f["redirect-uris"]) };
			for (const field of ["api", "type", "tier", "environment"]) if (f[field] !== undefined) body[field] = f[field];
			if (f.scopes !== undefined) body.scopes = list(f.scopes);
			return { method: "POST", path: "/oauth/clients", body };
		},
		secret: true,
	},
	"oauth-clients": {
		flags: ["api"],
		id: false,
		request: (_id, f) => ({ method: "GET", path: `/oauth/clients${f.api !== undefined ? `?api=${enc(f.api)}` : ""}` }),
	},
	"oauth-client-show": { flags: [], id: true, request: (id) => ({ method: "GET", path: `/oauth/clients/${enc(id)}` }) },
	"oauth-client-rotate": {
		flags: [],
		id: true,
		request: (id) => ({ method: "POST", path: `/oauth/clients/${enc(id)}/rotate-secret` }),
		secret: true,
	},
	"oauth-client-delete": { flags: [], id: true, request: (id) => ({ method: "DELETE", path: `/oauth/clients/${enc(id)}` }) },
	"oauth-grants": {
		flags: ["api", "subject", "client-id"],
		id: false,
		request: (_id, f) => {
			const query = new URLSearchParams();
			if (f.api !== undefined) query.set("api", f.api);
			if (f.subject !== undefined) query.set("subject", f.subject);
			if (f["client-id"] !== undefined) query.set("clientId", f["client-id"]);
			return { method: "GET", path: `/oauth/grants?${query}` };
		},
	},
	"oauth-revoke": {
		flags: ["api", "subject", "client-id", "grant-id"],
		id: false,
		request: (_id, f) => {
			const body = {};
			for (const [flag, field] of [
				["api", "api"],
				["subject", "subject"],
				["client-id", "clientId"],
				["grant-id", "grantId"],
			])
				if (f[flag] !== undefined) body[field] = f[flag];
			return { method: "POST", path: "/oauth/grants/revoke", body };
		},
	},
};

const enc = (id) => encodeURIComponent(id);

function integer(flag, raw, min = 1) {
	const n = Number(raw);
	if (raw.trim() === "" || !Number.isInteger(n) || n < min) throw new UsageError(`${flag}: expected an integer >= ${min}, got "${raw}"`);
	return n;
}

const list = (raw) =>
	raw
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean);

/** The create / pair / update body from the flags; only the fields given are sent, so the server's defaults apply. */
function keyBody(f, requireName = true) {
	if (requireName && f.name === undefined) throw new UsageError("--name is required");
	const body = f.name === undefined ? {} : { name: f.name };
	if (f.api !== undefined) body.api = f.api;
	if (f.type !== undefined) body.type = f.type;
	if (f.environment !== undefined) body.environment = f.environment;
	if (f.scopes !== undefined) body.scopes = list(f.scopes);
	if (f.tier !== undefined) body.tier = f.tier;
	if (f.limit !== undefined || f.window !== undefined || f.burst !== undefined) {
		if (f.limit === undefined || f.burst === undefined) throw new UsageError("--limit and --burst go together (with an optional --window)");
		body.rateLimit = {
			limit: f.limit === "null" ? null : integer("--limit", f.limit),
			...(f.window !== undefined ? { window: integer("--window", f.window) } : {}),
			burst: integer("--burst", f.burst),
		};
	}
	// On update, `null` clears a field, as PATCH's `null` does (found by a peer: it stored the text "null").
	const clears = (value) => !requireName && value === "null";
	if (f["expires-at"] !== undefined) body.expiresAt = clears(f["expires-at"]) ? null : f["expires-at"];
	if (f["ip-allowlist"] !== undefined) body.ipAllowlist = clears(f["ip-allowlist"]) ? null : list(f["ip-allowlist"]);
	if (f.owner !== undefined) body.owner = clears(f.owner) ? null : f.owner;
	if (f.service !== undefined) body.service = clears(f.service) ? null : f.service;
	if (f.metadata !== undefined && clears(f.metadata)) body.metadata = null;
	else if (f.metadata !== undefined) {
		let metadata;
		try {
			metadata = JSON.parse(f.metadata);
		} catch {
			throw new UsageError(`--metadata: not valid JSON: ${f.metadata}`);
		}
		if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata))
			throw new UsageError("--metadata: expected a JSON object");
		body.metadata = metadata;
	}
	return body;
}

/** Splits argv into the command, its positionals and its --flags (`--flag value` or `--flag=value`). */
export function parseArgs(argv) {
	const positionals = [];
	const flags = {};
	let help = false;
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === "-h" || arg === "--help") {
			help = true;
		} else if (arg === "--") {
			positionals.push(...argv.slice(i + 1));
			break;
		} else if (arg.startsWith("--")) {
			const eq = arg.indexOf("=");
			const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
			let value;
			if (eq !== -1) value = arg.slice(eq + 1);
			else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) value = argv[++i];
			else throw new UsageError(`--${name} needs a value`);
			if (name in flags) throw new UsageError(`--${name} given twice`);
			flags[name] = value;
		} else if (arg.startsWith("-") && arg.length > 1) {
			throw new UsageError(`unknown option ${arg}`);
		} else {
			positionals.push(arg);
		}
	}
	const [command, ...rest] = positionals;
	return { command, positionals: rest, flags, help };
}

/** Reads one variable from a dotenv-style file; undefined if the file or the variable is absent. */
export function readDotVar(file, name) {
	let text;
	try {
		text = readFileSync(file, "utf8");
	} catch {
		return undefined;
	}
	let found;
	for (const line of text.split(/\r?\n/)) {
		const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
		if (!m || m[1] !== name) continue;
		let value = m[2];
		const quoted = /^(["'`])(.*)\1$/.exec(value);
		if (quoted) value = quoted[2];
		else value = value.replace(/\s+#.*$/, "");
		found = value; // the last definition wins, as in dotenv
	}
	return found === "" ? undefined : found;
}

function resolveUrl(flag, env) {
	const raw = flag ?? env.KEYGATE_URL ?? (env.KEYGATE_PORT ? `http://localhost:${env.KEYGATE_PORT}` : DEFAULT_URL);
	let url;
	try {
		url = new URL(raw);
	} catch {
		throw new UsageError(`--url: not a URL: ${raw}`);
	}
	if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--url: expected http or https: ${raw}`);
	return raw.replace(/\/+$/, "");
}

function resolveToken(flag, env, cwd) {
	if (flag !== undefined && flag !== "") return { token: flag };
	if (env.ADMIN_TOKEN) return { token: env.ADMIN_TOKEN };
	const file = resolve(cwd, ".dev.vars");
	const fromFile = readDotVar(file, "ADMIN_TOKEN");
	return fromFile ? { token: fromFile } : { missing: file };
}

function networkHint(err) {
	const cause = err?.cause;
	const code = cause?.code ?? cause?.errors?.[0]?.code;
	if (err?.name === "TimeoutError") return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
	return code ?? cause?.message ?? err?.message ?? String(err);
}

/**
 * Runs the CLI. Output goes through `out` / `err` (one string per call), so it can be
 * driven in-process; returns the exit code.
 */
export async function main(
	argv,
	{
		env = process.env,
		cwd = process.cwd(),
		out = (s) => process.stdout.write(s + "\n"),
		err = (s) => process.stderr.write(s + "\n"),
		fetchImpl = globalThis.fetch,
	} = {},
) {
	let parsed;
	try {
		parsed = parseArgs(argv);
	} catch (e) {
		err(`keys: ${e.message}\n\n${USAGE}`);
		return 2;
	}
	const { command, positionals, flags, help } = parsed;
	if (help || command === "help") {
		out(USAGE);
		return 0;
	}
	if (command === undefined) {
		err(USAGE);
		return 2;
	}
	const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
	if (!spec) {
		err(`keys: unknown command "${command}"\n\n${USAGE}`);
		return 2;
	}

	let url, request, token;
	try {
		for (const name of Object.keys(flags)) {
			if (!GLOBAL_FLAGS.includes(name) && !spec.flags.includes(name)) throw new UsageError(`unknown option --${name} for ${command}`);
		}
		const wanted = spec.id ? 1 : 0;
		if (positionals.length < wanted) throw new UsageError(`${command}: the key <id> is required`);
		if (positionals.length > wanted) throw new UsageError(`${command}: unexpected argument "${positionals[wanted]}"`);
		url = resolveUrl(flags.url, env);
		request = spec.request(positionals[0], flags);
		const auth = resolveToken(flags.token, env, cwd);
		if (auth.missing) {
			err(`keys: no admin token. Pass --token, set ADMIN_TOKEN, or put ADMIN_TOKEN in ${auth.missing} (npm run dev creates it).`);
			return 2;
		}
		token = auth.token;
	} catch (e) {
		if (!(e instanceof UsageError)) throw e;
		err(`keys: ${e.message}\n\n${USAGE}`);
		return 2;
	}

	const target = `${url}${ADMIN_PREFIX}${request.path}`;
	const headers = { Authorization: `Bearer ${token}`, Accept: "application/json" };
	if (request.body !== undefined) headers["Content-Type"] = "application/json";
	let res, text;
	try {
		res = await fetchImpl(target, {
			method: request.method,
			headers,
			body: request.body === undefined ? undefined : JSON.stringify(request.body),
			signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
		});
		text = await res.text();
	} catch (e) {
		err(`keys: could not reach keygate at ${url} (${networkHint(e)}).`);
		err(`      Is it running? Start it with \`npm run dev\`, or point --url / KEYGATE_URL at it.`);
		return 1;
	}

	let json;
	try {
		json = text === "" ? undefined : JSON.parse(text);
	} catch {
		json = undefined;
	}
	if (!res.ok) {
		err(json !== undefined ? JSON.stringify(json, null, 2) : text || `HTTP ${res.status} ${res.statusText}`);
		if (res.status === 401 && json?.error === "invalid_admin_token")
			err("keys: the admin token was refused; check --token, ADMIN_TOKEN or .dev.vars.");
		else if (res.status === 404 && json === undefined) err(`keys: ${target} answered 404; is ${url} a keygate?`);
		return 1;
	}
	if (res.status === 204 || text === "") {
		const deleted = command === "delete" || command === "oauth-client-delete";
		out(JSON.stringify(deleted ? { id: positionals[0], deleted: true } : {}, null, 2));
		return 0;
	}
	out(json !== undefined ? JSON.stringify(json, null, 2) : text);
	if (spec.secret) {
		// A public key (publishable, identifier) is derived, so it can be shown again; a secret key or a client secret cannot.
		const publicKey = command !== "pair" && !command.startsWith("oauth-") && json?.kind !== undefined && json.kind !== "secret";
		err(
			command === "pair"
				? 'keys: the secret key\'s plaintext "key" above is shown only once. Store it now: keygate keeps only its hash. The public key of the pair can be shown again: npm run keys -- reveal <its id>.'
				: command.startsWith("oauth-")
					? 'keys: the client "secret" above is shown only once. Store it now: keygate keeps only its hash.'
					: publicKey
						? `keys: this ${json.kind === "identifier" ? "identifier" : "publishable key"} can be shown again: npm run keys -- reveal ${json.id}.`
						: 'keys: the plaintext "key" above is shown only once. Store it now: keygate keeps only its hash.',
		);
	}
	return 0;
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
	main(process.argv.slice(2)).then(
		(code) => {
			process.exitCode = code;
		},
		(e) => {
			console.error(`keys: ${e?.stack ?? e}`);
			process.exitCode = 1;
		},
	);
}
