// The confirmation every state-changing button of the dashboard asks for (approve, reject, run now, pause,
// resume): a modal <dialog> that names the action and its target, against double-click-jacking. Framing is
// refused by the CSP, but a page needs no frame to steal a click: an attacker's page opens a popup, points
// its own first tab at an incident here, and closes the popup on the victim's mousedown, so the second
// click of a "double-click to continue" lands on our button as a genuine same-origin request. So:
// - one click only opens the dialog; the page behind it is inert while it is open (modal);
// - the dialog sits in the other half of the viewport from the button that opened it, so a second click at
//   the same spot hits the backdrop, which does nothing;
// - its confirm button stays disabled until the dialog has been open, with the page visible and focused,
//   for CONFIRM_DELAY_MS: losing visibility or focus disables it again and restarts the wait, so a click
//   right after the page came to front (a popup closed over it) cannot confirm;
// - the initial focus is on Cancel, so Enter or Space confirms nothing; Escape and Cancel close it.
// Hand-written: a dialog library would add a runtime for one element, and these rules are the point.
import { h } from './dom.js';

/** How long the page must have been visible and focused, with the dialog open, before confirming works. */
export const CONFIRM_DELAY_MS = 500;

export interface ConfirmOptions {
  /** The question, naming the action and its target: `Approve action x of rule y on incident #12?` */
  question: string;
  /** More about the consequences, under the question. */
  detail?: string;
  /** The confirm button's label, the action's verb (`Approve`). */
  confirmLabel: string;
  /** The confirm button's class in app.css (`approve`, `reject`). */
  confirmClass?: string;
  /** The button that asked: the dialog is placed away from it. */
  opener: Element;
  /** Aborted when the view is left: the dialog closes unanswered. */
  signal?: AbortSignal;
}

let open: HTMLDialogElement | undefined;

/** Asks the question in a modal dialog; true when confirmed, false when cancelled, escaped or the view was left. */
export function confirmAction(options: ConfirmOptions): Promise<boolean> {
  open?.close();
  return new Promise((resolve) => {
    let confirmed = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const confirm = h('button', { type: 'button', class: options.confirmClass, 'data-testid': 'confirm-ok', disabled: true }, options.confirmLabel);
    const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': 'confirm-cancel', autofocus: true }, 'Cancel');
    // Away from the opener: an opener in the upper half gets the dialog at the bottom, and the other way round.
    const at = options.opener.getBoundingClientRect();
    const low = at.top + at.height / 2 < window.innerHeight / 2;
    const dialog = h(
      'dialog',
      { class: `confirm ${low ? 'low' : 'high'}`, 'data-testid': 'confirm-dialog', 'aria-labelledby': 'confirm-question' },
      h('p', { id: 'confirm-question', 'data-testid': 'confirm-question' }, options.question),
      options.detail ? h('p', { class: 'muted' }, options.detail) : null,
      h('div', { class: 'row' }, cancel, confirm),
    );

    const disarm = () => {
      clearTimeout(timer);
      confirm.disabled = true;
    };
    const arm = () => {
      disarm();
      if (document.visibilityState === 'visible' && document.hasFocus()) timer = setTimeout(() => (confirm.disabled = false), CONFIRM_DELAY_MS);
    };
    const leave = () => dialog.close();
    const done = () => {
      disarm();
      document.removeEventListener('visibilitychange', arm);
      window.removeEventListener('focus', arm);
      window.removeEventListener('blur', disarm);
      options.signal?.removeEventListener('abort', leave);
      dialog.remove();
      if (open === dialog) open = undefined;
      resolve(confirmed);
    };
    confirm.addEventListener('click', () => {
      if (confirm.disabled) return;
      confirmed = true;
      dialog.close();
    });
    cancel.addEventListener('click', leave);
    dialog.addEventListener('close', done, { once: true });
    document.addEventListener('visibilitychange', arm);
    window.addEventListener('focus', arm);
    window.addEventListener('blur', disarm);
    options.signal?.addEventListener('abort', leave, { once: true });

    document.body.append(dialog);
    open = dialog;
    dialog.showModal();
    if (options.signal?.aborted) leave();
    else arm();
  });
}
