/**
 * bench "peer" Worker: the peer app (peer-app.ts) as its own Worker, with the rate
 * limiter's Durable Object class exported as the library's README shows. A Worker
 * module may export only handlers and classes, hence the separate file.
 */
import { DurableObjectRateLimiter } from "@hono-rate-limiter/cloudflare";
import { app } from "./peer-app";

export { DurableObjectRateLimiter };
export default app;
