// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose's ${X:-1} interpolation, written as plain strings
/**
 * Any decoded Compose file, however wrong, converts or fails with a ValidationError naming paths:
 * never another exception (a TypeError from a value of an unexpected type would reach the user as
 * a crash, not as the field to fix). Random values are put under every attribute the converter reads.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertCompose } from '../../core/compose/convert.ts';
import { HANDLED } from '../../core/compose/unsupported.ts';
import { ValidationError } from '../../core/errors.ts';

const scalar = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -5, max: 70000 }), fc.double({ noNaN: false }), fc.boolean(), fc.constant(null));
const value = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('any'), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 8 }), tie('any'), { maxKeys: 3 })),
})).any;
/** Values close to real ones, so the deeper checks run too. */
const plausible = fc.oneof(
  value,
  fc.constantFrom('8080:80', '80', 'data:/data', './x:/y', '1m30s', '512m', 'CMD', 'global', 'on-failure:3', '${X:-1}', '$$', 'a=b'),
  fc.array(fc.constantFrom('8080:80', '53/udp', 'CMD', 'curl', 'data:/d:ro', '/tmp', 'KEY=v', 'db', 'node.labels.a == b'), { maxLength: 4 }),
  fc.record({
    target: fc.oneof(fc.integer(), fc.string()),
    published: value,
    condition: fc.constantFrom('service_healthy', 'x'),
    test: value,
    interval: value,
  }),
);
const keys = [...HANDLED, 'x-skiff-ingress', 'hostname', 'networks', 'bogus'];

describe('convertCompose on arbitrary input', () => {
  it('returns, or throws a ValidationError whose issues all have a message', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom(...keys), plausible, { maxKeys: 6 }),
        fc.dictionary(fc.constantFrom('deploy', 'volumes', 'name', 'networks', 'x-a'), value, { maxKeys: 3 }),
        (svc, top) => {
          const file = { ...top, services: { web: { image: 'nginx:1.27', ...svc }, db: { image: 'postgres:16' } } };
          try {
            const r = convertCompose(file, { folder: 'proj', env: { X: '2' }, readFile: () => 'A=1\n' });
            expect(r.specs.length).toBe(r.documents.length);
          } catch (err) {
            if (!(err instanceof ValidationError)) throw err;
            expect(err.issues.length).toBeGreaterThan(0);
            for (const i of err.issues) expect(i.message).not.toBe('');
          }
        },
      ),
      { numRuns: 1500, seed: 16 },
    );
  });
});
