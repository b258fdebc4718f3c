import { type InputHTMLAttributes, type SelectHTMLAttributes, useId } from 'react';

interface FieldFrameProps {
  readonly label: string;
  /** The server's problem with this field, shown under it. */
  readonly error?: string | undefined;
  /** A short help text under the label. */
  readonly help?: string;
  /** Keeps the label for screen readers only, where the context names the field. */
  readonly hideLabel?: boolean;
}

/** Props of TextField: a label, an input, and the field's help and error. */
export interface TextFieldProps extends FieldFrameProps, Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  readonly name: string;
}

function describedBy(helpId: string | undefined, errorId: string | undefined): string | undefined {
  return [helpId, errorId].filter(Boolean).join(' ') || undefined;
}

/** A labelled text input with its help text and error (linked for screen readers). */
export function TextField({ label, error, help, hideLabel, className, ...input }: TextFieldProps) {
  const id = useId();
  const helpId = help ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  return (
    <div className={`field${error ? ' field-invalid' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      {help ? (
        <span className="field-help" id={helpId}>
          {help}
        </span>
      ) : null}
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(helpId, errorId)}
        {...input}
      />
      {error ? (
        <span className="field-error" id={errorId}>
          {error}
        </span>
      ) : null}
    </div>
  );
}

/** Props of SelectField. */
export interface SelectFieldProps
  extends FieldFrameProps,
    Omit<SelectHTMLAttributes<HTMLSelectElement>, 'id'> {
  readonly name: string;
  readonly options: readonly (string | { readonly value: string; readonly label: string })[];
}

/** A labelled select with its help text and error. */
export function SelectField({
  label,
  error,
  help,
  hideLabel,
  options,
  className,
  ...select
}: SelectFieldProps) {
  const id = useId();
  const helpId = help ? `${id}-help` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  return (
    <div className={`field${error ? ' field-invalid' : ''}${className ? ` ${className}` : ''}`}>
      <label htmlFor={id} className={hideLabel ? 'visually-hidden' : undefined}>
        {label}
      </label>
      {help ? (
        <span className="field-help" id={helpId}>
          {help}
        </span>
      ) : null}
      <select
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(helpId, errorId)}
        {...select}
      >
        {options.map((option) => {
          const { value, label: text } =
            typeof option === 'string' ? { value: option, label: option } : option;
          return (
            <option key={value} value={value}>
              {text}
            </option>
          );
        })}
      </select>
      {error ? (
        <span className="field-error" id={errorId}>
          {error}
        </span>
      ) : null}
    </div>
  );
}
