/** The one frame a client may send (docs/api.md, "WebSocket protocol"). */
export interface AckFrame {
  type: 'ack';
  notificationId: string;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** Anything but a well-formed ack is undefined: clients are not trusted to send sense. */
export function parseClientFrame(message: ArrayBuffer, isBinary: boolean): AckFrame | undefined {
  if (isBinary) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(message));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { type, notificationId } = parsed as Record<string, unknown>;
  if (type !== 'ack' || typeof notificationId !== 'string') return undefined;
  if (notificationId.length === 0 || notificationId.length > 64) return undefined;
  return { type, notificationId };
}
