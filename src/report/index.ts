/** Training reports: terminal table and self-contained HTML with inline SVG charts. */
export * from './types';
export * from './format';
export * from './svg';
export * from './table';
export * from './html';
