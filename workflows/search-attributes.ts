import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Search attributes Cairn sets on its workflows, filterable in the Temporal UI and `temporal workflow list -q`. */
export const CairnPipeline = defineSearchAttributeKey('CairnPipeline', SearchAttributeType.KEYWORD);
export const CairnModel = defineSearchAttributeKey('CairnModel', SearchAttributeType.KEYWORD);
export const CairnModelVersion = defineSearchAttributeKey('CairnModelVersion', SearchAttributeType.KEYWORD);
export const CairnDatasetDigest = defineSearchAttributeKey('CairnDatasetDigest', SearchAttributeType.KEYWORD);
export const CairnStage = defineSearchAttributeKey('CairnStage', SearchAttributeType.KEYWORD);
export const CairnTrigger = defineSearchAttributeKey('CairnTrigger', SearchAttributeType.KEYWORD);

export const CAIRN_SEARCH_ATTRIBUTES = [
  CairnPipeline,
  CairnModel,
  CairnModelVersion,
  CairnDatasetDigest,
  CairnStage,
  CairnTrigger,
];
