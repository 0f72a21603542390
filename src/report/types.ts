/** The data a training report is drawn from (written as report.json next to report.html). */
import type {ClickTrainSummary} from '../pruning/controller';

export type PhaseName = 'dense' | 'patterns' | 'soft' | 'hard';
export const PHASES: readonly PhaseName[] = ['dense', 'patterns', 'soft', 'hard'];
export const PHASE_LABEL: Record<PhaseName, string> = {
  dense: 'dense warm-up', patterns: 'patterns chosen', soft: 'soft (group lasso)', hard: 'hard-pruned',
};
export const PHASE_COLOR: Record<PhaseName, string> = {
  dense: '#e8eef7', patterns: '#fdf1d8', soft: '#fde2d8', hard: '#dff3e4',
};

export interface HistoryPoint {
  epoch: number;
  phase: PhaseName;
  lr: number;
  loss: number;
  acc: number;
  valLoss?: number;
  valAcc?: number;
  /** Training seconds of this epoch (without evaluation). */
  seconds: number;
  images: number;
}

export interface RunReport {
  format: 'clicktrain-report';
  version: 1;
  title: string;
  createdAt: string;
  model: string;
  dataset: string;
  /** The options the run used (shown as a list). */
  options: Record<string, string | number | boolean | null>;
  history: HistoryPoint[];
  /** Training seconds per phase (sums of the epochs' seconds). */
  phaseSeconds: Record<PhaseName, number>;
  /** Wall-clock seconds of the whole command (this session), including data loading and evaluation. */
  wallSeconds?: number;
  summary: ClickTrainSummary | null;
  final: {testAcc?: number; testLoss?: number; trainAcc?: number; trainLoss?: number};
  export?: {denseBytes: number; compactBytes: number};
  backend?: string;
  threads?: number;
  sparseKernels?: {enabled: boolean; frozen: boolean; calls: {forward: number; backpropInput: number; backpropFilter: number}};
}

/** Sums the epochs' seconds per phase. */
export function phaseSecondsOf(history: HistoryPoint[]): Record<PhaseName, number> {
  const out: Record<PhaseName, number> = {dense: 0, patterns: 0, soft: 0, hard: 0};
  for (const h of history) out[h.phase] = (out[h.phase] ?? 0) + h.seconds;
  return out;
}

/** Contiguous epoch ranges of each phase: [{phase, start, end}] with end exclusive. */
export function phaseRanges(history: HistoryPoint[]): {phase: PhaseName; start: number; end: number}[] {
  const out: {phase: PhaseName; start: number; end: number}[] = [];
  for (const h of history) {
    const last = out[out.length - 1];
    if (last && last.phase === h.phase && last.end === h.epoch) last.end = h.epoch + 1;
    else out.push({phase: h.phase, start: h.epoch, end: h.epoch + 1});
  }
  return out;
}
