import type { Comparison, Variant } from './comparisons';
import type { LoadResult } from './load';
import { median } from './support';

/** One variant's measured runs of one scenario, summarised. */
export interface VariantSummary {
  variant: string;
  /** Median over the rounds. */
  requestsPerSecond: number;
  /** Requests per second of each round, in round order. */
  perRound: number[];
  /** Medians over the rounds of each round's latency percentile. */
  latencyMs: { p50: number; p99: number };
  sqlPerRequest: number | null;
  /** Answers that were not HTTP 200 without errors, over all rounds (should be 0). */
  badAnswers: number;
  connectionErrors: number;
}

export interface Outcome {
  comparison: string;
  scenario: string;
  description: string;
  subject: VariantSummary;
  baseline: VariantSummary;
  /** subject / baseline, of the median throughputs. */
  ratio: number;
  /** (1 - ratio) × 100: what the subject's feature costs, in percent of the baseline's throughput. */
  overheadPct: number;
  /** subject / baseline within each round (the two runs of a round are back to back). */
  perRoundRatios: number[];
  maxOverheadPct: number;
  verdict: 'PASS' | 'OVER';
}

export function summarise(variant: Variant, runs: LoadResult[]): VariantSummary {
  const sql = runs.map((r) => r.sqlPerRequest).filter((n): n is number => n !== null);
  return {
    variant: variant.name,
    requestsPerSecond: median(runs.map((r) => r.requestsPerSecond)),
    perRound: runs.map((r) => r.requestsPerSecond),
    latencyMs: { p50: median(runs.map((r) => r.latencyMs.p50)), p99: median(runs.map((r) => r.latencyMs.p99)) },
    sqlPerRequest: sql.length ? median(sql) : null,
    badAnswers: runs.reduce((n, r) => n + r.bad, 0),
    connectionErrors: runs.reduce((n, r) => n + r.connectionErrors + r.timeouts, 0),
  };
}

export function outcome(c: Comparison, scenario: { name: string; description: string }, subject: VariantSummary, baseline: VariantSummary): Outcome {
  const ratio = subject.requestsPerSecond / baseline.requestsPerSecond;
  const overheadPct = (1 - ratio) * 100;
  return {
    comparison: c.name,
    scenario: scenario.name,
    description: scenario.description,
    subject,
    baseline,
    ratio,
    overheadPct,
    perRoundRatios: subject.perRound.map((s, i) => s / baseline.perRound[i]),
    maxOverheadPct: c.maxOverheadPct,
    verdict: overheadPct <= c.maxOverheadPct ? 'PASS' : 'OVER',
  };
}

const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);
const fixed = (n: number | null, digits = 1) => (n === null || Number.isNaN(n) ? '-' : n.toFixed(digits));
const pct = (n: number) => `${n >= 0 ? '' : '-'}${Math.abs(n).toFixed(1)}%`;

/** The readable table for one comparison. */
export function formatComparison(c: Comparison, outcomes: Outcome[]): string {
  const nameWidth = Math.max(10, ...outcomes.map((o) => o.scenario.length)) + 2;
  const variantWidth = Math.max(c.subject.name.length, c.baseline.name.length) + 2;
  const lines: string[] = [];
  lines.push(`${pad('scenario', nameWidth)}${pad('variant', variantWidth)}${lpad('req/s', 8)}   ${pad('req/s per round', 24)}${lpad('p50 ms', 8)}${lpad('p99 ms', 8)}${lpad('SQL/req', 9)}`);
  for (const o of outcomes) {
    for (const [i, v] of [o.subject, o.baseline].entries()) {
      const rounds = v.perRound.map((r) => r.toFixed(0)).join(' ');
      const problems = v.badAnswers || v.connectionErrors ? `   ! ${v.badAnswers} bad answers, ${v.connectionErrors} connection errors` : '';
      lines.push(`${pad(i === 0 ? o.scenario : '', nameWidth)}${pad(v.variant, variantWidth)}${lpad(fixed(v.requestsPerSecond), 8)}   ${pad(rounds, 24)}` +
        `${lpad(fixed(v.latencyMs.p50), 8)}${lpad(fixed(v.latencyMs.p99), 8)}${lpad(fixed(v.sqlPerRequest, 0), 9)}${problems}`);
    }
    lines.push(`${pad('', nameWidth)}${pad(`${c.subject.label}/${c.baseline.label}`, variantWidth)}${lpad(o.ratio.toFixed(3), 8)}   ` +
      `overhead ${pct(o.overheadPct)}; per round ${o.perRoundRatios.map((r) => r.toFixed(3)).join(' ')}`);
  }
  return lines.join('\n');
}

export function formatTarget(c: Comparison, outcomes: Outcome[]): string {
  const width = Math.max(...outcomes.map((o) => o.scenario.length)) + 1;
  return [
    `target: ${c.name} costs at most ${c.maxOverheadPct}% of throughput`,
    ...outcomes.map((o) => `  ${pad(`${o.scenario}:`, width + 1)} ${o.verdict.padEnd(4)}  (${c.subject.label}/${c.baseline.label} ${o.ratio.toFixed(3)}, overhead ${pct(o.overheadPct)})`),
  ].join('\n');
}

/** One line of the final "targets" block (and of the JSON). */
export interface TargetResult {
  /** What is measured, e.g. "access log: roster 200". */
  name: string;
  /** The target in words, e.g. "costs at most 7% of throughput". */
  goal: string;
  /** PASS; OVER (a cost or latency above its limit); UNDER (a throughput below its minimum); N/A (not measured). */
  verdict: 'PASS' | 'OVER' | 'UNDER' | 'N/A';
  /** The measured value, in words. */
  measured: string;
  value: number | null;
  unit: string;
}

export function comparisonTargets(c: Comparison, outcomes: Outcome[]): TargetResult[] {
  return outcomes.map((o) => ({
    name: `${c.name}: ${o.scenario}`,
    goal: `costs at most ${c.maxOverheadPct}% of throughput`,
    verdict: o.verdict,
    measured: `overhead ${pct(o.overheadPct)} (${c.subject.label}/${c.baseline.label} ${o.ratio.toFixed(3)})`,
    value: o.overheadPct,
    unit: '%',
  }));
}

export function formatTargets(targets: TargetResult[]): string {
  const nameWidth = Math.max(...targets.map((t) => t.name.length)) + 2;
  const goalWidth = Math.max(...targets.map((t) => t.goal.length)) + 2;
  return ['targets', ...targets.map((t) => `  ${pad(t.name, nameWidth)}${pad(t.goal, goalWidth)}${pad(t.verdict, 6)}${t.measured}`)].join('\n');
}
