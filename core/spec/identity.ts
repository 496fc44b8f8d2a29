/**
 * `spec.identity`: who the service's replicas are to the outside. `awsRole` names the IAM role whose
 * temporary credentials every replica gets from its host's credentials endpoint (docs/identity.md);
 * scripts use the name: keep it.
 */
import { z } from 'zod';
import { got, rule } from './messages.ts';

/**
 * An IAM role ARN: partition, 12-digit account, optional path, and IAM's role-name rule (1-64 of
 * letters, digits and `+=,.@_-`). The path is `/` or `/` segments `/`, at most 512 characters (IAM).
 */
const ROLE_ARN = /^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):iam::(\d{12}):role((?:\/[\x21-\x7e]+)*)\/([\w+=,.@-]{1,64})$/;

/** Why `value` is not an IAM role ARN, or undefined when it is one. */
export function roleArnProblem(value: string): string | undefined {
  if (value.length > 2048) return `must be an IAM role ARN of at most 2048 characters; got ${value.length}`;
  const m = ROLE_ARN.exec(value);
  if (!m) {
    const hint = /^arn:[^:]*:sts::/.test(value)
      ? ' (this is an STS session ARN: give the role it was assumed from, arn:aws:iam::<account>:role/<name>)'
      : /^arn:[^:]*:iam::\d{12}:user\//.test(value)
        ? ' (this is a user, not a role)'
        : '';
    return `must be an IAM role ARN such as arn:aws:iam::123456789012:role/shop-web; got ${got(value)}${hint}`;
  }
  if (m[3].length + 1 > 512) return 'the role path must be at most 512 characters';
  return undefined;
}

export const IdentitySchema = z.strictObject(
  {
    awsRole: z.string({ error: rule('must be an IAM role ARN such as arn:aws:iam::123456789012:role/shop-web') }).check((payload) => {
      const message = roleArnProblem(payload.value);
      if (message !== undefined) payload.issues.push({ code: 'custom', message, input: payload.value });
    }),
  },
  { error: rule('must be a map such as { awsRole: arn:aws:iam::123456789012:role/shop-web }') },
);
