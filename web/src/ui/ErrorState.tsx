/**
 * What went wrong and what to do: every failed request shows one of these, never a blank page.
 * 401 sends to sign-in, 403 names the role needed, 404 offers a way back, others a retry.
 */
import type { ComponentChildren } from 'preact';
import { Link } from 'wouter-preact';
import type { ApiError } from '../lib/api/client';
import { Button } from './Button';

export function adviceFor(error: ApiError, noun?: string): string {
  switch (error.status) {
    case 0:
      return 'Check that the jeny server is running, then retry.';
    case 401:
      return 'Your session ended. Sign in again.';
    case 403:
      return error.code === 'forbidden' && /role/.test(error.detail)
        ? 'You need the deployer role (or admin) here: ask an admin of jeny.'
        : 'You are not allowed to do this: ask an admin of jeny.';
    case 404:
      return `There is no such ${noun ?? 'thing'}: it may have been deleted, or the link is wrong.`;
    case 409:
      return 'It conflicts with the current state: reload and try again.';
    case 412:
      return 'Someone changed it since you opened it: reload to see their change, then apply yours again.';
    case 422:
      return error.field ? `Fix the field "${error.field}" and try again.` : 'Fix the input and try again.';
    case 423:
      return 'The environment is locked: unlock it, or wait until the lock lifts.';
    case 429:
      return 'Too many attempts: wait a minute and try again.';
    case 503:
      return 'The database is unavailable right now. Retry in a moment.';
    default:
      return error.status >= 500 ? 'This is a problem in jeny: retry, and if it persists, give the request id to whoever runs it.' : 'Retry, or go back.';
  }
}

export function ErrorState({
  error,
  onRetry,
  noun,
  backHref = '/',
  backLabel = 'Back to projects',
}: {
  error: ApiError;
  onRetry?: () => void;
  noun?: string;
  backHref?: string;
  backLabel?: string;
}) {
  const title =
    error.status === 404
      ? `No such ${noun ?? 'page'}`
      : error.status === 403
        ? 'Not allowed'
        : error.status === 0
          ? 'jeny is unreachable'
          : `Something went wrong (${error.status})`;
  return (
    <section class="error-state" role="alert" data-testid="error-state">
      <h2>{title}</h2>
      <p class="error-detail">{error.detail}</p>
      <p class="muted">{adviceFor(error, noun)}</p>
      <div class="error-actions">
        {error.status === 401 ? (
          <a class="btn btn-primary" href={`/auth/login?next=${encodeURIComponent(location.pathname + location.search)}`}>
            Sign in
          </a>
        ) : null}
        {onRetry && error.status !== 404 && error.status !== 403 ? (
          <Button variant="primary" onClick={onRetry}>
            Retry
          </Button>
        ) : null}
        <Link href={backHref} class="btn btn-default">
          {backLabel}
        </Link>
      </div>
      {error.requestId ? <p class="muted small mono">request id {error.requestId}</p> : null}
    </section>
  );
}

/** A compact error inside a form or a card. */
export function InlineError({ error }: { error: ApiError }) {
  return (
    <div class="inline-error" role="alert">
      <strong>{error.detail}</strong>
      <span class="muted"> {adviceFor(error)}</span>
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty-state">
      <p class="empty-state-title">{title}</p>
      {children ? <div class="empty-state-body">{children}</div> : null}
    </div>
  );
}

/** Placeholder rows while the first answer is on its way, the size of what will come. */
export function Loading({ rows = 3, label = 'Loading' }: { rows?: number; label?: string }) {
  return (
    <div class="loading" aria-busy="true" aria-label={label}>
      {Array.from({ length: rows }, (_, index) => (
        <div class="skeleton" key={index} />
      ))}
    </div>
  );
}
