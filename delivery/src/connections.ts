import type { ClientSocket } from './socket.ts';

/** This node's open, authenticated sockets by recipient. */
export type Connections = Map<string, Set<ClientSocket>>;

export function createConnections(): Connections {
  return new Map();
}

/** Returns how many sockets the recipient now has here. */
export function addConnection(connections: Connections, recipientId: string, ws: ClientSocket): number {
  let sockets = connections.get(recipientId);
  if (!sockets) connections.set(recipientId, (sockets = new Set()));
  sockets.add(ws);
  return sockets.size;
}

/** Returns how many sockets the recipient still has here. */
export function removeConnection(connections: Connections, recipientId: string, ws: ClientSocket): number {
  const sockets = connections.get(recipientId);
  if (!sockets) return 0;
  sockets.delete(ws);
  if (sockets.size === 0) connections.delete(recipientId);
  return sockets.size;
}

export function socketsOf(connections: Connections, recipientId: string): ReadonlySet<ClientSocket> | undefined {
  return connections.get(recipientId);
}

/** A snapshot, so callers may close sockets (which removes them) while iterating. */
export function allSockets(connections: Connections): ClientSocket[] {
  const out: ClientSocket[] = [];
  for (const sockets of connections.values()) out.push(...sockets);
  return out;
}

export function connectedRecipients(connections: Connections): string[] {
  return [...connections.keys()];
}
