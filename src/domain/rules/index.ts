// Public surface of the rule engine: schemas and types, evaluation, indexing, time windows, regex
// screening. Pure modules only — safe to import from Temporal workflow code.
export * from './schema.js';
export * from './evaluate.js';
export * from './rule-index.js';
export * from './time-window.js';
export * from './safe-regex.js';
export * from './chaining.js';
