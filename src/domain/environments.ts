// Cloud environments as SREs submit them: name, labels, the Doctor agent's task queue, the management VM
// (SSH host, user, key *reference*, pinned host key fingerprint) and maintenance windows. Pure; the
// environments API validates with these schemas and the CLI uses them to validate and compare files.
import { z } from './zod.js';
import { agentTaskQueue } from '../contracts/names.js';
import { DEFAULT_TEAM } from './teams.js';
import { secretRefSchema, SLUG_PATTERN, teamFieldSchema, timeWindowSchema } from './rules/schema.js';

/** Things that are key material, not a reference to it. */
const KEY_MATERIAL = /-----BEGIN|PRIVATE KEY|^ssh-(rsa|ed25519|dss)|^ecdsa-sha2-|\n|^[A-Za-z0-9+/=]{100,}$/;

export const keyRefSchema = z
  .string()
  .max(512)
  .superRefine((v, ctx) => {
    if (KEY_MATERIAL.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'looks like key material: store the private key as a secret and give its reference ("env:NAME" or "file:/path"), never the key itself' });
      return;
    }
    const r = secretRefSchema.safeParse(v);
    if (!r.success) ctx.addIssue({ code: 'custom', message: r.error.issues[0]?.message ?? 'must be a secret reference' });
  })
  .describe('Reference to the SSH private key: `env:NAME` or `file:/absolute/path`.');

export const environmentSshSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .max(253)
    .regex(/^[A-Za-z0-9.:[\]-]+$/, 'must be a host name or IP address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .min(1)
    .max(32)
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'must be a user name'),
  keyRef: keyRefSchema.describe(
    'Reference to the SSH private key: `env:NAME` or `file:/absolute/path`, inside the secret prefixes or directories the operator allows.',
  ),
  hostKeyFingerprint: z
    .string()
    .regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, 'must be the pinned host key fingerprint as ssh-keygen -lf prints it: SHA256:<43 base64 characters>'),
  // No scriptsDir: where the VM keeps its scripts is operator configuration (SELFHEAL_SSH_SCRIPTS_DIR),
  // so an API token can never point a script name at /bin. The strict object answers 400 naming it.
});

/** The fields of `ssh` that say where code runs and with what credentials; changing any needs admin. */
export const SSH_AUTHORITY_FIELDS = ['host', 'port', 'user', 'keyRef', 'hostKeyFingerprint'] as const;

const labelsSchema = z
  .record(z.string().min(1).max(63).regex(/^[A-Za-z0-9][A-Za-z0-9._/-]*$/, 'label keys are letters, digits, ".", "_", "/" or "-"'), z.string().max(256))
  .refine((r) => Object.keys(r).length <= 64, 'at most 64 labels');

const environmentFields = {
  team: teamFieldSchema,
  description: z.string().max(2000).nullish(),
  labels: labelsSchema.default({}),
  agentTaskQueue: z.string().min(1).max(200).regex(/^\S+$/, 'must not contain spaces').optional(),
  ssh: environmentSshSchema.nullish(),
  maintenanceWindows: z.array(timeWindowSchema).max(50).default([]),
};

export const environmentCreateSchema = z.strictObject({
  name: z.string().min(1).max(63).regex(SLUG_PATTERN, 'must be lowercase letters, digits, ".", "_" or "-", starting with a letter or digit'),
  ...environmentFields,
});
export const environmentUpdateSchema = z.strictObject({ name: z.string().optional(), ...environmentFields });

export type EnvironmentInput = z.output<typeof environmentCreateSchema>;

/** An environment as the API stores and answers it, defaults applied (no timestamps, no agent status). */
export function normalizedEnvironment(input: EnvironmentInput) {
  return {
    name: input.name,
    description: input.description ?? null,
    labels: input.labels,
    agentTaskQueue: input.agentTaskQueue ?? agentTaskQueue(input.name),
    ssh: input.ssh ?? null,
    maintenanceWindows: input.maintenanceWindows,
    team: input.team ?? DEFAULT_TEAM,
  };
}

/**
 * The teams that could own environment name `name` by its prefix, longest first: the name itself and each
 * part of it before a `-`, `.` or `_` (`pay-eu.prod` → `pay-eu.prod`, `pay-eu`, `pay`). Team names are
 * [a-z0-9-], so only these can be team names.
 */
export function teamPrefixesOf(name: string): string[] {
  const out: string[] = [name];
  for (let i = name.length - 1; i > 0; i--) if ('-._'.includes(name[i]!)) out.push(name.slice(0, i));
  return out;
}

/**
 * Whose names `name` is among, given which of teamPrefixesOf(name) are teams (`teams`): the team of the
 * longest such prefix (`pay-eu-prod` is team pay-eu's when both pay and pay-eu exist), else the default
 * team's. Only an admin registers a name outside its team's own (src/services/environments.ts), so no other
 * team can take, first, a name under a team's prefix; a name under none is the default team's, which its
 * writers may still take first.
 */
export function nameOwner(name: string, teams: readonly string[]): string {
  return teamPrefixesOf(name).find((p) => teams.includes(p)) ?? DEFAULT_TEAM;
}
