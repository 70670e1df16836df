// The one zod of this code base, with `.openapi()` on every schema. Every module imports `z` from here, never
// from 'zod' itself (lint's zod-through-one-module rule, .dependency-cruiser.cjs): this module applies the
// OpenAPI extension before any schema exists, whatever module a process loads first.
//
// Why it matters: zod 4 copies the methods on ZodType.prototype onto each schema as the schema is built, so a
// schema built before extendZodWithOpenApi ran never gets `.openapi()`. @hono/zod-openapi applies the
// extension when it is first imported; a schema module loaded before it (the PagerDuty webhook body, loaded
// by a unit test and later registered as an OpenAPI component by the webhook routes) broke
// `openAPIRegistry.register` with "zodSchema.openapi is not a function". The extension is a pure prototype
// patch (no I/O) and runs once: @hono/zod-openapi's own call finds it done.
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export { z };
