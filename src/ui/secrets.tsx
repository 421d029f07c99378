/** A new key shown once, a public key shown again, and the forms and notices around them. */
import type { CompiledApi } from "../config/load";
import type { KeyRecord } from "../keys/record";
import type { SampleCall } from "./sample";
import { Time } from "./layout";
import { noLongerPossible } from "./key-changes";
import { keyNoun, maskedKey, publicNoun, environmentName, capitalized, scopesText } from "./present";

/** The new keys of a POST's answer (each shown once), then the link that leaves them behind. */
/** `customer`: the portal's page, which never names the owner id keygate files the customer under (found by a browser QA pass). */
export function SecretsShown(props: {
	secrets: { label: string; k: KeyRecord & { key: string } }[];
	sample: SampleCall;
	savedHref: string;
	customer?: boolean;
	/** Names the keys' environment by its label (environmentName). */
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	const noun = props.secrets.length === 1 && props.secrets[0]!.k.kind === "identifier" ? "identifier" : "key";
	return (
		<>
			{props.secrets.map((x, i) => (
				<SecretBox api={props.api} k={x.k} label={x.label} sample={props.sample} id={`secret-${i}`} customer={props.customer} />
			))}
			<form method="get" action={props.savedHref}>
				<button type="submit" data-saved="">
					{props.secrets.length > 1 ? "I've saved these keys" : `I've saved this ${noun}`}
				</button>
			</form>
		</>
	);
}

/**
 * A plaintext key, inline in the answer to the POST that made it (or to its page's Show
 * button): a secret key shown once, a public key said to be shown again from its page.
 */
function SecretBox(props: {
	k: KeyRecord & { key: string };
	label: string;
	sample: SampleCall;
	id: string;
	customer?: boolean;
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	// The line is the same for every key of the API: say when this one cannot pass it (found by a browser QA pass).
	const identifier = props.k.kind === "identifier";
	const lacking = identifier ? [] : props.sample.scopes.filter((scope) => !props.k.scopes.includes(scope));
	return (
		<section class="secret" aria-labelledby={`${props.id}-h`}>
			<h2 id={`${props.id}-h`}>{props.label}</h2>
			{/* A public key's page can show it again (keys/public-key.ts); a secret key is shown once. */}
			{props.k.kind !== "secret" ? (
				<p>
					This {publicNoun(props.k.kind)} is public by design, so its page can show it again while it works (keygate keeps only its hash,
					and derives it again). Masked in lists as <code>{maskedKey(props.k)}</code>.
				</p>
			) : (
				<p>
					Copy it now: keygate keeps only its hash, so it cannot be shown again. Masked from now on as <code>{maskedKey(props.k)}</code>.
				</p>
			)}
			<p>
				Settings: {props.k.name}, {props.k.type} ({props.k.kind}), {environmentName(props.api, props.k.environment)}
				{/* The console's form offers a tier; the confirmation restates it (a browser QA pass). */}
				{props.customer ? "" : `, tier ${props.k.tier}`}; scopes {scopesText(props.k, props.api)}; expires{" "}
				<Time iso={props.k.expiresAt} empty="never" />; IP allowlist {props.k.ipAllowlist?.join(", ") ?? "any address"}
				{props.k.owner && !props.customer ? `; owner ${props.k.owner}` : ""}
				{props.k.service ? `; service ${props.k.service}` : ""}.
			</p>
			<p>
				<code id={props.id} data-secret="">
					{props.k.key}
				</code>
			</p>
			<p>
				{/* Shown by the script, which makes it work: without it the key is selected and copied by hand (found by a browser QA pass). */}
				<button type="button" data-copy={props.id} hidden>
					Copy<span class="sr-only"> {props.label}</span>
				</button>
				<span id={`${props.id}-said`} class="sr-only" role="status" aria-live="polite"></span>
			</p>
			{/* An identifier authorizes nothing alone: a line that can only fail is no line to try (a browser QA pass). */}
			{identifier ? (
				<p>
					This is an identifier: it names the application beside its secret key and authorizes nothing alone, so there is no call to try
					with it. Send it where your application names itself; call the API with the secret key.
				</p>
			) : (
				<>
					<p>Try it:</p>
					<pre>
						<code data-secret="">{`curl ${props.sample.host ? `-H "Host: ${props.sample.host}" ` : ""}-H "${props.sample.field}${props.k.key}" ${props.sample.url}`}</code>
					</pre>
				</>
			)}
			{lacking.length > 0 ? (
				<p>
					This call needs the scope{lacking.length > 1 ? "s" : ""} {lacking.join(", ")}, which this key does not have: it gets 403. The key
					works on the routes its scopes allow.
				</p>
			) : null}
			{props.k.ipAllowlist && !identifier ? (
				<p>This key is accepted only from {props.k.ipAllowlist.join(", ")}: from anywhere else the call gets 403.</p>
			) : null}
		</section>
	);
}

/**
 * On a working public key's page: the button that shows it again (a POST, so no GET ever
 * holds a key, and the answer is never cached). A secret key has none.
 */
export function RevealForm(props: { k: KeyRecord; action: string; now: number }) {
	if (props.k.kind === "secret" || noLongerPossible(props.k, "revoke", props.now)) return null;
	return (
		<form method="post" action={props.action}>
			<button type="submit">Show the {publicNoun(props.k.kind)}</button>
		</form>
	);
}

/** The answer to "Show" when keygate will not show the key (revealKey's refusal, in its words): nothing was shown or changed. */
export function NotShown(props: { k: KeyRecord; message: string; back: string }) {
	return (
		<>
			<h1>Not shown: {props.k.name}</h1>
			<p class="error" role="alert">
				{props.message}
			</p>
			<p>
				<a href={props.back}>Back to the {keyNoun(props.k.kind)}</a>
			</p>
		</>
	);
}

/** A public key shown again: the same box as when it was made, then back to its page. */
export function ShownAgain(props: {
	k: KeyRecord & { key: string };
	sample: SampleCall;
	back: string;
	customer?: boolean;
	api: Pick<CompiledApi, "environments" | "routes">;
}) {
	const noun = publicNoun(props.k.kind);
	return (
		<>
			<h1>
				{capitalized(noun)}: {props.k.name}
			</h1>
			<SecretsShown
				secrets={[{ label: `Your ${noun}`, k: props.k }]}
				sample={props.sample}
				savedHref={props.back}
				customer={props.customer}
				api={props.api}
			/>
		</>
	);
}
