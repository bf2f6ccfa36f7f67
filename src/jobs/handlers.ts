import type { JobHandlers } from './queue';
import { dsrJobs } from '../modules/dsr/dsr.jobs';
import { inactiveAccountJobs } from '../modules/dsr/inactive-accounts';
import { exportJobs } from '../modules/dsr/export/job';
import { ltiJobs } from '../modules/lti/lti.notices';

/** Every kind of background job Custos runs, by kind. */
export const jobHandlers: JobHandlers = {
  ...dsrJobs,
  ...inactiveAccountJobs,
  ...exportJobs,
  ...ltiJobs,
};
