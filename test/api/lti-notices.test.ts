import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { compactVerify, createLocalJWKSet, decodeJwt, type JSONWebKeySet } from 'jose';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { JobRunner } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { publishSigningKey } from '../../src/audit/sealer';
import { signingKeyFromPem } from '../../src/audit/checkpoint';
import { NOTICE_MAX_ATTEMPTS } from '../../src/modules/lti/lti.notices';
import type { Course } from '../../src/modules/course/course.entity';

const DAY = 86_400_000;

interface Received { path: string; headers: http.IncomingHttpHeaders; body: string }
interface Notice {
  id: string; requestId: string; recipient: string; toolId: string | null; reason: string; categories: string[]; sentAt: string | null;
  delivery: string | null; deliveryAttempts: number; lastAttemptAt: string | null; lastHttpStatus: number | null; lastError: string | null;
}

/**
 * A tool's notification endpoint, started by the test: records every POST, answers each path with the
 * statuses queued for it (then 200).
 */
async function startReceiver() {
  const received: Received[] = [];
  const plans = new Map<string, number[]>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = plans.get(path)?.shift() ?? 200;
      if (status >= 300 && status < 400) res.setHeader('location', '/elsewhere');
      res.writeHead(status).end(status === 200 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    received,
    plan: (path: string, statuses: number[]) => plans.set(path, [...statuses]),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port nothing listens on: connections are refused. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Art. 19 for tools: rectification and erasure notices delivered to notification URLs, retried, recorded. */
describe('Art. 19 notices to third-party tools', () => {
  let app: TestApp;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let school: SeededTenant;
  let admin: Member;
  let ann: Member;
  let course: Course;
  let jwks: JSONWebKeySet;
  let shiftMs = 0;
  const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  const runner = () => new JobRunner({
    owner: app.orm, work: app.appOrm, handlers: jobHandlers, log: pino({ level: 'silent' }), signingKey: key, lti: app.lti, now: () => new Date(Date.now() + shiftMs),
  });
  /** Tool name → id, and the `sub` each launch gave Ann there. */
  const tools: Record<string, string> = {};
  const subs: Record<string, string> = {};

  const notices = async (requestId: string) => (await app.gql<{ recipientNotices: Notice[] }, object>(
    `{ recipientNotices(pendingOnly: false) { id requestId recipient toolId reason categories sentAt delivery deliveryAttempts lastAttemptAt
       lastHttpStatus lastError } }`, {}, admin.token)).data!.recipientNotices.filter((n) => n.requestId === requestId)
    .sort((a, b) => a.recipient.localeCompare(b.recipient));
  const fileAndApprove = async (input: string) => {
    const filed = await app.gql<{ fileDataRequest: { id: string } }, object>(`mutation { fileDataRequest(input: ${input}) { id } }`, {}, ann.token);
    expect(filed.errors).toBeUndefined();
    const id = filed.data!.fileDataRequest.id;
    expect((await app.gql('mutation($id: ID!) { approveDataRequest(id: $id) { id } }', { id }, admin.token)).errors).toBeUndefined();
    return id;
  };
  /** Runs due jobs, moving the clock an hour on each round (past every backoff), until none is left. */
  const drain = async () => {
    for (let round = 0; round < 20; round++) {
      await runner().runDue();
      const [{ n }] = await sql<{ n: string }>(app.orm, 'select count(*) as n from job where finished_at is null');
      if (Number(n) === 0) return;
      shiftMs += 3_600_000;
    }
    throw new Error('jobs still pending after 20 rounds');
  };

  beforeAll(async () => {
    app = await startTestApp();
    receiver = await startReceiver();
    await publishSigningKey(app.orm.em.fork(), key);
    school = await seedTenant(app.orm, 'Notified');
    admin = await school.admin();
    ann = await school.student({ givenName: 'Annika', familyName: 'Quorndale', email: 'annika@notified.test' });
    course = await school.course('Acoustics');
    await school.enroll(course, ann);
    const down = await closedPort();
    const specs = [
      { name: 'Quiz', level: 'NAME_ONLY', notificationUrl: receiver.url('/quiz') },
      { name: 'Anon', level: 'ANONYMOUS', notificationUrl: receiver.url('/anon') },
      { name: 'Manual', level: 'PUBLIC', notificationUrl: null },
      { name: 'Down', level: 'NAME_ONLY', notificationUrl: `http://127.0.0.1:${down}/hook` },
    ];
    for (const s of specs) {
      const res = await app.gql<{ registerLtiTool: { id: string } }, object>(
        'mutation($i: RegisterLtiToolInput!) { registerLtiTool(input: $i) { id } }',
        { i: { name: s.name, clientId: `client-${s.name}`, launchUrl: 'https://tool.example/launch', notificationUrl: s.notificationUrl, privacyLevel: s.level } },
        admin.token);
      expect(res.errors).toBeUndefined();
      tools[s.name] = res.data!.registerLtiTool.id;
      await app.gql('mutation($t: ID!, $c: ID!) { attachLtiTool(toolId: $t, courseId: $c) { id } }', { t: tools[s.name], c: course.id }, admin.token);
      const launched = await app.gql<{ launchLtiTool: { idToken: string } }, object>(
        'mutation($c: ID!, $t: ID!) { launchLtiTool(courseId: $c, toolId: $t, nonce: "nonce-1234") { idToken } }', { c: course.id, t: tools[s.name] }, ann.token);
      expect(launched.errors).toBeUndefined();
      subs[s.name] = decodeJwt(launched.data!.launchLtiTool.idToken).sub!;
    }
    jwks = (await (await app.http('/.well-known/jwks.json')).json()) as JSONWebKeySet;
  });
  afterAll(async () => {
    await receiver.close();
    await app.close();
  });

  let rectification: string;

  it('a rectification is owed to the tools that received the category; delivered with retries, without following redirects', async () => {
    receiver.plan('/quiz', [503, 302, 200]);
    rectification = await fileAndApprove('{ type: RECTIFICATION, changes: [{ field: FAMILY_NAME, value: "Quorndale-Smith" }] }');
    await runner().runDue();
    // The first attempt failed; while the job still tries, only it may settle the notice.
    const [first] = (await notices(rectification)).filter((n) => n.recipient === 'Quiz');
    expect(first).toMatchObject({ delivery: 'PENDING', deliveryAttempts: 1, lastHttpStatus: 503, lastError: 'HTTP 503', sentAt: null });
    expect(codes(await app.gql('mutation($id: ID!) { markNoticeSent(id: $id) { id } }', { id: first.id }, admin.token))).toEqual(['BAD_USER_INPUT']);
    await drain();

    const got = await notices(rectification);
    // Anon received no name: it is owed nothing. Manual has no URL: an administrator passes it on.
    expect(got.map((n) => n.recipient)).toEqual(['Down', 'Manual', 'Quiz']);
    const [down, manual, quiz] = got;
    expect(quiz).toMatchObject({
      toolId: tools.Quiz, reason: 'RECTIFICATION', categories: ['user.name'], delivery: 'DELIVERED', deliveryAttempts: 3, lastHttpStatus: 200, lastError: null,
    });
    expect(quiz.sentAt).toBe(quiz.lastAttemptAt);
    expect(manual).toMatchObject({ toolId: tools.Manual, categories: ['user.name'], delivery: null, deliveryAttempts: 0, sentAt: null });
    expect(down).toMatchObject({
      toolId: tools.Down, delivery: 'FAILED', deliveryAttempts: NOTICE_MAX_ATTEMPTS, lastHttpStatus: null, sentAt: null,
      lastError: expect.stringMatching(/^could not connect: ECONNREFUSED/),
    });

    // Three POSTs to the registered URL, none to where the redirect pointed.
    const posts = receiver.received.filter((r) => r.path === '/quiz');
    expect(posts).toHaveLength(3);
    expect(receiver.received.some((r) => r.path === '/elsewhere')).toBe(false);
    const body = JSON.parse(posts[2].body);
    expect(body).toEqual({
      type: 'custos.recipient-notice.v1', noticeId: quiz.id, iss: app.lti.issuer, clientId: 'client-Quiz', deploymentId: tools.Quiz,
      tenant: school.tenant.id, reason: 'RECTIFICATION', categories: ['user.name'], sub: subs.Quiz, createdAt: expect.any(String),
    });
    for (const personal of ['Annika', 'Quorndale', 'annika@notified.test', ann.user.id]) expect(posts[2].body).not.toContain(personal);
    // Signed with the key of the JWKS: a detached JWS over the exact body.
    const [header, , signature] = String(posts[2].headers['custos-signature']).split('.');
    const verified = await compactVerify(`${header}.${Buffer.from(posts[2].body).toString('base64url')}.${signature}`, createLocalJWKSet(jwks));
    expect(verified.protectedHeader).toMatchObject({ alg: 'RS256', kid: app.lti.key.kid });
    await expect(compactVerify(`${header}.${Buffer.from(posts[2].body.replace('RECTIFICATION', 'ERASURE')).toString('base64url')}.${signature}`,
      createLocalJWKSet(jwks))).rejects.toThrow();

    // The delivery is a disclosure of Ann's request to the tool, recorded as the system's.
    const [event] = await sql<{ actor_kind: string; purpose: string; resources: string[]; categories: string[] }>(app.orm,
      `select e.actor_kind, e.purpose, e.resources, s.categories from access_event e join access_event_subject s on s.event_id = e.id
         join subject_key k on k.pseudonym = s.pseudonym where k.user_id = ? and e.root_field = 'RecipientNotice.deliver'`, [ann.user.id]);
    expect(event).toEqual({
      actor_kind: 'SYSTEM', purpose: 'data_subject_rights', resources: [`LtiTool:${tools.Quiz}`, `DataSubjectRequest:${rectification}`],
      categories: ['user.data_request'],
    });

    // What failed or had no URL, an administrator passes on by hand.
    for (const n of [down, manual]) {
      const marked = await app.gql<{ markNoticeSent: { sentAt: string | null } }, object>('mutation($id: ID!) { markNoticeSent(id: $id) { sentAt } }', { id: n.id }, admin.token);
      expect(marked.data!.markNoticeSent.sentAt).not.toBeNull();
    }
  });

  it('an erasure is owed to every tool that received anything, delivered after the person is gone, by their sub at that tool', async () => {
    const erasure = await fileAndApprove('{ type: ERASURE }');
    shiftMs += 31 * DAY;
    await drain();
    expect((await sql<{ status: string }>(app.orm, 'select status from data_subject_request where id = ?', [erasure]))[0].status).toBe('COMPLETED');
    expect(await sql(app.orm, 'select 1 from subject_key where user_id = ?', [ann.user.id])).toEqual([]);

    const got = await notices(erasure);
    expect(got.map((n) => [n.recipient, n.reason, n.delivery])).toEqual([
      ['Anon', 'ERASURE', 'DELIVERED'], ['Down', 'ERASURE', 'FAILED'], ['Manual', 'ERASURE', null], ['Quiz', 'ERASURE', 'DELIVERED'],
    ]);
    // Quiz also received the rectification notice itself: the log recorded that disclosure, so it counts.
    expect(got.find((n) => n.recipient === 'Quiz')!.categories).toEqual(['user.data_request', 'user.education.enrollment', 'user.name']);
    expect(got.find((n) => n.recipient === 'Anon')!.categories).toEqual(['user.education.enrollment']);
    const anon = receiver.received.filter((r) => r.path === '/anon').map((r) => JSON.parse(r.body));
    expect(anon).toEqual([expect.objectContaining({ reason: 'ERASURE', sub: subs.Anon, categories: ['user.education.enrollment'], deploymentId: tools.Anon })]);
    const quiz = receiver.received.filter((r) => r.path === '/quiz').map((r) => JSON.parse(r.body));
    expect(quiz.at(-1)).toMatchObject({ reason: 'ERASURE', sub: subs.Quiz });
    expect(subs.Anon).not.toBe(subs.Quiz);
  });
});
