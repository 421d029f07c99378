/**
 * A request body as UTF-8 text, read up to `max` bytes: undefined when it is longer (the
 * rest is never read) or not UTF-8. Used where keygate parses a body itself, so that a
 * client cannot make it hold and parse an arbitrary amount.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<string | undefined> {
	if (!body) return "";
	const reader = body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.length;
		if (total > max) {
			await reader.cancel();
			return undefined;
		}
		chunks.push(value);
	}
	const all = new Uint8Array(total);
	let at = 0;
	for (const c of chunks) {
		all.set(c, at);
		at += c.length;
	}
	try {
		return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(all);
	} catch {
		return undefined;
	}
}
