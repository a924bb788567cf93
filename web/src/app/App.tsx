/**
 * The app: asks who is signed in, shows the sign-in page on 401, otherwise the shell and the
 * page the URL names. Every page is a history-API route (the server answers index.html for them).
 */
import { useEffect, useState } from 'preact/hooks';
import { Route, Switch, useLocation } from 'wouter-preact';
import { api, ApiError, onUnauthenticated } from '../lib/api/client';
import type { Me } from '../lib/api/client';
import { toApiError } from '../lib/resource';
import { ErrorState } from '../ui/ErrorState';
import { Page } from '../ui/Page';
import { MeContext } from '../features/auth/session';
import { SignInPage } from '../features/auth/SignInPage';
import { ProjectsPage } from '../features/projects/ProjectsPage';
import { ProjectPage } from '../features/projects/ProjectPage';
import { ProjectSettingsPage } from '../features/projects/ProjectSettingsPage';
import { ProjectVariablesPage } from '../features/variables/ProjectVariablesPage';
import { EnvironmentPage } from '../features/environments/EnvironmentPage';
import { EnvironmentSettingsPage } from '../features/environments/EnvironmentSettingsPage';
import { HostsPage } from '../features/hosts/HostsPage';
import { DeployHistoryPage } from '../features/deploys/DeployHistoryPage';
import { Shell } from './Shell';
import { lazyPage } from './lazy';

// The deploy page carries the log viewer: it loads when first opened, keeping the initial JS small.
const DeployPage = lazyPage<{ project: string; id: string }>(() =>
  import('../features/deploys/DeployPage').then((module) => module.DeployPage),
);

type Session = { state: 'loading' } | { state: 'signed-out' } | { state: 'error'; error: ApiError } | { state: 'signed-in'; me: Me };

export function App() {
  const [session, setSession] = useState<Session>({ state: 'loading' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => onUnauthenticated(() => setSession({ state: 'signed-out' })), []);
  useEffect(() => {
    api
      .get('/api/v1/me')
      .then(({ data }) => setSession({ state: 'signed-in', me: data }))
      .catch((caught: unknown) => {
        const error = toApiError(caught);
        setSession(error.status === 401 ? { state: 'signed-out' } : { state: 'error', error });
      });
  }, [attempt]);

  if (session.state === 'loading') return <div class="boot" aria-busy="true" />;
  if (session.state === 'signed-out') return <SignInPage />;
  if (session.state === 'error')
    return (
      <main class="boot-error">
        <ErrorState error={session.error} onRetry={() => setAttempt((value) => value + 1)} />
      </main>
    );
  return (
    <MeContext.Provider value={session.me}>
      <Shell>
        <Routes />
      </Shell>
    </MeContext.Provider>
  );
}

function Routes() {
  const [location] = useLocation();
  // Each navigation starts at the top of the page, as a full page load would.
  useEffect(() => {
    if (!location.includes('#')) window.scrollTo(0, 0);
  }, [location]);
  return (
    <Switch>
      <Route path="/" component={ProjectsPage} />
      <Route path="/projects" component={ProjectsPage} />
      <Route path="/hosts" component={HostsPage} />
      <Route path="/deploys">{() => <DeployHistoryPage />}</Route>
      <Route path="/p/:project">{(params) => <ProjectPage project={params.project} />}</Route>
      <Route path="/p/:project/settings">{(params) => <ProjectSettingsPage project={params.project} />}</Route>
      <Route path="/p/:project/variables">{(params) => <ProjectVariablesPage project={params.project} />}</Route>
      <Route path="/p/:project/deploys">{(params) => <DeployHistoryPage project={params.project} />}</Route>
      <Route path="/p/:project/deploys/:id">{(params) => <DeployPage project={params.project} id={params.id} />}</Route>
      <Route path="/projects/:project/deploys/:id">{(params) => <DeployPage project={params.project} id={params.id} />}</Route>
      <Route path="/p/:project/e/:environment">
        {(params) => <EnvironmentPage project={params.project} environment={params.environment} />}
      </Route>
      <Route path="/p/:project/e/:environment/settings">
        {(params) => <EnvironmentSettingsPage project={params.project} environment={params.environment} />}
      </Route>
      <Route>
        <Page title="Page not found" documentTitle="Not found">
          <ErrorState
            error={new ApiError({ status: 404, code: 'not_found', detail: `nothing lives at ${location}` })}
            noun="page"
            backHref="/"
          />
        </Page>
      </Route>
    </Switch>
  );
}

