import { randomUUID } from 'node:crypto';
import type { Principal } from '../auth/principal';
import type { DataCategory } from '../privacy/categories';
import { purposeOf } from './purposes';
import type { AccessEvent, Actor, Subject } from './events';

/** What one root field of an operation touched. */
interface RootRecord {
  coordinate: string;
  fields: Set<string>;
  reads: Map<string, Set<DataCategory>>;
  writes: Map<string, Set<DataCategory>>;
  /** Personal data sent outside Custos, by person (a tool launch); the recipient is among `resources`. */
  disclosures: Map<string, Set<DataCategory>>;
  /** Distinct objects whose personal fields were read (the event's item count). */
  items: Set<unknown>;
  resources: Set<string>;
  /** Rows an audit surface (a report over the log) answered with; null for every other root field. */
  served: number | null;
}

export interface RequestFacts {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
}

/** A response error as the recorder needs it (code and where). */
export interface ErrorFact {
  code: unknown;
  path?: readonly (string | number)[];
}

const add = (map: Map<string, Set<DataCategory>>, userId: string, category: DataCategory) => {
  let set = map.get(userId);
  if (!set) map.set(userId, (set = new Set()));
  set.add(category);
};

const subjects = (map: Map<string, Set<DataCategory>>): Subject[] =>
  [...map].map(([userId, cats]) => ({ userId, categories: [...cats].sort() }));

/**
 * Collects, during one request, which root field read or wrote which categories of whose data, and
 * turns that into access events when the request ends. One per request, like the EntityManager fork.
 */
export class AccessRecorder {
  private readonly roots = new Map<string, RootRecord>();
  /** Response key → root field coordinate, from the operation document (also for roots that never ran). */
  private readonly rootFields = new Map<string, string>();
  private current: RootRecord | null = null;
  operationType: 'query' | 'mutation' = 'query';
  operationName: string | null = null;
  readonly occurredAt = new Date();

  constructor(readonly facts: RequestFacts, readonly principal: Principal | null) {}

  /** The operation's root fields by response key (aliases included). */
  setOperation(type: 'query' | 'mutation', name: string | null, rootFields: Map<string, string>): void {
    this.operationType = type;
    this.operationName = name;
    for (const [key, coordinate] of rootFields) this.rootFields.set(key, coordinate);
  }

  private root(responseKey: string): RootRecord {
    let r = this.roots.get(responseKey);
    if (!r) {
      const coordinate = this.rootFields.get(responseKey) ?? `${this.operationType === 'mutation' ? 'Mutation' : 'Query'}.${responseKey}`;
      r = { coordinate, fields: new Set(), reads: new Map(), writes: new Map(), disclosures: new Map(), items: new Set(), resources: new Set(), served: null };
      this.roots.set(responseKey, r);
    }
    return r;
  }

  /** A root field starts resolving (mutations run one after another, so writes belong to it). */
  enterRoot(responseKey: string): void {
    this.current = this.root(responseKey);
  }

  /** A classified field of `source` was read under a root field. */
  read(responseKey: string, coordinate: string, userId: string, category: DataCategory, source: unknown): void {
    const r = this.root(responseKey);
    r.fields.add(coordinate);
    add(r.reads, userId, category);
    r.items.add(source);
  }

  /** An object the root field addressed (Course:id, Post:id...). */
  resource(responseKey: string, ref: string): void {
    this.root(responseKey).resources.add(ref);
  }

  /**
   * An audit surface (a report over the access log) answered a root field with `rows` rows. It shows
   * pseudonyms and counts, no one's personal fields, so no classified field records the read: this does,
   * as a READ without subjects (purpose `audit`).
   */
  served(responseKey: string, rows: number): void {
    const r = this.root(responseKey);
    r.served = (r.served ?? 0) + rows;
  }

  /** An object the running mutation root field addressed (an import, say), named in its events. */
  addressed(ref: string): void {
    if (!this.current) throw new Error('addressed outside a mutation root field');
    this.current.resources.add(ref);
  }

  /** Services call this (through `recordWrite`) for each person whose data a mutation changed. */
  wrote(userIds: Iterable<string>, categories: DataCategory[]): void {
    if (!this.current) throw new Error('recordWrite outside a mutation root field');
    for (const id of userIds) for (const c of categories) add(this.current.writes, id, c);
  }

  /**
   * A mutation sent a person's data out of Custos: `categories` exactly as sent, `recipient` as Type:id
   * (`LtiTool:<id>`). Recorded as a DISCLOSE event of the root field, with the recipient and `resources` as its resources.
   */
  disclosed(userId: string, categories: DataCategory[], recipient: string, resources: string[] = []): void {
    if (!this.current) throw new Error('a disclosure outside a mutation root field');
    for (const c of categories) add(this.current.disclosures, userId, c);
    this.current.resources.add(recipient);
    for (const r of resources) this.current.resources.add(r);
  }

  private actor(): Actor {
    const p = this.principal;
    return {
      kind: p?.kind ?? 'SYSTEM',
      role: p?.kind === 'USER' ? p.role : null,
      userId: p?.kind === 'USER' ? p.userId : null,
      credentialId: p?.credential.id ?? null,
      ip: p?.kind === 'USER' ? this.facts.ip : null,
      userAgent: p?.kind === 'USER' ? this.facts.userAgent : null,
    };
  }

  /**
   * The events of this request: a READ per root field that read personal data, a WRITE per root field
   * that changed some, a DISCLOSE per root field that sent some out, and a DENY per root field refused
   * with FORBIDDEN (whether at the door, by a permission rule or by a service). A root field that failed
   * has its writes rolled back and its answer withheld, so no WRITE and no DISCLOSE.
   */
  events(tenantId: string, errors: readonly ErrorFact[]): AccessEvent[] {
    const failed = new Set<string>();
    const denied = new Set<string>();
    for (const e of errors) {
      const key = typeof e.path?.[0] === 'string' ? e.path[0] : null;
      const keys = key ? [key] : [...this.rootFields.keys()]; // a refusal before execution covers every root field
      for (const k of keys) {
        failed.add(k);
        if (e.code === 'FORBIDDEN') denied.add(k);
      }
    }
    const out: AccessEvent[] = [];
    const base = (r: RootRecord) => ({
      id: randomUUID(),
      tenantId,
      occurredAt: this.occurredAt,
      requestId: this.facts.requestId,
      operationType: this.operationType,
      operationName: this.operationName,
      rootField: r.coordinate,
      purpose: purposeOf(r.coordinate, this.principal),
      actor: this.actor(),
      resources: [...r.resources].slice(0, 100),
    });
    for (const key of new Set([...this.roots.keys(), ...denied])) {
      const r = this.root(key);
      if (r.reads.size) {
        out.push({ ...base(r), kind: 'READ', outcome: 'SUCCESS', fields: [...r.fields].sort(), subjects: subjects(r.reads), itemCount: r.items.size });
      } else if (r.served !== null && !failed.has(key)) {
        out.push({ ...base(r), kind: 'READ', outcome: 'SUCCESS', fields: [r.coordinate], subjects: [], itemCount: r.served });
      }
      if (r.writes.size && !failed.has(key)) {
        out.push({ ...base(r), kind: 'WRITE', outcome: 'SUCCESS', fields: [r.coordinate], subjects: subjects(r.writes), itemCount: r.writes.size });
      }
      if (r.disclosures.size && !failed.has(key)) {
        out.push({ ...base(r), kind: 'DISCLOSE', outcome: 'SUCCESS', fields: [r.coordinate], subjects: subjects(r.disclosures), itemCount: r.disclosures.size });
      }
      if (denied.has(key)) {
        out.push({ ...base(r), kind: 'DENY', outcome: 'DENIED', errorCode: 'FORBIDDEN', fields: [r.coordinate], subjects: [], itemCount: 0 });
      }
    }
    // Auditors are audited: every root field an auditor asked for and got is a READ event, whether or not
    // it touched anyone's data (audit surfaces are pseudonymous; the query itself is what is recorded).
    if (this.principal?.kind === 'AUDITOR') {
      for (const key of this.rootFields.keys()) {
        if (failed.has(key) || out.some((e) => e.kind === 'READ' && e.rootField === this.root(key).coordinate)) continue;
        const r = this.root(key);
        out.push({ ...base(r), kind: 'READ', outcome: 'SUCCESS', fields: [r.coordinate], subjects: [], itemCount: r.items.size });
      }
    }
    return out;
  }
}
