// Resources shared by every test file of one run, started on first use.
const stoppers: (() => Promise<void>)[] = [];

export function onTeardown(fn: () => Promise<void>): void {
  stoppers.push(fn);
}

export async function stopSharedResources(): Promise<void> {
  while (stoppers.length > 0) {
    const stop = stoppers.pop()!;
    await stop().catch((err: unknown) => process.stderr.write(`teardown: ${(err as Error).message}\n`));
  }
}
