import type { ScenarioName } from '../options.ts';

/**
 * The peer comparison of one scenario: PushFlow's figures over Centrifugo's, both measured
 * by the same scenario code with the same parameters on the same machine, one after the
 * other in the same run. Reported whatever the ratio is.
 */
interface Figures {
  scenario: ScenarioName;
  acceptedPerSecond: number;
  deliveredPerSecond: number;
  latencyMs: { acceptToReceive: { p50: number | null; p99: number | null } };
  serversCpuMsPerNotification: number | null;
}

export function compareWithCentrifugo(pushflow: Figures, centrifugo: Figures) {
  const p = pushflow.latencyMs.acceptToReceive;
  const c = centrifugo.latencyMs.acceptToReceive;
  return {
    scenario: pushflow.scenario,
    pushflowOverCentrifugo: {
      acceptedPerSecond: ratio(pushflow.acceptedPerSecond, centrifugo.acceptedPerSecond),
      deliveredPerSecond: ratio(pushflow.deliveredPerSecond, centrifugo.deliveredPerSecond),
      p50: ratio(p.p50, c.p50),
      p99: ratio(p.p99, c.p99),
      serversCpuMsPerNotification: ratio(pushflow.serversCpuMsPerNotification, centrifugo.serversCpuMsPerNotification),
    },
    note:
      "PushFlow's figure divided by Centrifugo's (same scenario and parameters, same machine, same run). " +
      'acceptedPerSecond, deliveredPerSecond: above 1 PushFlow moved more per second. p50, p99: accept-to-receive ' +
      'latency (publish sent to frame received), above 1 PushFlow took longer. serversCpuMsPerNotification: the ' +
      'CPU its servers (not the load generator) spent per notification delivered in the window, above 1 PushFlow spent more; ' +
      "PushFlow's projection after the window is not in it (verification.projection.cpuSecondsWhileCatchingUp). " +
      (pushflow.scenario === 'latency'
        ? 'In latency both are sent at the same --rate, so the per-second ratios only show whether each kept up. '
        : '') +
      (pushflow.scenario === 'batch'
        ? "In batch each request carries --batch of them: PushFlow's POST /notifications/batch, Centrifugo's /api/batch of publish commands run in parallel. "
        : '') +
      'Not like for like: PushFlow persists every notification and its status to MongoDB (checked DELIVERED after ' +
      'the run); Centrifugo, with the Redis engine and no history, relays each publication through Redis PUB/SUB and persists nothing.',
  };
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : Number((a / b).toFixed(3));
}
