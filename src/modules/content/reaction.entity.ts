import { Entity, OptionalProps, Enum, PrimaryKey, Property } from '@mikro-orm/core';
import { registerEnumType } from 'type-graphql';

export enum ReactionKind {
  LIKE = 'LIKE',
  CELEBRATE = 'CELEBRATE',
  INSIGHTFUL = 'INSIGHTFUL',
  SUPPORT = 'SUPPORT',
  CURIOUS = 'CURIOUS',
}
registerEnumType(ReactionKind, { name: 'ReactionKind' });

/** One member's reaction of one kind to a post (at most one per kind). Exposed only as summaries. */
@Entity({ tableName: 'reaction' })
export class Reaction {
  [OptionalProps]?: 'createdAt';

  @PrimaryKey({ type: 'uuid' })
  id!: string;

  @Property({ type: 'uuid' })
  tenantId!: string;

  @Property({ type: 'uuid' })
  postId!: string;

  @Property({ type: 'uuid' })
  userId!: string;

  @Enum({ items: () => ReactionKind, nativeEnumName: 'reaction_kind' })
  kind!: ReactionKind;

  @Property({ type: 'datetime' })
  createdAt: Date = new Date();
}
