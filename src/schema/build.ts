import 'reflect-metadata';
import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { applyMiddleware } from 'graphql-middleware';
import { TenantResolver } from '../modules/tenant/tenant.resolver';
import { UserResolver } from '../modules/user/user.resolver';
import { CourseResolver } from '../modules/course/course.resolver';
import { EnrollmentResolver } from '../modules/course/enrollment.resolver';
import { CommentResolver, PostResolver } from '../modules/content/content.resolver';
import { TokenResolver } from '../modules/token/token.resolver';
import { AuditResolver } from '../modules/audit/audit.resolver';
import { DataSubjectRequestResolver, LegalHoldResolver } from '../modules/dsr/dsr.resolver';
import { DataExportResolver } from '../modules/dsr/export/export.resolver';
import { CourseToolsResolver, LtiToolResolver } from '../modules/lti/lti.resolver';
import { permissionsFor } from '../auth/permissions';
import { accessLogMiddleware } from '../audit/read-middleware';
import { RosterResolver } from '../modules/roster/roster.resolver';
import { RecordsOfProcessingResolver } from '../modules/processing/records.resolver';
import { IncidentAffectedSubjectResolver, IncidentHistoryResolver, IncidentResolver } from '../modules/incident/incident.resolver';
import { ReportResolver } from '../modules/report/report.resolver';

export const resolvers = [TenantResolver, UserResolver, CourseResolver, EnrollmentResolver, PostResolver, CommentResolver, TokenResolver, AuditResolver,
  DataSubjectRequestResolver, LegalHoldResolver, DataExportResolver, RosterResolver, LtiToolResolver, CourseToolsResolver,
  RecordsOfProcessingResolver, IncidentResolver, IncidentHistoryResolver, IncidentAffectedSubjectResolver, ReportResolver] as const;

let bare: Promise<GraphQLSchema> | undefined;
const served = new Map<string, Promise<GraphQLSchema>>();

/** The schema as the resolvers define it, without access control: for emitting the SDL and for rule coverage checks. */
export function buildBareSchema(): Promise<GraphQLSchema> {
  bare ??= buildSchema({
    resolvers: [...resolvers],
    validate: { forbidUnknownValues: false },
    emitSchemaFile: false,
  });
  return bare;
}

/**
 * The executable schema the server serves: the resolvers behind the graphql-shield permissions, with
 * the access log's read recorder inside them (so it sees only what the rules let through).
 * `accessControl: false` and `accessLog: false` exist for the benchmarks that measure what each costs;
 * the server never builds them.
 */
export function buildCustosSchema(opts: { accessControl?: boolean; accessLog?: boolean } = {}): Promise<GraphQLSchema> {
  const accessControl = opts.accessControl !== false;
  const accessLog = opts.accessLog !== false;
  const key = `${accessControl}:${accessLog}`;
  let schema = served.get(key);
  if (!schema) {
    schema = buildBareSchema().then((bareSchema) => {
      const layers = [...(accessControl ? [permissionsFor(bareSchema)] : []), ...(accessLog ? [accessLogMiddleware(bareSchema)] : [])];
      return layers.length ? applyMiddleware(bareSchema, ...layers) : bareSchema;
    });
    served.set(key, schema);
  }
  return schema;
}
