import { getNamedType, isObjectType, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import type { DataCategory } from './categories';
import { CALLER, type FieldPrivacyExtension, type SubjectRef, type TypePrivacyExtension } from './classify';

/** A classified field: its category and where to find whose data it is. */
export interface PersonalField {
  coordinate: string;
  category: DataCategory;
  /** Property of the object being read that holds the subject's user id, or CALLER. */
  subject: SubjectRef;
}

export interface PrivacyRegistry {
  /** The classified personal field at `Type.field`, if it is one. */
  personalField(typeName: string, fieldName: string): PersonalField | undefined;
  /** Every classified personal field, for exports, erasure and the records of processing. */
  personalFields(): PersonalField[];
  /** Scalar fields of personal-data types that are neither classified nor marked not personal. */
  unclassified(): string[];
  /** Object types marked neither as holding personal data nor as holding none. */
  unmarkedTypes(): string[];
}

const typeExtension = (type: GraphQLObjectType) => type.extensions?.privacy as TypePrivacyExtension | undefined;

/**
 * Builds the registry from the schema's own field extensions (set by the @Personal / @NotPersonal
 * decorators next to each field), so it cannot disagree with what the API serves.
 */
export function buildPrivacyRegistry(schema: GraphQLSchema): PrivacyRegistry {
  const roots = new Set([schema.getQueryType()?.name, schema.getMutationType()?.name, schema.getSubscriptionType()?.name]);
  const fields = new Map<string, PersonalField>();
  const unclassified: string[] = [];
  const unmarked: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__') || roots.has(type.name)) continue;
    const marker = typeExtension(type);
    if (!marker) unmarked.push(type.name);
    for (const [name, field] of Object.entries(type.getFields())) {
      const coordinate = `${type.name}.${name}`;
      const ext = field.extensions?.privacy as FieldPrivacyExtension | undefined;
      if (ext?.category) {
        const subject = ext.subject ?? marker?.subject;
        if (!subject) throw new Error(`${coordinate} is classified as ${ext.category} but names no subject (whose data is it?).`);
        fields.set(coordinate, { coordinate, category: ext.category, subject });
        continue;
      }
      // Relations lead to objects whose own fields are classified; only scalar values need a verdict here.
      const relation = isObjectType(getNamedType(field.type));
      if (!ext && !relation && marker?.holdsPersonalData) unclassified.push(coordinate);
    }
  }
  return {
    personalField: (typeName, fieldName) => fields.get(`${typeName}.${fieldName}`),
    personalFields: () => [...fields.values()],
    unclassified: () => unclassified,
    unmarkedTypes: () => unmarked,
  };
}

const cache = new WeakMap<GraphQLSchema, PrivacyRegistry>();

/** The registry of a schema, built once. */
export function privacyRegistry(schema: GraphQLSchema): PrivacyRegistry {
  let registry = cache.get(schema);
  if (!registry) {
    registry = buildPrivacyRegistry(schema);
    cache.set(schema, registry);
  }
  return registry;
}

/** The user id a classified value belongs to, read from the object it was read on (null: nobody's). */
export function subjectOf(field: PersonalField, source: unknown, callerUserId: string | null): string | null {
  if (field.subject === CALLER) return callerUserId;
  const value = (source as Record<string, unknown> | null)?.[field.subject];
  return typeof value === 'string' ? value : null;
}
