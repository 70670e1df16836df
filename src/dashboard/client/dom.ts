// Small, safe DOM helpers for the dashboard. Hand-written because the whole need is one element builder:
// a framework (preact, lit) would add a runtime and a render model for a handful of tables and forms.
//
// Safety rules every view follows by using these helpers:
// - Data becomes text nodes or attribute values, never markup: there is no innerHTML anywhere.
// - Links to other systems go through `externalLink`, which accepts only http(s) URLs (a PagerDuty
//   payload could carry `javascript:`; the CSP would block it too, this is the second wall).
// - The CSP forbids inline styles: style with classes from app.css, or through the CSSOM
//   (`el.style.width = ...`), never a `style` attribute.
import { httpUrl } from './format.js';

type Handler<E extends Event> = (event: E) => void;

/** Attributes of {@link h}: `on*` keys are event listeners, the rest are attributes (`true` = present). */
export interface Attrs {
  onclick?: Handler<MouseEvent>;
  onchange?: Handler<Event>;
  onsubmit?: Handler<SubmitEvent>;
  [name: string]: string | number | boolean | null | undefined | Handler<never>;
}

/** What a child may be: nodes, text, or nothing (skipped), nested in arrays. */
export type Child = Node | string | number | null | undefined | false | readonly Child[];

/** Builds an element: `h('td', { class: 'muted' }, 'text', otherNode)`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (typeof value !== 'function') {
      el.setAttribute(name, value === true ? '' : String(value));
    } else if (name.startsWith('on')) {
      el.addEventListener(name.slice(2), value as EventListener);
    } else {
      throw new Error(`attribute ${name} is a function; listeners are named on<event>`);
    }
  }
  append(el, children);
  return el;
}

/** Appends children to a node: strings and numbers as text nodes. */
export function append(parent: Node, child: Child): void {
  if (child === undefined || child === null || child === false) return;
  if (Array.isArray(child)) {
    for (const c of child as readonly Child[]) append(parent, c);
    return;
  }
  parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : (child as Node));
}

/** Replaces the content of `parent`. */
export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/** A status pill; its class `b-<value>` picks the colour from app.css. */
export function badge(value: string | null | undefined, testid?: string): HTMLSpanElement {
  const v = value ?? '';
  return h('span', { class: `badge b-${v.replace(/[^a-z_]/gi, '_')}`, 'data-testid': testid }, v);
}

/** A link to another system (PagerDuty, Temporal, a ticket) in a new tab; nothing when the URL is missing or not http(s). */
export function externalLink(href: string | null | undefined, label: string, testid?: string): HTMLAnchorElement | null {
  const url = httpUrl(href);
  if (!url) return null;
  return h('a', { href: url, target: '_blank', rel: 'noopener noreferrer', 'data-testid': testid }, label);
}

/** A table with a header row; `rows` are `tr` elements (or groups of them). */
export function table(testid: string | undefined, headers: readonly string[], rows: Child): HTMLTableElement {
  return h(
    'table',
    { 'data-testid': testid },
    h(
      'tr',
      {},
      headers.map((t) => h('th', {}, t)),
    ),
    rows,
  );
}

/** Looks up an element of the page shell (src/dashboard/page.ts); a missing one is a bug in the shell. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}
