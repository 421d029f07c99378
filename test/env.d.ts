declare namespace Cloudflare {
	interface Env {
		KEYGATE_CONFIG?: unknown;
	}
}
