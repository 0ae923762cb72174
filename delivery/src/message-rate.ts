/**
 * A token bucket per socket for client frames (PUSHFLOW_MAX_CLIENT_MESSAGES_PER_SECOND):
 * it holds up to `perSecond` messages and refills at `perSecond` a second, so a burst the
 * size of one second's allowance passes and a steady flood does not.
 */
export interface MessageBudget {
  tokens: number;
  refilledAt: number;
}

export function fullBudget(perSecond: number, nowMs: number): MessageBudget {
  return { tokens: perSecond, refilledAt: nowMs };
}

/** Takes one message from the budget; false when it is spent. */
export function spendMessage(budget: MessageBudget, perSecond: number, nowMs: number): boolean {
  const elapsed = Math.max(0, nowMs - budget.refilledAt);
  budget.tokens = Math.min(perSecond, budget.tokens + (elapsed * perSecond) / 1000);
  budget.refilledAt = nowMs;
  if (budget.tokens < 1) return false;
  budget.tokens -= 1;
  return true;
}
