import { afterEach, beforeEach, vi } from "vitest";

export interface OriginCall {
	method: string;
	url: URL;
	headers: Headers;
	body: string;
}

export interface FakeOrigin {
	calls: OriginCall[];
	/** Makes the next requests fail like an unreachable origin. */
	failing: boolean;
}

/**
 * The only fake in the suite: the origin. The Worker runs in the tests' isolate, so
 * replacing the global fetch catches every subrequest it makes. The fake records what
 * it got and answers like the demo origin: JSON describing the request.
 */
export function fakeOrigin(origin: FakeOrigin = { calls: [], failing: false }): FakeOrigin {
	vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
		const request = new Request(input, init);
		if (origin.failing) throw new TypeError("Network connection lost.");
		const body = request.body ? await request.text() : "";
		const url = new URL(request.url);
		origin.calls.push({ method: request.method, url, headers: request.headers, body });
		return Response.json(
			{
				method: request.method,
				path: url.pathname,
				query: Object.fromEntries(url.searchParams),
				headers: Object.fromEntries(request.headers),
				body,
			},
			{ headers: { "X-Origin": "fake" } },
		);
	});
	return origin;
}

/**
 * The fake origin for every test of a file: installed fresh before each test (no calls,
 * reachable) and removed after it. The returned object stays the same across tests.
 */
export function useFakeOrigin(): FakeOrigin {
	const origin: FakeOrigin = { calls: [], failing: false };
	beforeEach(() => {
		origin.calls.length = 0;
		origin.failing = false;
		fakeOrigin(origin);
	});
	afterEach(() => vi.restoreAllMocks());
	return origin;
}
