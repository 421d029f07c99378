/** The console's owners page: each owner's role per API (APIs with `owners`). */
import { Hono } from "hono";
import { refuseKeysIn, refuseSecretsIn } from "../admin/input";
import { AdminError, getOwner, setOwnerRole } from "../admin/service";
import { ErrorBox, fieldState, FORM_ERROR_ID, UI } from "./layout";
import { formMessage, paramsHoldKey, pastedKeyNotice } from "./present";
import { awayFromKey, pastedKey } from "./data";
import { page, type UiEnv } from "./console-shared";

export const ownerPages = new Hono<UiEnv>();

ownerPages.get("/owners", async (c) => {
	const s = c.var.services;
	const apis = s.config.apis.filter((a) => a.owners);
	const params = new URL(c.req.url).searchParams;
	// A whole key in the owner field (sent without the page's script): its key's page, which
	// names its owner, else a notice; never echoed, and away from the address that holds it.
	const pasted = await pastedKey(s, params.get("owner"));
	if (pasted) return c.redirect(`${UI}/keys/${pasted.id}`, 303);
	if (pasted === null) return c.redirect(awayFromKey(`${UI}/owners`, params), 303);
	// A key in any other parameter, or in a second `owner`, leaves the address too (found by a probe).
	if (paramsHoldKey(params, ["owner"])) return c.redirect(awayFromKey(`${UI}/owners`, params), 303);
	const owner = params.get("owner") ?? "";
	const apiName = params.get("api") ?? apis[0]?.name ?? "";
	let found: Awaited<ReturnType<typeof getOwner>> | null = null;
	let refused: string | null = null;
	try {
		found = owner && apis.some((a) => a.name === apiName) ? await getOwner(s, owner, apiName) : null;
	} catch (e) {
		// A lookup changes nothing: a refused owner id is said beside the form, which keeps what was typed.
		if (!(e instanceof AdminError) || e.reason !== "invalid_request") throw e;
		refused = e.message;
	}
	return page(
		c,
		"Owners and roles",
		<>
			<h1>Owners and roles</h1>
			{apis.length === 0 ? (
				<p>No configured API has owners (keys that inherit their owner's rights).</p>
			) : (
				<>
					{apis.map((a) => (
						<p>
							{a.name}: roles {Object.keys(a.owners!.roles).join(", ")}; default {a.owners!.defaultRole}
						</p>
					))}
					{params.get("pasted") === "1" ? (
						<ErrorBox message={pastedKeyNotice("Owner takes an owner's id, as a key's page names it.")} />
					) : null}
					{refused ? <ErrorBox message={formMessage(refused)} id={FORM_ERROR_ID} /> : null}
					{c.req.query("done") === "role" && found ? (
						<p class="notice" role="status">
							The role was set: the owner's keys have its rights from their next request.
						</p>
					) : null}
					<form method="get" class="filters" data-find={`${UI}/find-key?back=${encodeURIComponent(`${UI}/owners`)}`}>
						<label>
							API
							<select name="api">
								{apis.map((a) => (
									<option value={a.name} selected={a.name === apiName}>
										{a.name}
									</option>
								))}
							</select>
						</label>
						<label>
							Owner
							<input name="owner" value={owner} required {...fieldState(refused ? new Set(["owner"]) : undefined, "owner")} />
						</label>
						<button type="submit">Look up</button>
					</form>
					{found ? (
						<form method="post" action={`${UI}/owners`}>
							<p>
								{found.owner} on {found.api}: <strong>{found.role}</strong> {found.assigned ? "" : "(the default)"}
							</p>
							<input type="hidden" name="api" value={found.api} />
							<input type="hidden" name="owner" value={found.owner} />
							<label>
								New role
								<select name="role">
									{Object.keys(apis.find((a) => a.name === found.api)!.owners!.roles).map((r) => (
										<option value={r} selected={r === found.role}>
											{r}
										</option>
									))}
								</select>
							</label>
							<button type="submit">Set role</button>
						</form>
					) : null}
				</>
			)}
		</>,
	);
});

ownerPages.post("/owners", async (c) => {
	const form = await c.req.parseBody();
	const [api, owner, role] = [form.api, form.owner, form.role].map((x) => (typeof x === "string" ? x : ""));
	refuseKeysIn({ api, owner, role });
	await refuseSecretsIn({ api, owner, role }, c.env);
	await setOwnerRole(c.var.services, owner!, api, role!);
	return c.redirect(`${UI}/owners?${new URLSearchParams({ api: api!, owner: owner!, done: "role" })}`, 303);
});
