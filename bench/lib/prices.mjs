// Cloudflare's published Workers Paid prices, in US dollars, for usage beyond what the
// plan includes. The bench turns its measured per-request counts into a cost per
// million requests with these numbers and nothing else; change them here if the
// published prices change. Checked 2026 against the stored copies of:
//
//   Workers (Standard usage model):  https://developers.cloudflare.com/workers/platform/pricing/
//     requests: 10 million/month included, then $0.30 per million
//     CPU time: 30 million CPU ms/month included, then $0.02 per million CPU ms
//     "Cloudflare does not bill for subrequests you make from your Worker."
//   Workers KV:                      https://developers.cloudflare.com/kv/platform/pricing/
//     reads $0.50 per million; writes, deletes and lists $5.00 per million
//   Durable Objects:                 https://developers.cloudflare.com/durable-objects/platform/pricing/
//     requests (every RPC method call on a stub is one billed request): $0.15 per million
//     duration: $12.50 per million GB-s, always billed at 128 MB per object while active
//     SQLite-backed storage (billed since January 2026; synchronous KV get/put are billed
//     as rows read / rows written, each setAlarm as one row written):
//       rows read $0.001 per million, rows written $1.00 per million
//
// Included monthly allowances are ignored: the figures are the marginal cost of one
// million more requests on an account already past them.
export const PRICES = {
	workersRequestPerMillion: 0.3,
	workersCpuMsPerMillion: 0.02,
	kvReadPerMillion: 0.5,
	kvWritePerMillion: 5.0,
	doRequestPerMillion: 0.15,
	doGbSecondPerMillion: 12.5,
	doMemoryGb: 0.128,
	doRowReadPerMillion: 0.001,
	doRowWrittenPerMillion: 1.0,
	sources: [
		"https://developers.cloudflare.com/workers/platform/pricing/",
		"https://developers.cloudflare.com/kv/platform/pricing/",
		"https://developers.cloudflare.com/durable-objects/platform/pricing/",
	],
};

/**
 * Assumed wall time a Durable Object stays billable per call. keygate's and the peer's
 * objects hold no WebSockets or timers, so between calls they are idle and eligible for
 * hibernation, which the pricing page says is not billed; each call is billed only for
 * the time it runs. 1 ms is generous for a counter update (the local round trip through
 * workerd, measured below, is an upper bound on it).
 */
export const DO_ACTIVE_MS_PER_CALL = 1;
