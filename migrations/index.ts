import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261122000000_foundation } from './Migration20261122000000_foundation';
import { Migration20261124000000_access_control } from './Migration20261124000000_access_control';
import { Migration20261124100000_access_log } from './Migration20261124100000_access_log';
import { Migration20261124200000_audit_seal } from './Migration20261124200000_audit_seal';
import { Migration20261125000000_data_subject_requests } from './Migration20261125000000_data_subject_requests';
import { Migration20261125100000_processing_restriction } from './Migration20261125100000_processing_restriction';
import { Migration20261125200000_erasure } from './Migration20261125200000_erasure';
import { Migration20261125250000_recipient_notices } from './Migration20261125250000_recipient_notices';
import { Migration20261125260000_inactive_accounts } from './Migration20261125260000_inactive_accounts';
import { Migration20261125300000_exports } from './Migration20261125300000_exports';
import { Migration20261125310000_retention_overrides } from './Migration20261125310000_retention_overrides';
import { Migration20261125350000_sis_import } from './Migration20261125350000_sis_import';
import { Migration20261125400000_lti_tools } from './Migration20261125400000_lti_tools';
import { Migration20261125500000_auditor_window } from './Migration20261125500000_auditor_window';
import { Migration20261125600000_reports } from './Migration20261125600000_reports';
import { Migration20261125700000_incidents } from './Migration20261125700000_incidents';

/**
 * Every migration, in order. Listed explicitly so the compiled server never depends on globbing a
 * folder at run time. Add new migrations at the end; never edit one that has shipped.
 */
export const migrationsList: MigrationObject[] = [
  { name: 'Migration20261122000000_foundation', class: Migration20261122000000_foundation },
  { name: 'Migration20261124000000_access_control', class: Migration20261124000000_access_control },
  { name: 'Migration20261124100000_access_log', class: Migration20261124100000_access_log },
  { name: 'Migration20261124200000_audit_seal', class: Migration20261124200000_audit_seal },
  { name: 'Migration20261125000000_data_subject_requests', class: Migration20261125000000_data_subject_requests },
  { name: 'Migration20261125100000_processing_restriction', class: Migration20261125100000_processing_restriction },
  { name: 'Migration20261125200000_erasure', class: Migration20261125200000_erasure },
  { name: 'Migration20261125250000_recipient_notices', class: Migration20261125250000_recipient_notices },
  { name: 'Migration20261125260000_inactive_accounts', class: Migration20261125260000_inactive_accounts },
  { name: 'Migration20261125300000_exports', class: Migration20261125300000_exports },
  { name: 'Migration20261125310000_retention_overrides', class: Migration20261125310000_retention_overrides },
  { name: 'Migration20261125350000_sis_import', class: Migration20261125350000_sis_import },
  { name: 'Migration20261125400000_lti_tools', class: Migration20261125400000_lti_tools },
  { name: 'Migration20261125500000_auditor_window', class: Migration20261125500000_auditor_window },
  { name: 'Migration20261125600000_reports', class: Migration20261125600000_reports },
  { name: 'Migration20261125700000_incidents', class: Migration20261125700000_incidents },
];
