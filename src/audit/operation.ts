import { Kind, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

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
