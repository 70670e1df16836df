// Links into the Temporal Web UI, built from the server's /ui/config.json.
import type { UiConfig } from '../types.js';

export function temporalLink(config: UiConfig, path: string): string {
  return `${config.temporalUiUrl}/namespaces/${encodeURIComponent(config.namespace)}${path}`;
}
