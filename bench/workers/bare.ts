/**
 * bench "bare": the physical limit. It only forwards every request to the origin, so
 * keygate's rows can be read as "what the gateway adds" on top of this.
 */
interface BareEnv {
	ORIGIN: string;
}

export default {
	fetch(request: Request, env: BareEnv): Promise<Response> {
		const incoming = new URL(request.url);
		const target = new URL(incoming.pathname + incoming.search, env.ORIGIN);
		return fetch(new Request(target, request));
	},
} satisfies ExportedHandler<BareEnv>;
