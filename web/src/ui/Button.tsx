/** Buttons and button-looking links, in a few variants: default, primary, danger, ghost. */
import type { ComponentChildren, JSX } from 'preact';
import { Link } from 'wouter-preact';

type Variant = 'default' | 'primary' | 'danger' | 'ghost';

export function Button({
  variant = 'default',
  small = false,
  busy = false,
  children,
  class: className,
  ...rest
}: { variant?: Variant; small?: boolean; busy?: boolean; children: ComponentChildren } & JSX.ButtonHTMLAttributes<HTMLButtonElement>) {
  return (
    <button
      type="button"
      {...rest}
      disabled={Boolean(rest.disabled) || busy}
      aria-busy={busy}
      class={`btn btn-${variant}${small ? ' btn-small' : ''}${className ? ` ${String(className)}` : ''}`}
    >
      {busy ? <span class="spinner" aria-hidden="true" /> : null}
      {children}
    </button>
  );
}

export function ButtonLink({
  href,
  variant = 'default',
  small = false,
  children,
}: {
  href: string;
  variant?: Variant;
  small?: boolean;
  children: ComponentChildren;
}) {
  return (
    <Link href={href} class={`btn btn-${variant}${small ? ' btn-small' : ''}`}>
      {children}
    </Link>
  );
}

/** A keyboard key, for shortcut hints. */
export function Kbd({ children }: { children: ComponentChildren }) {
  return <kbd class="kbd">{children}</kbd>;
}
