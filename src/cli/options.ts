/** Validation of `clicktrain train` options (all checks happen before any work starts). */
import * as path from 'path';
import {CliError} from './errors';

export const CLI_MODELS = ['resnet20', 'resnet32', 'resnet56', 'vgg11', 'vgg13', 'vgg16', 'fmnist-cnn'] as const;
export type CliModel = typeof CLI_MODELS[number];
export const CLI_DATASETS = ['cifar10', 'cifar100', 'fashion-mnist'] as const;
export type CliDataset = typeof CLI_DATASETS[number];
export const OPTIMIZERS = ['sgd', 'momentum', 'adam', 'adamax', 'adagrad', 'adadelta', 'rmsprop'] as const;
export const LR_SCHEDULES = ['step', 'constant', 'cosine'] as const;
export const FIXED_LIBRARIES = ['corners4', 'fixed8', 'fixed12'] as const;

/** Model name as the builders know it. */
export function builderName(m: CliModel): string {
  return m === 'fmnist-cnn' ? 'small_cnn' : m;
}

export interface ScheduleOverrides {
  patternEpoch?: number;
  softStartEpoch?: number;
  hardPruneEpoch?: number;
  softEpochs?: number;
  lrDecayEpochs?: number[];
}

export interface TrainConfig {
  demo: boolean;
  model: CliModel;
  dataset: CliDataset;
  data: string | null;
  epochs: number;
  batch: number;
  targetCompression: number;
  patterns: number;
  patternSize: number;
  importanceWindow: number;
  lambda: number;
  schedule: ScheduleOverrides;
  scheduleText: string | null;
  libraryScope: 'model' | 'layer';
  fixedLibrary: typeof FIXED_LIBRARIES[number] | null;
  optimizer: typeof OPTIMIZERS[number];
  lr: number;
  lrSchedule: typeof LR_SCHEDULES[number];
  weightDecay: number;
  labelSmoothing: number;
  augment: boolean;
  subset: number | null;
  testSubset: number | null;
  seed: number;
  threads: number | null;
  out: string;
  json: boolean;
  sparseKernels: boolean;
  progress: 'auto' | 'bar' | 'plain';
}

/** Raw option values as commander gives them (strings; undefined = not given). */
export type RawTrainOptions = Record<string, string | boolean | undefined>;

/** The demo `clicktrain train` runs with no arguments: small CNN, Fashion-MNIST subset, all four phases. */
export const DEMO_DEFAULTS = {
  model: 'fmnist-cnn' as CliModel, dataset: 'fashion-mnist' as CliDataset, epochs: 8, batch: 64, subset: 2000,
  testSubset: 1000, importanceWindow: 8, schedule: 'pattern=2,soft=3,hard=5', lr: 0.05,
};

function num(raw: RawTrainOptions, key: string, flag: string, check: (v: number) => boolean, need: string): number | undefined {
  const v = raw[key];
  if (v === undefined || v === false) return undefined;
  const s = String(v).trim();
  const n = Number(s);
  if (s === '' || !Number.isFinite(n) || !check(n)) throw new CliError(`invalid ${flag} '${s}': ${need}`);
  return n;
}
const posInt = (n: number) => Number.isInteger(n) && n >= 1;

/** Parses `--schedule`: comma-separated `pattern=E`, `soft=E`, `hard=E`, `soft-epochs=N`, `lr=E1/E2` (0-based epochs), or `reference`. */
export function parseSchedule(text: string, epochs: number): ScheduleOverrides {
  const out: ScheduleOverrides = {};
  const t = text.trim();
  if (t === '' || t === 'reference' || t === 'default') return out;
  for (const part of t.split(',')) {
    const m = /^\s*([a-z-]+)\s*=\s*([0-9/]+)\s*$/.exec(part);
    if (!m) throw new CliError(`invalid --schedule '${text}': expected items like pattern=3,soft=4,hard=6,lr=5/10`);
    const [, key, val] = m;
    const ints = val.split('/').map((v) => Number(v));
    if (ints.some((v) => !Number.isInteger(v) || v < 0)) throw new CliError(`invalid --schedule value '${part.trim()}': epochs must be integers >= 0`);
    const one = () => {
      if (ints.length !== 1) throw new CliError(`invalid --schedule value '${part.trim()}': one epoch expected`);
      if (ints[0] >= epochs) throw new CliError(`invalid --schedule value '${part.trim()}': epoch ${ints[0]} is not below --epochs ${epochs}`);
      return ints[0];
    };
    switch (key) {
      case 'pattern': out.patternEpoch = one(); break;
      case 'soft': out.softStartEpoch = one(); break;
      case 'hard': out.hardPruneEpoch = one(); break;
      case 'soft-epochs': out.softEpochs = ints[0]; break;
      case 'lr': out.lrDecayEpochs = ints; break;
      default: throw new CliError(`invalid --schedule key '${key}' (use pattern, soft, hard, soft-epochs, lr)`);
    }
  }
  const p = out.patternEpoch;
  const s = out.softStartEpoch;
  const h = out.hardPruneEpoch;
  if (p !== undefined && s !== undefined && s < p) throw new CliError(`impossible --schedule: soft (${s}) before pattern (${p})`);
  if (s !== undefined && h !== undefined && h < s) throw new CliError(`impossible --schedule: hard (${h}) before soft (${s})`);
  if (p !== undefined && h !== undefined && h < p) throw new CliError(`impossible --schedule: hard (${h}) before pattern (${p})`);
  return out;
}

function pick<T extends string>(raw: RawTrainOptions, key: string, flag: string, allowed: readonly T[]): T | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  const s = String(v);
  if (!(allowed as readonly string[]).includes(s)) throw new CliError(`unknown ${flag} '${s}' (available: ${allowed.join(', ')})`);
  return s as T;
}

function timestamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** Checks and completes the options of a fresh run (see DEMO_DEFAULTS for the no-argument demo). */
export function resolveTrainOptions(raw: RawTrainOptions, cwd = process.cwd()): TrainConfig {
  const model0 = pick(raw, 'model', '--model', CLI_MODELS);
  const dataset0 = pick(raw, 'dataset', '--dataset', CLI_DATASETS);
  const demo = model0 === undefined && dataset0 === undefined;
  const dataset: CliDataset = dataset0 ?? (model0 === undefined || model0 === 'fmnist-cnn' ? 'fashion-mnist' : 'cifar10');
  const model: CliModel = model0 ?? (dataset === 'fashion-mnist' ? 'fmnist-cnn' : 'resnet20');
  if (dataset === 'fashion-mnist' && model.startsWith('vgg')) {
    throw new CliError(`--model ${model} needs 32x32 images (five 2x2 pools); fashion-mnist images are 28x28: use fmnist-cnn or a resnet`);
  }
  const epochs = num(raw, 'epochs', '--epochs', posInt, 'must be a positive integer') ?? (demo ? DEMO_DEFAULTS.epochs : 30);
  const batch = num(raw, 'batch', '--batch', posInt, 'must be a positive integer') ?? (demo ? DEMO_DEFAULTS.batch : 128);
  const targetCompression = num(raw, 'targetCompression', '--target-compression', (n) => n >= 1, 'must be a number >= 1') ?? 8;
  const patterns = num(raw, 'patterns', '--patterns', posInt, 'must be a positive integer (4, 8 or 12 in the paper)') ?? 8;
  const patternSize = num(raw, 'patternSize', '--pattern-size', (n) => Number.isInteger(n) && n >= 1 && n <= 9, 'must be an integer in 1..9') ?? 4;
  const importanceWindow = num(raw, 'importanceWindow', '--importance-window', posInt, 'must be a positive integer') ?? (demo ? DEMO_DEFAULTS.importanceWindow : 20);
  const lambda = num(raw, 'lambda', '--lambda', (n) => n >= 0, 'must be a number >= 0') ?? 2e-4;
  const lr = num(raw, 'lr', '--lr', (n) => n > 0, 'must be a number > 0') ?? (demo ? DEMO_DEFAULTS.lr : 0.1);
  const weightDecay = num(raw, 'weightDecay', '--weight-decay', (n) => n >= 0, 'must be a number >= 0') ?? (dataset === 'fashion-mnist' ? 0 : 5e-4);
  const labelSmoothing = num(raw, 'labelSmoothing', '--label-smoothing', (n) => n >= 0 && n < 1, 'must be in [0, 1)') ?? 0;
  const subset = num(raw, 'subset', '--subset', posInt, 'must be a positive integer (training images)') ?? (demo ? DEMO_DEFAULTS.subset : null);
  const testSubset = num(raw, 'testSubset', '--test-subset', posInt, 'must be a positive integer (test images)') ?? (demo ? DEMO_DEFAULTS.testSubset : null);
  const seed = num(raw, 'seed', '--seed', (n) => Number.isInteger(n) && n >= 0, 'must be an integer >= 0') ?? 0;
  const threads = num(raw, 'threads', '--threads', (n) => posInt(n) && n <= 1024, 'must be an integer in 1..1024') ?? null;
  const optimizer = pick(raw, 'optimizer', '--optimizer', OPTIMIZERS) ?? 'momentum';
  const lrSchedule = pick(raw, 'lrSchedule', '--lr-schedule', LR_SCHEDULES) ?? 'step';
  const libraryScope = pick(raw, 'libraryScope', '--library-scope', ['model', 'layer'] as const) ?? 'model';
  const fixedLibrary = pick(raw, 'fixedLibrary', '--fixed-library', FIXED_LIBRARIES) ?? null;
  const progress = pick(raw, 'progress', '--progress', ['auto', 'bar', 'plain'] as const) ?? 'auto';
  if (fixedLibrary && patternSize !== 4) throw new CliError(`--fixed-library ${fixedLibrary} has pattern size 4, but --pattern-size is ${patternSize}`);
  if (patternSize === 9 && targetCompression > 1) {
    // full kernels: compression only from connectivity pruning; fine, but must be reachable
  }
  const maxCompression = 9 / patternSize / (1 - 0.99);
  if (targetCompression > maxCompression) {
    throw new CliError(`impossible --target-compression ${targetCompression}: with --pattern-size ${patternSize} at most ${maxCompression.toFixed(0)}x is reachable`);
  }
  const scheduleText = raw.schedule === undefined ? (demo ? DEMO_DEFAULTS.schedule : null) : String(raw.schedule);
  const schedule = scheduleText === null ? {} : parseSchedule(scheduleText, epochs);
  if (epochs < 2 && !demo) {
    // one epoch cannot hold a dense, soft and hard phase; the method still runs (hard prune at epoch 0) but say so
  }
  if (subset !== null && subset < batch) throw new CliError(`impossible options: --subset ${subset} is smaller than --batch ${batch}`);
  const data = raw.data === undefined ? null : path.resolve(cwd, String(raw.data));
  if (data === null && dataset !== 'fashion-mnist') {
    throw new CliError(`--data DIR is required for ${dataset} (the folder with the ${dataset === 'cifar10' ? 'data_batch_1.bin .. test_batch.bin' : 'train.bin and test.bin'} files)`);
  }
  const out = path.resolve(cwd, raw.out === undefined ? path.join('runs', `${model}-${dataset}-${timestamp()}`) : String(raw.out));
  const augment = raw.augment === undefined ? dataset !== 'fashion-mnist' : raw.augment !== false;
  return {
    demo, model, dataset, data, epochs, batch, targetCompression, patterns, patternSize, importanceWindow, lambda, schedule,
    scheduleText, libraryScope, fixedLibrary, optimizer, lr, lrSchedule, weightDecay, labelSmoothing, augment, subset, testSubset,
    seed, threads, out, json: raw.json === true, sparseKernels: raw.sparseKernels !== false, progress,
  };
}

/** Options that may differ when resuming (they do not change the training result). */
export const RESUME_RUNTIME_KEYS = ['threads', 'json', 'sparseKernels', 'progress', 'data'] as const;
