import 'reflect-metadata';
import { GraphQLObjectType, GraphQLSchema, GraphQLString, GraphQLID } from 'graphql';
import { buildBareSchema } from '../schema/build';
import { buildPrivacyRegistry, subjectOf } from './registry';
import { DATA_CATEGORIES } from './categories';

describe('the privacy registry', () => {
  it('classifies every scalar field of every type that holds personal data, and every type says whether it does', async () => {
    const registry = buildPrivacyRegistry(await buildBareSchema());
    expect(registry.unclassified()).toEqual([]);
    expect(registry.unmarkedTypes()).toEqual([]);
  });

  it('knows the fields the role matrix protects, with their categories and subjects', async () => {
    const registry = buildPrivacyRegistry(await buildBareSchema());
    expect(registry.personalField('User', 'email')).toMatchObject({ category: 'user.contact.email', subject: 'id' });
    expect(registry.personalField('Enrollment', 'finalGrade')).toMatchObject({ category: 'user.education.grade', subject: 'userId' });
    expect(registry.personalField('Post', 'body')).toMatchObject({ category: 'user.content.private', subject: 'authorId' });
    expect(registry.personalField('User', 'id')).toBeUndefined();
    expect(registry.personalField('Course', 'title')).toBeUndefined();
    for (const f of registry.personalFields()) expect(Object.keys(DATA_CATEGORIES)).toContain(f.category);
  });

  /** The check itself: a type marked as holding personal data with a field nobody classified. */
  it('reports a field that is neither classified nor marked not personal, and a type with no marker', () => {
    const Person = new GraphQLObjectType({
      name: 'Person',
      extensions: { privacy: { holdsPersonalData: true, subject: 'id' } },
      fields: {
        id: { type: GraphQLID, extensions: { privacy: { category: null } } },
        email: { type: GraphQLString, extensions: { privacy: { category: 'user.contact.email' } } },
        nickname: { type: GraphQLString },
      },
    });
    const Thing = new GraphQLObjectType({ name: 'Thing', fields: { name: { type: GraphQLString } } });
    const schema = new GraphQLSchema({
      query: new GraphQLObjectType({ name: 'Query', fields: { person: { type: Person }, thing: { type: Thing } } }),
    });
    const registry = buildPrivacyRegistry(schema);
    expect(registry.unclassified()).toEqual(['Person.nickname']);
    expect(registry.unmarkedTypes()).toEqual(['Thing']);
  });

  it('finds whose data a value is: a property of the object, or the caller', async () => {
    const registry = buildPrivacyRegistry(await buildBareSchema());
    expect(subjectOf(registry.personalField('Post', 'body')!, { authorId: 'u1' }, 'me')).toBe('u1');
    expect(subjectOf(registry.personalField('ReactionSummary', 'viewerHasReacted')!, {}, 'me')).toBe('me');
    expect(subjectOf(registry.personalField('ApiToken', 'label')!, { userId: null }, 'me')).toBeNull();
  });
});
