/** Small shared pieces: the error line, a state badge, a usage bar, a scrollable table frame. */
import type { ComponentChildren } from 'preact';
import { ApiError } from './api.ts';
import { CognitoError } from './cognito.ts';

/** An API error, plainly: the message the API returned (its kind and status beside it, for searching). */
export function ErrorMessage({ error }: { error: Error }) {
  return (
    <p class="error" role="alert">
      <strong>{error instanceof ApiError ? `${error.kind} (${error.status})` : error instanceof CognitoError ? `Cognito: ${error.kind}` : 'Error'}:</strong>{' '}
      {error.message}
    </p>
  );
}

const TONE: Readonly<Record<string, string>> = {
  running: 'ok',
  ready: 'ok',
  healthy: 'ok',
  complete: 'ok',
  progressing: 'busy',
  starting: 'busy',
  creating: 'busy',
  assigned: 'busy',
  pending: 'busy',
  draining: 'warn',
  degraded: 'warn',
  suspect: 'warn',
  unhealthy: 'bad',
  failed: 'bad',
  rolledBack: 'bad',
  down: 'bad',
  exited: 'bad',
};

/** A state as a word with a tone; the word carries the meaning, the colour only repeats it. */
export function Badge({ value }: { value: string }) {
  return <span class={`badge ${TONE[value] ?? 'neutral'}`}>{value}</span>;
}

/** A bar of `used` (and `reserved`, a second mark) out of `capacity`, with its reading as text. */
export function UsageBar({ label, used, reserved, capacity, text }: { label: string; used: number; reserved: number; capacity: number; text: string }) {
  const pct = (v: number) => (capacity > 0 ? Math.min(100, (v / capacity) * 100) : 0);
  return (
    <div class="usage">
      <div class="bar" role="img" aria-label={`${label}: ${text}`}>
        <span class="reserved" style={{ width: `${pct(reserved)}%` }} />
        <span class="used" style={{ width: `${pct(used)}%` }} />
      </div>
      <span class="reading" aria-hidden="true">
        {text}
      </span>
    </div>
  );
}

/** A table that scrolls sideways on a narrow screen, reachable by keyboard (focusable region). */
export function TableFrame({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be focusable for keyboard users to scroll it
    <section class="table-frame" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}
