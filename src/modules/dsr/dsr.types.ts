import { ArgsType, Field, ID, InputType } from 'type-graphql';
import { ArrayMaxSize, IsOptional, MaxLength } from 'class-validator';
import { connectionTypes, PageArgs } from '../../shared/pagination';
import { DataRequestStatus, DataRequestType, DataSubjectRequest, RectifiableField } from './dsr.entity';

@InputType({ description: 'A corrected value for one field.' })
export class RectificationChangeInput {
  @Field(() => RectifiableField)
  field!: RectifiableField;

  @Field(() => String, { nullable: true, description: 'The correct value; null removes an optional value (a student number).' })
  @IsOptional() @MaxLength(254)
  value?: string | null;
}

@InputType()
export class FileDataRequestInput {
  @Field(() => DataRequestType)
  type!: DataRequestType;

  @Field(() => ID, { nullable: true, description: 'The person the request is about; administrators only, default the caller.' })
  subjectId?: string | null;

  @Field(() => String, { nullable: true, description: 'Anything the person wants the institution to know.' })
  @IsOptional() @MaxLength(2000)
  note?: string | null;

  @Field(() => [RectificationChangeInput], { nullable: true, description: 'RECTIFICATION: the fields to correct.' })
  @IsOptional() @ArrayMaxSize(10)
  changes?: RectificationChangeInput[] | null;
}

@ArgsType()
export class MyDataRequestsArgs extends PageArgs {}

@ArgsType()
export class DataRequestsArgs extends PageArgs {
  @Field(() => DataRequestStatus, { nullable: true })
  status?: DataRequestStatus | null;

  @Field(() => DataRequestType, { nullable: true })
  type?: DataRequestType | null;

  @Field(() => ID, { nullable: true })
  subjectId?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'true: only open requests past their due date; false: all others.' })
  overdue?: boolean | null;
}

export const DataSubjectRequestConnection = connectionTypes(DataSubjectRequest, 'DataSubjectRequest');
