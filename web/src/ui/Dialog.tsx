/**
 * A modal dialog on the native <dialog> element (focus trap, Escape to close and the backdrop
 * come from the browser). `ConfirmDialog` asks before something that cannot be undone.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from '../lib/api/client';
import { toApiError } from '../lib/resource';
import { Button } from './Button';
import { InlineError } from './ErrorState';

export function Dialog({
  open,
  onClose,
  title,
  children,
  wide = false,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ComponentChildren;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      class={`dialog${wide ? ' dialog-wide' : ''}`}
      onClose={onClose}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      onClick={(event) => {
        // A click on the backdrop (the dialog element itself, outside its box) closes it.
        if (event.target === ref.current) onClose();
      }}
      aria-label={title}
    >
      {open ? (
        <div class="dialog-body">
          <header class="dialog-header">
            <h2>{title}</h2>
            <button type="button" class="icon-button" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </header>
          {children}
        </div>
      ) : null}
    </dialog>
  );
}

/**
 * Asks "are you sure", runs `action`, shows its error in place if it fails. With `typeToConfirm`,
 * the button stays disabled until that text is typed (deleting a project).
 */
export function ConfirmDialog({
  open,
  onClose,
  title,
  children,
  confirmLabel,
  danger = false,
  typeToConfirm,
  action,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  typeToConfirm?: string;
  action: () => Promise<unknown>;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | undefined>();
  const [typed, setTyped] = useState('');
  useEffect(() => {
    if (open) {
      setError(undefined);
      setTyped('');
      setBusy(false);
    }
  }, [open]);
  const blocked = typeToConfirm !== undefined && typed !== typeToConfirm;
  return (
    <Dialog open={open} onClose={onClose} title={title}>
      <form
        class="form"
        onSubmit={(event) => {
          event.preventDefault();
          if (blocked) return;
          setBusy(true);
          setError(undefined);
          action()
            .then(() => {
              setBusy(false);
              onClose();
            })
            .catch((caught: unknown) => {
              setBusy(false);
              setError(toApiError(caught));
            });
        }}
      >
        <div class="dialog-text">{children}</div>
        {typeToConfirm !== undefined ? (
          <label class="field">
            <span class="field-label">
              Type <code>{typeToConfirm}</code> to confirm
            </span>
            <input
              class="input mono"
              value={typed}
              onInput={(event) => setTyped(event.currentTarget.value)}
              autoComplete="off"
              spellcheck={false}
            />
          </label>
        ) : null}
        {error ? <InlineError error={error} /> : null}
        <div class="form-actions">
          <Button onClick={onClose}>Keep it</Button>
          <Button type="submit" variant={danger ? 'danger' : 'primary'} busy={busy} disabled={blocked} autoFocus={typeToConfirm === undefined}>
            {confirmLabel}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
