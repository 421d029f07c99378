/**
 * The most of a refused body discardRest reads, and the longest it waits for it: well above
 * any body a client sends by mistake (an admin body, a form, an OAuth request), so those
 * leave the connection sound; a client sending more, or dripping it, is cut off rather than
 * read on and on (found by a review: an endless body held the refusal forever).
 */
export const MAX_DISCARD_BYTES = 16 * 1024 * 1024;
export const MAX_DISCARD_MS = 2000;

/**
 * Reads the rest of a request body whose start was read, and drops it. A request refused
 * after part of its body was read must be read to its end: under `wrangler dev` the
 * connection it came on is otherwise left broken, and the next request on it (anyone's)
 * gets a plain-text 503 "Your worker restarted mid-request" (found by a peer's suite).
 * A body never touched needs nothing; canceling one breaks the connection the same way,
 * which is what a body past MAX_DISCARD_BYTES or MAX_DISCARD_MS gets. A client that
 * breaks off ends it too.
 */
export async function discardRest(body: ReadableStream<Uint8Array> | ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
	const reader = body instanceof ReadableStream ? body.getReader() : body;
	const timer = setTimeout(() => void reader.cancel().catch(() => {}), MAX_DISCARD_MS);
	let read = 0;
	try {
		for (;;) {
			const { done, value } = await reader.read();
			if (done) return;
			read += value.length;
			if (read > MAX_DISCARD_BYTES) {
				await reader.cancel();
				return;
			}
		}
	} catch {
		// The client broke off, or the time ran out: nothing more is read.
	} finally {
		clearTimeout(timer);
	}
}

/**
 * A request body as UTF-8 text, read up to `max` bytes: undefined when it is longer (the
 * rest is read and dropped, never held), null when it is not UTF-8. Used where keygate parses a body itself, so that a
 * client cannot make it hold and parse an arbitrary amount.
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<string | undefined | null> {
	if (!body) return "";
	const reader = body.getReader();
	const chunks: Uint8Array[] = [];
	let total = 0;
	for (;;) {
		const { done, value } = await reader.read();
		if (done) break;
		total += value.length;
		if (total > max) {
			await discardRest(reader);
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
		return null;
	}
}
