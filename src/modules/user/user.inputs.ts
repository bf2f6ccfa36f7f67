import { ArgsType, Field, InputType } from 'type-graphql';
import { IsEmail, IsOptional, IsUrl, Length, Matches, MaxLength } from 'class-validator';
import { UserRole } from './user.entity';
import { PageArgs } from '../../shared/pagination';

const NOT_BLANK = /\S/;

@InputType()
export class CreateUserInput {
  @Field(() => String)
  @IsEmail({}, { message: 'email must be a valid email address' })
  @MaxLength(254)
  email!: string;

  @Field(() => String)
  @Length(1, 100) @Matches(NOT_BLANK, { message: 'givenName must not be blank' })
  givenName!: string;

  @Field(() => String)
  @Length(1, 100) @Matches(NOT_BLANK, { message: 'familyName must not be blank' })
  familyName!: string;

  @Field(() => String, { nullable: true, description: 'Defaults to "givenName familyName".' })
  @IsOptional() @Length(1, 100) @Matches(NOT_BLANK, { message: 'displayName must not be blank' })
  displayName?: string | null;

  @Field(() => UserRole)
  role!: UserRole;

  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 64) @Matches(/^[A-Za-z0-9._-]+$/, { message: 'studentNumber may hold letters, digits, dot, dash and underscore' })
  studentNumber?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @MaxLength(2048) @IsUrl({ protocols: ['https'], require_protocol: true }, { message: 'avatarUrl must be an https URL' })
  avatarUrl?: string | null;
}

@InputType()
export class UpdateUserInput {
  @Field(() => String, { nullable: true })
  @IsOptional() @IsEmail({}, { message: 'email must be a valid email address' }) @MaxLength(254)
  email?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 100) @Matches(NOT_BLANK, { message: 'givenName must not be blank' })
  givenName?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 100) @Matches(NOT_BLANK, { message: 'familyName must not be blank' })
  familyName?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 100) @Matches(NOT_BLANK, { message: 'displayName must not be blank' })
  displayName?: string | null;

  @Field(() => UserRole, { nullable: true })
  role?: UserRole | null;

  @Field(() => String, { nullable: true, description: 'An empty string removes the student number.' })
  @IsOptional() @MaxLength(64) @Matches(/^[A-Za-z0-9._-]*$/, { message: 'studentNumber may hold letters, digits, dot, dash and underscore' })
  studentNumber?: string | null;

  @Field(() => String, { nullable: true, description: 'An empty string removes the avatar.' })
  @IsOptional() @MaxLength(2048) @Matches(/^(https:\/\/\S+)?$/, { message: 'avatarUrl must be an https URL' })
  avatarUrl?: string | null;
}

@InputType()
export class UpdateMyProfileInput {
  @Field(() => String, { nullable: true })
  @IsOptional() @Length(1, 100) @Matches(NOT_BLANK, { message: 'displayName must not be blank' })
  displayName?: string | null;

  @Field(() => String, { nullable: true, description: 'An empty string removes the avatar.' })
  @IsOptional() @MaxLength(2048) @Matches(/^(https:\/\/\S+)?$/, { message: 'avatarUrl must be an https URL' })
  avatarUrl?: string | null;
}

@ArgsType()
export class UsersArgs extends PageArgs {
  @Field(() => UserRole, { nullable: true })
  role?: UserRole | null;

  @Field(() => String, { nullable: true, description: 'Matches names (and email, for callers who may see emails).' })
  @IsOptional() @MaxLength(100)
  search?: string | null;
}
