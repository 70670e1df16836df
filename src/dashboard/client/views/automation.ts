// The automation banner (issue 22): while a fleet guard keeps automation paused (fleet-wide or for an
// environment), the incident pages say so, with the guard and its reason, and a Resume button (which asks
// for confirmation first: confirm.ts). Resuming needs an admin: the button is hidden for a single sign-on
// user without the admin scope, and the API refuses anyone else (403, shown as a notice).
import type { AutomationPauseView } from '../../../contracts/stats.js';
import { confirmAction } from '../confirm.js';
import { h, type Child } from '../dom.js';
import { when } from '../format.js';
import type { ViewContext } from '../router.js';
import { session } from '../session.js';

type PauseView = AutomationPauseView;

/** The banner, or null when nothing is paused (or the status cannot be read). */
export async function automationBanner(ctx: ViewContext): Promise<Child> {
  let pauses: PauseView[];
  try {
    pauses = (await ctx.api.get<{ pauses: PauseView[] }>('/api/automation', { signal: ctx.signal })).pauses;
  } catch {
    return null;
  }
  if (pauses.length === 0) return null;
  const sso = session.sso();
  const mayResume = !sso || sso.scopes.includes('admin');
  return h(
    'div',
    { class: 'banner error', 'data-testid': 'automation-paused', role: 'alert' },
    pauses.map((p) => {
      const where = p.scope === 'environment' ? `for environment ${p.environment ?? ''}` : 'fleet-wide';
      const resume = async (button: HTMLButtonElement) => {
        // Automation acts on production again: one click only asks (confirm.ts).
        const confirmed = await confirmAction({
          question: `Resume automation ${where}?`,
          detail: `Guard ${p.guard} paused it: ${p.reason}`,
          confirmLabel: 'Resume',
          opener: button,
          signal: ctx.signal,
        });
        if (!confirmed) return;
        button.disabled = true;
        try {
          await ctx.api.send('POST', '/api/automation/resume', p.scope === 'fleet' ? { scope: 'fleet' } : { scope: 'environment', environment: p.environment });
        } catch (err) {
          ctx.flash((err as Error).message, true);
          button.disabled = false;
          return;
        }
        ctx.flash(`Automation resumed${p.scope === 'environment' ? ` for ${p.environment}` : ''}.`);
        ctx.reload();
      };
      const button: HTMLButtonElement | null = mayResume ? h('button', { type: 'button', 'data-testid': 'automation-resume', onclick: () => void resume(button!) }, 'Resume') : null;
      return h(
        'div',
        { class: 'row', 'data-testid': 'automation-pause', 'data-scope': p.scope },
        h('strong', {}, `Automation paused ${p.scope === 'environment' ? `for ${p.environment ?? ''}` : 'fleet-wide'} since ${when(p.pausedAt)} (guard ${p.guard}): `),
        h('span', {}, p.reason),
        button,
      );
    }),
  );
}
