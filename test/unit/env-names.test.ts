import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../app/env-names.ts';

const names: string[] = Object.values(ENV);
/** A name typed out: in a getter call, addEnvironment, an environment record's key, or a `NAME=value` line. */
const TYPED_NAME = /Env\(env, 'SKIFF_|addEnvironment\('SKIFF_|^\s*SKIFF_[A-Z_]+:|[`']SKIFF_[A-Z_]+=/gm;

describe('environment variable names', () => {
  it('are SKIFF_ names, each under one key', () => {
    for (const name of names) expect(name).toMatch(/^SKIFF_[A-Z0-9_]+$/);
    expect(new Set(names).size).toBe(names.length);
  });

  // The readers and writers that moved to the constant must not go back to typing names: a quoted
  // SKIFF_ name in a getter call or an environment record is what the constant replaced.
  it.each([
    'app/env.ts',
    'agent/main.ts',
    'infra/host-user-data.ts',
    'infra/skiff-cluster.ts',
    'infra/control-functions.ts',
    'infra/container-network.ts',
    'infra/ingress.ts',
  ])('%s names every variable through ENV', (file) => {
    const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    expect(source.match(TYPED_NAME) ?? []).toEqual([]);
  });
});
