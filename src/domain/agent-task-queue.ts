// Temporal stores task queue names (habit 5): this one is forever. A leaf module, so workflows, the API
// and the CLI share it without loading anything else.

/** The task queue of an environment's Doctor agent, unless the environment names its own. */
export const agentTaskQueue = (environment: string): string => `selfheal-agent-${environment}`;
