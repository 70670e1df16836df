// Approvals where people are (issue 22): the approve and reject links an approval request carries.
//   GET  /approvals/link?action=…&token=…  a confirmation page (what is decided, for which incident), with a
//                                          form that POSTs the decision; nothing is decided by a GET.
//   POST /approvals/link                   decides: form fields (action, token, csrf) from that page with the
//                                          dashboard session, or JSON {action, token} with a bearer token.
// Both need the approver authenticated with the write scope (dashboard session via single sign-on, or a
// bearer token); a session POST is checked for forgery like every session write, its CSRF token coming from
// the page's form. The decision goes through the same service as POST /api/incidents/{id}/approvals/…:
// never the rule version's author, recorded in Postgres with the approver, then the rule run nudged. A link
// decides one action, once, until it expires: 403 for another action, 410 once used or expired. The page
// refuses what the POST would (409 with its words, no form): an action no longer waiting or decided, its
// deadline passed, or for an approve link its rule disabled, deleted or replaced since it was planned.
import { z } from '../../domain/zod.js';
import type { Context } from 'hono';
import { createHash } from 'node:crypto';
import { html, raw } from 'hono/html';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { approvableRun, checkDecidable, decideApproval, openApprovalLink, APPROVAL_LINK_PATH } from '../../services/approvals.js';
import type { AppDeps, AppEnv } from '../env.js';
import { requireScope } from '../auth.js';
import { actorOf, authOf, checkedInHandler, newRouter, op } from '../router.js';
import { readJsonBody } from '../body.js';
import { badRequest, issuesToErrors } from '../problem.js';
import { ServiceError } from '../../services/errors.js';

/**
 * The confirmation page's one script: its button decides nothing on a stolen click. Framing is refused, but
 * a page needs no frame to steal one: an attacker's page opens a popup, points its own tab at a link here
 * (the rule's author receives the links), and closes the popup on the signed-in approver's mousedown, so
 * the second click of a "double-click" landed on Approve, recorded as theirs. As the dashboard's
 * confirmation does (src/dashboard/client/confirm.ts), the button stays disabled until the page has been
 * visible and focused for LINK_CONFIRM_DELAY_MS; losing either disables it again and restarts the wait.
 * Without scripts the button never comes alive (the page says to decide from the dashboard instead).
 */
export const LINK_CONFIRM_DELAY_MS = 500;
const ARM_SCRIPT = `(() => {
  const button = document.getElementById('decide');
  let timer;
  const disarm = () => { clearTimeout(timer); button.disabled = true; };
  const arm = () => {
    disarm();
    if (document.visibilityState === 'visible' && document.hasFocus()) timer = setTimeout(() => { button.disabled = false; }, ${LINK_CONFIRM_DELAY_MS});
  };
  addEventListener('focus', arm);
  addEventListener('blur', disarm);
  document.addEventListener('visibilitychange', arm);
  arm();
})();`;
const CSP = `default-src 'none'; script-src 'sha256-${createHash('sha256').update(ARM_SCRIPT).digest('base64')}'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;
// The token is in the URL: it must not leave in a Referer, be cached, or be framed.
const PAGE_HEADERS = { 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'X-Frame-Options': 'DENY', 'Cache-Control': 'no-store' };

export const approvalLinkSchema = z.strictObject({
  action: z.string().min(1).max(600).describe('The action run the link decides (its id, as in the link).'),
  token: z.string().min(1).max(100).describe('The token of the link.'),
});
const formSchema = approvalLinkSchema.extend({ csrf: z.string().max(100).optional() });

const problemContent = { 'application/problem+json': { schema: z.object({ type: z.string(), title: z.string(), status: z.number(), detail: z.string().optional() }) } };
const htmlContent = { 'text/html': { schema: z.string() } };

/** An approval refusal or an auth failure as a page a person reads (same status as the API would answer). */
function page(c: Context<AppEnv>, status: number, title: string, body: ReturnType<typeof html> | string) {
  return c.html(
    html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title} · Self-healing</title></head>
<body><h1>${title}</h1>${body}</body></html>`,
    status as ContentfulStatusCode,
    PAGE_HEADERS,
  );
}

/** A refusal (any service error: approval, authentication, validation) as the page shows it; anything else is rethrown. */
function problemOf(err: unknown): ServiceError {
  if (err instanceof ServiceError) return err;
  throw err;
}

export function approvalLinkRoutes(deps: AppDeps) {
  const app = newRouter();
  const auth = authOf(deps);
  const authenticate = (c: Context<AppEnv>) => requireScope(auth, 'write')(c, async () => {});

  app.openapi(
    op(checkedInHandler('write'), {
      method: 'get',
      path: APPROVAL_LINK_PATH,
      tags: ['incidents'],
      summary: 'The confirmation page of an approve or reject link (decides nothing)',
      request: { query: approvalLinkSchema },
      responses: {
        200: { description: 'What the link decides, and a form to confirm it.', content: htmlContent },
        401: { description: 'Not signed in.', content: htmlContent },
        403: { description: "The rule version's author, or a link of another action.", content: htmlContent },
        404: { description: 'Not a link of this service.', content: htmlContent },
        409: { description: 'The decision would be refused: the action no longer waits for one, its deadline passed, or (approve) its rule changed.', content: htmlContent },
        410: { description: 'The link was used or has expired.', content: htmlContent },
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      try {
        await authenticate(c);
        const link = await openApprovalLink(deps.db, { token: q.token, actionRunId: q.action });
        const actor = c.get('actor') ?? 'unknown';
        const run = await approvableRun(deps.db, { actionRunId: q.action, actor: actorOf(c) });
        // Refused as the POST would refuse it (the same rule, status and words): no button that cannot work.
        await checkDecidable(deps.db, run, link.decision);
        const session = c.get('resolveSession') && !c.req.header('authorization') ? await c.get('resolveSession')!(c) : undefined;
        const verb = link.decision === 'approve' ? 'Approve' : 'Reject';
        return page(
          c,
          200,
          `${verb} ${run.action_id}?`,
          html`<p>${actor}, you are about to <strong>${link.decision}</strong> action <code>${run.action_id}</code> (${run.action_type}) of rule <code>${run.rule_id ?? ''}</code> v${String(run.rule_version ?? '')}
for incident <code>${run.incident_id ?? ''}</code>${run.target ? html` on <code>${run.target}</code>` : ''}.</p>
<p>This link works once, until ${link.expires_at.toISOString()}.</p>
<form method="post" action="${APPROVAL_LINK_PATH}">
<input type="hidden" name="action" value="${q.action}">
<input type="hidden" name="token" value="${q.token}">
${session ? html`<input type="hidden" name="csrf" value="${session.csrfToken}">` : ''}
<button type="submit" id="decide" disabled>${verb}</button>
</form>
<noscript><p>This button needs scripts (it waits until the page is in front, against stolen clicks): decide from the dashboard instead.</p></noscript>
<script>${raw(ARM_SCRIPT)}</script>`,
        );
      } catch (err) {
        const p = problemOf(err);
        const signIn = p.status === 401 ? html`<p><a href="/auth/login">Sign in</a>, then open the link again.</p>` : '';
        return page(c, p.status, p.title, html`<p>${p.detail ?? ''}</p>${signIn}`);
      }
    },
  );

  app.openapi(
    op(checkedInHandler('write'), {
      method: 'post',
      path: APPROVAL_LINK_PATH,
      tags: ['incidents'],
      summary: 'Decide with an approve or reject link (form from its confirmation page, or JSON with a bearer token)',
      // The body (JSON approvalLinkSchema, or the page's form: action, token, csrf) is parsed by the handler:
      // a form's CSRF token must be known before the session is checked.
      description: 'Body: JSON `{action, token}` with a bearer token, or the confirmation page\'s form (`action`, `token`, `csrf`) with the dashboard session.',
      responses: {
        202: { description: 'Decided (JSON request).', content: { 'application/json': { schema: z.object({ actionRunId: z.string(), decision: z.enum(['approve', 'reject']), actor: z.string(), delivered: z.boolean() }) } } },
        200: { description: 'Decided (form from the confirmation page).', content: htmlContent },
        401: { description: 'Not authenticated.', content: problemContent },
        403: { description: "The rule version's author, a link of another action, or a forged session request.", content: problemContent },
        404: { description: 'Not a link of this service.', content: problemContent },
        409: { description: 'The decision is refused: the action no longer waits for one, its deadline passed, or (approve) its rule changed.', content: problemContent },
        410: { description: 'The link was used or has expired.', content: problemContent },
        413: { description: 'The body is over 16 KiB (MAX_APPROVAL_LINK_BYTES): it is read before anyone is authenticated.', content: problemContent },
      },
    }),
    async (c) => {
      // Parsed here rather than by the route's validator: a form's CSRF token must be known before the
      // session is checked.
      // A JSON request (bearer token) is authenticated before its body is read, like every guarded route.
      const form = (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded');
      if (!form) await authenticate(c);
      const raw = form ? await c.req.parseBody() : await readJsonBody(c);
      const parsed = (form ? formSchema : approvalLinkSchema).safeParse(raw);
      if (!parsed.success) throw badRequest('invalid approval link', issuesToErrors(parsed.error.issues));
      if (form) {
        const csrf = (parsed.data as { csrf?: string }).csrf;
        if (csrf) c.set('csrfFormToken', csrf);
        await authenticate(c);
      }
      const actor = c.get('actor') ?? 'unknown';
      const log = c.get('logger');
      try {
        const link = await openApprovalLink(deps.db, { token: parsed.data.token, actionRunId: parsed.data.action });
        const result = await decideApproval(
          { db: deps.db, temporal: deps.temporal, warn: (detail, message) => log?.warn(detail, message) },
          { actionRunId: parsed.data.action, decision: link.decision, actor: actorOf(c), link },
        );
        if (!form) return c.json(result, 202);
        return page(c, 200, result.decision === 'approve' ? 'Approved' : 'Rejected', html`<p>${actor} ${result.decision === 'approve' ? 'approved' : 'rejected'} <code>${result.actionRunId}</code>.</p>`);
      } catch (err) {
        throw problemOf(err);
      }
    },
  );

  return app;
}
