import { app } from "./app";

export { KeyAuthority } from "./authority/key-authority";
export { OwnerRoles } from "./authority/owner-roles";
export default app satisfies ExportedHandler<Env>;
