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
import { permissionsFor } from '../auth/permissions';

export const resolvers = [TenantResolver, UserResolver, CourseResolver, EnrollmentResolver, PostResolver, CommentResolver, TokenResolver, AuditResolver] as const;

let bare: Promise<GraphQLSchema> | undefined;
let guarded: Promise<GraphQLSchema> | undefined;

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
 * The executable schema the server serves: the resolvers behind the graphql-shield permissions.
 * `accessControl: false` exists for the benchmark that measures what the permissions cost; the server
 * never builds it.
 */
export function buildCustosSchema(opts: { accessControl?: boolean } = {}): Promise<GraphQLSchema> {
  if (opts.accessControl === false) return buildBareSchema();
  guarded ??= buildBareSchema().then((schema) => applyMiddleware(schema, permissionsFor(schema)));
  return guarded;
}
