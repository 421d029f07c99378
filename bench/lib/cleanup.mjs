// Shared by bench/run.mjs and scripts/soak.mjs: every process or file a script starts is
// stopped by its own handle, in reverse order and only once, on normal exit and on
// Ctrl-C; `exitCleanups` are synchronous last resorts for when something else (Miniflare's
// own signal handling) ends the process before the asynchronous cleanup has finished.

/**
 * @param {(...a: unknown[]) => void} log
 * @param {() => void} [beforeStop] run first on SIGINT/SIGTERM (e.g. stop a load generator)
 */
export function cleanupRegistry(log, beforeStop = () => {}) {
	/** @type {(() => unknown)[]} */
	const cleanups = [];
	/** @type {(() => unknown)[]} */
	const exitCleanups = [];
	let cleaning;
	function cleanup() {
		cleaning ??= (async () => {
			for (const fn of cleanups.reverse()) {
				try {
					await fn();
				} catch {
					// keep going: the rest must still be stopped
				}
			}
		})();
		return cleaning;
	}
	process.on("exit", () => {
		for (const fn of exitCleanups) {
			try {
				fn();
			} catch {
				// nothing more can be done at exit
			}
		}
	});
	for (const signal of ["SIGINT", "SIGTERM"]) {
		process.on(signal, () => {
			log(`\n${signal}: stopping`);
			beforeStop();
			cleanup().finally(() => process.exit(130));
		});
	}
	return { cleanups, exitCleanups, cleanup };
}
