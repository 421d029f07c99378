import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";

const root = new URL("../../", import.meta.url);

describe("the README", () => {
	it("shows the demo config exactly as keygate.config.json ships it", async () => {
		const readme = await readFile(new URL("README.md", root), "utf8");
		const block = /### The demo config\n[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1];
		expect(block, "a ```json block under '### The demo config'").toBeDefined();
		const file = await readFile(new URL("keygate.config.json", root), "utf8");
		expect(JSON.parse(block!)).toEqual(JSON.parse(file));
	});

	it("lists every 400 message the gateway's request path writes, word for word (a peer's suite asked for them)", async () => {
		const readme = await readFile(new URL("README.md", root), "utf8");
		const messages: string[] = [];
		for (const file of ["src/pipeline/select-api.ts", "src/pipeline/proxy.ts"]) {
			const source = await readFile(new URL(file, root), "utf8");
			// The messages handed to reject(…, { message }) and refusal(c, …), in either quote.
			for (const m of source.matchAll(/(?:message: |refusal\(\s*c,\s*)(?:"((?:A|The) [^"]+)"|`((?:A|The) [^`]+)`)/g))
				messages.push((m[1] ?? m[2])!.replace(/\$\{[^}]+\}/g, "N").replace(/\\\\/g, "\\"));
		}
		expect(messages.length).toBeGreaterThanOrEqual(10);
		for (const message of messages) expect(readme, message).toContain(`- \`${message}\``);
	});
});
