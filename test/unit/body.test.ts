import { describe, expect, it } from "vitest";
import { MAX_DISCARD_BYTES, MAX_DISCARD_MS, readCapped } from "../../src/util/body";

/** A body of `total` bytes (Infinity: endless) in 64 KiB chunks, counting what was pulled and whether it was canceled. */
function body(total: number) {
	const seen = { pulled: 0, canceled: false };
	const stream = new ReadableStream<Uint8Array>({
		pull(controller) {
			if (seen.pulled >= total) return controller.close();
			const chunk = new Uint8Array(65_536);
			seen.pulled += chunk.length;
			controller.enqueue(chunk);
		},
		cancel() {
			seen.canceled = true;
		},
	});
	return { stream, seen };
}

describe("readCapped: a body over its cap", () => {
	it("is read to its end and dropped, so the connection it came on stays sound", async () => {
		const { stream, seen } = body(3 * 1024 * 1024);
		expect(await readCapped(stream, 1024)).toBeUndefined();
		expect(seen.pulled).toBe(3 * 1024 * 1024);
		expect(seen.canceled).toBe(false);
	});

	it("past MAX_DISCARD_BYTES is cut off, not read on: an endless body ends (found by a review of the drain)", async () => {
		const { stream, seen } = body(Infinity);
		expect(await readCapped(stream, 1024)).toBeUndefined();
		expect(seen.canceled).toBe(true);
		// The stream pulls a few chunks ahead of the reader.
		expect(seen.pulled).toBeLessThanOrEqual(MAX_DISCARD_BYTES + 8 * 65_536);
	});

	it("dripped slowly, it is cut off after MAX_DISCARD_MS: the refusal is not held for as long as the client keeps sending", async () => {
		let canceled = false;
		let pulls = 0;
		const drip = new ReadableStream<Uint8Array>(
			{
				async pull(controller) {
					// The first 2 KiB at once, then a byte every 100 ms, for ever.
					if (pulls++ > 0) await new Promise((resolve) => setTimeout(resolve, 100));
					controller.enqueue(new Uint8Array(pulls === 1 ? 2048 : 1));
				},
				cancel() {
					canceled = true;
				},
			},
			{ highWaterMark: 0 },
		);
		const started = Date.now();
		expect(await readCapped(drip, 1024)).toBeUndefined();
		expect(canceled).toBe(true);
		expect(Date.now() - started).toBeLessThan(MAX_DISCARD_MS + 1500);
	});
});
