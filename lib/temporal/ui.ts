import type { CairnConfig } from '../config/index.js';

/** The Temporal UI's page of the configured namespace, e.g. http://127.0.0.1:8233/namespaces/default. */
export function temporalUiBase(config: Pick<CairnConfig, 'temporal'>): string {
  return `http://127.0.0.1:${config.temporal.uiPort}/namespaces/${encodeURIComponent(config.temporal.namespace)}`;
}
