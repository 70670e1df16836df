// Schemas every route group shares.
import { z } from 'zod';

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

/** Path parameters, e.g. `pathParams('id', 'rule id')`. */
export const pathParams = <K extends string>(...pairs: [K, string][]) =>
  z.object(Object.fromEntries(pairs.map(([name, description]) => [name, z.string().min(1).describe(description)])) as Record<K, z.ZodString>);

/** The If-Match request header of optimistic concurrency. */
export const ifMatchHeader = z.object({ 'if-match': z.string().optional().describe('The version being replaced, as an entity tag: "3".') });
