import { type FormEvent, useCallback, useId, useRef, useState } from 'react';
import type { ApiToken, CreatedToken } from '../api/types.ts';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { DateTime } from '../components/date-time.tsx';
import { ErrorMessage, Notice } from '../components/error-message.tsx';
import { TextField } from '../components/field.tsx';
import { Empty, Loading, Page, Section } from '../components/page.tsx';
import { useAction } from '../components/use-action.ts';
import { useResource } from '../components/use-resource.ts';
import { useSession } from '../session.tsx';

/** The caller's personal API tokens: create (the value is shown once), list and revoke. */
export function TokensPage() {
  const { client } = useSession();
  const tokens = useResource(useCallback(() => client.get<ApiToken[]>('/api/tokens'), [client]));
  const [created, setCreated] = useState<CreatedToken>();
  const [notice, setNotice] = useState<string>();
  const revoke = useAction(
    useCallback((id: string) => client.delete<ApiToken>(`/api/tokens/${encodeURIComponent(id)}`), [client]),
  );

  return (
    <Page
      title="My tokens"
      description={
        <>
          Personal API tokens let the CLI and scripts act as you: pass one with <code>--token</code>, in{' '}
          <code>SLIPWAY_TOKEN</code>, or as <code>Authorization: Bearer TOKEN</code>. A token holds your
          roles.
        </>
      }
    >
      <CreateTokenForm
        onCreated={(result) => {
          setNotice(undefined);
          setCreated(result);
          tokens.reload();
        }}
      />
      {created ? <NewTokenValue created={created} onDone={() => setCreated(undefined)} /> : null}
      <Section
        title="Your tokens"
        actions={
          <button type="button" onClick={tokens.reload} disabled={tokens.loading}>
            Refresh
          </button>
        }
      >
        <Notice>{notice}</Notice>
        <ErrorMessage error={revoke.error} title="Cannot revoke the token" />
        <ErrorMessage error={tokens.error} title="Cannot load your tokens" />
        {tokens.data === undefined ? (
          tokens.loading ? (
            <Loading what="your tokens" />
          ) : null
        ) : tokens.data.length === 0 ? (
          <Empty>You have no API tokens.</Empty>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Created</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {tokens.data.map((token) => {
                  const status = tokenStatus(token);
                  return (
                    <tr key={token.id}>
                      <th scope="row">{token.name}</th>
                      <td>
                        <DateTime value={token.createdAt} />
                      </td>
                      <td>{token.expiresAt ? <DateTime value={token.expiresAt} /> : 'never'}</td>
                      <td>
                        <DateTime value={token.lastUsedAt} />
                      </td>
                      <td>
                        <span className={status === 'active' ? 'badge badge-ok' : 'badge badge-bad'}>
                          {status}
                        </span>
                      </td>
                      <td>
                        {status === 'active' ? (
                          <ConfirmButton
                            label={`Revoke token "${token.name}"`}
                            title={`Revoke token "${token.name}"?`}
                            message="Scripts and CLIs that use it are refused from now on. This cannot be undone."
                            confirmLabel="Revoke token"
                            disabled={revoke.pending}
                            onConfirm={async () => {
                              const result = await revoke.run(token.id);
                              if (result.ok) {
                                setNotice(`Revoked token "${token.name}"`);
                                if (created?.token.id === token.id) setCreated(undefined);
                                tokens.reload();
                              }
                            }}
                          >
                            Revoke
                          </ConfirmButton>
                        ) : null}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </Page>
  );
}

function tokenStatus(token: ApiToken): 'active' | 'revoked' | 'expired' {
  if (token.revokedAt) return 'revoked';
  if (token.expiresAt && new Date(token.expiresAt).getTime() <= Date.now()) return 'expired';
  return 'active';
}

function CreateTokenForm({ onCreated }: { readonly onCreated: (created: CreatedToken) => void }) {
  const { client } = useSession();
  const [name, setName] = useState('');
  const [days, setDays] = useState('30');
  const create = useAction(
    useCallback(
      (input: { name: string; days: string }) =>
        client.post<CreatedToken>('/api/tokens', {
          name: input.name.trim(),
          ...(input.days.trim() ? { expiresInDays: Number(input.days) } : {}),
        }),
      [client],
    ),
  );
  const errors = create.error?.fieldErrors() ?? {};

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const result = await create.run({ name, days });
    if (result.ok) {
      setName('');
      onCreated(result.value);
    }
  };

  return (
    <Section title="Create a token">
      <form className="form-grid" onSubmit={submit} aria-label="Create a token" noValidate>
        <ErrorMessage error={create.error} title="Cannot create the token" />
        <TextField
          label="Name"
          name="name"
          help="What it is for, like ci-deploy or laptop"
          autoComplete="off"
          value={name}
          onChange={(event) => setName(event.target.value)}
          error={errors.name}
        />
        <TextField
          label="Expires after (days)"
          name="expiresInDays"
          type="number"
          inputMode="numeric"
          min={1}
          help="Leave empty for a token that never expires"
          value={days}
          onChange={(event) => setDays(event.target.value)}
          error={errors.expiresInDays}
        />
        <div className="form-actions">
          <button type="submit" className="button-primary" disabled={create.pending}>
            {create.pending ? 'Creating…' : 'Create token'}
          </button>
        </div>
      </form>
    </Section>
  );
}

function NewTokenValue({ created, onDone }: { readonly created: CreatedToken; readonly onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const valueId = useId();
  const [copied, setCopied] = useState<'yes' | 'select' | undefined>();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(created.value);
      setCopied('yes');
    } catch {
      // The clipboard API needs a secure context and a permission; selecting lets the user copy by hand.
      input.current?.select();
      setCopied('select');
    }
  };
  return (
    <section className="section token-once" aria-label="New token">
      <h2>Copy your new token now</h2>
      <p>
        Token "{created.token.name}" is ready. Slipway stores only a hash of it, so this is the only time its
        value is shown: copy it to where it is needed before you leave this page.
      </p>
      <div className="field">
        <label htmlFor={valueId}>Token value</label>
        <input
          id={valueId}
          ref={input}
          className="token-value"
          readOnly
          value={created.value}
          onFocus={(event) => event.target.select()}
        />
      </div>
      <div className="button-row">
        <button type="button" className="button-primary" onClick={() => void copy()}>
          Copy to clipboard
        </button>
        <button type="button" onClick={onDone}>
          Done, hide it
        </button>
        <span role="status" className="muted">
          {copied === 'yes'
            ? 'Copied.'
            : copied === 'select'
              ? 'Selected: press Ctrl+C (or ⌘C) to copy.'
              : ''}
        </span>
      </div>
    </section>
  );
}
