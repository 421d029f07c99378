import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

import { TEST_ADMIN_TOKEN, TEST_SIGNING_SECRET } from "./test/constants.ts";

/** keygate in workerd, on real KV and Durable Objects, with the test secrets. */
const inWorkerd = () =>
	cloudflareTest({
		main: "./src/index.ts",
		wrangler: { configPath: "./wrangler.toml" },
		miniflare: { bindings: { ADMIN_TOKEN: TEST_ADMIN_TOKEN, SIGNING_SECRET: TEST_SIGNING_SECRET } },
	});

export default defineConfig({
	test: {
		projects: [
			{
				// Integration and conformance tests run inside workerd, on real KV and Durable Objects, each file in a workerd of its own.
				plugins: [inWorkerd()],
				test: {
					name: "workers",
					include: ["test/integration/**/*.test.ts", "test/conformance/**/*.test.ts"],
					// Every test fails if anything it made keygate (or itself) log holds a key or a secret.
					setupFiles: ["test/setup/no-secrets-in-logs.ts"],
				},
			},
			{
				// Unit tests run inside workerd too, all files in one (isolate: false): a workerd per file cost
				// about 2 s each, about as much as the tests themselves. They share no storage they rely on.
				plugins: [inWorkerd()],
				test: {
					name: "unit",
					include: ["test/unit/**/*.test.ts"],
					isolate: false,
					setupFiles: ["test/setup/no-secrets-in-logs.ts"],
				},
			},
			{
				// In Node: the admin API's contract (the generated OpenAPI document passes swagger-parser, and the
				// response checker the workers suite runs on every admin response fails on what it must), and the README's demo config.
				test: { name: "contract", environment: "node", include: ["test/contract/**/*.test.ts"] },
			},
			{
				// End-to-end: spawns the demo origin and `wrangler dev`, and drives them over HTTP from Node.
				test: { name: "e2e", environment: "node", include: ["test/e2e/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
			},
		],
	},
});
