/** What local mode's API server refuses before its handler (local/api-guard.ts), as a table. */
import { describe, expect, it } from 'vitest';
import { refusal, type GuardedRequest } from '../../local/api-guard.ts';

const PORT = 7070;
const ok: GuardedRequest = { host: `127.0.0.1:${PORT}`, hasBody: false };

describe('refusal', () => {
  it.each<[string, Partial<GuardedRequest>, number | undefined]>([
    ['a GET to 127.0.0.1 with its port', {}, undefined],
    ['localhost, any case', { host: `LOCALHOST:${PORT}` }, undefined],
    ['another loopback address', { host: `127.255.0.9:${PORT}` }, undefined],
    ['IPv6 loopback', { host: `[::1]:${PORT}` }, undefined],
    ['no Host header', { host: undefined }, 421],
    ['a rebound name', { host: `attacker.example:${PORT}` }, 421],
    ['a name that starts like loopback', { host: `127.0.0.1.attacker.example:${PORT}` }, 421],
    ['not an address', { host: `127.0.0.256:${PORT}` }, 421],
    ['another port', { host: `127.0.0.1:${PORT + 1}` }, 421],
    ['no port, which means 80', { host: '127.0.0.1' }, 421],
    ['its own origin', { origin: `http://127.0.0.1:${PORT}` }, undefined],
    ['a foreign origin', { origin: 'https://attacker.example' }, 403],
    ['the opaque origin of a sandboxed page', { origin: 'null' }, 403],
    ['a loopback origin on another port (another local web app)', { origin: `http://localhost:${PORT + 1}` }, 403],
    ['a JSON body', { hasBody: true, contentType: 'application/json; charset=utf-8' }, undefined],
    ['a YAML body', { hasBody: true, contentType: 'text/yaml' }, undefined],
    ['a text/plain body', { hasBody: true, contentType: 'text/plain' }, 415],
    ['a form body', { hasBody: true, contentType: 'application/x-www-form-urlencoded' }, 415],
    ['a JSON-looking suffix type', { hasBody: true, contentType: 'application/json-patch+json' }, 415],
    ['a body with no type', { hasBody: true }, 415],
    ['no body, a stray type', { contentType: 'text/plain' }, undefined],
  ])('%s → %s', (_what, change, status) => {
    expect(refusal({ ...ok, ...change }, PORT)?.status).toBe(status);
  });

  it('accepts a Host without a port when the API is on port 80', () => {
    expect(refusal({ host: 'localhost', origin: 'http://localhost', hasBody: false }, 80)).toBeUndefined();
  });

  it('checks the Host first: a rebinding page is told it reached the wrong host, not which body types pass', () => {
    expect(refusal({ host: 'attacker.example', origin: 'http://attacker.example', hasBody: true, contentType: 'text/plain' }, PORT)?.status).toBe(421);
  });
});
