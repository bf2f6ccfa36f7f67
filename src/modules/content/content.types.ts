import { Field, InputType, Int, ObjectType } from 'type-graphql';
import { Length, Matches } from 'class-validator';
import { Post } from './post.entity';
import { Comment } from './comment.entity';
import { ReactionKind } from './reaction.entity';
import { connectionTypes } from '../../shared/pagination';
import { CALLER, NotPersonal, Personal, PersonalData } from '../../privacy/classify';

export const PostConnection = connectionTypes(Post, 'Post');
export const CommentConnection = connectionTypes(Comment, 'Comment');

// Counts are aggregates; whether the caller reacted is the caller's own behaviour.
@PersonalData({ subject: CALLER })
@ObjectType({ description: 'How many members reacted to a post with one kind of reaction.' })
export class ReactionSummary {
  @NotPersonal()
  @Field(() => ReactionKind)
  kind!: ReactionKind;

  @NotPersonal()
  @Field(() => Int)
  count!: number;

  @Personal('user.behavior.reaction')
  @Field(() => Boolean)
  viewerHasReacted!: boolean;
}

const NOT_BLANK = /\S/;

@InputType()
export class PostBodyInput {
  @Field(() => String)
  @Length(1, 20000) @Matches(NOT_BLANK, { message: 'body must not be blank' })
  body!: string;
}

@InputType()
export class CommentBodyInput {
  @Field(() => String)
  @Length(1, 5000) @Matches(NOT_BLANK, { message: 'body must not be blank' })
  body!: string;
}
