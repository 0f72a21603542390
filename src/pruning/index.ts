/** ClickTrain pruning method: public API. */
export * from './masks';
export * from './patterns';
export * from './connectivity';
export * from './schedule';
export * from './layers';
export * from './controller';
export * from './callback';
export * from './summary';
export * from './export';
export * from './sparse_handoff';
