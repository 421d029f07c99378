import { AdminError, revealKey, type Services } from "../admin/service";
import type { CompiledApi } from "../config/load";
import type { KeyRecord } from "../keys/record";
import { NotShown, ShownAgain } from "./secrets";
import { sampleCall } from "./sample";

/**
 * The answer to a key page's "Show" button (a POST), in the console (`base` UI) and the
 * portal (`base` PORTAL, `customer`): the public key shown again, or why not, with nothing
 * shown or changed. `k` and its `api` are found first, so nothing is audited as shown that
 * the page could not show (a review: a key whose API had left the config).
 */
export async function revealed(
	s: Services,
	k: KeyRecord,
	api: CompiledApi,
	url: string,
	base: string,
	customer = false,
): Promise<{ body: unknown; status: 200 | 400 | 409 }> {
	try {
		const shown = await revealKey(s, k.id);
		return {
			body: (
				<ShownAgain
					k={shown}
					sample={sampleCall(url, api, shown.environment)}
					back={`${base}/keys/${shown.id}`}
					customer={customer}
					api={api}
				/>
			),
			status: 200,
		};
	} catch (e) {
		if (!(e instanceof AdminError) || (e.reason !== "invalid_request" && e.reason !== "key_conflict")) throw e;
		return {
			body: <NotShown k={k} message={e.message} back={`${base}/keys/${k.id}`} />,
			status: e.reason === "invalid_request" ? 400 : 409,
		};
	}
}
