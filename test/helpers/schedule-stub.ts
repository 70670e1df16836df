import type { Client, ScheduleOptions } from '@temporalio/client';

/** What a stub Temporal client was asked to do with schedules (it accepts everything). */
export interface ScheduleCalls {
  /** Schedules created or updated: id, and the interval (ms) or cron of their spec. */
  scheduled: { id: string; every?: number; cron?: string }[];
  backfills: { id: string; start: string; end: string }[];
}

/**
 * A Temporal client standing in for the schedules API only (create, update, describe, backfill), for the jobs API's
 * own tests where no workflow runs; every call is recorded in `calls`.
 */
export function stubScheduleClient(): { temporal: Client; calls: ScheduleCalls } {
  const calls: ScheduleCalls = { scheduled: [], backfills: [] };
  /** The last options each schedule was given: what describe answers (a job's row keeps its fingerprint). */
  const last = new Map<string, Partial<ScheduleOptions>>();
  const record = (o: Pick<ScheduleOptions, 'spec'> & Partial<ScheduleOptions> & { scheduleId: string }) => {
    last.set(o.scheduleId, o);
    const spec = o.spec as { intervals?: { every: number }[]; cronExpressions?: string[] };
    calls.scheduled.push({ id: o.scheduleId, ...(spec.intervals ? { every: spec.intervals[0]!.every } : {}), ...(spec.cronExpressions ? { cron: spec.cronExpressions[0] } : {}) });
  };
  const temporal = {
    withDeadline: <T>(_deadline: number, fn: () => Promise<T>) => fn(),
    schedule: {
      create: async (o: ScheduleOptions) => record(o),
      getHandle: (scheduleId: string) => ({
        update: async (fn: (prev: unknown) => Pick<ScheduleOptions, 'spec'>) => record({ scheduleId, ...fn({ memo: {}, policies: {} }) }),
        describe: async () => {
          const o = last.get(scheduleId) ?? {};
          return { spec: o.spec, policies: { overlap: 'SKIP', ...o.policies }, action: o.action ?? { type: 'startWorkflow' }, memo: o.memo, state: { paused: false } };
        },
        backfill: async (b: { start: Date; end: Date }) => {
          calls.backfills.push({ id: scheduleId, start: b.start.toISOString(), end: b.end.toISOString() });
        },
      }),
    },
  } as unknown as Client;
  return { temporal, calls };
}
