// Every workflow the bench-only worker runs: the trivial baselines and the same-shape floor.
export * from './trivial.js';
export * from './shape.js';
