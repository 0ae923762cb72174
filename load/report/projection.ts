/**
 * How fast the projector wrote statuses once the window closed. PushFlow answers a send
 * before its status document exists and the projector writes it afterwards, so a fast
 * window leaves it a backlog. How many were DELIVERED as the window closed (estimated,
 * drivers/verify.ts deliveredHead) and when the last one was (drivers/verify.ts awaitDelivered) give the
 * rate it sustained working that backlog off, when nothing but itself bounded it: a figure
 * of its own, apart from the accept and delivery rates of the window.
 */
export interface ProjectionTimes {
  accepted: number;
  /** Of the accepted, DELIVERED as the window closed. */
  deliveredAtWindowEnd: number;
  /** clock.now of the window's start, of that estimate, and when every status was DELIVERED (null: not within --drain). */
  windowStart: number;
  countedAt: number;
  completeAt: number | null;
}

/** Under this, the catch-up is mostly drivers/verify.ts's polling interval: the projector kept up. */
const shortestCatchUpMs = 2000;

export function projectionFigures(t: ProjectionTimes) {
  const backlog = t.accepted - t.deliveredAtWindowEnd;
  const catchUpMs = t.completeAt === null ? null : Math.max(0, Math.round(t.completeAt - t.countedAt));
  return {
    deliveredAtWindowEnd: t.deliveredAtWindowEnd,
    backlogAtWindowEnd: backlog,
    catchUpMs,
    // Null when it kept up: its rate was then the rate it was fed, not what it can do.
    sustainedDocumentsPerSecond: catchUpMs !== null && catchUpMs >= shortestCatchUpMs ? round(backlog / (catchUpMs / 1000)) : null,
    // From the window's start to the last status: what the whole run's statuses took.
    overallDocumentsPerSecond: t.completeAt === null ? null : round(t.accepted / ((t.completeAt - t.windowStart) / 1000)),
  };
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
