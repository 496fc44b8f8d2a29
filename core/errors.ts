/**
 * Domain errors. One base class; subclasses set `name`, carry data, say whether a retry may help,
 * and map to an HTTP status at the API edge.
 */
export class SkiffError extends Error {
  readonly status: number = 500;
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SkiffError';
  }
  toJSON(): Record<string, unknown> {
    return { error: this.name, message: this.status < 500 ? this.message : 'internal error' };
  }
}

export interface FieldIssue {
  /** The field's path, `spec.containers[0].image`. */
  readonly path: string;
  readonly message: string;
}

/** A request or spec that is wrong; lists every wrong field. */
export class ValidationError extends SkiffError {
  override readonly status = 400;
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[], options?: { cause?: unknown }) {
    super(issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; '), options);
    this.name = 'ValidationError';
    this.issues = issues;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

export class NotFoundError extends SkiffError {
  override readonly status = 404;
  constructor(what: string, options?: { cause?: unknown }) {
    super(`${what} not found`, options);
    this.name = 'NotFoundError';
  }
}

/** A conditional write lost a race: re-read and try again. */
export class ConflictError extends SkiffError {
  override readonly status = 409;
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConflictError';
  }
}

/** A service the request needs refused it for now (throttling, a 5xx, no answer): the same request may succeed later. */
export class UnavailableError extends SkiffError {
  override readonly status = 503;
  override readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UnavailableError';
  }
}

/** A limit of the underlying service (size, rate) that a request would break. */
export class LimitError extends SkiffError {
  override readonly status = 413;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LimitError';
  }
}

/**
 * A write sent with `If-Match` found another version than the one the client read: someone else
 * changed the object since. Not retryable as is: the client re-reads, merges and sends again.
 */
export class PreconditionFailedError extends SkiffError {
  override readonly status = 412;
  /** The version the object has now (absent: it does not exist). */
  readonly currentVersion: number | string | undefined;
  constructor(message: string, currentVersion: number | string | undefined) {
    super(message);
    this.name = 'PreconditionFailedError';
    this.currentVersion = currentVersion;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), currentVersion: this.currentVersion ?? null };
  }
}
