/** Rejects if `work` has not settled within `ms`: every wait on KV or a Durable Object is bounded. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
	let timer = 0;
	const timeout = new Promise<never>((_, fail) => {
		timer = setTimeout(() => fail(new Error(`${what} timed out after ${ms} ms`)), ms) as unknown as number;
	});
	try {
		return await Promise.race([work, timeout]);
	} finally {
		clearTimeout(timer);
	}
}
