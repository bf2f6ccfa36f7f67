import 'reflect-metadata';
import { buildSchema } from 'type-graphql';
import type { GraphQLSchema } from 'graphql';
import { TenantResolver } from '../modules/tenant/tenant.resolver';
import { UserResolver } from '../modules/user/user.resolver';
import { CourseResolver } from '../modules/course/course.resolver';
import { EnrollmentResolver } from '../modules/course/enrollment.resolver';
import { CommentResolver, PostResolver } from '../modules/content/content.resolver';

export const resolvers = [TenantResolver, UserResolver, CourseResolver, EnrollmentResolver, PostResolver, CommentResolver] as const;

let cached: Promise<GraphQLSchema> | undefined;

/** Builds the executable schema from the resolver classes (once per process). */
export function buildCustosSchema(): Promise<GraphQLSchema> {
  cached ??= buildSchema({
    resolvers: [...resolvers],
    validate: { forbidUnknownValues: false },
    emitSchemaFile: false,
  });
  return cached;
}
