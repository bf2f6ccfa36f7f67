import { Ctx, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../../server/context';
import { RecordsOfProcessing, recordsOfProcessing } from './records';

@Resolver()
export class RecordsOfProcessingResolver {
  @Query(() => RecordsOfProcessing, {
    description: 'Records of processing activities (GDPR Art. 30(1)) generated from the platform: purposes, subjects, categories and ' +
      'retention, recipients, transfers, security measures; also as an HTML page (administrators and auditors).',
  })
  recordsOfProcessing(@Ctx() ctx: RequestContext): Promise<RecordsOfProcessing> {
    return recordsOfProcessing(ctx);
  }
}
