import { app } from "./app";

export { KeyState } from "./limiter/key-state";
export { OwnerState } from "./limiter/owner-state";
export default app satisfies ExportedHandler<Env>;
