/**
 * Building blocks of the rule model shared by its parts (conditions, actions, the rule itself): name and
 * reference patterns, the event types a rule can react to, slugs, secret references and templated strings.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { z } from '../zod.js';
import { validateTemplate } from '../template.js';

export const SLUG_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
export const SECRET_REF_PATTERN = /^(?:env:[A-Za-z_][A-Za-z0-9_]*|file:\/[^\0\s]*[^\0\s/])$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A relative script path: segments joined by single slashes, none empty, "." or ".." (the worker and the agent check it again). */
export const SCRIPT_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]*(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9._-]+)*$/;
export const PAGERDUTY_ID_PATTERN = /^[A-Za-z0-9]{1,32}$/;

/** Roots a condition `field` may address. */
export const CONDITION_ROOTS = ['incident', 'environment', 'alert', 'alerts', 'event'] as const;

/** PagerDuty V3 webhook incident event types a rule can react to (`*` = any). */
export const EVENT_TYPES = [
  'incident.triggered',
  'incident.acknowledged',
  'incident.unacknowledged',
  'incident.resolved',
  'incident.reopened',
  'incident.escalated',
  'incident.reassigned',
  'incident.delegated',
  'incident.priority_updated',
  'incident.annotated',
  'incident.responder.added',
  'incident.responder.replied',
  'incident.status_update_published',
  'incident.service_updated',
  'incident.conference_bridge.updated',
  'incident.workflow.started',
  'incident.workflow.completed',
] as const;

export const slug = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(SLUG_PATTERN, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');

export const secretRefSchema = z
  .string()
  .max(512)
  .regex(SECRET_REF_PATTERN, 'must be a secret reference: "env:NAME" or "file:/absolute/path" (never the secret itself)')
  .meta({
    id: 'SecretRef',
    description:
      'Reference to a secret resolved by the worker at run time: `env:NAME` or `file:/absolute/path`, inside the ' +
      'prefixes and directories the operator allows (SECRET_REF_ENV_PREFIXES, default SELFHEAL_SECRET_; SECRET_REF_DIRS, ' +
      'default /run/secrets and /etc/selfheal/secrets).',
    examples: ['env:SELFHEAL_SECRET_SLACK_WEBHOOK_OPS', 'file:/run/secrets/webhook-hmac'],
  });

/** A string that may contain `{{ path }}` placeholders (see src/domain/template.ts). */
export const templated = (max: number, description: string, min = 0) =>
  z
    .string()
    .min(min)
    .max(max)
    .superRefine((value, ctx) => {
      for (const problem of validateTemplate(value)) ctx.addIssue({ code: 'custom', message: problem.message });
    })
    .describe(`${description} May contain {{ path }} placeholders (e.g. {{ incident.title }}), rendered as plain data.`);
