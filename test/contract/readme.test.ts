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
});
