export * from './errors.js';
export { resolveSecretRef } from './secrets.js';
export { runScript, validateScriptsDir, resolveAllowedScript, buildScriptEnv, type RunScriptOptions, type ScriptResult, type ScriptProgress } from './script-runner.js';
export { runSshCommand, shellQuote, buildRemoteCommand, fingerprintOfPublicKey, fingerprintOfKeyBlob, type SshCommandOptions, type SshCommandResult } from './ssh.js';
export { sendSlack, sendEmail, sendWebhook, signWebhookBody, SIGNATURE_HEADER, TIMESTAMP_HEADER, type SlackMessage, type EmailMessage, type WebhookMessage } from './notify.js';
export {
  createWorkItemOnce,
  createEwmProvider,
  createJiraProvider,
  createGitHubProvider,
  idempotencyLabel,
  idempotencyMarker,
  toAdf,
  type WorkItemProvider,
  type WorkItemInput,
  type WorkItemRef,
  type EwmConfig,
  type JiraConfig,
  type GitHubConfig,
  type ProviderDeps,
} from './work-items.js';
export { httpRequest, isRetryableStatus, type FetchLike } from './http.js';
