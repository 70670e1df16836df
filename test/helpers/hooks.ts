// Mocha root hooks: shared, lazily started resources are torn down once, after every test file ran.
import { stopSharedResources } from './shared.js';

export const mochaHooks = {};

export async function mochaGlobalTeardown(): Promise<void> {
  await stopSharedResources();
}
