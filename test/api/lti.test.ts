import { generateKeyPairSync } from 'node:crypto';
import pino from 'pino';
import { fromBufferPromise } from 'yauzl';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { codes, startTestApp, type TestApp } from '../support/harness';
import { seedTenant, sql, type Member, type SeededTenant } from '../support/seed';
import { sealEverything } from '../support/audit';
import { JobRunner } from '../../src/jobs/queue';
import { jobHandlers } from '../../src/jobs/handlers';
import { publishSigningKey } from '../../src/audit/sealer';
import { signingKeyFromPem } from '../../src/audit/checkpoint';
import { issueToken } from '../../src/modules/token/token.service';
import { TokenKind } from '../../src/modules/token/api-token.entity';
import type { Course } from '../../src/modules/course/course.entity';

const CLAIM = 'https://purl.imsglobal.org/spec/lti/claim/';
const LEARNER = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Learner';
const INSTRUCTOR = 'http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor';
const LEVELS = ['ANONYMOUS', 'NAME_ONLY', 'EMAIL_ONLY', 'PUBLIC'] as const;
type Level = (typeof LEVELS)[number];

/** Every id_token has these, whatever the level; none of them is personal beyond the per-tool `sub`. */
const BASE_CLAIMS = ['iss', 'aud', 'azp', 'sub', 'nonce', 'iat', 'exp', 'jti', `${CLAIM}message_type`, `${CLAIM}version`, `${CLAIM}deployment_id`,
  `${CLAIM}target_link_uri`, `${CLAIM}resource_link`, `${CLAIM}roles`, `${CLAIM}context`];
const PERSONAL: Record<Level, string[]> = {
  ANONYMOUS: [],
  NAME_ONLY: ['given_name', 'family_name', 'name'],
  EMAIL_ONLY: ['email'],
  PUBLIC: ['given_name', 'family_name', 'name', 'email', 'picture', `${CLAIM}lis`],
};
const CATEGORIES: Record<Level, string[]> = {
  ANONYMOUS: ['user.education.enrollment'],
  NAME_ONLY: ['user.education.enrollment', 'user.name'],
  EMAIL_ONLY: ['user.contact.email', 'user.education.enrollment'],
  PUBLIC: ['user.contact.email', 'user.content.self_image', 'user.education.enrollment', 'user.name', 'user.unique_id.student_number'],
};

const LAUNCH = `mutation($c: ID!, $t: ID!, $n: String!) { launchLtiTool(courseId: $c, toolId: $t, nonce: $n) { toolId launchUrl idToken expiresAt } }`;
interface Launch { toolId: string; launchUrl: string; idToken: string; expiresAt: string }

/** Third-party tools: registration, launches with signed id_tokens per privacy level, DISCLOSE events, recipients in exports. */
describe('third-party tools (LTI 1.3)', () => {
  let app: TestApp;
  let school: SeededTenant;
  let other: SeededTenant;
  let admin: Member;
  let teacher: Member;
  let ann: Member;
  let bob: Member;
  let foreignAdmin: Member;
  let course: Course;
  let elsewhere: Course;
  const tools = {} as Record<Level, string>;
  let jwks: JSONWebKeySet;

  const register = (input: Record<string, unknown>, token = admin.token) => app.gql<{ registerLtiTool: { id: string } }, object>(
    'mutation($i: RegisterLtiToolInput!) { registerLtiTool(input: $i) { id name clientId privacyLevel deploymentId } }', { i: input }, token);
  const attach = (toolId: string, courseId: string, token = admin.token) => app.gql(
    'mutation($t: ID!, $c: ID!) { attachLtiTool(toolId: $t, courseId: $c) { id courses { id } } }', { t: toolId, c: courseId }, token);
  const launch = (m: Member, toolId: string, courseId = course.id, nonce = 'n-0123456789abcdef') =>
    app.gql<{ launchLtiTool: Launch }, object>(LAUNCH, { c: courseId, t: toolId, n: nonce }, m.token);
  const verify = (token: string, clientId: string) =>
    jwtVerify(token, createLocalJWKSet(jwks), { issuer: app.lti.issuer!, audience: clientId, algorithms: ['RS256'] });
  const disclosuresAbout = (m: Member) => sql<{ root_field: string; actor_kind: string; actor_role: string | null; purpose: string; resources: string[];
    categories: string[]; request_id: string }>(app.orm,
    `select e.root_field, e.actor_kind, e.actor_role, e.purpose, e.resources, s.categories, e.request_id
       from access_event e join access_event_subject s on s.event_id = e.id join subject_key k on k.pseudonym = s.pseudonym
      where k.user_id = ? and e.access_kind = 'DISCLOSE' order by e.occurred_at, e.id`, [m.user.id]);

  beforeAll(async () => {
    app = await startTestApp();
    school = await seedTenant(app.orm, 'Toolsmiths');
    other = await seedTenant(app.orm, 'Elsewhere');
    admin = await school.admin();
    teacher = await school.instructor({ givenName: 'Tamsin', familyName: 'Teachwell' });
    ann = await school.student({ givenName: 'Annika', familyName: 'Quorndale', email: 'annika@tools.test', studentNumber: 'S-4471' });
    bob = await school.student();
    foreignAdmin = await other.admin();
    course = await school.course('Orbital Mechanics');
    elsewhere = await school.course('Pottery');
    for (const m of [teacher, ann]) await school.enroll(course, m);
    await school.enroll(elsewhere, bob);
    await sql(app.orm, 'update app_user set avatar_url = ? where id = ?', ['https://cdn.example/annika.png', ann.user.id]);
    for (const level of LEVELS) {
      const res = await register({ name: `Tool ${level}`, clientId: `client-${level.toLowerCase()}`, launchUrl: `https://tool.example/${level}/launch`, privacyLevel: level });
      expect(res.errors).toBeUndefined();
      tools[level] = res.data!.registerLtiTool.id;
      expect((await attach(tools[level], course.id)).errors).toBeUndefined();
    }
    const res = await app.http('/.well-known/jwks.json');
    jwks = (await res.json()) as JSONWebKeySet;
  });
  afterAll(() => app.close());

  it('publishes its public key at /.well-known/jwks.json, to anyone, cacheable, never the private half', async () => {
    const res = await app.http('/.well-known/jwks.json');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toMatch(/public/);
    const body = (await res.json()) as { keys: Record<string, unknown>[] };
    expect(body.keys).toHaveLength(1);
    expect(body.keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: app.lti.key.kid });
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(body.keys[0]).not.toHaveProperty(secret);
  });

  it('refuses launch and notification URLs that are not https (http only on localhost), and duplicate client ids', async () => {
    const base = { name: 'Bad', clientId: 'bad', privacyLevel: 'ANONYMOUS' };
    for (const url of ['http://tool.example/launch', 'ftp://tool.example/x', 'https://user:pw@tool.example/', 'javascript:alert(1)', 'not a url']) {
      const res = await register({ ...base, launchUrl: url });
      expect([url, codes(res)]).toEqual([url, ['BAD_USER_INPUT']]);
      expect((res.errors![0].extensions as { field?: string }).field).toBe('launchUrl');
    }
    expect(codes(await register({ ...base, launchUrl: 'https://ok.example/', notificationUrl: 'http://10.0.0.1/hook' }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await register({ ...base, name: 'Dup', clientId: 'client-public', launchUrl: 'https://ok.example/' }))).toEqual(['BAD_USER_INPUT']);
    const local = await register({ ...base, name: 'Local', clientId: 'local', launchUrl: 'http://localhost:9/launch', notificationUrl: 'http://127.0.0.1:9/n' });
    expect(local.errors).toBeUndefined();
    expect(codes(await register({ ...base, name: 'Sneaky', clientId: 'sneaky', launchUrl: 'https://ok.example/' }, teacher.token))).toEqual(['FORBIDDEN']);
  });

  it.each(LEVELS)('a %s launch carries exactly the claims its level allows, signed with the published key', async (level) => {
    const nonce = `nonce-${level}-${Date.now()}`;
    const res = await launch(ann, tools[level], course.id, nonce);
    expect(res.errors).toBeUndefined();
    const got = res.data!.launchLtiTool;
    expect(got).toMatchObject({ toolId: tools[level], launchUrl: `https://tool.example/${level}/launch` });
    expect(decodeProtectedHeader(got.idToken)).toEqual({ alg: 'RS256', kid: app.lti.key.kid, typ: 'JWT' });
    const { payload } = await verify(got.idToken, `client-${level.toLowerCase()}`);
    expect(Object.keys(payload).sort()).toEqual([...BASE_CLAIMS, ...PERSONAL[level]].sort());
    expect(payload).toMatchObject({
      iss: app.lti.issuer, aud: `client-${level.toLowerCase()}`, azp: `client-${level.toLowerCase()}`, nonce,
      [`${CLAIM}message_type`]: 'LtiResourceLinkRequest', [`${CLAIM}version`]: '1.3.0', [`${CLAIM}deployment_id`]: tools[level],
      [`${CLAIM}target_link_uri`]: `https://tool.example/${level}/launch`,
      [`${CLAIM}resource_link`]: { id: expect.any(String), title: `Tool ${level}` },
      [`${CLAIM}roles`]: [LEARNER],
      [`${CLAIM}context`]: { id: course.id, label: course.code, title: 'Orbital Mechanics', type: ['http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering'] },
    });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(30);
    expect(Date.parse(got.expiresAt)).toBe(payload.exp! * 1000);
    const expected: Record<string, unknown> = {
      given_name: 'Annika', family_name: 'Quorndale', name: ann.user.displayName, email: 'annika@tools.test', picture: 'https://cdn.example/annika.png',
      [`${CLAIM}lis`]: { person_sourcedid: 'S-4471' },
    };
    for (const claim of PERSONAL[level]) expect([claim, payload[claim]]).toEqual([claim, expected[claim]]);
    // Nothing that names Ann anywhere else in the token: not her id, not her names where they are not allowed.
    const text = JSON.stringify(payload);
    expect(text).not.toContain(ann.user.id);
    if (!PERSONAL[level].includes('name')) expect(text).not.toContain('Annika');
    if (!PERSONAL[level].includes('email')) expect(text).not.toContain('annika@tools.test');

    // The launch is a DISCLOSE event about Ann: the tool as recipient, exactly the categories sent.
    const events = (await disclosuresAbout(ann)).filter((e) => e.resources.includes(`LtiTool:${tools[level]}`));
    expect(events).toEqual([{
      root_field: 'Mutation.launchLtiTool', actor_kind: 'USER', actor_role: 'STUDENT', purpose: 'education.delivery',
      resources: expect.arrayContaining([`LtiTool:${tools[level]}`, `Course:${course.id}`]), categories: CATEGORIES[level],
      request_id: res.headers.get('x-request-id'),
    }]);
  });

  it('a token fails verification for another tool, after its expiry, and with a tampered payload', async () => {
    const got = (await launch(ann, tools.PUBLIC)).data!.launchLtiTool;
    await expect(verify(got.idToken, 'client-anonymous')).rejects.toThrow();
    await expect(jwtVerify(got.idToken, createLocalJWKSet(jwks), { currentDate: new Date(Date.now() + 301_000) })).rejects.toThrow(/exp/);
    const [h, p, s] = got.idToken.split('.');
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), email: 'x@evil.test' })).toString('base64url');
    await expect(jwtVerify(`${h}.${forged}.${s}`, createLocalJWKSet(jwks))).rejects.toThrow();
  });

  it('gives each person one opaque sub per tool, the same at every launch and unlinkable across tools', async () => {
    const subOf = async (m: Member, level: Level) =>
      (await verify((await launch(m, tools[level])).data!.launchLtiTool.idToken, `client-${level.toLowerCase()}`)).payload.sub!;
    const first = await subOf(ann, 'ANONYMOUS');
    expect(await subOf(ann, 'ANONYMOUS')).toBe(first);
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const elsewhereSubs = await Promise.all((['NAME_ONLY', 'EMAIL_ONLY', 'PUBLIC'] as Level[]).map((l) => subOf(ann, l)));
    expect(new Set([first, ...elsewhereSubs]).size).toBe(4);
    expect(await subOf(teacher, 'ANONYMOUS')).not.toBe(first);
  });

  it('the instructor launches as Instructor', async () => {
    const { payload } = await verify((await launch(teacher, tools.ANONYMOUS)).data!.launchLtiTool.idToken, 'client-anonymous');
    expect(payload[`${CLAIM}roles`]).toEqual([INSTRUCTOR]);
  });

  it('refuses launches into a course the caller is not in, of tools not placed there or disabled, and bad nonces; none is a disclosure', async () => {
    const before = (await disclosuresAbout(bob)).length + (await disclosuresAbout(admin)).length;
    // A student of another course cannot even see this one; the administrator sees it but is no member.
    expect(codes(await launch(bob, tools.PUBLIC))).toEqual(['NOT_FOUND']);
    expect(codes(await launch(admin, tools.PUBLIC))).toEqual(['FORBIDDEN']);
    expect(codes(await launch(foreignAdmin, tools.PUBLIC))).toEqual(['NOT_FOUND']);
    // A tool placed elsewhere (or nowhere) is not launchable here; neither in the course it is not placed in.
    expect(codes(await launch(bob, tools.PUBLIC, elsewhere.id))).toEqual(['NOT_FOUND']);
    for (const nonce of ['', 'x'.repeat(256), 'has space', 'tab\there', 'ünïcode']) {
      expect([nonce, codes(await launch(ann, tools.PUBLIC, course.id, nonce))]).toEqual([nonce, ['BAD_USER_INPUT']]);
    }
    const auditor = await issueToken(app.orm.em.fork(), school.tenant.id, { kind: TokenKind.AUDITOR, label: 'audit', ttlDays: 1 });
    expect(codes(await app.gql(LAUNCH, { c: course.id, t: tools.PUBLIC, n: 'abcdefgh' }, auditor.secret))).toEqual(['FORBIDDEN']);
    expect(codes(await app.gql(LAUNCH, { c: course.id, t: tools.PUBLIC, n: 'abcdefgh' }, null))).toEqual(['UNAUTHENTICATED']);

    const off = await app.gql('mutation($id: ID!) { updateLtiTool(id: $id, input: { enabled: false }) { enabled } }', { id: tools.EMAIL_ONLY }, admin.token);
    expect(off.errors).toBeUndefined();
    const annBefore = (await disclosuresAbout(ann)).length;
    expect(codes(await launch(ann, tools.EMAIL_ONLY))).toEqual(['NOT_FOUND']);
    expect((await disclosuresAbout(ann)).length).toBe(annBefore);
    await app.gql('mutation($id: ID!) { updateLtiTool(id: $id, input: { enabled: true }) { enabled } }', { id: tools.EMAIL_ONLY }, admin.token);
    expect((await disclosuresAbout(bob)).length + (await disclosuresAbout(admin)).length).toBe(before);
  });

  it('members see the tools of their course (name and privacy level), not how they are set up', async () => {
    const q = 'query($id: ID!) { course(id: $id) { tools { id name privacyLevel } } }';
    const res = await app.gql<{ course: { tools: { id: string; name: string; privacyLevel: string }[] } }, object>(q, { id: course.id }, ann.token);
    expect(res.errors).toBeUndefined();
    expect(res.data!.course.tools.map((t) => t.privacyLevel)).toEqual(['ANONYMOUS', 'EMAIL_ONLY', 'NAME_ONLY', 'PUBLIC']);
    expect(codes(await app.gql('query($id: ID!) { course(id: $id) { tools { clientId } } }', { id: course.id }, ann.token))).toEqual(['FORBIDDEN']);
    const list = await app.gql<{ ltiTools: { name: string; courses: { id: string }[] }[] }, object>('{ ltiTools { name courses { id } } }', {}, admin.token);
    expect(list.data!.ltiTools.find((t) => t.name === 'Tool PUBLIC')!.courses).toEqual([{ id: course.id }]);
    expect((await app.gql<{ ltiTools: unknown[] }, object>('{ ltiTools { id } }', {}, foreignAdmin.token)).data!.ltiTools).toEqual([]);
  });

  it('lists the tools as recipients in the person\'s export: by name, with what they received, when and how often', async () => {
    const key = signingKeyFromPem(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
    await publishSigningKey(app.orm.em.fork(), key);
    const runner = new JobRunner({ owner: app.orm, work: app.appOrm, handlers: jobHandlers, log: pino({ level: 'silent' }), signingKey: key });
    const launchesTo = async (toolId: string) => (await disclosuresAbout(ann)).filter((e) => e.resources.includes(`LtiTool:${toolId}`)).length;
    const counts = Object.fromEntries(await Promise.all(LEVELS.map(async (l) => [l, await launchesTo(tools[l])]))) as Record<Level, number>;

    const filed = await app.gql<{ fileDataRequest: { id: string } }, object>('mutation { fileDataRequest(input: { type: ACCESS }) { id } }', {}, ann.token);
    const id = filed.data!.fileDataRequest.id;
    expect((await app.gql('mutation($id: ID!) { approveDataRequest(id: $id) { id } }', { id }, admin.token)).errors).toBeUndefined();
    await runner.runDue();
    await sealEverything(app.orm, key);
    await sql(app.orm, "update job set run_at = now() where kind = 'dsr.process' and finished_at is null");
    await runner.runDue();
    const res = await app.http(`/exports/${id}`, { headers: { authorization: `Bearer ${ann.token}` } });
    expect(res.status).toBe(200);
    const zip = await fromBufferPromise(Buffer.from(await res.arrayBuffer()));
    let doc: { recipients: { thirdParties: Record<string, unknown>[] } } | null = null;
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName !== 'export.json') continue;
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) chunks.push(chunk as Buffer);
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    }
    expect(doc!.recipients.thirdParties).toEqual([...LEVELS].sort().map((level) => ({
      recipient: `Tool ${level}`, kind: 'TOOL', toolId: tools[level], credentialId: null, scopes: [], categories: CATEGORIES[level],
      firstReceivedAt: expect.any(String), lastReceivedAt: expect.any(String), accesses: counts[level],
    })));
    expect(counts.PUBLIC).toBeGreaterThan(1);
  });
});
