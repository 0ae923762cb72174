import { connectToken, openWebSocket } from './clients.ts';
import { now } from './clock.ts';
import { stackParameters } from '../report/report.ts';
import { postNotification, postNotificationBatch } from './senders.ts';
import type { System } from './system.ts';
import type { Target } from './target.ts';
import { awaitDelivered, deliveredHead } from './verify.ts';

/**
 * PushFlow as the scenarios see it: a connect token from the gateway per recipient, a
 * WebSocket to a delivery node (round-robin) that receives `notification` frames, POST
 * /notifications (or /notifications/batch) to send, and every status to be DELIVERED in
 * the status store.
 */
interface Frame {
  type: string;
  notificationId: string;
  data?: { sentAt?: number; to?: string; warmup?: boolean };
}

export function pushflowSystem(target: Target, external: boolean): System {
  return {
    name: 'pushflow',
    async openSocket(recipientId, index, onPublication) {
      const token = await connectToken(target, recipientId);
      const node = target.deliveryUrls[index % target.deliveryUrls.length];
      const ws = await openWebSocket(`${node}/ws?token=${encodeURIComponent(token)}`);
      ws.on('message', (raw) => {
        const receivedAt = now();
        const frame = JSON.parse(String(raw)) as Frame;
        if (frame.type !== 'notification') return;
        const { sentAt, to, warmup } = frame.data ?? {};
        onPublication({ id: frame.notificationId, sentAt, to, warmup }, receivedAt);
      });
      return ws;
    },
    send: (recipientId, data) => postNotification(target, recipientId, data),
    sendBatch: (recipientIds, data) => postNotificationBatch(target, recipientIds, data),
    statuses: {
      kind: 'stored',
      await: (run, deadline) => awaitDelivered(target, run, deadline),
      deliveredSoFar: (run) => deliveredHead(target, run),
    },
    processes: target.processes,
    ...(target.redisUrl && { redisUrl: target.redisUrl }),
    parameters: stackParameters(target, external),
  };
}
