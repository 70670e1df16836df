// Pure shapes and names shared by workflows, activities, the API and the CLI. Nothing here imports a
// package or a module above it (see eslint.config.js), so any layer may import it.
export * from './names.js';
export type * from './plan.js';
export * from './incident.js';
export * from './jobs.js';
