/** Redis key names, all under one configurable prefix (DESIGN.md, "Redis keys"). */
export interface Keys {
  commands: string;
  queries: string;
  events: string;
  nodes: string;
  /** Hash: node id -> open WebSockets, written with each heartbeat (the dashboard reads it). */
  nodeConnections: string;
  replies(gatewayId: string): string;
  deliveries(nodeId: string): string;
  presence(recipientId: string): string;
  /** What a send command (without an Idempotency-Key) was answered with; expires. */
  command(commandId: string): string;
  /** The status a notification was accepted with, until its document is projected; expires. */
  accepted(notificationId: string): string;
}

export const groups = {
  dispatcher: 'dispatcher',
  projector: 'projector',
  delivery: 'delivery',
} as const;

export function keys(prefix = 'pushflow:'): Keys {
  return {
    commands: `${prefix}commands`,
    queries: `${prefix}queries`,
    events: `${prefix}events`,
    nodes: `${prefix}nodes`,
    nodeConnections: `${prefix}node-connections`,
    replies: (gatewayId) => `${prefix}replies:${gatewayId}`,
    deliveries: (nodeId) => `${prefix}deliveries:${nodeId}`,
    presence: (recipientId) => `${prefix}presence:${recipientId}`,
    // Hash tags keep each key on a slot of its own id; no command ever names two of them.
    command: (commandId) => `${prefix}command:{${commandId}}`,
    accepted: (notificationId) => `${prefix}accepted:{${notificationId}}`,
  };
}
