/**
 * Every action is confirmed first: a modal <dialog> (the browser moves focus into it, keeps it there,
 * and closes it on Escape), whose confirm button sends the request. A refusal is shown inside it, as
 * the API worded it, and the dialog stays open so the person can change their mind or the value.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorMessage } from './ui.tsx';

export interface ConfirmProps {
  readonly title: string;
  /** What will happen, in words. */
  readonly children: ComponentChildren;
  readonly confirmLabel: string;
  /** Sends the action; a thrown error is shown, a return closes the dialog. */
  readonly onConfirm: () => Promise<void>;
  readonly onClose: () => void;
  /** A destructive action's confirm button is styled as such (its label still says what it does). */
  readonly danger?: boolean;
}

export function Confirm({ title, children, confirmLabel, onConfirm, onClose, danger }: ConfirmProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<Error | undefined>();
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const id = `dialog-${title.replace(/\W+/g, '-').toLowerCase()}`;
  return (
    <dialog ref={ref} aria-labelledby={`${id}-title`} onClose={onClose} class="confirm">
      <form
        method="dialog"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          try {
            await onConfirm();
            ref.current?.close();
          } catch (err) {
            setError(err as Error);
          } finally {
            setBusy(false);
          }
        }}
      >
        <h2 id={`${id}-title`}>{title}</h2>
        <div class="dialog-body">{children}</div>
        {error && <ErrorMessage error={error} />}
        <div class="buttons">
          <button type="button" onClick={() => ref.current?.close()}>
            Cancel
          </button>
          <button type="submit" class={danger ? 'danger' : 'primary'} disabled={busy}>
            {busy ? 'Sending…' : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}
