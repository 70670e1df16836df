// Public surface of the rule engine: schemas and types, evaluation, indexing, time windows, and the
// linear-time regex engine user patterns run on. Pure modules only.
export * from './schema.js';
export * from './evaluate.js';
export * from './rule-index.js';
export * from './time-window.js';
export { checkRegex, compileUserRegex, MAX_PATTERN_LENGTH, MAX_PROGRAM_SIZE, MAX_RULE_PROGRAM_SIZE, MAX_SUBJECT_LENGTH } from '../regex.js';
export * from './chaining.js';
