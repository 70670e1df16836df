// Trivial workflows for the Temporal baselines: what signalWithStart and start cost with no work behind them.
import { condition, defineSignal, setHandler } from '@temporalio/workflow';

export const benchSignal = defineSignal<[string]>('benchSignal');

/** Completes on its first signal (the signalWithStart baseline). */
export async function benchSignalWorkflow(): Promise<void> {
  let signalled = false;
  setHandler(benchSignal, () => {
    signalled = true;
  });
  await condition(() => signalled);
}

/** Completes at once (the workflow-start baseline). */
export async function benchNoopWorkflow(): Promise<void> {}
