// Shared by vitest.config.ts (Node) and the tests (workerd): plain values only.
export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
export const TEST_SIGNING_SECRET = "test-signing-secret-0123456789abcdef";
