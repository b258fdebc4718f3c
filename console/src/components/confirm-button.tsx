import { type ReactNode, useId, useRef } from 'react';

/** Props of ConfirmButton. */
export interface ConfirmButtonProps {
  /** The button's text: "Disable". */
  readonly children: ReactNode;
  /** An accessible name when the text alone is ambiguous in a table: 'Disable user "bob"'. */
  readonly label?: string;
  /** The question: 'Disable user "bob"?'. */
  readonly title: string;
  /** What will happen, in a sentence or two. */
  readonly message: ReactNode;
  /** The confirming button's text: "Disable user". */
  readonly confirmLabel: string;
  readonly onConfirm: () => void;
  readonly disabled?: boolean;
}

/** A button for a destructive action that asks first, in a modal dialog where Cancel has the focus. */
export function ConfirmButton({
  children,
  label,
  title,
  message,
  confirmLabel,
  onConfirm,
  disabled,
}: ConfirmButtonProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const messageId = useId();
  const close = () => dialog.current?.close();
  return (
    <>
      <button
        type="button"
        className="button-danger"
        aria-label={label}
        disabled={disabled}
        onClick={() => dialog.current?.showModal()}
      >
        {children}
      </button>
      <dialog ref={dialog} className="confirm" aria-labelledby={titleId} aria-describedby={messageId}>
        <h2 id={titleId}>{title}</h2>
        <div id={messageId} className="confirm-message">
          {message}
        </div>
        <div className="button-row">
          <button type="button" onClick={close}>
            Cancel
          </button>
          <button
            type="button"
            className="button-danger"
            onClick={() => {
              close();
              onConfirm();
            }}
          >
            {confirmLabel}
          </button>
        </div>
      </dialog>
    </>
  );
}
