/** Code splitting without preact/compat: a component whose module loads on first render. */
import type { ComponentType, JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Loading } from '../ui/ErrorState';

export function lazyPage<P extends object>(load: () => Promise<ComponentType<P>>): (props: P) => JSX.Element {
  let loaded: ComponentType<P> | undefined;
  let pending: Promise<ComponentType<P>> | undefined;
  return function LazyPage(props: P) {
    const [component, setComponent] = useState<ComponentType<P> | undefined>(() => loaded);
    const [failed, setFailed] = useState<string | undefined>();
    useEffect(() => {
      if (loaded) return;
      pending ??= load();
      pending
        .then((result) => {
          loaded = result;
          setComponent(() => result);
        })
        .catch((error: unknown) => {
          pending = undefined;
          setFailed(error instanceof Error ? error.message : String(error));
        });
    }, []);
    if (failed)
      return (
        <section class="error-state" role="alert" data-testid="error-state">
          <h2>This page could not load</h2>
          <p class="error-detail">{failed}</p>
          <p class="muted">jeny may have been upgraded since this tab opened: reload the page.</p>
          <button type="button" class="btn btn-primary" onClick={() => location.reload()}>
            Reload
          </button>
        </section>
      );
    const Component = component;
    return Component ? <Component {...props} /> : <Loading rows={6} />;
  };
}
