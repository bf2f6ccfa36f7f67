import type { ApolloServerPlugin } from '@apollo/server';
import { getNamedType, isObjectType, Kind, type DocumentNode, type GraphQLObjectType, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { Path } from 'graphql/jsutils/Path';
import type { RequestContext } from '../server/context';
import { privacyRegistry, subjectOf, type PersonalField } from '../privacy/registry';

/** Root results worth naming in an event's resources (people are never resources: they are subjects). */
const RESOURCE_TYPES = new Set(['Course', 'Post', 'Comment', 'Enrollment', 'ApiToken']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Response key → `Query.field` for each root field of the operation, through fragments. */
export function rootFieldsOf(operation: OperationDefinitionNode, document: DocumentNode): Map<string, string> {
  const typeName = operation.operation === 'mutation' ? 'Mutation' : 'Query';
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d] as const] : [])));
  const out = new Map<string, string>();
  const walk = (set: SelectionSetNode, seen: Set<string>) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) out.set(s.alias?.value ?? s.name.value, `${typeName}.${s.name.value}`);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet, seen);
      else if (!seen.has(s.name.value) && fragments.has(s.name.value)) walk(fragments.get(s.name.value)!.selectionSet, new Set([...seen, s.name.value]));
    }
  };
  walk(operation.selectionSet, new Set());
  return out;
}

function rootKeyOf(path: Path): string {
  let p = path;
  while (p.prev) p = p.prev;
  return String(p.key);
}

/**
 * Watches a request's execution and tells its AccessRecorder which classified fields were read, of
 * whose data, under which root field. A field counts as read only when it resolved to a value: a
 * redacted (null) field was not disclosed. The events are written by the transaction plugin, before
 * the commit and before any data leaves.
 */
export function accessLogPlugin(schema: GraphQLSchema): ApolloServerPlugin<RequestContext> {
  const registry = privacyRegistry(schema);
  // Looked up once per resolved field of every row: keyed by the type object, no string building.
  const personal = new Map<GraphQLObjectType, Map<string, PersonalField>>();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    const fields = new Map<string, PersonalField>();
    for (const name of Object.keys(type.getFields())) {
      const f = registry.personalField(type.name, name);
      if (f) fields.set(name, f);
    }
    if (fields.size) personal.set(type, fields);
  }
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, operation, document }) {
          if (!operation || operation.operation === 'subscription') return;
          contextValue.audit.setOperation(operation.operation, operation.name?.value ?? null, rootFieldsOf(operation, document));
        },
        async executionDidStart() {
          return {
            willResolveField({ source, info, contextValue }) {
              const audit = contextValue.audit;
              if (info.path.prev === undefined) {
                const key = String(info.path.key);
                audit.enterRoot(key);
                const typeName = getNamedType(info.returnType).name;
                if (!RESOURCE_TYPES.has(typeName)) return undefined;
                return (error, result) => {
                  const id = (result as { id?: unknown } | null)?.id;
                  if (!error && typeof id === 'string' && UUID.test(id)) audit.resource(key, `${typeName}:${id}`);
                };
              }
              const field = personal.get(info.parentType)?.get(info.fieldName);
              if (!field) return undefined;
              return (error, result) => {
                if (error || result === null || result === undefined) return;
                const subject = subjectOf(field, source, contextValue.access.userIdOrNull);
                if (subject) audit.read(rootKeyOf(info.path), field.coordinate, subject, field.category, source);
              };
            },
          };
        },
      };
    },
  };
}
