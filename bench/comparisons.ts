import type { MikroORM } from '@mikro-orm/postgresql';
import type { ServerOptions } from '../src/server/app';
import type { Scenario } from './scenarios';
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
  /**
   * Proves the two servers really differ (two identical servers would always "pass"); throws otherwise.
   * May return lines for the report (what it saw).
   */
  sanity?: (probe: Probe, data: BenchData, ctx: SanityContext) => Promise<string[] | void>;
}

export interface SanityContext {
  /** The owner's connection (not bound by row-level security): to look at what a request wrote. */
  owner: MikroORM;
  /** The scenarios being measured. */
  scenarios: Scenario[];
}

// Both access-control variants record access events (the default): they differ in the permissions only.
const accessControlOn: Variant = { name: 'access control on', label: 'on', options: { accessControl: true } };
const accessControlOff: Variant = { name: 'access control off', label: 'off', options: { accessControl: false } };
// Both access-log variants enforce the permissions: they differ in recording events only.
const accessLogOn: Variant = { name: 'access log on', label: 'on', options: { accessControl: true, accessLog: true } };
const accessLogOff: Variant = { name: 'access log off', label: 'off', options: { accessControl: true, accessLog: false } };

/** Rows in the access log's two tables, counted as the owner (every tenant). */
async function accessLogRows(owner: MikroORM): Promise<{ events: number; subjects: number }> {
  const [row] = await owner.em.fork().getConnection().execute<{ events: string; subjects: string }[]>(
    'select (select count(*) from access_event) as events, (select count(*) from access_event_subject) as subjects');
  return { events: Number(row.events), subjects: Number(row.subjects) };
}

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
  {
    name: 'access log',
    subject: accessLogOn,
    baseline: accessLogOff,
    maxOverheadPct: 7,
    // One request of each scenario: with the log on it must write events (and their subject rows), with
    // it off nothing at all. The events are written before the commit, so they are counted once answered.
    async sanity(probe, _data, { owner, scenarios }) {
      const notes: string[] = [];
      for (const s of scenarios) {
        const written = async (v: Variant) => {
          const before = await accessLogRows(owner);
          const res = await probe(v, s.query, s.variables, s.token);
          if (res.status !== 200 || res.errors?.length) throw new Error(`${v.name}: HTTP ${res.status}, errors: ${JSON.stringify(res.errors ?? null)}`);
          const after = await accessLogRows(owner);
          return { events: after.events - before.events, subjects: after.subjects - before.subjects };
        };
        const on = await written(accessLogOn);
        const off = await written(accessLogOff);
        if (on.events < 1 || off.events !== 0 || off.subjects !== 0) {
          throw new Error(`"${s.name}": expected events with the access log on and none with it off; ` +
            `one request wrote ${on.events} events (${on.subjects} subject rows) on, ${off.events} (${off.subjects}) off`);
        }
        notes.push(`${s.name}: one request writes ${on.events} access event${on.events === 1 ? '' : 's'} with ${on.subjects} subject rows ` +
          `(log on), ${off.events} (log off)`);
      }
      return notes;
    },
  },
];
