// Schemas every route group shares.
import { z } from '../../domain/zod.js';
import { TEAM_NAME_PATTERN, TEAM_NAME_RULE } from '../../domain/teams.js';
import { unstorableChar } from '../body.js';

export const problemSchema = z
  .object({
    type: z.string().describe('URI of the problem type.'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string().describe('Dotted path of the offending field.'), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; validation errors list each offending field path.' });

export const anyObject = z.record(z.string(), z.unknown());
export const list = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

/**
 * An id or free-text filter from a path or query string, of at most `max` characters. Postgres text holds
 * neither U+0000 nor a lone UTF-16 surrogate, which the body reader refuses in JSON (src/api/body.ts): in a
 * parameter too they are a 400 naming it, not a 500 from the database.
 */
export const textParam = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .superRefine((s, ctx) => {
      const what = unstorableChar(s);
      if (what) ctx.addIssue({ code: 'custom', message: `contains ${what}, which cannot be stored` });
    });

/** The query of a list paged by cursor and by bytes (GET /api/rules, /api/jobs, /api/environments). */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('Items on the page at most (1 to 500; fewer when they pass the page\'s bytes).'),
  cursor: textParam(1000).optional().describe('nextCursor of the previous page.'),
};

/** A page of `item`s and the cursor of the next one. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  list(item).extend({ nextCursor: z.string().nullable().describe('The cursor of the next page; null on the last. Follow it until it is null.') });

/** The largest Postgres integer (int4), the type of rule versions: a larger one is a 400, not a 500 from the database. */
export const INT4_MAX = 2_147_483_647;

/** Path parameters, e.g. `pathParams(['id', 'rule id'])`: ids of at most 200 characters. */
export const pathParams = <K extends string>(...pairs: [K, string][]) =>
  z.object(Object.fromEntries(pairs.map(([name, description]) => [name, textParam(200).describe(description)])) as Record<K, z.ZodString>);

/** The If-Match request header of optimistic concurrency. */
export const ifMatchHeader = z.object({ 'if-match': z.string().optional().describe('The version being replaced, as an entity tag: "3".') });

/**
 * The `ifTeam` precondition of a replace or delete (environments, jobs): the change is made only while the
 * object is in this team, else 409 and nothing changes (src/services/team-access.ts, requireStillInTeam).
 */
export const ifTeamQuery = z.object({
  ifTeam: z
    .string()
    .regex(TEAM_NAME_PATTERN, TEAM_NAME_RULE)
    .optional()
    .describe('Change only while the object is in this team (the team it was read in); 409 otherwise, nothing changed. `selfheal apply` sends it.'),
});
