import { app } from "./app";

export { KeyAuthority } from "./authority/key-authority";
export { OwnerRoles } from "./authority/owner-roles";
export { OAuthGrants } from "./authority/oauth-grants";
export default app satisfies ExportedHandler<Env>;
