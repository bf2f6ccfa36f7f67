import { getNamedType, isObjectType, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';
import type { IMiddlewareFieldMap } from 'graphql-middleware';
import type { Path } from 'graphql/jsutils/Path';
import type { RequestContext } from '../server/context';
import { privacyRegistry, subjectOf, type PersonalField } from '../privacy/registry';
import { isUuid } from '../shared/errors';

/** Root results worth naming in an event's resources (people are never resources: they are subjects). */
const RESOURCE_TYPES = new Set(['Course', 'Post', 'Comment', 'Enrollment', 'ApiToken', 'Incident']);

type Resolve = (parent: unknown, args: unknown, ctx: RequestContext, info: GraphQLResolveInfo) => unknown;
type Middleware = (resolve: Resolve, parent: unknown, args: unknown, ctx: RequestContext, info: GraphQLResolveInfo) => unknown;

function rootKeyOf(path: Path): string {
  let p = path;
  while (p.prev) p = p.prev;
  return String(p.key);
}

/** Calls `then` with the value once it is known, without adding a promise when it already is. */
function whenResolved(value: unknown, then: (v: unknown) => void): unknown {
  if (value instanceof Promise) {
    return value.then((v) => {
      then(v);
      return v;
    });
  }
  then(value);
  return value;
}

function readOf(field: PersonalField): Middleware {
  // Runs for every classified field of every row, so the common synchronous case allocates nothing.
  const note = (value: unknown, parent: unknown, ctx: RequestContext, info: GraphQLResolveInfo) => {
    // A redacted (null) value was not disclosed; a value that failed threw before reaching here.
    if (value === null || value === undefined) return;
    const subject = subjectOf(field, parent, ctx.access.userIdOrNull);
    if (subject) ctx.audit.read(rootKeyOf(info.path), field.coordinate, subject, field.category, parent);
  };
  return (resolve, parent, args, ctx, info) => {
    const value = resolve(parent, args, ctx, info);
    if (value instanceof Promise) return value.then((v) => { note(v, parent, ctx, info); return v; });
    note(value, parent, ctx, info);
    return value;
  };
}

function rootOf(resourceType: string | null): Middleware {
  return (resolve, parent, args, ctx, info) => {
    const key = String(info.path.key);
    ctx.audit.enterRoot(key);
    const result = resolve(parent, args, ctx, info);
    if (!resourceType) return result;
    return whenResolved(result, (value) => {
      const id = (value as { id?: unknown } | null)?.id;
      if (typeof id === 'string' && isUuid(id)) ctx.audit.resource(key, `${resourceType}:${id}`);
    });
  };
}

/**
 * Records what a request reads: a thin wrapper on each classified field (and each root field, to know
 * which root a read belongs to), nothing on any other field. It sits inside the permission layer, so a
 * field the rules redact never reaches it. The transaction plugin writes the events before the commit.
 */
export function accessLogMiddleware(schema: GraphQLSchema): Record<string, IMiddlewareFieldMap> {
  const registry = privacyRegistry(schema);
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name]);
  const out: Record<string, IMiddlewareFieldMap> = {};
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue;
    const fields: IMiddlewareFieldMap = {};
    for (const [name, field] of Object.entries(type.getFields())) {
      if (roots.has(type.name)) {
        const target = getNamedType(field.type).name;
        fields[name] = rootOf(RESOURCE_TYPES.has(target) ? target : null) as never;
        continue;
      }
      const personal = registry.personalField(type.name, name);
      if (personal) fields[name] = readOf(personal) as never;
    }
    if (Object.keys(fields).length) out[type.name] = fields;
  }
  return out;
}
