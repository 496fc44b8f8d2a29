/**
 * Structured JSON logs for the control-plane functions (Powertools logger): every line carries
 * the function's service name and the cluster; handlers append service and task ids where they
 * have them. Local mode prints the same lines.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'skiff', ...(process.env.SKIFF_CLUSTER ? { persistentKeys: { cluster: process.env.SKIFF_CLUSTER } } : {}) });

/** A logger for one component (`api`, `scheduler`, `health`), sharing the root's settings. */
export function componentLogger(component: string, cluster?: string): Logger {
  return logger.createChild({ persistentKeys: { component, ...(cluster ? { cluster } : {}) } });
}
