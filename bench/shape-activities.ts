// The same-shape floor's activities: trivial bodies that tell the bench (the parent process, over IPC)
// when an incident's first action started and when its end was recorded, the moments the real storm
// reads from action_runs.started_at and finished_at.

/** A message from the floor's worker to the bench. */
export interface ShapeReport {
  type: 'shape';
  incidentKey: string;
  event: 'actionStarted' | 'actionFinished';
  at: number;
}

function report(incidentKey: string, event: ShapeReport['event']): void {
  const message: ShapeReport = { type: 'shape', incidentKey, event, at: Date.now() };
  process.send?.(message);
}

export const shapeActivities = {
  /** A local activity: nothing, or the record of the action's end when it follows the action. */
  async shapeLocal(input: { incidentKey?: string; finished?: boolean }): Promise<void> {
    if (input.finished && input.incidentKey) report(input.incidentKey, 'actionFinished');
  },
  /** The no-op action. */
  async shapeAction(input: { incidentKey: string; index: number; finished: boolean }): Promise<void> {
    if (input.index === 0) report(input.incidentKey, 'actionStarted');
    if (input.finished) report(input.incidentKey, 'actionFinished');
  },
};
