import { AuthzError } from '../errors.js';
import type { Decision } from './pipeline.js';
import { unexpected } from './failures.js';

/**
 * Answer this long before the caller's deadline, so the 503 arrives before the
 * proxy gives up on its own: a fifth of the budget, between 5 and 100 ms (a
 * busy event loop fires timers late).
 */
const deadlineMargin = (budgetMs: number) => Math.min(100, Math.max(5, budgetMs / 5));

export const DEADLINE_PASSED = new AuthzError('deadline', 'the authorization server did not answer in time');

/**
 * The one deadline rule of both transports (SPEC §3: answer inside the
 * deadline the proxy sets): `settle` is called once, with the pipeline's
 * decision or, when it is still waiting just before `budgetMs` runs out, with
 * a 503 `deadline` denial (the exchange goes on and fills the cache for the
 * retry). Without a finite budget it simply waits for the decision.
 */
export function answerBefore(pending: Promise<Decision>, budgetMs: number, settle: (decision: Decision) => void, failed: (error: unknown) => Decision = (error) => ({ allowed: false, error: unexpected(error) })): void {
  let answered = false;
  const once = (decision: Decision) => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    settle(decision);
  };
  const timer = Number.isFinite(budgetMs) ? setTimeout(() => once({ allowed: false, error: DEADLINE_PASSED }), Math.max(0, budgetMs - deadlineMargin(budgetMs))) : undefined;
  pending.then(once, (error: unknown) => once(failed(error)));
}
