import type { Principal } from '../auth/principal';

/**
 * Why personal data is processed: a closed list. Every root field has one (a test checks), and every
 * access event names the purpose of the root field it belongs to.
 */
export const PURPOSES = {
  'account.self_service': 'A person viewing or changing their own profile and session',
  'account.administration': 'Administering members and their credentials',
  'education.delivery': 'Running courses: rosters, course content and discussion',
  'education.assessment': 'Grading',
  'integration.sis': 'Synchronising with the student information system',
  'sis.sync': 'Importing the institution\'s rosters from its student information system',
  'audit': 'External audit of the institution\'s processing',
  'data_subject_rights': 'Answering requests people make about their own data: access, rectification, erasure, restriction',
  'security.incident': 'Handling personal-data breaches: finding whom and what a breach touched, telling the supervisory authority and the people concerned, keeping the record',
} as const;

export type Purpose = keyof typeof PURPOSES;

const BY_ROOT_FIELD: Record<string, Purpose> = {
  'Query.viewer': 'account.self_service',
  'Query.tenant': 'account.self_service',
  'Mutation.updateMyProfile': 'account.self_service',
  'Query.users': 'account.administration',
  'Query.user': 'account.administration',
  'Query.tokens': 'account.administration',
  'Mutation.createUser': 'account.administration',
  'Mutation.updateUser': 'account.administration',
  'Mutation.deactivateUser': 'account.administration',
  'Mutation.issueToken': 'account.administration',
  'Mutation.revokeToken': 'account.administration',
  'Query.courses': 'education.delivery',
  'Query.course': 'education.delivery',
  'Mutation.createCourse': 'education.delivery',
  'Mutation.updateCourse': 'education.delivery',
  'Mutation.archiveCourse': 'education.delivery',
  'Mutation.enroll': 'education.delivery',
  'Mutation.unenroll': 'education.delivery',
  'Mutation.createPost': 'education.delivery',
  'Mutation.editPost': 'education.delivery',
  'Mutation.deletePost': 'education.delivery',
  'Mutation.createComment': 'education.delivery',
  'Mutation.editComment': 'education.delivery',
  'Mutation.deleteComment': 'education.delivery',
  'Mutation.react': 'education.delivery',
  'Mutation.unreact': 'education.delivery',
  'Mutation.setGrade': 'education.assessment',
  'Query.auditCheckpoint': 'audit',
  'Query.auditInclusionProof': 'audit',
  'Query.auditConsistencyProof': 'audit',
  'Query.auditPublicKeys': 'audit',
  'Query.auditEvents': 'audit',
  'Query.recordsOfProcessing': 'audit',
  // Reports over the log and over request handling are audit surfaces, whoever reads them.
  'Query.accessSummaryReport': 'audit',
  'Query.deniedAttemptsReport': 'audit',
  'Query.privilegedAccessReport': 'audit',
  'Query.disclosuresReport': 'audit',
  'Query.requestComplianceReport': 'audit',
  'Query.auditChainStatusReport': 'audit',
  'Query.myAccessHistory': 'account.self_service',
  'Query.accessHistory': 'account.administration',
  'Query.privacySettings': 'data_subject_rights',
  'Query.myDataRequests': 'data_subject_rights',
  'Query.dataRequests': 'data_subject_rights',
  'Query.dataRequest': 'data_subject_rights',
  'Mutation.fileDataRequest': 'data_subject_rights',
  'Mutation.approveDataRequest': 'data_subject_rights',
  'Mutation.rejectDataRequest': 'data_subject_rights',
  'Mutation.extendDataRequest': 'data_subject_rights',
  'Mutation.cancelDataRequest': 'data_subject_rights',
  'Mutation.retryDataRequest': 'data_subject_rights',
  'Mutation.liftRestriction': 'data_subject_rights',
  'Query.erasurePlan': 'data_subject_rights',
  'Query.legalHolds': 'data_subject_rights',
  'Mutation.placeLegalHold': 'data_subject_rights',
  'Mutation.releaseLegalHold': 'data_subject_rights',
  'Query.recipientNotices': 'data_subject_rights',
  'Mutation.markNoticeSent': 'data_subject_rights',
  'Query.retentionSchedule': 'data_subject_rights',
  'Mutation.setRetentionPeriod': 'data_subject_rights',
  'Mutation.updatePrivacySettings': 'data_subject_rights',
  'Mutation.importRoster': 'sis.sync',
  // Tools are part of running courses: placing one is course set-up (like createCourse), launching one
  // delivers the course through it. Setting tools up touches no personal data; a launch discloses some.
  'Query.ltiTools': 'education.delivery',
  'Mutation.registerLtiTool': 'education.delivery',
  'Mutation.updateLtiTool': 'education.delivery',
  'Mutation.attachLtiTool': 'education.delivery',
  'Mutation.detachLtiTool': 'education.delivery',
  'Mutation.launchLtiTool': 'education.delivery',
  // Breaches (Art. 33, 34): reading who was affected and recording how the breach was handled.
  'Query.incidents': 'security.incident',
  'Query.incident': 'security.incident',
  'Mutation.openIncident': 'security.incident',
  'Mutation.updateIncident': 'security.incident',
  'Mutation.recordAuthorityNotification': 'security.incident',
  'Mutation.recordSubjectNotification': 'security.incident',
  'Mutation.recordNotificationDelay': 'security.incident',
  'Mutation.revokeIncidentCredential': 'security.incident',
  'Mutation.closeIncident': 'security.incident',
};

/** Root fields with a declared purpose (the test compares this with the schema). */
export const rootFieldsWithPurpose = (): string[] => Object.keys(BY_ROOT_FIELD);

/** The purpose of a root field for this caller: auditors audit and integrations integrate, whatever they call. */
export function purposeOf(rootField: string, principal: Principal | null): Purpose {
  if (principal?.kind === 'AUDITOR') return 'audit';
  if (principal?.kind === 'SERVICE') return BY_ROOT_FIELD[rootField] === 'sis.sync' ? 'sis.sync' : 'integration.sis';
  return BY_ROOT_FIELD[rootField] ?? 'account.self_service';
}
