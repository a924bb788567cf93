/** The frame of a page: breadcrumbs, a title line with actions, optional tabs, then content. */
import type { ComponentChildren } from 'preact';
import { useEffect } from 'preact/hooks';
import { Link, useLocation } from 'wouter-preact';

export interface Crumb {
  label: string;
  href?: string;
}

export function Page({
  title,
  crumbs = [],
  actions,
  tabs,
  children,
  documentTitle,
}: {
  title: ComponentChildren;
  crumbs?: Crumb[];
  actions?: ComponentChildren;
  tabs?: { label: string; href: string; exact?: boolean }[];
  children: ComponentChildren;
  documentTitle?: string;
}) {
  const [location] = useLocation();
  useEffect(() => {
    document.title = documentTitle ? `${documentTitle} · jeny` : 'jeny';
  }, [documentTitle]);
  return (
    <div class="page">
      {crumbs.length ? (
        <nav class="crumbs" aria-label="Breadcrumbs">
          {crumbs.map((crumb, index) => (
            <span key={index} class="crumb">
              {crumb.href ? <Link href={crumb.href}>{crumb.label}</Link> : <span>{crumb.label}</span>}
              <span class="crumb-sep" aria-hidden="true">
                /
              </span>
            </span>
          ))}
        </nav>
      ) : null}
      <div class="page-head">
        <h1 class="page-title">{title}</h1>
        {actions ? <div class="page-actions">{actions}</div> : null}
      </div>
      {tabs ? (
        <nav class="tabs" aria-label="Sections">
          {tabs.map((tab) => {
            const active = tab.exact ? location === tab.href : location === tab.href || location.startsWith(`${tab.href}/`);
            return (
              <Link key={tab.href} href={tab.href} class={`tab${active ? ' tab-active' : ''}`} aria-current={active ? 'page' : undefined}>
                {tab.label}
              </Link>
            );
          })}
        </nav>
      ) : null}
      {children}
    </div>
  );
}

export function Section({ title, actions, children }: { title: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="section">
      <div class="section-head">
        <h2>{title}</h2>
        {actions ? <div class="section-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}
