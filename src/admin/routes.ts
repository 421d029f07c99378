import { Hono, type Context } from "hono";
import type * as z from "zod/mini";
import { describeIssues, loadConfig } from "../config/load";
import type { Reason } from "../errors/catalogue";
import { DEFAULT_ERROR_CONTEXT, renderError } from "../errors/render";
import { secretsEqual } from "../keys/crypto";
import { listKeys } from "../keys/store";
import { publicView } from "../keys/record";
import { authority } from "../authority/client";
import type { Bindings } from "../env";
import { logEvent } from "../util/log";
import { actorFrom, listAudit } from "./audit";
import { CreateKeyBody, CreatePairBody, OwnerRoleBody, RotateBody, UpdateKeyBody } from "./bodies";
import { openApiDocument } from "./openapi";
import {
	AdminError,
	KEY_ID,
	createKey,
	createPair,
	deleteKey,
	getOwner,
	keyUsage,
	revokeKey,
	rotateKey,
	setOwnerRole,
	showKey,
	updateKey,
	type Services,
} from "./service";

type AdminEnv = { Bindings: Bindings; Variables: { services: Services } };

const fail = (reason: Reason, message?: string) => renderError(reason, DEFAULT_ERROR_CONTEXT, { message });

async function readBody<S extends z.ZodMiniType>(c: Context<AdminEnv>, schema: S, optional = false): Promise<z.output<S>> {
	const text = await c.req.text();
	let json: unknown = {};
	if (text.trim() !== "" || !optional) {
		try {
			json = JSON.parse(text);
		} catch {
			throw new AdminError("invalid_request", "body: expected a JSON object");
		}
	}
	const parsed = schema.safeParse(json);
	if (!parsed.success) throw new AdminError("invalid_request", describeIssues(parsed.error));
	return parsed.data;
}

export const adminApp = new Hono<AdminEnv>();

/**
 * Admin auth: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. With no
 * ADMIN_TOKEN configured the admin API is closed (503), never open.
 */
adminApp.use("*", async (c, next) => {
	const expected = c.env.ADMIN_TOKEN;
	if (!expected) {
		logEvent("secret_missing", { name: "ADMIN_TOKEN" });
		return fail("secret_missing");
	}
	const header = c.req.header("Authorization") ?? "";
	const match = /^Bearer +(\S+)$/i.exec(header);
	if (!match || !(await secretsEqual(match[1]!, expected))) return fail("admin_unauthorized");
	const config = loadConfig(c.env);
	if (!config.ok) return fail("config_invalid");
	c.set("services", {
		kv: c.env.KEYS,
		authority: authority(c.env),
		config: config.value,
		actor: actorFrom(c.req.header("X-Keygate-Actor")),
	});
	await next();
});

adminApp.get("/openapi.json", (c) => c.json(openApiDocument));

adminApp.post("/keys", async (c) => {
	const created = await createKey(c.var.services, await readBody(c, CreateKeyBody));
	return c.json({ ...created.record, key: created.key }, 201);
});

adminApp.post("/key-pairs", async (c) => {
	const pair = await createPair(c.var.services, await readBody(c, CreatePairBody));
	const shown = (k: { record: object; key: string } | undefined) => (k ? { ...k.record, key: k.key } : undefined);
	return c.json({ publishable: shown(pair.publishable), identifier: shown(pair.identifier), secret: shown(pair.secret) }, 201);
});

adminApp.get("/keys", async (c) => {
	const api = c.req.query("api");
	if (api !== undefined && !c.var.services.config.apis.some((a) => a.name === api)) {
		throw new AdminError("invalid_request", `api: "${api}" is not a configured API`);
	}
	const page = await listKeys(c.env.KEYS, api, c.req.query("cursor") || undefined);
	// Each listed key shows its authority's lifecycle fields, as GET /keys/{id} does.
	const data = await Promise.all(page.data.map((k) => showKey(c.var.services, k.id).catch(() => publicView(k))));
	return c.json({ data, cursor: page.cursor });
});

adminApp.get("/keys/:id", async (c) => c.json(await showKey(c.var.services, c.req.param("id"))));

adminApp.patch("/keys/:id", async (c) => c.json(await updateKey(c.var.services, c.req.param("id"), await readBody(c, UpdateKeyBody))));

adminApp.get("/keys/:id/usage", async (c) => c.json(await keyUsage(c.var.services, c.req.param("id"))));

adminApp.post("/keys/:id/revoke", async (c) => c.json(await revokeKey(c.var.services, c.req.param("id"))));

adminApp.post("/keys/:id/rotate", async (c) => {
	const body = await readBody(c, RotateBody, true);
	const { created, previous } = await rotateKey(c.var.services, c.req.param("id"), body.gracePeriodSeconds);
	return c.json({ ...created.record, key: created.key, previous }, 201);
});

adminApp.delete("/keys/:id", async (c) => {
	await deleteKey(c.var.services, c.req.param("id"));
	return c.body(null, 204);
});

adminApp.get("/audit", async (c) => {
	const keyId = c.req.query("keyId") || undefined;
	if (keyId !== undefined && !KEY_ID.test(keyId)) throw new AdminError("invalid_request", "keyId: not a key id");
	return c.json(await listAudit(c.env.KEYS, keyId, c.req.query("cursor") || undefined));
});

adminApp.put("/owners/:owner", async (c) => {
	const body = await readBody(c, OwnerRoleBody);
	return c.json(await setOwnerRole(c.var.services, c.req.param("owner"), body.api, body.role));
});

adminApp.get("/owners/:owner", async (c) => c.json(await getOwner(c.var.services, c.req.param("owner"), c.req.query("api") || undefined)));

adminApp.all("*", () => fail("not_found"));

adminApp.onError((err) => {
	if (err instanceof AdminError) return fail(err.reason, err.message);
	logEvent("internal_error", { area: "admin", error: String(err) });
	return fail("internal_error");
});
