// Public surface of the backtest (pure): the engine, how lanes are built, and the shapes it reads and answers.
export * from './types.js';
export { runBacktest, BacktestLimitError } from './engine.js';
export { definitionLane, versionsLane, warmupSeconds, MAX_WARMUP_SECONDS, type StoredVersion } from './lanes.js';
export { namedService, replayEvent, NOTE_MARKER } from './incident-replay.js';
export { parseDuration, formatDuration, MAX_WINDOW_SECONDS } from './window.js';
export { boundStoredSummary, bucketHoursFor, GROUP_KEY_HASH_HEX, MAX_GROUP_KEY_BYTES, MAX_STORED_SUMMARY_BYTES, STORED_SUMMARY_CUTS, storableSummary, MAX_HOUR_BUCKETS, MAX_LISTED_SUMMARY_BYTES, RECAP_PATHS, RECAP_VALUE_BYTES, recapSummary } from './bounds.js';
