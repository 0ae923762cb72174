import type WebSocket from 'ws';
import type { SendResult } from './senders.ts';
import type { Run, StatusCounts } from './verify.ts';

/**
 * What the throughput and latency scenarios need from the system they measure, so that
 * PushFlow and a peer (Centrifugo) go through the same scenario code: how a recipient's
 * client connects and reads its frames, how a publication is sent, and whether the system
 * keeps a status per publication that can be checked afterwards.
 */
export type SystemName = 'pushflow' | 'centrifugo';

/** One publication as a receiving client sees it. */
export interface Publication {
  /** The id the sender got back (PushFlow) or gave it (Centrifugo). */
  id?: string;
  /** The recipient the sender addressed it to. */
  to?: string;
  /** clock.now when it was sent. */
  sentAt?: number;
  /** A probe sent while waiting for recipients to be routable; not counted. */
  warmup?: boolean;
}

export interface System {
  name: SystemName;
  /**
   * Opens the socket of recipient number `index` and resolves once the system has
   * accepted it; every publication it receives from then on goes to `onPublication`.
   */
  openSocket(recipientId: string, index: number, onPublication: (p: Publication, receivedAt: number) => void): Promise<WebSocket>;
  /** Sends one publication to a recipient; `data` reaches the receiving client. */
  send(recipientId: string, data: Record<string, unknown>): Promise<SendResult>;
  /** Sends one publication to each recipient in one request; the results in their order. */
  sendBatch(recipientIds: string[], data: Record<string, unknown>): Promise<SendResult[]>;
  /**
   * A status store to wait on after the sends, or why there is none; `deliveredSoFar`
   * estimates how many of the run's publications are DELIVERED already (verify.ts).
   */
  statuses:
    | { kind: 'stored'; await(run: Run, deadline: number): Promise<StatusCounts>; deliveredSoFar(run: Run): Promise<number> }
    | { kind: 'none'; why: string };
  /** The processes whose CPU time and memory are reported; with /metrics, their event-loop delay too. */
  processes: { name: string; pid: number; metricsUrl?: string }[];
  /** Its Redis, whose INFO commandstats and CPU the window reports (probes/window-probes.ts). */
  redisUrl?: string;
  /** What the figures were measured on, for the report's parameters. */
  parameters: Record<string, unknown>;
}
