import { CompactSign } from 'jose';
import type { ClaimedJob, JobHandlers, JobOutcome, JobRun } from '../../jobs/queue';
import { backoffMs } from '../../jobs/queue';
import { recordSystemAccess } from '../../audit/system-events';
import { DELIVER_NOTICE_JOB, NoticeDelivery } from '../dsr/notices';
import { subjectIdFor } from './lti.claims';
import { LTI_ALG, type LtiPlatform } from './lti.key';
import { toolUrl } from './lti.service';
import { pgTimestamp } from '../../db/timestamps';

/**
 * Art. 19 notices delivered to tools. The job POSTs a small JSON body to the tool's notification URL —
 * which notice, which institution, why (RECTIFICATION or ERASURE), the affected categories, and the
 * person as the tool knows them (its opaque `sub`; never a name or an email) — signed with the LTI key
 * (a detached JWS in `Custos-Signature`, verifiable against /.well-known/jwks.json). Every attempt is
 * recorded on the notice (time, HTTP status, error); a failed one is tried again with exponential
 * backoff, and after NOTICE_MAX_ATTEMPTS the notice is FAILED, for an administrator to pass on by hand.
 * A delivered notice is a DISCLOSE event of the person's request (`user.data_request`) to the tool.
 *
 * Redirects are never followed (a 3xx is a failed attempt): a notice goes to the URL the administrator
 * registered, nowhere else. The request runs inside the job's transaction, bounded by NOTICE_TIMEOUT_MS.
 */

export const NOTICE_FORMAT = 'custos.recipient-notice.v1';
export const NOTICE_MAX_ATTEMPTS = 6;
export const NOTICE_TIMEOUT_MS = 5_000;
export const SIGNATURE_HEADER = 'custos-signature';

interface NoticeForDelivery {
  id: string;
  tenant_id: string;
  request_id: string;
  reason: string;
  categories: string[];
  created_at: Date | string;
  delivery: NoticeDelivery | null;
  delivery_attempts: number;
  sent_at: Date | null;
  subject_id: string;
  tool_id: string;
  client_id: string;
  notification_url: string | null;
  sub_secret: Buffer;
}

/** The body a tool receives, as bytes (signed as sent). */
export function noticeBody(n: NoticeForDelivery, issuer: string | null): Buffer {
  return Buffer.from(JSON.stringify({
    type: NOTICE_FORMAT,
    noticeId: n.id,
    iss: issuer,
    clientId: n.client_id,
    deploymentId: n.tool_id,
    tenant: n.tenant_id,
    reason: n.reason,
    categories: [...n.categories].sort(),
    sub: subjectIdFor(n.sub_secret, n.subject_id),
    createdAt: pgTimestamp(n.created_at).toISOString(),
  }), 'utf8');
}

/** A JWS over the body with the payload left out (RFC 7515 Appendix F): `header..signature`. */
async function detachedSignature(body: Buffer, lti: LtiPlatform): Promise<string> {
  const jws = await new CompactSign(body).setProtectedHeader({ alg: LTI_ALG, kid: lti.key.kid }).sign(lti.key.privateKey);
  const [header, , signature] = jws.split('.');
  return `${header}..${signature}`;
}

type Attempt = { ok: true; status: number } | { ok: false; status: number | null; error: string };

async function post(url: string, body: Buffer, signature: string): Promise<Attempt> {
  try {
    const res = await fetch(toolUrl(url, 'notificationUrl'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature, 'user-agent': 'Custos recipient notices' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(NOTICE_TIMEOUT_MS),
    });
    await res.body?.cancel().catch(() => undefined); // the answer's body is not needed
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    if (res.status >= 300 && res.status < 400) return { ok: false, status: res.status, error: `redirect (HTTP ${res.status}) refused: notices are never forwarded` };
    return { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') return { ok: false, status: null, error: `no answer within ${NOTICE_TIMEOUT_MS / 1000} s` };
    const reason = e.cause?.code ?? e.cause?.message ?? e.message;
    return { ok: false, status: null, error: `could not connect: ${reason}`.slice(0, 500) };
  }
}

async function deliver(job: ClaimedJob, { em, now, lti }: JobRun): Promise<JobOutcome> {
  const [n] = await em.execute<NoticeForDelivery[]>(
    `select n.id, n.tenant_id, n.request_id, n.reason, n.categories, n.created_at, n.delivery, n.delivery_attempts, n.sent_at,
            q.subject_id, t.id as tool_id, t.client_id, t.notification_url, t.sub_secret
       from recipient_notice n
       join data_subject_request q on q.tenant_id = n.tenant_id and q.id = n.request_id
       join lti_tool t on t.tenant_id = n.tenant_id and t.id = n.tool_id
      where n.tenant_id = ? and n.id = ?
      for update of n`, [job.tenantId, String(job.payload.noticeId ?? '')]);
  // Gone, delivered, given up, or passed on by hand meanwhile: nothing left to do.
  if (!n || n.delivery !== NoticeDelivery.PENDING || n.sent_at) return;
  if (!lti) throw new Error('no LTI signing key is configured for notices to tools');
  const attempt = n.delivery_attempts + 1;
  const body = noticeBody(n, lti.issuer);
  const result: Attempt = n.notification_url
    ? await post(n.notification_url, body, await detachedSignature(body, lti))
    : { ok: false, status: null, error: 'the tool no longer has a notification URL' };
  const last = !result.ok && (attempt >= NOTICE_MAX_ATTEMPTS || !n.notification_url);
  const delivery = result.ok ? NoticeDelivery.DELIVERED : last ? NoticeDelivery.FAILED : NoticeDelivery.PENDING;
  await em.execute(
    `update recipient_notice set delivery = ?, delivery_attempts = ?, last_attempt_at = ?, last_http_status = ?, last_error = ?,
            sent_at = case when ? then ?::timestamptz else sent_at end
      where tenant_id = ? and id = ?`,
    [delivery, attempt, now, result.status, result.ok ? null : result.error, result.ok, now, n.tenant_id, n.id]);
  if (result.ok) {
    await recordSystemAccess(em, {
      tenantId: n.tenant_id, requestId: `job:${job.id}:${attempt}`, operation: 'RecipientNotice.deliver', kind: 'DISCLOSE',
      purpose: 'data_subject_rights', subjects: [{ userId: n.subject_id, categories: ['user.data_request'] }],
      resources: [`LtiTool:${n.tool_id}`, `DataSubjectRequest:${n.request_id}`], now,
    });
    return;
  }
  return last ? undefined : { again: new Date(now.getTime() + backoffMs(attempt)) };
}

/** After the job itself failed for good (not the tool: a fault here), the notice is FAILED so people see it. */
async function onDead(job: ClaimedJob, { em, now }: JobRun, error: string): Promise<void> {
  await em.execute(
    `update recipient_notice set delivery = 'FAILED', last_attempt_at = ?, last_error = ?
      where tenant_id = ? and id = ? and delivery = 'PENDING'`, [now, error.slice(0, 500), job.tenantId, String(job.payload.noticeId ?? '')]);
}

export const ltiJobs: JobHandlers = {
  [DELIVER_NOTICE_JOB]: { run: deliver, onDead },
};
