import { randomBytes } from 'node:crypto';
import { awaitRoutable, connectToken } from '../drivers/clients.ts';
import { now, sleep } from '../drivers/clock.ts';
import type { BenchOptions } from '../options.ts';
import { summarize } from '../report/percentiles.ts';
import { openFiles, residentBytes } from '../probes/processes.ts';
import { startProgress } from '../report/progress.ts';
import { collectGarbage } from '../probes/remote-gc.ts';
import { stackParameters } from '../report/report.ts';
import { postNotification } from '../drivers/senders.ts';
import { holdIdleSockets, type HeldSockets } from '../sockets/socket-holders.ts';
import type { Target } from '../drivers/target.ts';

/**
 * Many idle connections: --connections WebSockets for as many distinct recipients (the
 * per-recipient limit stays out of the way), each with its own connect token from the
 * API. Reports how fast they open, what each costs the delivery processes in resident
 * memory, and, with all of them held, how fast one notification reaches each of
 * --sample of them. Everything is closed at the end.
 *
 * The sockets are held by child processes (socket-holders.ts), each within its open-file
 * limit, so the count is bounded by memory and ports, not by one process's ulimit -n.
 */

/** Descriptors a process keeps for everything but its sockets (a holder, or a delivery node). */
const reservedFiles = 300;

/**
 * Delivery nodes a stack started for this scenario needs: a node started here inherits the
 * bench's open-file limit (`fileLimit`, null where unknown), as the holders do, so it holds
 * no more sockets than one of them. --nodes may ask for more, never fewer.
 */
export function deliveryNodesFor(options: Pick<BenchOptions, 'nodes' | 'connections'>, fileLimit: number | null): number {
  if (fileLimit === null) return options.nodes;
  return Math.max(options.nodes, Math.ceil(options.connections / Math.max(1, fileLimit - reservedFiles)));
}

export async function connectionsScenario(target: Target, options: BenchOptions) {
  const runId = randomBytes(3).toString('hex');
  const files = openFiles();
  const perProcess = options.socketsPerProcess ?? (files ? Math.max(1, files.limit - reservedFiles) : 50_000);
  const recipients = Array.from({ length: options.connections }, (_, i) => `conn-${runId}-${i}`);
  const nodes = target.processes.filter((p) => p.name.startsWith('delivery'));

  let phase = 'minting tokens';
  const tokens: string[] = new Array(recipients.length);
  let minted = 0;
  let sockets: HeldSockets | undefined;
  let opening = { opened: 0, failed: 0 };
  const started = now();
  const progress = startProgress('connections', () => {
    const s = ((now() - started) / 1000).toFixed(1);
    return `${phase} ${s}s tokens ${minted}/${recipients.length} open ${opening.opened} failed ${opening.failed}`;
  });
  const arrived = new Set<string>();
  // By notification id: a frame may come before its POST is answered, so sorting out
  // which frames were ours waits until every send is.
  const frames = new Map<string, number>();
  const firstReceiptMs = new Map<string, number>();
  let misrouted = 0;
  try {
    const heapBefore = await collectGarbageIn(nodes);
    const rssBefore = nodes.map((p) => residentBytes(p.pid));

    const mintStart = now();
    let nextToken = 0;
    await Promise.all(
      Array.from({ length: Math.min(options.concurrency, recipients.length) }, async () => {
        while (nextToken < recipients.length) {
          const i = nextToken++;
          tokens[i] = await connectToken(target, recipients[i]!);
          minted++;
        }
      }),
    );
    const mintSeconds = (now() - mintStart) / 1000;

    phase = 'connecting';
    sockets = await holdIdleSockets({
      deliveryUrls: target.deliveryUrls,
      tokens,
      concurrency: options.concurrency,
      perProcess,
      onProgress: (opened, failed) => {
        opening = { opened, failed };
      },
      onFrame(index, frame, receivedAt) {
        const recipientId = recipients[index]!;
        if (frame.data?.warmup) return void arrived.add(recipientId);
        if (frame.data?.to !== recipientId) misrouted++;
        const seen = frames.get(frame.notificationId) ?? 0;
        frames.set(frame.notificationId, seen + 1);
        if (seen === 0 && typeof frame.data?.sentAt === 'number') firstReceiptMs.set(frame.notificationId, receivedAt - frame.data.sentAt);
      },
    });
    const opened = sockets;
    const failed = Object.values(opened.failures).reduce((a, b) => a + b, 0);
    opening = { opened: opened.opened, failed };
    for (const stop of opened.stoppedBy) progress.note(stop);

    phase = 'holding';
    await sleep(options.durationSeconds * 1000);
    const heapAfter = await collectGarbageIn(nodes);
    const rssAfter = nodes.map((p) => residentBytes(p.pid));
    const { open, closedByServer } = await opened.held();
    const held = open.sort((a, b) => a - b).map((i) => recipients[i]!);

    // An even spread over the held sockets reaches every node and source address. The
    // sends go out together, as one burst, while every other socket stays connected.
    phase = 'sending';
    const size = Math.min(options.sample, held.length);
    const sample = Array.from({ length: size }, (_, k) => held[Math.floor((k * held.length) / size)]!);
    await awaitRoutable(
      sample,
      async (id) => {
        await postNotification(target, id, { warmup: true });
      },
      arrived,
    );
    const results = await Promise.all(sample.map((id) => postNotification(target, id, {})));
    const accepted = results.flatMap((r) => (r.id ? [r.id] : []));
    const sendErrors: Record<string, number> = {};
    for (const r of results) if (!r.id) sendErrors[String(r.outcome)] = (sendErrors[String(r.outcome)] ?? 0) + 1;
    const waitUntil = now() + 10_000;
    while (now() < waitUntil && accepted.some((id) => !frames.has(id))) await sleep(10);
    await sleep(250); // lets a duplicate that trails its original show up
    const received = accepted.filter((id) => frames.has(id)).length;
    const duplicates = [...frames.values()].reduce((a, n) => a + n - 1, 0);
    const ours = new Set(accepted);
    const unexpected = [...frames.keys()].filter((id) => !ours.has(id)).length;
    const latencyMs = accepted.flatMap((id) => firstReceiptMs.get(id) ?? []);

    phase = 'closing';
    const closeSeconds = await opened.close();

    const perNode = nodes.length > 0 ? nodes : target.deliveryUrls.map((url) => ({ name: url, pid: 0 }));
    const growth = perNode.map((p, i) => {
      const before = rssBefore[i] ?? null;
      const after = rssAfter[i] ?? null;
      const open = opened.perNode[i] ?? 0;
      return {
        name: p.name,
        url: target.deliveryUrls[i],
        connections: open,
        rssBeforeBytes: before,
        rssAfterBytes: after,
        rssGrowthBytes: before === null || after === null ? null : after - before,
        bytesPerConnection: before === null || after === null || open === 0 ? null : Math.round((after - before) / open),
        heapUsedBeforeBytes: heapBefore[i] ?? null,
        heapUsedAfterBytes: heapAfter[i] ?? null,
        heapBytesPerConnection:
          heapBefore[i] == null || heapAfter[i] == null || open === 0 ? null : Math.round((heapAfter[i]! - heapBefore[i]!) / open),
      };
    });
    const known = growth.filter((g) => g.rssGrowthBytes !== null);
    const totalGrowth = known.reduce((a, g) => a + g.rssGrowthBytes!, 0);
    const totalOpen = known.reduce((a, g) => a + g.connections, 0);
    const dropped = Object.values(closedByServer).reduce((a, b) => a + b, 0);
    return {
      scenario: 'connections' as const,
      parameters: {
        connections: options.connections,
        concurrency: options.concurrency,
        holdSeconds: options.durationSeconds,
        sample: options.sample,
        ...stackParameters(target, Boolean(options.external)),
      },
      connectSeconds: round(opened.seconds, 3),
      connectsPerSecond: opened.seconds > 0 ? round(opened.opened / opened.seconds) : 0,
      tokens: { minted, seconds: round(mintSeconds, 3), perSecond: mintSeconds > 0 ? round(minted / mintSeconds) : 0 },
      connections: {
        requested: options.connections,
        opened: opened.opened,
        heldAfterHold: held.length,
        failed,
        failures: opened.failures,
        closedByServer,
        perSourceAddress: opened.perSourceAddress,
        holderProcesses: opened.processes,
        socketsPerProcess: perProcess,
        ...(opened.stoppedBy.length > 0 && { stoppedBy: opened.stoppedBy }),
        openFilesLimit: files?.limit ?? null,
      },
      latencyMs: {
        handshake: summarize(opened.handshakeMs),
        acceptToReceive: summarize(latencyMs),
      },
      memory: {
        deliveryNodes: growth,
        bytesPerConnection: totalOpen > 0 && known.length > 0 ? Math.round(totalGrowth / totalOpen) : null,
        // Without a collection before each sample, startup garbage freed in between can
        // outweigh the connections (even make the growth negative). Even so RSS moves in
        // pages the allocators keep or return as they please; the JS heap in use is exact.
        garbageCollectedBeforeSamples: [...heapBefore, ...heapAfter].every((h) => h !== null),
        heapBytesPerConnection:
          totalOpen > 0 && growth.every((g) => g.heapBytesPerConnection !== null)
            ? Math.round(growth.reduce((a, g) => a + g.heapUsedAfterBytes! - g.heapUsedBeforeBytes!, 0) / totalOpen)
            : null,
      },
      fanOut: {
        recipients: sample.length,
        sendErrors,
        accepted: accepted.length,
        received,
        duplicates,
        misrouted,
        unexpected,
      },
      closeSeconds: round(closeSeconds, 3),
      verified:
        opened.opened === options.connections &&
        failed === 0 &&
        dropped === 0 &&
        sample.length > 0 &&
        accepted.length === sample.length &&
        received === accepted.length &&
        duplicates === 0 &&
        misrouted === 0,
    };
  } finally {
    progress.stop();
    await sockets?.close();
  }
}

/** A full collection in every process that has an inspector: each one's JS heap in use after it. */
async function collectGarbageIn(processes: { inspectorUrl?: string }[]): Promise<(number | null)[]> {
  return Promise.all(processes.map(async (p) => (p.inspectorUrl ? ((await collectGarbage(p.inspectorUrl))?.heapUsedBytes ?? null) : null)));
}

function round(n: number, decimals = 1): number {
  return Number(n.toFixed(decimals));
}
