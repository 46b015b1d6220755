/**
 * A named rule's action, resolved once at compile time: the counter names are built here so the
 * hot loop never concatenates strings.
 */
import type { KernelContext } from '../kernel.js';
import type { RuleAction } from './options.js';

export interface ActionTarget {
  /** Rule name: the drop reason and counter suffix (e.g. "range", "cpu_percent"). */
  readonly name: string;
  readonly action: RuleAction;
  /** Flag bit name (a well-known category such as "range", so bits stay stable). */
  readonly flag: string;
  /** Counter incremented when the rule flags a row: `flagged:<name>`. */
  readonly flaggedCounter: string;
  /** Counter incremented when the rule clips a row: `clipped:<name>`. */
  readonly clippedCounter: string;
  /** Counter incremented for every failing row whatever the action: `fail:<category>` (quality metrics). */
  readonly failCounter: string;
}

export function actionTarget(name: string, action: RuleAction, flag: string): ActionTarget {
  return { name, action, flag, flaggedCounter: `flagged:${name}`, clippedCounter: `clipped:${name}`, failCounter: `fail:${flag}` };
}

/**
 * Apply a failing rule to row `i`. Returns true when the row is now dropped (callers stop checking
 * it). For 'clip' the caller has already written the clipped value; this only counts it.
 */
export function applyAction(ctx: KernelContext, i: number, t: ActionTarget): boolean {
  if (t.action === 'off') return false;
  ctx.count(i, t.failCounter);
  switch (t.action) {
    case 'drop':
      ctx.drop(i, t.name);
      return true;
    case 'flag':
      ctx.flags[i] = ctx.flags[i]! | ctx.flagBit(t.flag);
      ctx.count(i, t.flaggedCounter);
      return false;
    case 'clip':
      ctx.count(i, t.clippedCounter);
      return false;
    default:
      return false;
  }
}
