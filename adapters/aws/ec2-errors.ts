/**
 * EC2 failures as domain errors, shared by the EC2 adapters (vpc-routes.ts, ec2-machines.ts). EC2
 * has no modeled exception classes: its error code is the exception's name. The class of a
 * failure comes from the one SDK error classifier (sdk-errors.ts).
 */
import { SkiffError, UnavailableError } from '../../core/errors.ts';
import { classifySdkError, sdkErrorCode, serviceErrors } from './sdk-errors.ts';

/** EC2 refused a request for now (throttling, a 5xx, no answer), after the SDK's own retries: the same call may succeed later. */
export class Ec2UnavailableError extends UnavailableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'Ec2UnavailableError';
  }
}

/**
 * EC2's own codes of the calls Skiff makes. The adapters act on some of them by name before this
 * mapping (an existing route is replaced, a missing one is already removed).
 */
export const EC2_ERRORS = serviceErrors({
  'not-found': ['InvalidRoute.NotFound', 'InvalidInstanceID.NotFound', 'InvalidRouteTableID.NotFound'],
  conflict: ['RouteAlreadyExists'],
});

/**
 * The domain error of an EC2 failure no caller handles specially: missing permission, throttling
 * and EC2 5xx or no answer (retryable), anything else.
 */
export function ec2Failure(op: string, label: string, err: unknown): SkiffError {
  const code = sdkErrorCode(err);
  if (code === 'UnauthorizedOperation') return new SkiffError(`${op} on ${label} is not allowed to this role: grant ec2:${op} on it`, { cause: err });
  switch (classifySdkError(err, EC2_ERRORS)) {
    case 'throttled':
      return new Ec2UnavailableError(`EC2 throttled ${op} on ${label}; retry later`, { cause: err });
    case 'temporary':
      return new Ec2UnavailableError(`EC2 failed ${op} on ${label} (${code}); retry later`, { cause: err });
    default:
      return new SkiffError(`EC2 ${op} on ${label} failed${code === 'Error' ? '' : ` (${code})`}`, { cause: err });
  }
}
