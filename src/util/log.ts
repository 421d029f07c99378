/**
 * One structured log line (Workers Logs indexes JSON). Never pass a credential, a secret
 * or a request body: the workers test suite fails any test whose log holds a key.
 */
export function logEvent(event: string, fields: Record<string, unknown> = {}): void {
	console.error(JSON.stringify({ event, ...fields }));
}
