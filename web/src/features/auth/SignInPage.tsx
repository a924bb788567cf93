/**
 * The sign-in page, shown whenever the API answers 401. With an identity provider: a button to
 * `/auth/login?next=<this page>`. Without one: how to get a one-time link from the server.
 */
import { useEffect, useState } from 'preact/hooks';
import { fetchProviders } from '../../lib/api/client';
import type { Providers } from '../../lib/api/client';

export function SignInPage() {
  const [providers, setProviders] = useState<Providers | undefined>();
  useEffect(() => {
    document.title = 'Sign in · jeny';
    void fetchProviders().then(setProviders);
  }, []);
  const next = `${location.pathname}${location.search}${location.hash}`;
  return (
    <main class="signin" data-testid="signin">
      <div class="signin-card">
        <div class="signin-logo">
          <Logo /> <span>jeny</span>
        </div>
        <h1>Sign in to jeny</h1>
        {providers === undefined ? (
          <p class="muted">Checking how to sign in…</p>
        ) : providers.oidc ? (
          <>
            <a class="btn btn-primary btn-wide" href={`/auth/login?next=${encodeURIComponent(next)}`}>
              Sign in with {providers.name ?? 'your identity provider'}
            </a>
            <p class="muted small">You come back to this page once signed in.</p>
          </>
        ) : (
          <>
            <p>This jeny has no identity provider configured. Sign in with a one-time link:</p>
            <ul class="signin-steps">
              <li>
                the server prints one when it starts: look for <code>sign in as … with this one-time link</code> in its
                output;
              </li>
              <li>
                or make a new one on the server machine:
                <pre class="code-block">jeny admin sign-in-link --data-dir ./jeny-data</pre>
              </li>
            </ul>
            <p class="muted small">
              Open the link in this browser; it is valid for 15 minutes and works once. To use Google or another OpenID
              Connect provider, see docs/auth.md.
            </p>
          </>
        )}
      </div>
    </main>
  );
}

export function Logo() {
  return (
    <svg class="logo-mark" viewBox="0 0 16 16" width="20" height="20" aria-hidden="true">
      <rect width="16" height="16" rx="4" fill="var(--accent)" />
      <path d="M9.5 3.5v6a2.5 2.5 0 0 1-5 0" stroke="#fff" stroke-width="2" fill="none" stroke-linecap="round" />
    </svg>
  );
}
