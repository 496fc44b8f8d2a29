/**
 * Skiff's version, the same for the CLI and the control plane (`skiff version` shows both). A
 * constant rather than a read of package.json, so that the CLI bundle and the Lambda bundles carry
 * it without a file read; test/unit/api-openapi.test.ts checks it equals package.json's.
 */
export const SKIFF_VERSION = '0.1.0';

/** The API's version: the path prefix of every route. */
export const API_VERSION = 'v1';
