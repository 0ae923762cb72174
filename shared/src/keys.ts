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
  };
}
