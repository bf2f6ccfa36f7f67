import type { ServerOptions } from '../src/server/app';
import type { BenchData } from './seed';
import type { GqlAnswer } from './support';

/** One way of running the server. Servers are started once per distinct `name`, so names must be unique. */
export interface Variant {
  name: string;
  /** Short label for the report's ratio line, e.g. "on" in "on/off". */
  label: string;
  options: ServerOptions;
  /** Configuration (environment variables) on top of BASE_ENV in support.ts. */
  env?: Record<string, string>;
}

/** Sends one request to a variant's server. */
export type Probe = (variant: Variant, query: string, variables: Record<string, unknown>, token: string) => Promise<GqlAnswer>;

/**
 * A pair of servers that differ in one feature: `subject` has it, `baseline` does not. Every scenario
 * runs on both, interleaved, and the report gives subject/baseline throughput against the target.
 * Both must give the same answers to the scenarios (checked before measuring): otherwise they do
 * different work and the comparison says nothing about the feature.
 */
export interface Comparison {
  name: string;
  subject: Variant;
  baseline: Variant;
  /** Largest acceptable throughput cost of the feature, in percent of the baseline's. */
  maxOverheadPct: number;
  /** Proves the two servers really differ (two identical servers would always "pass"); throws otherwise. */
  sanity?: (probe: Probe, data: BenchData) => Promise<void>;
}

const accessControlOn: Variant = { name: 'access control on', label: 'on', options: { accessControl: true } };
const accessControlOff: Variant = { name: 'access control off', label: 'off', options: { accessControl: false } };

export const comparisons: Comparison[] = [
  {
    name: 'access control',
    subject: accessControlOn,
    baseline: accessControlOff,
    maxOverheadPct: 5,
    // With the permissions, a student reads classmates' display names but not their emails (only the
    // student's own row, which may be among the first five, shows one); without them, every email.
    async sanity(probe, data) {
      const query = 'query ($id: ID!) { course(id: $id) { roster(first: 5, role: STUDENT) { edges { node { user { id email } } } } } }';
      const emails = async (v: Variant) => {
        const res = await probe(v, query, { id: data.feedCourseId }, data.tokens.student);
        if (res.errors?.length) throw new Error(`${v.name}: ${res.errors[0].message}`);
        const edges = (res.data as { course: { roster: { edges: { node: { user: { email: string | null } } }[] } } }).course.roster.edges;
        return edges.filter((e) => e.node.user.email !== null).length;
      };
      const [on, off] = [await emails(accessControlOn), await emails(accessControlOff)];
      if (on > 1 || off !== 5) {
        throw new Error(`expected the permissions to hide classmates' emails only with access control on; visible emails: on ${on}/5, off ${off}/5`);
      }
    },
  },
];
