import type { JobHandlers } from '../../jobs/queue';
import { fileErasureByPolicy } from './dsr.service';
import { INACTIVE_SWEEP_JOB, loadPrivacySettings } from './privacy-settings';

const DAY_MS = 86_400_000;
/** People erased per run; a longer list continues in the next run straight away. */
const BATCH = 200;

/**
 * The daily sweep of a tenant that set `inactiveAccountDays`: every member other than administrators
 * whose last activity (sign-in, token use, or the account's creation) is older than that is erased by
 * policy. It reschedules itself daily while the policy is on, and ends when it is turned off.
 */
export const inactiveAccountJobs: JobHandlers = {
  [INACTIVE_SWEEP_JOB]: {
    async run(job, { em, now }) {
      const { inactiveAccountDays: days } = await loadPrivacySettings(em, job.tenantId);
      if (days === null) return undefined;
      const cutoff = new Date(now.getTime() - days * DAY_MS);
      const inactive = await em.execute<{ id: string }[]>(
        `select u.id from app_user u
          where u.tenant_id = ? and u.role <> 'ADMIN' and u.erased_at is null
            and greatest(u.created_at, coalesce(u.last_active_at, u.created_at),
                         coalesce((select max(t.last_used_at) from api_token t where t.tenant_id = u.tenant_id and t.user_id = u.id), u.created_at)) < ?
            and not exists (select 1 from data_subject_request r where r.tenant_id = u.tenant_id and r.subject_id = u.id and r.type = 'ERASURE'
                              and r.status in ('SUBMITTED', 'APPROVED', 'IN_PROGRESS', 'FAILED', 'COMPLETED'))
          order by u.id limit ?`,
        [job.tenantId, cutoff, BATCH]);
      for (const { id } of inactive) {
        await fileErasureByPolicy(em, job.tenantId, id, `No activity for ${days} days: erased under the institution's retention policy.`, now,
          `job:${job.id}:${job.attempt}`);
      }
      return { again: inactive.length === BATCH ? now : new Date(now.getTime() + DAY_MS) };
    },
  },
};
