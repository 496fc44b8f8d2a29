/**
 * EC2 failures as domain errors, shared by the EC2 adapters (vpc-routes.ts, ec2-machines.ts). EC2
 * has no modeled exception classes: its error code is the exception's name.
 */
import { SkiffError, UnavailableError } from '../../core/errors.ts';

/** EC2 refused a request for now (throttling, a 5xx), after the SDK's own retries: the same call may succeed later. */
export class Ec2UnavailableError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Ec2UnavailableError';
  }
}

const THROTTLED = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException']);
const TRANSIENT = new Set(['InternalError', 'InternalFailure', 'ServiceUnavailable', 'Unavailable']);

/**
 * The domain error of an EC2 failure no caller handles specially: missing permission, throttling
 * and EC2 5xx (retryable), anything else. EC2 reports its error code as the exception's name.
 */
export function ec2Failure(op: string, label: string, err: unknown): SkiffError {
  const name = (err as { name?: unknown } | null)?.name;
  const code = typeof name === 'string' ? name : undefined;
  if (code === 'UnauthorizedOperation') return new SkiffError(`${op} on ${label} is not allowed to this role: grant ec2:${op} on it`, { cause: err });
  const retryable = (err as { $retryable?: { throttling?: boolean } } | null)?.$retryable;
  if ((code !== undefined && THROTTLED.has(code)) || retryable?.throttling) {
    return new Ec2UnavailableError(`EC2 throttled ${op} on ${label}; retry later`, { cause: err });
  }
  if (code !== undefined && TRANSIENT.has(code)) return new Ec2UnavailableError(`EC2 failed ${op} on ${label} (${code}); retry later`, { cause: err });
  return new SkiffError(`EC2 ${op} on ${label} failed${code === undefined ? '' : ` (${code})`}`, { cause: err });
}
