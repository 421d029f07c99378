/**
 * The console and the portal in a real browser: playwright-core driving the system's
 * Chromium (/usr/bin/chromium; `.ci/run` installs it) against `wrangler dev` on free ports.
 * Every page is checked with axe (no serious or critical issue). With
 * KEYGATE_SCREENSHOTS=1 (`npm run screenshots`) each page is also saved under
 * docs/screenshots/ for the README; otherwise screenshots go to a temporary directory.
 */
import { AxeBuilder } from "@axe-core/playwright";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePorts, ROOT, startStack, type Stack } from "./stack";

const CHROMIUM = "/usr/bin/chromium";
const SHOTS = process.env.KEYGATE_SCREENSHOTS === "1" ? path.join(ROOT, "docs/screenshots") : "";

let stack: Stack;
let context: BrowserContext;
let profile: string;
let shotDir: string;
let elsewhere: http.Server;
let elsewhereUrl = "";
let page: Page;

beforeAll(async () => {
	expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`).toBe(true);
	stack = await startStack({
		oauth: { rateLimitBy: "subject" },
		// A page of the origin with the console's own opener policy (helmet's default), for the test below.
		originResponseHeaders: (r): Record<string, string> => (r.query.coop ? { "Cross-Origin-Opener-Policy": "same-origin" } : {}),
	});
	profile = await mkdtemp(path.join(os.tmpdir(), "keygate-chromium-"));
	shotDir = SHOTS || (await mkdtemp(path.join(os.tmpdir(), "keygate-shots-")));
	await mkdir(shotDir, { recursive: true });
	context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1280, height: 800 },
		args: [
			"--headless",
			"--no-sandbox",
			"--disable-gpu",
			"--disable-quic",
			"--no-first-run",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync",
		],
	});
	await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.url });
	page = context.pages()[0] ?? (await context.newPage());
	// Another site (localhost is a different site from 127.0.0.1): a page linking to a portal URL.
	const [port] = await freePorts(1);
	elsewhere = http.createServer((req, res) => {
		const to = new URL(req.url ?? "/", "http://x").searchParams.get("to") ?? "";
		res.writeHead(200, { "Content-Type": "text/html" });
		res.end(`<!doctype html><title>The customer's app</title><a id="go" href="${to.replace(/"/g, "&quot;")}">Manage API keys</a>`);
	});
	await new Promise<void>((resolve) => elsewhere.listen(port, "127.0.0.1", resolve));
	elsewhereUrl = `http://localhost:${port}`;
}, 180_000);

afterAll(async () => {
	await context?.close();
	await stack?.stop();
	await new Promise((r) => (elsewhere ? elsewhere.close(r) : r(undefined)));
	if (profile) await rm(profile, { recursive: true, force: true });
	if (!SHOTS && shotDir) await rm(shotDir, { recursive: true, force: true });
});

const UI = () => `${stack.url}/_keygate/ui`;
const gateway = (key: string, init: RequestInit = {}) =>
	fetch(`${stack.url}/v1/hello`, { ...init, headers: { Authorization: `Bearer ${key}`, ...(init.headers ?? {}) } }).then(async (r) => {
		await r.arrayBuffer();
		return r.status;
	});
const checked = new Set<string>();

/** axe on the current page: no serious or critical issue; and a screenshot, once per page name. */
async function audit(name: string, mask: string[] = []): Promise<void> {
	const result = await new AxeBuilder({ page }).analyze();
	const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
	expect(
		bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
		`axe on ${name}`,
	).toEqual([]);
	if (!checked.has(name)) {
		checked.add(name);
		await page.screenshot({ path: path.join(shotDir, `${name}.png`), fullPage: true, mask: mask.map((m) => page.locator(m)) });
	}
}

/** How far the current page scrolls sideways: 0, or the amount and the widest elements past the edge (for the failure message). */
async function sideways(): Promise<0 | string> {
	const o = await page.evaluate(() => {
		const edge = document.documentElement.clientWidth;
		const past = [...document.querySelectorAll("main *")]
			.filter((e) => e.getBoundingClientRect().right > edge + 1 && !e.closest(".scroll"))
			.map((e) => `${e.tagName.toLowerCase()}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)
			.slice(0, 5);
		return { by: document.documentElement.scrollWidth - edge, past };
	});
	return o.by === 0 ? 0 : `${o.by} px: ${o.past.join(", ")}`;
}

async function signIn(): Promise<void> {
	await page.goto(`${UI()}/`);
	await page.getByLabel("Admin token").fill(stack.adminToken);
	await page.getByRole("button", { name: "Sign in" }).click();
	await page.waitForURL(`${UI()}/`);
}

async function generateKey(name: string): Promise<{ key: string; id: string }> {
	await page.goto(`${UI()}/apis/demo/keys/new`);
	await page.getByLabel("Name").fill(name);
	await page.getByRole("checkbox", { name: "read" }).check();
	await page.getByRole("button", { name: "Generate new key" }).click();
	const key = (await page.locator("#secret-0").textContent())!.trim();
	expect(key).toMatch(/^sk_live_[0-9A-Za-z]{49}$/);
	const res = await fetch(`${stack.url}/_keygate/v1/keys?api=demo`, { headers: { Authorization: `Bearer ${stack.adminToken}` } });
	const list = (await res.json()) as { data: { id: string; name: string; last4: string }[] };
	const id = list.data.find((k) => k.name === name && k.last4 === key.slice(-4))!.id;
	return { key, id };
}

describe("the console in Chromium", () => {
	it("sign-in: a wrong token is refused; the right one sets the session cookie with its flags", async () => {
		await page.goto(`${UI()}/`);
		expect(new URL(page.url()).pathname).toBe("/_keygate/ui/login");
		await audit("login");
		await page.getByLabel("Admin token").fill("not-the-token");
		await page.getByRole("button", { name: "Sign in" }).click();
		await expect.poll(() => page.getByRole("alert").textContent()).toContain("That is not the admin token.");
		expect(await page.content()).not.toContain("not-the-token");
		expect((await context.cookies()).filter((c) => c.name === "__Host-kg_session")).toEqual([]);
		await signIn();
		const [cookie] = (await context.cookies()).filter((c) => c.name === "__Host-kg_session");
		expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
		expect(cookie!.value).not.toContain(stack.adminToken);
		await audit("apis");
	});

	it("generate, copy, call: the clipboard holds the key and it gets 200; after leaving, back and reload show only the masked key", async () => {
		await page.goto(`${UI()}/apis/demo/keys/new`);
		await audit("generate");
		const { key } = await generateKey("browser key");
		await audit("created", ["[data-secret]"]);
		const copy = page.locator(`button[data-copy="secret-0"]`);
		expect(await copy.isVisible()).toBe(true);
		expect(await copy.textContent()).toBe("Copy Your new key");
		// Named for its key, so a pair page's two buttons are told apart; sighted users see "Copy".
		expect(await page.getByRole("button", { name: "Copy Your new key" }).count()).toBe(1);
		await copy.click();
		await expect.poll(() => copy.textContent()).toBe("Copied Your new key");
		expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
		expect(await gateway(key)).toBe(200);
		await page.getByRole("button", { name: "I've saved this key" }).click();
		await page.waitForURL(/\/apis\/demo\/keys$/);
		expect(await page.content()).toContain(`sk_live_…${key.slice(-4)}`);
		expect(await page.content()).not.toContain(key);
		await audit("keys");
		// Back lands on the empty form (the page that showed the key was a POST answer, not a history entry to revisit).
		expect((await page.goBack())?.status()).toBe(200);
		expect(page.url()).toMatch(/\/apis\/demo\/keys\/new$/);
		expect(await page.content()).not.toContain(key);
		expect((await page.goForward())?.status()).toBe(200);
		expect(page.url()).toMatch(/\/apis\/demo\/keys$/);
		expect(await page.content()).not.toContain(key);
		expect((await page.reload())?.status()).toBe(200);
		expect(await page.content()).toContain(`sk_live_…${key.slice(-4)}`);
		expect(await page.content()).not.toContain(key);
	});

	it("without the script there is no Copy button that does nothing; the key is shown to copy by hand (found by a browser QA pass)", async () => {
		await page.route("**/_keygate/ui/static/*.js", (r) => r.abort());
		try {
			const { key } = await generateKey("no script");
			expect(await page.locator(`button[data-copy="secret-0"]`).isVisible()).toBe(false);
			expect(await page.locator("#secret-0").isVisible()).toBe(true);
			expect(await gateway(key)).toBe(200);
		} finally {
			await page.unroute("**/_keygate/ui/static/*.js");
		}
	});

	it("reloading the page that showed a new key sends nothing twice: no second key, no secret (found by a browser QA pass)", async () => {
		const name = `reload ${Date.now()}`;
		const { key } = await generateKey(name);
		await page.reload();
		await page.waitForLoadState("load");
		expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("This form was already sent");
		expect(await page.content()).not.toContain(key);
		expect(await page.locator("#secret-0").count()).toBe(0);
		const res = await fetch(`${stack.url}/_keygate/v1/keys?api=demo`, { headers: { Authorization: `Bearer ${stack.adminToken}` } });
		const list = (await res.json()) as { data: { name: string }[] };
		expect(list.data.filter((k) => k.name === name)).toHaveLength(1);
		await audit("already-sent");
	});

	it("sort by last used, chosen in the list's form: the key just used comes first", async () => {
		const used = await generateKey("used lately");
		await generateKey("never used since");
		expect(await gateway(used.key)).toBe(200);
		await page.goto(`${UI()}/apis/demo/keys`);
		await page.getByLabel("Sort").selectOption({ label: "Last used" });
		await page.getByRole("button", { name: "Apply" }).click();
		await page.waitForURL(/sort=lastUsed/);
		expect(await page.locator("tbody tr").first().getAttribute("data-key-id")).toBe(used.id);
		expect(await page.locator("tbody tr").first().textContent()).not.toContain("Never used");
	});

	it("the search field shows its whole hint, at the default width and at 320 px (found by a browser QA pass)", async () => {
		await page.goto(`${UI()}/apis/demo/keys`);
		const room = () =>
			page.getByLabel("Search").evaluate((input: HTMLInputElement) => {
				const style = getComputedStyle(input);
				const context = document.createElement("canvas").getContext("2d")!;
				context.font = style.font;
				const inside = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
				return { hint: context.measureText(input.placeholder).width, inside };
			});
		// With room to spare: the hint fitted Chromium's default font by 3 px, and was cut in the QA pass's.
		const wide = await room();
		expect(wide.hint).toBeGreaterThan(0);
		expect(wide.hint * 1.2).toBeLessThanOrEqual(wide.inside);
		const size = page.viewportSize()!;
		await page.setViewportSize({ width: 320, height: 800 });
		try {
			const narrow = await room();
			expect(narrow.hint).toBeLessThanOrEqual(narrow.inside);
			expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(320);
		} finally {
			await page.setViewportSize(size);
		}
	});

	it("a whole key pasted into the search goes by POST: it lands on its key's page and no address ever holds it (found by a browser QA pass)", async () => {
		const pasted = await generateKey("pasted into search");
		const urls: string[] = [];
		const seen = (r: { url(): string }) => urls.push(r.url());
		page.on("request", seen);
		try {
			await page.goto(`${UI()}/apis/demo/keys`);
			await page.getByLabel("Search").fill(pasted.key);
			await page.getByRole("button", { name: "Apply" }).click();
			await page.waitForURL(`${UI()}/keys/${pasted.id}`);
		} finally {
			page.off("request", seen);
		}
		expect(urls.length).toBeGreaterThan(1);
		for (const url of urls) expect(url).not.toContain(pasted.key.slice(-20));
		expect(await page.content()).not.toContain(pasted.key);
		// Cut short by its last 6 characters (a CRC-32 anyone can compute again): a key all the same (a browser QA pass).
		const short = pasted.key.slice(0, -6);
		const after: string[] = [];
		const seenAfter = (r: { url(): string }) => after.push(r.url());
		page.on("request", seenAfter);
		try {
			await page.goto(`${UI()}/apis/demo/keys`);
			await page.getByLabel("Search").fill(short);
			await page.getByRole("button", { name: "Apply" }).click();
			await page.waitForURL((url) => url.pathname === "/_keygate/ui/apis/demo/keys" && url.searchParams.get("pasted") === "1");
		} finally {
			page.off("request", seenAfter);
		}
		for (const url of after) expect(url).not.toContain(short.slice(-20));
		expect(await page.content()).not.toContain(short.slice(-20));
		expect(await page.content()).toContain("That was a whole API key, not a search");
	});

	it("revoke: cancel keeps the key working; confirm makes the next request 401", async () => {
		const { key, id } = await generateKey("to revoke");
		await page.goto(`${UI()}/keys/${id}`);
		await audit("key-detail");
		await page.getByRole("link", { name: "Revoke" }).click();
		const dialog = page.locator("#revoke-dialog");
		await expect.poll(() => dialog.isVisible()).toBe(true);
		expect(await dialog.textContent()).toContain(`Requests with sk_live_…${key.slice(-4)} get 401 from the next request`);
		await audit("revoke-dialog");
		await dialog.getByRole("button", { name: "Cancel" }).click();
		await expect.poll(() => dialog.isVisible()).toBe(false);
		expect(await gateway(key)).toBe(200);
		await page.getByRole("link", { name: "Revoke" }).click();
		await dialog.getByRole("button", { name: "Revoke key" }).click();
		await page.waitForURL(`${UI()}/keys/${id}?done=revoked`);
		expect(await page.getByRole("status").textContent()).toContain("Revoked: requests with");
		expect(await gateway(key)).toBe(401);
		// The no-JavaScript confirmation page says the same.
		const other = await generateKey("confirm page");
		await page.goto(`${UI()}/keys/${other.id}/revoke`);
		await audit("revoke");
	});

	it("rotate with 1 hour: both keys work; Immediately: the old key is 401", async () => {
		const { key, id } = await generateKey("to rotate");
		await page.goto(`${UI()}/keys/${id}/rotate`);
		await audit("rotate");
		expect(await page.getByRole("radio", { name: /24 hours/ }).isChecked()).toBe(true);
		await page.getByRole("radio", { name: /1 hour/ }).check();
		await page.getByRole("button", { name: "Rotate key" }).click();
		const fresh = (await page.locator("#secret-0").textContent())!.trim();
		expect(await gateway(key)).toBe(200);
		expect(await gateway(fresh)).toBe(200);

		const second = await generateKey("rotate now");
		await page.goto(`${UI()}/keys/${second.id}/rotate`);
		await page.getByRole("radio", { name: /Immediately/ }).check();
		await page.getByRole("button", { name: "Rotate key" }).click();
		const next = (await page.locator("#secret-0").textContent())!.trim();
		expect(await gateway(second.key)).toBe(401);
		expect(await gateway(next)).toBe(200);
	});

	it("a double-clicked Rotate is sent once: the new key is shown and works (found by a browser QA pass: a 409 page and no key)", async () => {
		const { key, id } = await generateKey("double rotate");
		await page.goto(`${UI()}/keys/${id}/rotate`);
		await page.getByRole("radio", { name: /Immediately/ }).check();
		await page.evaluate(() => {
			const b = [...document.querySelectorAll("button")].find((x) => x.textContent!.includes("Rotate key"))!;
			b.click();
			setTimeout(() => b.click(), 40);
		});
		await page.waitForSelector("#secret-0");
		await page.waitForTimeout(300); // a second answer, were one sent, would have replaced the page by now
		const next = (await page.locator("#secret-0").textContent())!.trim();
		expect(await gateway(key)).toBe(401);
		expect(await gateway(next)).toBe(200);
	});

	it("a key pair: the publishable key reads, the secret key writes", async () => {
		await page.goto(`${UI()}/apis/demo/keys/new`);
		await page.getByLabel("Name").fill("pair");
		await page.getByRole("checkbox", { name: "read" }).check();
		await page.getByRole("checkbox", { name: "write" }).check();
		await page.getByRole("button", { name: "Create Key Pair" }).click();
		const sk = (await page.locator("#secret-0").textContent())!.trim();
		const pk = (await page.locator("#secret-1").textContent())!.trim();
		expect(pk.startsWith("pk_live_")).toBe(true);
		expect(await gateway(pk)).toBe(200);
		expect(await gateway(pk, { method: "POST", body: "{}" })).toBe(403);
		expect(await gateway(sk, { method: "POST", body: "{}" })).toBe(200);
	});

	it("keyboard only: Enter opens the revoke dialog, Esc closes it and focus returns to the link", async () => {
		const { id, key } = await generateKey("keyboard");
		// One pass and one refusal (a read key's POST), so the charts have bars of both kinds.
		expect(await gateway(key)).toBe(200);
		expect(await gateway(key, { method: "POST", body: "{}" })).toBe(403);
		await page.goto(`${UI()}/keys/${id}`);
		const link = page.getByRole("link", { name: "Revoke" });
		await link.focus();
		await page.keyboard.press("Enter");
		await expect.poll(() => page.locator("#revoke-dialog").isVisible()).toBe(true);
		await page.keyboard.press("Escape");
		await expect.poll(() => page.locator("#revoke-dialog").isVisible()).toBe(false);
		expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe("Revoke");
		// The first Tab reaches a skip link, which takes focus past the header to the page's content.
		await page.goto(`${UI()}/keys/${id}`);
		await page.keyboard.press("Tab");
		expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).toBe("Skip to content");
		await page.keyboard.press("Enter");
		expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");
		// Windows high contrast, dark: the charts' words and numbers take the theme's text colour, not black on black (found by a browser QA pass).
		await page.emulateMedia({ forcedColors: "active", colorScheme: "dark" });
		try {
			const fills = await page.locator("svg text").evaluateAll((els) => els.map((e) => getComputedStyle(e).fill));
			expect(fills.length).toBeGreaterThan(0);
			const system = (name: string) =>
				page.evaluate((color) => {
					const probe = document.createElement("span");
					probe.style.color = color;
					document.body.append(probe);
					const value = getComputedStyle(probe).color;
					probe.remove();
					return value;
				}, name);
			const text = await system("CanvasText");
			expect(text).not.toBe("rgb(0, 0, 0)");
			expect(new Set(fills)).toEqual(new Set([text]));
			// The bars too: passes in the text colour, refusals in the highlight colour, not fixed green and red under 3:1 (a browser QA pass).
			const bars = await page.locator("svg rect").evaluateAll((els) => els.map((e) => getComputedStyle(e).fill));
			expect(new Set(bars)).toEqual(new Set([text, await system("Highlight")]));
		} finally {
			await page.emulateMedia({ forcedColors: "none", colorScheme: "light" });
		}
	});

	it("on a 375-pixel phone no page scrolls sideways; a typed date ticks 'On a date'; a refused form keeps what was typed and ticked", async () => {
		await page.setViewportSize({ width: 375, height: 800 });
		try {
			await page.goto(`${UI()}/login`);
			expect(await sideways(), "the sign-in page").toBe(0);
			await page.getByLabel("Admin token").fill(stack.adminToken);
			await page.getByRole("button", { name: "Sign in" }).click();
			await page.waitForURL(`${UI()}/`);
			await page.goto(`${UI()}/apis/demo/keys/new`);
			await page.getByLabel("Name").fill("phone key");
			await page.getByRole("checkbox", { name: "read" }).check();
			await page.getByLabel("Custom date").fill("2031-03-04");
			expect(await page.getByRole("radio", { name: "On a date" }).isChecked()).toBe(true);
			// Choosing another expiry afterwards clears the date, so the form never contradicts itself (found by a browser QA pass).
			await page.getByRole("radio", { name: "In 30 days" }).check();
			expect(await page.getByLabel("Custom date").inputValue()).toBe("");
			await page.getByLabel("Custom date").fill("2031-03-04");
			expect(await page.getByRole("radio", { name: "On a date" }).isChecked()).toBe(true);
			await page.getByLabel(/IP allowlist/).fill("not-an-address");
			await page.getByRole("button", { name: "Generate new key" }).click();
			await page.waitForLoadState("load");
			expect(await page.locator(".error").textContent()).toContain('IP allowlist "not-an-address"');
			// Focus starts at what to fix, not at the top of the page (found by a browser QA pass).
			expect(await page.evaluate(() => document.activeElement?.classList.contains("error"))).toBe(true);
			// The refused field says so, and is described by the message; the others are not marked.
			const allowlist = page.getByLabel(/IP allowlist/);
			expect(await allowlist.getAttribute("aria-invalid")).toBe("true");
			expect(await allowlist.evaluate((el) => document.getElementById(el.getAttribute("aria-describedby")!)?.textContent)).toContain(
				'IP allowlist "not-an-address"',
			);
			expect(await page.getByLabel("Name").getAttribute("aria-invalid")).toBeNull();
			await audit("generate-refused");
			// Nothing to type or tick again but the mistake.
			expect(await page.getByLabel("Name").inputValue()).toBe("phone key");
			expect(await page.getByRole("checkbox", { name: "read" }).isChecked()).toBe(true);
			expect(await page.getByRole("radio", { name: "On a date" }).isChecked()).toBe(true);
			expect(await page.getByLabel("Custom date").inputValue()).toBe("2031-03-04");
			expect(await page.getByLabel(/IP allowlist/).inputValue()).toBe("not-an-address");
			expect(await sideways()).toBe(0);
			await page.getByLabel(/IP allowlist/).fill("");
			await page.getByRole("button", { name: "Generate new key" }).click();
			const key = (await page.locator("#secret-0").textContent())!.trim();
			expect(key).toMatch(/^sk_live_/);
			expect(await sideways(), "the page that shows the key and its curl line").toBe(0);
			const res = await fetch(`${stack.url}/_keygate/v1/keys?api=demo`, { headers: { Authorization: `Bearer ${stack.adminToken}` } });
			const made = ((await res.json()) as { data: { id: string; name: string; expiresAt: string; scopes: string[] }[] }).data.find(
				(k) => k.name === "phone key",
			)!;
			expect(made).toMatchObject({ expiresAt: "2031-03-04T00:00:00.000Z", scopes: ["read"] });
			// A name with no place to break (found by a browser QA pass: its pages were 1,300 px wide).
			const long = await fetch(`${stack.url}/_keygate/v1/keys`, {
				method: "POST",
				headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
				body: JSON.stringify({ name: `Unbroken${"x".repeat(80)}`, scopes: ["read"] }),
			}).then((r) => r.json() as Promise<{ id: string }>);
			const pages = [`${UI()}/`, `${UI()}/apis/demo/keys`, `${UI()}/keys/${made.id}`, `${UI()}/audit`];
			for (const tail of ["", "/rotate", "/revoke", "/delete"]) pages.push(`${UI()}/keys/${long.id}${tail}`);
			for (const p of pages) {
				await page.goto(p);
				expect(await sideways(), p).toBe(0);
			}
			// Times keep their exact UTC text beside the relative one (a tooltip is out of reach of keyboard and touch).
			await page.goto(`${UI()}/keys/${made.id}`);
			expect(await page.locator("time").first().textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC \(.+\)$/);
			await audit("keys-phone");
			// Charts keep their own size (labels at 12 px), in a region that scrolls sideways, rather than shrinking to 5 px (found by a browser QA pass).
			const charts = await page
				.locator("svg.chart")
				.evaluateAll((svgs) => svgs.map((svg) => ({ drawn: svg.getBoundingClientRect().width, own: Number(svg.getAttribute("width")) })));
			expect(charts.length).toBeGreaterThan(0);
			for (const c of charts) expect(c.drawn).toBe(c.own);
		} finally {
			await page.setViewportSize({ width: 1280, height: 800 });
		}
	});

	it("delete, audit and owners pages pass axe", async () => {
		const { id } = await generateKey("to delete");
		await page.goto(`${UI()}/keys/${id}/delete`);
		await audit("delete");
		await page.getByLabel(/Type the key's name/).fill("to delete");
		await page.getByRole("button", { name: "Delete key" }).click();
		await page.waitForURL(/\/apis\/demo\/keys\?done=deleted$/);
		await page.goto(`${UI()}/audit`);
		await audit("audit");
		await page.goto(`${UI()}/owners`);
		await audit("owners");
	});
});

describe("a session that ends while a form is open (found by a browser QA pass: sign-in went to the list)", () => {
	it("sending the form asks for a sign-in, which goes back to the form's page; nothing was made", async () => {
		await page.goto(`${UI()}/apis/demo/keys/new`);
		await page.getByLabel("Name").fill("after sign-in");
		await context.clearCookies(); // the session ends (a sign-out in another tab)
		await page.getByRole("button", { name: "Generate new key" }).click();
		await page.waitForLoadState("load");
		expect(await page.content()).toContain("a form you were sending was not sent");
		await page.getByLabel("Admin token").fill(stack.adminToken);
		await page.getByRole("button", { name: "Sign in" }).click();
		await page.waitForURL(`${UI()}/apis/demo/keys/new`);
		await page.goto(`${UI()}/apis/demo/keys?q=after`);
		expect(await page.content()).not.toContain("after sign-in");
	});
});

describe("a page the origin serves, in the console's origin (found by a probe)", () => {
	it("its script can neither make a key through the signed-in console nor read a console page, nor reach into a console window it opens", async () => {
		await page.goto(`${UI()}/`);
		expect(page.url()).toBe(`${UI()}/`); // signed in
		// public: the demo origin's answer, through keygate; sent with COOP same-origin, as helmet sends it (found by a review)
		await page.goto(`${stack.url}/health?coop=1`);
		const tried = await page.evaluate(async () => {
			const posted = await fetch("/_keygate/ui/apis/demo/keys", {
				method: "POST",
				headers: { "Content-Type": "application/x-www-form-urlencoded" },
				body: "name=planted&type=sk&environment=live&scopes=write&expiry=never&kind=single",
			});
			const read = await fetch("/_keygate/ui/");
			const opened = window.open("/_keygate/ui/");
			await new Promise((r) => setTimeout(r, 1500));
			let reached: string;
			try {
				reached = opened && !opened.closed ? opened.document.title : "no handle";
			} catch (e) {
				reached = `refused: ${String(e)}`;
			}
			return { posted: posted.status, postedBody: await posted.text(), read: read.status, reached };
		});
		expect(tried.posted).toBe(403);
		expect(tried.postedBody).not.toMatch(/sk_live_[0-9A-Za-z]{49}/);
		expect(tried.read).toBe(403);
		expect(tried.reached).not.toContain("keygate");
		for (const p of context.pages()) if (p !== page) await p.close();
		// A form it builds and submits is a same-origin navigation with the session's cookie, but not the form token (found by a review).
		await page.evaluate(() => {
			const form = document.createElement("form");
			form.method = "post";
			form.action = "/_keygate/ui/apis/demo/keys";
			for (const [name, value] of Object.entries({ name: "planted", type: "sk", environment: "live", expiry: "never", kind: "single" })) {
				const input = document.createElement("input");
				input.name = name;
				input.value = value;
				form.appendChild(input);
			}
			document.body.appendChild(form);
			form.submit();
		});
		await page.waitForURL(`${UI()}/apis/demo/keys`);
		expect(await page.content()).toContain("This form was not sent from a page of this console");
		await page.goto(`${UI()}/apis/demo/keys?q=planted`);
		expect(await page.content()).not.toContain(">planted<");
		// The console itself, navigated to, works as before.
		expect(await page.getByRole("heading").first().isVisible()).toBe(true);
	});
});

describe("the portal in Chromium", () => {
	it("a customer arriving from another site sees and acts on only its own keys", async () => {
		const adminPost = (p: string, body: unknown) =>
			fetch(`${stack.url}/_keygate/v1${p}`, {
				method: "POST",
				headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
				body: JSON.stringify(body),
			}).then((r) => r.json() as Promise<Record<string, any>>);
		const theirs = await adminPost("/keys", { name: "other customer's key", owner: "cust_b", scopes: ["read"] });
		const { url } = await adminPost("/portal-sessions", { owner: "cust_a", returnUrl: "http://localhost:3000/settings" });
		await page.goto(`${elsewhereUrl}/?to=${encodeURIComponent(url)}`);
		await page.locator("#go").click();
		await page.waitForURL(`${stack.url}/_keygate/portal/`);
		expect(page.url()).not.toContain("token");
		await audit("portal");
		expect(await page.content()).not.toContain("other customer");
		await page.getByRole("textbox", { name: "Name" }).fill("my integration");
		await page.getByRole("checkbox", { name: "read" }).check();
		await page.getByRole("button", { name: "Generate new key" }).click();
		const mine = (await page.locator("#secret-0").textContent())!.trim();
		await audit("portal-created", ["[data-secret]"]);
		expect(await gateway(mine)).toBe(200);
		const missing = await page.goto(`${stack.url}/_keygate/portal/keys/${theirs.id}`);
		expect(missing!.status()).toBe(404);
		const text = await page.content();
		const nothing = await page.goto(`${stack.url}/_keygate/portal/keys/key_0000000000000000000000`);
		expect(nothing!.status()).toBe(404);
		expect(await page.content()).toBe(text);
		expect(await gateway(theirs.key)).toBe(200);
		// On a phone, neither the list nor a key's page scrolls sideways.
		await page.setViewportSize({ width: 375, height: 800 });
		try {
			await page.goto(`${stack.url}/_keygate/portal/`);
			expect(await sideways(), "the portal's list").toBe(0);
			await page.getByRole("link", { name: "my integration" }).click();
			await page.waitForURL(/\/_keygate\/portal\/keys\/key_/);
			expect(await page.getByRole("heading", { name: "History" }).isVisible()).toBe(true);
			await audit("portal-key");
			expect(await sideways(), "the portal's key page").toBe(0);
		} finally {
			await page.setViewportSize({ width: 1280, height: 800 });
		}
		// The used link is dead.
		await page.goto(url);
		await page.waitForLoadState("networkidle");
		expect(await page.content()).toContain("already been used");
	});
});

describe("OAuth consent in Chromium", () => {
	it("authorize, sign in as demo/demo, Allow: the browser lands on the client's redirect URI with a code that works (found by a probe: Allow did nothing)", async () => {
		const redirect = `${elsewhereUrl}/cb`;
		const created = await fetch(`${stack.url}/_keygate/v1/oauth/clients`, {
			method: "POST",
			headers: { Authorization: `Bearer ${stack.adminToken}`, "Content-Type": "application/json" },
			body: JSON.stringify({ name: "Browser app", redirectUris: [redirect] }),
		});
		expect(created.status).toBe(201);
		const client = (await created.json()) as { id: string; secret: string };
		const query = new URLSearchParams({ client_id: client.id, redirect_uri: redirect, response_type: "code", scope: "read", state: "b" });
		await page.goto(`${stack.url}/oauth/authorize?${query}`);
		await page.getByLabel("User").fill("demo");
		await page.getByLabel("Password").fill("demo");
		await page.getByRole("button", { name: "Sign in" }).click();
		// Readable on a phone, with buttons a finger can hit, and axe-clean (found by a browser QA pass: 980 px wide, shrunk to 0.38×).
		await page.setViewportSize({ width: 375, height: 800 });
		try {
			expect(await page.locator('meta[name="viewport"]').getAttribute("content")).toContain("width=device-width");
			expect((await page.getByRole("button", { name: "Allow" }).boundingBox())!.height).toBeGreaterThanOrEqual(44);
			await audit("oauth-consent");
		} finally {
			await page.setViewportSize({ width: 1280, height: 800 });
		}
		await page.getByRole("button", { name: "Allow" }).click();
		await page.waitForURL((u) => u.href.startsWith(`${redirect}?`), { timeout: 10_000 });
		const back = new URL(page.url());
		expect(back.searchParams.get("state")).toBe("b");
		const token = await fetch(`${stack.url}/oauth/token`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({
				grant_type: "authorization_code",
				code: back.searchParams.get("code"),
				client_id: client.id,
				client_secret: client.secret,
				redirect_uri: redirect,
			}),
		});
		expect(token.status, await token.clone().text()).toBe(200);
		const { access_token } = (await token.json()) as { access_token: string };
		expect(await gateway(access_token)).toBe(200);
	});
});
