/**
 * The ClickTrain training schedule, scaled from the reference (190 CIFAR epochs:
 * learning-rate steps at ~29% and ~69%, pattern generation at ~33% of training,
 * hard prune at ~75%; group lasso between pattern generation and hard prune).
 */
export interface ClickTrainSchedule {
  /** Total training epochs. */
  totalEpochs: number;
  /** Epoch (0-based) at whose start importance is measured, kernels pruned and patterns chosen. */
  patternEpoch: number;
  /** Epoch at whose start the group-lasso soft phase begins (>= patternEpoch). */
  softStartEpoch: number;
  /** Epoch at whose start weights are zeroed and masks enforced from then on. */
  hardPruneEpoch: number;
  /** Epochs at whose start the learning rate is multiplied by `lrDecayFactor`. */
  lrDecayEpochs: number[];
  /** Learning-rate decay factor (0.1 in the reference). */
  lrDecayFactor: number;
}

export const REFERENCE_EPOCHS = 190;
export const REFERENCE_FRACTIONS = {lrSteps: [55 / 190, 131 / 190], pattern: 63 / 190, hardPrune: 142 / 190};

/** The reference schedule scaled to `totalEpochs` (each point rounded to a whole epoch). */
export function defaultSchedule(totalEpochs: number, overrides: Partial<ClickTrainSchedule> & {softEpochs?: number} = {}):
    ClickTrainSchedule {
  if (!Number.isInteger(totalEpochs) || totalEpochs < 1) {
    throw new Error(`epochs must be a positive integer, got ${totalEpochs}`);
  }
  const E = totalEpochs;
  const patternEpoch = overrides.patternEpoch ?? Math.min(E - 1, Math.round(REFERENCE_FRACTIONS.pattern * E));
  const hardPruneEpoch = overrides.hardPruneEpoch ??
      Math.max(patternEpoch, Math.min(E - 1, Math.round(REFERENCE_FRACTIONS.hardPrune * E)));
  let softStartEpoch = overrides.softStartEpoch ?? patternEpoch;
  if (overrides.softEpochs !== undefined) {
    if (!Number.isInteger(overrides.softEpochs) || overrides.softEpochs < 0) {
      throw new Error(`softEpochs must be a non-negative integer, got ${overrides.softEpochs}`);
    }
    softStartEpoch = Math.max(patternEpoch, hardPruneEpoch - overrides.softEpochs);
  }
  const s: ClickTrainSchedule = {
    totalEpochs: E,
    patternEpoch,
    softStartEpoch,
    hardPruneEpoch,
    lrDecayEpochs: overrides.lrDecayEpochs ?? REFERENCE_FRACTIONS.lrSteps.map((f) => Math.round(f * E)).filter((e) => e > 0),
    lrDecayFactor: overrides.lrDecayFactor ?? 0.1,
  };
  validateSchedule(s);
  return s;
}

export function validateSchedule(s: ClickTrainSchedule): void {
  const isEpoch = (v: number) => Number.isInteger(v) && v >= 0;
  if (!isEpoch(s.patternEpoch) || !isEpoch(s.softStartEpoch) || !isEpoch(s.hardPruneEpoch)) {
    throw new Error('schedule epochs must be non-negative integers');
  }
  if (!(s.patternEpoch <= s.softStartEpoch && s.softStartEpoch <= s.hardPruneEpoch)) {
    throw new Error(
        `schedule must satisfy patternEpoch (${s.patternEpoch}) <= softStartEpoch (${s.softStartEpoch}) ` +
        `<= hardPruneEpoch (${s.hardPruneEpoch})`);
  }
  if (!(s.lrDecayFactor > 0)) throw new Error(`lrDecayFactor must be > 0, got ${s.lrDecayFactor}`);
}

/** Learning rate at `epoch` for a step schedule starting at `baseLr`. */
export function learningRateAt(s: ClickTrainSchedule, baseLr: number, epoch: number): number {
  let lr = baseLr;
  for (const e of s.lrDecayEpochs) if (epoch >= e) lr *= s.lrDecayFactor;
  return lr;
}

export type Phase = 'dense' | 'patterns' | 'soft' | 'hard';

/** Phase during `epoch`: dense warm-up, patterns chosen (before lasso), group-lasso soft phase, hard-pruned. */
export function phaseAt(s: ClickTrainSchedule, epoch: number): Phase {
  if (epoch >= s.hardPruneEpoch) return 'hard';
  if (epoch >= s.softStartEpoch) return 'soft';
  if (epoch >= s.patternEpoch) return 'patterns';
  return 'dense';
}
