import type { TObject } from '@sinclair/typebox';
import { GatewayConfigSchema } from '../../gateway/src/config.ts';
import { DispatcherConfigSchema } from '../../dispatcher/src/config.ts';
import { DeliveryConfigSchema } from '../../delivery/src/config.ts';

/**
 * The variables each service reads, from its own config schema, so that deployment files
 * (compose.yaml, the Helm chart) are checked against the code: a renamed variable fails.
 */
export const SERVICE_SCHEMAS = {
  gateway: GatewayConfigSchema,
  dispatcher: DispatcherConfigSchema,
  delivery: DeliveryConfigSchema,
} as const satisfies Record<string, TObject>;
export type ServiceName = keyof typeof SERVICE_SCHEMAS;

/** loadConfig reads PUSHFLOW_ENV for every service, whether or not its schema lists it. */
const READ_BY_LOAD_CONFIG = ['PUSHFLOW_ENV'];

/**
 * Variables the deployment files set that another issue-7 change adds to the schemas
 * (partitions). Until a schema has one, it is reported, not failed; once any schema has it,
 * it is checked like every other.
 */
const ADDED_ELSEWHERE = ['PUSHFLOW_PARTITIONS'];

export function pendingVariables(): string[] {
  const known = new Set(Object.values(SERVICE_SCHEMAS).flatMap((s) => Object.keys(s.properties)));
  return ADDED_ELSEWHERE.filter((n) => !known.has(n));
}

/** The names among `variables` (`<VAR>_FILE` counting as `<VAR>`) that `service` does not read. */
export function unreadVariables(service: ServiceName, variables: Iterable<string>): string[] {
  const schema: TObject = SERVICE_SCHEMAS[service];
  const pending = pendingVariables();
  return [...variables].filter((variable) => {
    const base = variable.replace(/_FILE$/, '');
    return !(base in schema.properties) && !READ_BY_LOAD_CONFIG.includes(base) && !pending.includes(base);
  });
}
