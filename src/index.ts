import { app } from "./app";

export { KeyState } from "./limiter/key-state";
export default app satisfies ExportedHandler<Env>;
